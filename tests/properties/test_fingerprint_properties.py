"""Property tests for content fingerprints (labdatasets.processing.fingerprint)."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from labdatasets.processing import fingerprint
from labdatasets.processing.fingerprint import fingerprint_tables

row = st.tuples(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.none() | st.text(max_size=8),
    st.floats(allow_nan=False),
)
rows = st.lists(row, min_size=1, max_size=60)
SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("x", pa.float64())])


def _table(values):
    ids, names, xs = (list(c) for c in zip(*values, strict=True)) if values else ([], [], [])
    return pa.table({"id": ids, "name": names, "x": xs}, schema=SCHEMA)


def _chunks(table, cuts):
    bounds = sorted({0, table.num_rows, *(c % (table.num_rows + 1) for c in cuts)})
    return [table.slice(a, b - a) for a, b in zip(bounds, bounds[1:], strict=False)]


@given(rows, st.lists(st.integers(min_value=0, max_value=100), max_size=6), st.integers(min_value=1, max_value=9))
def test_independent_of_how_rows_are_batched(values, cuts, batch):
    table = _table(values)
    whole = fingerprint_tables(SCHEMA, [table])
    assert fingerprint_tables(SCHEMA, _chunks(table, cuts)) == whole
    assert fingerprint_tables(SCHEMA, [pa.Table.from_batches(table.to_batches(max_chunksize=batch))]) == whole


@given(rows, st.lists(st.integers(min_value=0, max_value=100), max_size=6), st.integers(min_value=1, max_value=7))
def test_independent_of_batching_across_fingerprint_batch_boundaries(values, cuts, size):
    # A small FINGERPRINT_BATCH exercises the re-chunking the 65,536-row batches do on big splits.
    original = fingerprint.FINGERPRINT_BATCH
    fingerprint.FINGERPRINT_BATCH = size
    try:
        table = _table(values)
        assert fingerprint_tables(SCHEMA, _chunks(table, cuts)) == fingerprint_tables(SCHEMA, [table])
    finally:
        fingerprint.FINGERPRINT_BATCH = original


@given(rows, st.randoms(use_true_random=False))
def test_independent_of_arrival_order_once_sorted_by_key(values, rng):
    # Rows reach the writer in any order; the split is sorted by key before it is fingerprinted.
    unique = list({v[0]: v for v in values}.values())
    shuffled = unique[:]
    rng.shuffle(shuffled)
    expected = fingerprint_tables(SCHEMA, [_table(sorted(unique))])
    arrived = _table(shuffled).sort_by("id")
    assert fingerprint_tables(SCHEMA, [arrived]) == expected


@given(rows, st.data())
def test_changes_when_any_single_value_changes(values, data):
    table = _table(values)
    before = fingerprint_tables(SCHEMA, [table])
    i = data.draw(st.integers(min_value=0, max_value=len(values) - 1))
    column = data.draw(st.integers(min_value=0, max_value=2))
    changed = list(values[i])
    new = data.draw(row)[column]
    if new == changed[column] or (column == 2 and str(new) == str(changed[column])):
        new = {0: changed[0] ^ 1, 1: (changed[1] or "") + "!", 2: -changed[2] if changed[2] else 1.0}[column]
    changed[column] = new
    edited = values[:i] + [tuple(changed)] + values[i + 1 :]
    assert fingerprint_tables(SCHEMA, [_table(edited)]) != before


@given(rows)
def test_changes_when_order_changes(values):
    reversed_rows = values[::-1]
    if reversed_rows != values:
        assert fingerprint_tables(SCHEMA, [_table(reversed_rows)]) != fingerprint_tables(SCHEMA, [_table(values)])
