"""Content fingerprints of splits, and a file-like sink that hashes what passes through it (no Beam).

A split's content fingerprint is the sha256 of its rows in order, serialized as
an Arrow IPC stream in record batches of exactly :data:`FINGERPRINT_BATCH` rows.
It depends on the rows, their order and the schema only, not on how the
Parquet files were chunked, compressed or encoded, so it survives writer
changes. (``NUM_SHARDS`` orders rows by shard, then key, so it changes the
fingerprint; like any processing change, it needs a new version.)
A worker that writes a whole split computes it from the rows it writes; the
submitting machine computes it from the shard files otherwise; both give the
same value.

Example::

    >>> fingerprint_tables(table.schema, [table]) == content_fingerprint([path_of_that_table_as_parquet])
    True
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable, Iterator, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["FINGERPRINT_BATCH", "HashingSink", "fingerprint_tables", "content_fingerprint", "compact_batches"]

FINGERPRINT_BATCH = 65_536


class HashingSink:
    """A write-only file object that hashes and counts the bytes written, passing them on to ``raw`` if given."""

    def __init__(self, raw: Any = None) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        self.size += view.nbytes
        if self.raw is not None:
            self.raw.write(view)
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        if self.raw is not None:
            self.raw.flush()

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True  # the owner of ``raw`` closes it


def _fixed_batches(tables: Iterable["pa.Table"], rows: int) -> Iterator["pa.RecordBatch"]:
    """Re-chunk a stream of tables into record batches of exactly ``rows`` rows (the last may be shorter).

    Every batch is compacted (:func:`compact_batches`), so the bytes do not depend on the chunking.
    """
    import pyarrow as pa

    pending: "pa.Table | None" = None
    for table in tables:
        merged = table if pending is None else pa.concat_tables([pending, table])
        full = merged.num_rows - merged.num_rows % rows
        for offset in range(0, full, rows):
            yield from compact_batches(merged.slice(offset, rows))
        pending = merged.slice(full) if full < merged.num_rows else None
    if pending is not None and pending.num_rows:
        yield from compact_batches(pending)


def compact_batches(table: "pa.Table") -> Iterator["pa.RecordBatch"]:
    """``table`` as one record batch whose buffers hold exactly its rows.

    Arrow's IPC writer serializes a slice of a larger array a few bytes
    differently from the same values in an array of their own, so the
    fingerprint would depend on how the rows happened to be chunked; copying
    each batch into buffers of its own makes it depend on the values only.
    """
    import pyarrow as pa

    combined = table.combine_chunks()
    for batch in combined.to_batches():
        yield pa.RecordBatch.from_arrays([pa.concat_arrays([column]) for column in batch.columns], schema=batch.schema)


def fingerprint_tables(schema: "pa.Schema", tables: Iterable["pa.Table"]) -> str:
    """The content fingerprint of ``tables``' rows, in order (see the module docstring)."""
    import pyarrow as pa

    sink = HashingSink()
    with pa.ipc.new_stream(sink, schema) as writer:
        for batch in _fixed_batches(tables, FINGERPRINT_BATCH):
            writer.write_batch(batch)
    return sink.digest.hexdigest()


def content_fingerprint(paths: Sequence[Path]) -> str:
    """The content fingerprint of a split stored as Parquet shards ``paths``, in order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [pq.ParquetFile(p) for p in paths]  # read, not mapped: mapped pages would count as this process's memory
    schema = files[0].schema_arrow if files else pa.schema([])

    def tables() -> Iterator["pa.Table"]:
        for pf in files:
            for i in range(pf.num_row_groups):
                yield pf.read_row_group(i)

    try:
        return fingerprint_tables(schema, tables())
    finally:
        for pf in files:
            pf.close()
