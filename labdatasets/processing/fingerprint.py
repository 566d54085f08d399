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

__all__ = ["FINGERPRINT_BATCH", "HashingSink", "fingerprint_tables", "content_fingerprint"]

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

    Only a batch that spans two chunks is copied; the others are zero-copy slices.
    """
    import pyarrow as pa

    pending: "pa.Table | None" = None
    for table in tables:
        merged = table if pending is None else pa.concat_tables([pending, table])
        full = merged.num_rows - merged.num_rows % rows
        for offset in range(0, full, rows):
            yield from merged.slice(offset, rows).combine_chunks().to_batches()
        pending = merged.slice(full) if full < merged.num_rows else None
    if pending is not None and pending.num_rows:
        yield from pending.combine_chunks().to_batches()


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

    files = [pq.ParquetFile(p, memory_map=True) for p in paths]
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
