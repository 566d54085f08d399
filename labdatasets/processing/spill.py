"""Sorting a split bigger than memory: sorted runs on disk and a k-way merge by key (no Beam).

A local build does not hold a shard in memory. Its rows arrive in batches; each
batch (or a few of them, up to :data:`RUN_ROWS` rows) is sorted and written to
a local Arrow IPC file, a *run*. The shard's writer then merges its runs:
it reads a small slice of every run at a time and emits rows in the global
order, which :class:`ShardWriter` turns into Parquet row groups, a content
fingerprint and a key digest as they pass. Memory is a few slices per run
plus one row group, whatever the size of the split.

The order is the one of :func:`labdatasets.processing.transforms.sort_rows`:
by the key, then by the other sortable columns, so the merged shard has the
same rows in the same order as one sorted in memory.
"""

from __future__ import annotations

import math
import os
import uuid
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["RUN_ROWS", "MERGE_SLICE_ROWS", "sort_spec", "sort_table", "write_run", "merge_runs"]

RUN_ROWS = 262_144
MERGE_SLICE_ROWS = 8_192


def sort_spec(schema: "pa.Schema", key: Sequence[str]) -> list[str]:
    """The columns rows are ordered by: ``key`` (those present), then the other sortable columns."""
    from labdatasets.processing.tables import sortable_columns

    sortable = sortable_columns(schema)
    first = [k for k in key if k in schema.names] or sortable
    return [*first, *[c for c in sortable if c not in first]]


def sort_table(table: "pa.Table", spec: Sequence[str]) -> "pa.Table":
    """``table`` in the order of ``spec`` (a no-op when it already is, as sources sorted by id are)."""
    import pyarrow.compute as pc

    if table.num_rows < 2 or not spec:
        return table
    first = table.column(spec[0])
    if not first.null_count and pc.all(pc.greater(first.slice(1), first.slice(0, len(first) - 1))).as_py():
        return table
    return table.sort_by([(c, "ascending") for c in spec])


def write_run(table: "pa.Table", directory: str, spec: Sequence[str]) -> tuple[str, int]:
    """Sort ``table`` and write it as one run under ``directory``; returns ``(path, rows)``."""
    import pyarrow as pa

    ordered = sort_table(table, spec)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"run-{uuid.uuid4().hex}.arrow")
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, ordered.schema) as writer:
        writer.write_table(ordered, max_chunksize=MERGE_SLICE_ROWS)
    return path, ordered.num_rows


def _order_value(value: Any) -> tuple[int, Any]:
    """A Python sort key that orders values as Arrow's sort does: numbers, then NaN, then null."""
    if value is None:
        return (2, 0)
    if isinstance(value, float) and math.isnan(value):
        return (1, 0)
    return (0, value)


class _Run:
    """One run being merged: its record batches read one at a time, and what is buffered of them."""

    def __init__(self, path: str, first_column: str):
        import pyarrow as pa

        self.path = path
        self.column = first_column
        self._file = pa.OSFile(path, "rb")
        self._reader = pa.ipc.open_file(self._file)
        self._next = 0
        self.buffer: pa.Table = self._reader.schema.empty_table()
        self.exhausted = False
        self.fill()

    def fill(self) -> None:
        """Append the run's next batch to the buffer (or mark the run exhausted)."""
        import pyarrow as pa

        if self._next >= self._reader.num_record_batches:
            self.exhausted = True
            return
        batch = pa.Table.from_batches([self._reader.get_batch(self._next)])
        self._next += 1
        self.buffer = batch if not self.buffer.num_rows else pa.concat_tables([self.buffer, batch])

    @property
    def rows(self) -> int:
        return self.buffer.num_rows

    def first(self) -> tuple[int, Any]:
        return _order_value(self.buffer.column(self.column)[0].as_py())

    def last(self) -> tuple[int, Any]:
        return _order_value(self.buffer.column(self.column)[-1].as_py())

    def take(self, count: int) -> "pa.Table":
        head, self.buffer = self.buffer.slice(0, count), self.buffer.slice(count)
        return head

    def close(self) -> None:
        self._file.close()


def _count_below(table: "pa.Table", column: str, bound: tuple[int, Any]) -> int:
    """How many leading rows of ``table`` (sorted on ``column``) are below ``bound`` (an :func:`_order_value`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = table.column(column)
    kind, value = bound
    valid = table.num_rows - values.null_count
    if kind == 2:  # below null: every number and NaN
        return valid
    if kind == 1:  # below NaN: every number
        nans = int(pc.sum(pc.is_nan(values)).as_py() or 0) if pa.types.is_floating(values.type) else 0
        return valid - nans
    return int(pc.sum(pc.fill_null(pc.less(values, value), False)).as_py() or 0)


def merge_runs(paths: Sequence[str], spec: Sequence[str], *, remove: bool = True) -> Iterator["pa.Table"]:
    """The rows of the sorted runs ``paths`` in the order of ``spec``, as a stream of tables.

    Each round takes the smallest last buffered value of the first sort
    column among the runs still being read (the frontier). Every buffered row
    below it, from every run, is smaller than anything not read yet, so those
    rows are sorted together and emitted; rows equal to the frontier wait until
    all of them are read, so the other columns order them. A run whose buffer
    runs low reads its next batch.
    """
    import pyarrow as pa

    if not paths:
        return
    first = spec[0]
    runs = [_Run(path, first) for path in paths]
    try:
        while True:
            for run in runs:
                if not run.exhausted and run.rows < MERGE_SLICE_ROWS:
                    run.fill()
            live = [run for run in runs if run.rows]
            if not live:
                return
            reading = [run for run in live if not run.exhausted]
            if not reading:
                parts = [run.take(run.rows) for run in live]
            else:
                frontier = min(run.last() for run in reading)
                parts = []
                for run in live:
                    if run.first() >= frontier:
                        continue
                    count = run.rows if run.last() < frontier else _count_below(run.buffer, first, frontier)
                    parts.append(run.take(count))
                if not parts:  # every buffered row is at the frontier or above: read further where it is
                    for run in reading:
                        if run.last() == frontier:
                            run.fill()
                    continue
            chunk = parts[0] if len(parts) == 1 else sort_table(pa.concat_tables(parts), spec)
            if chunk.num_rows:
                yield chunk
    finally:
        for run in runs:
            run.close()
            if remove:
                try:
                    os.remove(run.path)
                except OSError:
                    pass

