"""Property tests for hash-based split assignment (labdatasets.processing.splitting)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from labdatasets.processing.splitting import assign, assign_hashes, key_hash, split_table

ratios = st.dictionaries(
    st.sampled_from(["train", "test", "validation", "extra"]), st.integers(min_value=1, max_value=20), min_size=1
)
int_keys = st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=200)
str_keys = st.lists(st.text(max_size=12), min_size=1, max_size=200)


@given(int_keys | str_keys, ratios, st.text(max_size=5))
def test_same_key_same_split_whatever_the_rows_around_it(keys, weights, salt):
    table = pa.table({"id": keys})
    index = assign(table, "id", weights, salt)
    assert index.min() >= 0 and index.max() < len(weights)
    by_key = {}
    for key, split in zip(keys, index.tolist(), strict=True):
        assert by_key.setdefault(key, split) == split  # a group never straddles splits
    # Reversed order, other batch boundaries: each key keeps its split.
    reordered = pa.Table.from_batches(pa.table({"id": keys[::-1]}).to_batches(max_chunksize=7))
    again = assign(reordered, "id", weights, salt)
    assert [by_key[k] for k in keys[::-1]] == again.tolist()


@given(int_keys | str_keys, ratios)
def test_split_table_is_a_disjoint_cover(keys, weights):
    table = pa.table({"id": keys, "row": list(range(len(keys)))})
    parts = split_table(table, "id", weights)
    assert list(parts) == list(weights)
    rows = sorted(r for part in parts.values() for r in part.column("row").to_pylist())
    assert rows == list(range(len(keys)))


@given(ratios, st.text(max_size=5))
def test_ratios_within_tolerance_for_large_n(weights, salt):
    n = 20_000
    index = assign(pa.table({"id": np.arange(n, dtype=np.int64)}), "id", weights, salt)
    counts = np.bincount(index, minlength=len(weights))
    total = sum(weights.values())
    for count, weight in zip(counts, weights.values(), strict=True):
        p = weight / total
        tolerance = 5 * np.sqrt(n * p * (1 - p)) + 1  # five standard deviations
        assert abs(count - n * p) <= tolerance


@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=100), ratios)
def test_assignment_is_monotone_in_the_hash(hashes, weights):
    values = np.array(sorted(hashes), dtype=np.uint64)
    index = assign_hashes(values, weights)
    assert (np.diff(index) >= 0).all()


@given(int_keys, st.text(max_size=5), st.text(max_size=5))
def test_key_hash_is_stable_and_salted(keys, salt, other):
    table = pa.table({"id": keys})
    first = key_hash(table, "id", salt)
    assert (first == key_hash(table, "id", salt)).all()
    if salt != other and len(set(keys)) >= 8:
        assert not (first == key_hash(table, "id", other)).all()
