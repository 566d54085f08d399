"""Write a stream of Arrow batches from a live source into one pinned Parquet object.

SQL results and sheet ranges arrive as Arrow record batches of whatever size
the driver delivers. :class:`TableSnapshotWriter` re-cuts them into row groups
of exactly ``ROW_GROUP_ROWS`` rows (so the same rows always give the same
bytes, whichever driver read them), casts them to the source's declared Arrow
schema, writes Parquet into the local store's ``tmp/`` while hashing the bytes
in the same pass, and only when the stream is complete links the file into the
store under its sha256. A failed or abandoned write leaves no object behind.

It also computes a *content hash* of the rows that does not depend on Parquet
encoder details or on which driver produced the Arrow arrays: the sha256 of
each row group's values in a canonical Arrow form (see
:func:`column_digest_parts`). ``status`` recomputes it from the live source
without storing anything (:class:`ContentHasher`).

Memory stays flat: at most one row group (plus the driver's current batch) is
held at a time, however many rows the source has. With ``background=True``
(SQL pins) the Parquet encoding, the content hash and the sha256 run in a
thread of their own, so that they overlap with reading the next batch (Arrow
and hashlib release the GIL while they work); at most ``WRITE_AHEAD`` batches wait for it.

Example::

    with TableSnapshotWriter(store, schema, label="product_a:1.2.0 source 'orders'") as writer:
        for batch in batches:
            writer.write(batch)
        entry = writer.finish("orders.parquet")   # ObjectEntry(oid, size, ...)
"""

from __future__ import annotations

import hashlib
import os
import queue
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Iterable

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from labdatasets.pinning.record import ObjectEntry, SourcePin
    from labdatasets.stores import Snapshots

__all__ = ["ROW_GROUP_ROWS", "ROW_GROUP_BYTES", "TableSnapshotWriter", "ContentHasher", "column_digest_parts", "Rechunker"]

ROW_GROUP_ROWS = 65_536
# A row group is also cut when its rows hold this many bytes, so wide text or blob
# columns cannot make one row group (and memory) arbitrarily large.
ROW_GROUP_BYTES = 64 << 20
CONTENT_HASH = "arrow-ipc-values-sha256-v1"
# Batches waiting for the background writer (``background=True``): the memory it may hold besides its row group.
WRITE_AHEAD = 2
# Fixed writer settings: the same rows must give the same bytes on every machine.
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
}


class _HashingFile:
    """A write-only file that hashes what passes through (Parquet is written sequentially)."""

    def __init__(self, raw: Any, progress: Callable[[int], Any] | None):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0
        self.progress = progress
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        self.raw.write(view)
        self.size += view.nbytes
        if self.progress:
            self.progress(view.nbytes)
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False


def column_digest_parts(column: "pa.Array") -> "list[pa.Buffer]":
    """What the content hash reads of one column: its values, and where its nulls are.

    Drivers differ in the bytes they leave under a null (Arrow leaves them
    undefined) and in whether a null-free column carries a validity bitmap, so
    the hash reads the non-null values packed together (``drop_null``) and the
    positions of the nulls, never the raw buffers. ``serialize()`` writes no
    schema and no validity bitmap for a null-free column.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    def serialized(array: "pa.Array") -> "pa.Buffer":
        return pa.RecordBatch.from_arrays([array], names=["c"]).serialize()

    if column.null_count == 0 or pa.types.is_null(column.type):
        return [serialized(column)]
    null_positions = pc.indices_nonzero(pc.is_null(column))
    return [serialized(pc.drop_null(column)), serialized(null_positions)]


class Rechunker:
    """Re-cut incoming batches into batches of exactly ``rows`` rows (the last may be shorter).

    A batch is also emitted early once it holds ``max_bytes`` bytes.
    """

    def __init__(self, schema: "pa.Schema", rows: int = ROW_GROUP_ROWS, max_bytes: int = ROW_GROUP_BYTES):
        self.schema = schema
        self.rows = rows
        self.max_bytes = max_bytes
        self._pending: list[Any] = []
        self._count = 0
        self._bytes = 0

    def push(self, batch: "pa.RecordBatch | pa.Table") -> Iterable["pa.RecordBatch"]:
        import pyarrow as pa

        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        if table.schema != self.schema:
            table = table.cast(self.schema)
        offset = 0
        while offset < table.num_rows:
            take = min(self.rows - self._count, table.num_rows - offset)
            part = table.slice(offset, take)
            self._pending.append(part)
            self._count += take
            self._bytes += part.nbytes
            offset += take
            if self._count >= self.rows or self._bytes >= self.max_bytes:
                yield self._emit()

    def flush(self) -> Iterable["pa.RecordBatch"]:
        if self._count:
            yield self._emit()

    def _emit(self) -> "pa.RecordBatch":
        import pyarrow as pa

        table = pa.concat_tables(self._pending).combine_chunks()
        self._pending, self._count, self._bytes = [], 0, 0
        return table.to_batches()[0]


class ContentHasher:
    """Row count and content hash of a stream of batches (``status`` uses it alone)."""

    method = CONTENT_HASH

    def __init__(self, schema: "pa.Schema"):
        self.schema = schema
        self.digest = hashlib.sha256()
        self.rows = 0
        self.rechunker = Rechunker(schema)

    def write(self, batch: "pa.RecordBatch | pa.Table") -> list["pa.RecordBatch"]:
        out = list(self.rechunker.push(batch))
        for b in out:
            self._hash(b)
        return out

    def flush(self) -> list["pa.RecordBatch"]:
        out = list(self.rechunker.flush())
        for b in out:
            self._hash(b)
        return out

    def _hash(self, batch: "pa.RecordBatch") -> None:
        self.rows += batch.num_rows
        # One column at a time keeps the copies small (see column_digest_parts).
        for column in batch.columns:
            for part in column_digest_parts(column):
                self.digest.update(part)

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


class TableSnapshotWriter:
    """Stream batches into one Parquet object in the snapshot store; see the module docstring."""

    def __init__(
        self,
        store: "Snapshots",
        schema: "pa.Schema",
        *,
        label: str,
        progress: Callable[[int], Any] | None = None,
        background: bool = False,
    ):
        import pyarrow.parquet as pq

        self.store = store
        self.schema = schema
        self.label = label
        self.hasher = ContentHasher(schema)
        fd, name = tempfile.mkstemp(prefix="table.", suffix=".parquet", dir=store.staging_dir())
        self.tmp = Path(name)
        self._raw = os.fdopen(fd, "wb", buffering=1 << 20)
        # In the background, progress is reported from the caller's thread (see _report).
        self._file = _HashingFile(self._raw, None if background else progress)
        self._progress = progress if background else None
        self._reported = 0
        self._writer = pq.ParquetWriter(self._file, schema, **PARQUET_OPTIONS)
        self._done = False
        self._queue: queue.Queue[Any] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        if background:
            self._queue = queue.Queue(maxsize=WRITE_AHEAD)
            self._thread = threading.Thread(
                target=self._drain, args=(self._queue,), name=f"store rows of {label}", daemon=True
            )
            self._thread.start()

    @property
    def rows(self) -> int:
        return self.hasher.rows

    def write(self, batch: "pa.RecordBatch | pa.Table") -> None:
        """Add rows (any batch size; cast to the writer's schema).

        In the background, an error of an earlier batch is raised here (or by
        :meth:`drain` / :meth:`finish`).
        """
        if self._queue is None:
            self._write_now(batch)
            return
        self._raise_error()
        self._queue.put(batch)  # waits while two batches wait: memory stays bounded
        self._report()

    def drain(self) -> None:
        """Wait until every batch given to :meth:`write` is written; raise what went wrong in doing so."""
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._report()
        self._raise_error()

    def _drain(self, batches: "queue.Queue[Any]") -> None:
        while (batch := batches.get()) is not None:
            if self._error is None:  # after an error, only empty the queue (the caller sees the error)
                try:
                    self._write_now(batch)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                    self._error = exc

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _report(self) -> None:
        if self._progress is not None:
            size = self._file.size
            if size > self._reported:
                self._progress(size - self._reported)
                self._reported = size

    def _write_now(self, batch: "pa.RecordBatch | pa.Table") -> None:
        with self._local():
            for rows in self.hasher.write(batch):
                self._writer.write_batch(rows, row_group_size=len(rows) or 1)

    def _local(self) -> Any:
        from labdatasets.errors import local_writes

        # A full disk while storing rows is this machine's problem: never reported as the source's.
        return local_writes(f"storing the rows of {self.label}", self.tmp.parent, permission=False)

    def finish(self, path: str, metadata: dict[str, Any] | None = None) -> "ObjectEntry":
        """Close the Parquet file, store it under its sha256 and describe it."""
        from labdatasets.pinning.record import ObjectEntry

        self.drain()
        with self._local():
            for rows in self.hasher.flush():
                self._writer.write_batch(rows, row_group_size=len(rows) or 1)
            self._writer.close()
            self._raw.close()
        self._report()
        oid = self._file.digest.hexdigest()
        size = self._file.size
        self.store.adopt_file(self.tmp, oid)
        self._done = True
        return ObjectEntry(path=path, oid=oid, size=size, metadata=metadata or {})

    def finish_pin(self, path: str, *, kind: str, location: Any, metadata: dict[str, Any]) -> "SourcePin":
        """:meth:`finish`, then describe the source: one Parquet object, its rows, schema and content hash."""
        from labdatasets.pinning.record import SourcePin

        entry = self.finish(path)
        return SourcePin.of_table(
            kind=kind, location=location, format="parquet", objects=[entry], schema=self.schema, num_rows=self.rows,
            metadata={**metadata, "content_sha256": self.hasher.hexdigest(), "content_hash": self.hasher.method},
        )

    def abort(self) -> None:
        """Drop the partial file (a failed pin stores nothing)."""
        if self._thread is not None and self._queue is not None:
            self._error = self._error or RuntimeError("abandoned")  # the thread only empties the queue now
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._done:
            return
        self._done = True
        try:
            self._writer.close()
        except Exception:  # noqa: BLE001 - the file is discarded anyway
            pass
        try:
            self._raw.close()  # closes the file even when flushing its last bytes fails (a full disk)
        except OSError:  # the file is discarded: the error that made the caller abort is the one to see
            pass
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "TableSnapshotWriter":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is not None or not self._done:
            self.abort()
