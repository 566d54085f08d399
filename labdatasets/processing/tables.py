"""Arrow table helpers shared by the transforms and the pipeline's reading and writing.

Plain functions over ``pyarrow`` tables (no Apache Beam), so that
:mod:`labdatasets.processing.transforms` and :mod:`labdatasets.processing.pipeline_io`
both use them without importing each other.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labdatasets.errors import ProcessingError
from labdatasets.processing.splitting import key_hash

__all__ = ["as_table", "bucket_slices", "sortable_columns", "sort_rows"]


def as_table(element: Any) -> pa.Table:
    """Accept a Table, a RecordBatch, a dict of columns or a list of row dicts."""
    if isinstance(element, pa.Table):
        return element
    if isinstance(element, pa.RecordBatch):
        return pa.Table.from_batches([element])
    if isinstance(element, Mapping):
        return pa.table(dict(element))
    if isinstance(element, list):
        return pa.Table.from_pylist(element)
    raise ProcessingError(
        f"expected a pyarrow.Table (or RecordBatch / dict of columns / list of rows) in the pipeline, got "
        f"{type(element).__name__}; use P.MapRows for per-row Python code"
    )


def bucket_slices(table: pa.Table, key: Sequence[str], num_buckets: int, *, salt: str) -> Iterator[tuple[int, pa.Table]]:
    """``(bucket, rows)`` for every bucket, empty ones included, from one sort (zero-copy slices)."""
    bucket = (key_hash(table, key, salt=salt) % np.uint64(num_buckets)).astype(np.int64)
    order = np.argsort(bucket, kind="stable")
    counts = np.bincount(bucket, minlength=num_buckets)
    ordered = table.take(pa.array(order))
    offset = 0
    for b in range(num_buckets):
        yield b, ordered.slice(offset, int(counts[b]))
        offset += int(counts[b])


def sortable_columns(schema: pa.Schema) -> list[str]:
    """Columns Arrow can sort by (not lists, structs or maps)."""
    return [f.name for f in schema if not pa.types.is_nested(f.type) and not pa.types.is_dictionary(f.type)]


def _has_adjacent_duplicates(ordered: pa.Table, key: Sequence[str]) -> bool:
    """Whether two neighbouring rows of a table sorted by ``key`` share the key (nulls equal nulls)."""
    same = None
    for name in key:
        column = ordered.column(name)
        a, b = column.slice(1), column.slice(0, len(column) - 1)
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        equal = pc.or_kleene(pc.fill_null(pc.equal(a, b), False), both_null)
        same = equal if same is None else pc.and_(same, equal)
    return same is not None and bool(pc.any(same).as_py())


def sort_rows(table: pa.Table, key: Sequence[str]) -> pa.Table:
    """Sort by ``key``; where keys repeat, break ties by every other sortable column.

    The order then depends on the rows only, never on which batch arrived
    first, so a split's content fingerprint is the same on every runner.
    """
    key = [k for k in key if k in table.column_names] or sortable_columns(table.schema)
    if not key or table.num_rows < 2:
        return table
    first = table.column(key[0])
    if not first.null_count and pc.all(pc.greater(first.slice(1), first.slice(0, len(first) - 1))).as_py():
        return table  # already in order with unique keys (sources are often sorted by their id)
    ordered = table.sort_by([(c, "ascending") for c in key])
    if not _has_adjacent_duplicates(ordered, key):
        return ordered
    rest = [c for c in sortable_columns(table.schema) if c not in key]
    return table.sort_by([(c, "ascending") for c in [*key, *rest]]) if rest else ordered
