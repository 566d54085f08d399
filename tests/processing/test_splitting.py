import numpy as np
import pyarrow as pa
import pytest

from labdatasets.processing.splitting import assign, key_hash, split_table

RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def test_same_key_same_split_whatever_the_batching():
    table = pa.table({"id": np.arange(10_000)})
    whole = assign(table, "id", RATIOS)
    pieces = np.concatenate([assign(table.slice(i, 997), "id", RATIOS) for i in range(0, 10_000, 997)])
    assert (whole == pieces).all()
    shuffled = np.random.default_rng(0).permutation(10_000)
    again = assign(table.take(pa.array(shuffled)), "id", RATIOS)
    assert (again == whole[shuffled]).all()


def test_ratios_are_respected():
    counts = np.bincount(assign(pa.table({"id": np.arange(100_000)}), "id", RATIOS), minlength=3) / 100_000
    assert np.allclose(counts, [0.8, 0.1, 0.1], atol=0.01)


def test_assignment_is_stable_across_releases():
    """Changing the hash would move rows between the splits of every published version."""
    ints = assign(pa.table({"id": list(range(12))}), "id", {"train": 0.5, "test": 0.5}).tolist()
    strs = assign(pa.table({"id": [f"user-{i}" for i in range(12)]}), "id", {"train": 0.5, "test": 0.5}).tolist()
    assert ints == [0, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 1]
    assert strs == [0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 0, 1]


def test_the_mixer_is_reference_splitmix64():
    from labdatasets.processing.splitting import _splitmix64

    assert int(_splitmix64(np.array([0], dtype=np.uint64))[0]) == 0xE220A8397B1DCDAF


def test_salt_draws_another_stable_split():
    table = pa.table({"id": np.arange(1000)})
    a, b = assign(table, "id", RATIOS), assign(table, "id", RATIOS, salt="v2")
    assert (a != b).any() and (assign(table, "id", RATIOS, salt="v2") == b).all()


@pytest.mark.parametrize(
    "column",
    [
        pa.array(["a", "b", "a", None]),
        pa.array([b"x", b"y", b"x", None]),
        pa.array([1.5, 2.5, 1.5, None]),
        pa.array([1, 2, 1, None], pa.uint64()),
        pa.array([0, 1, 0, 2], pa.date32()),
        pa.array([10, 20, 10, 30], pa.timestamp("us")),
    ],
)
def test_key_types(column):
    h = key_hash(pa.table({"k": column}), "k")
    assert h[0] == h[2] and h[0] != h[1]


def test_multi_column_keys_and_split_table():
    table = pa.table({"user": [1, 1, 2, 2], "day": [1, 2, 1, 2], "x": [0, 1, 2, 3]})
    h = key_hash(table, ["user", "day"])
    assert len(set(h.tolist())) == 4
    parts = split_table(table, ["user", "day"], {"a": 0.5, "b": 0.5})
    assert sum(p.num_rows for p in parts.values()) == 4
    with pytest.raises(KeyError, match="not in the data"):
        key_hash(table, "nope")
    with pytest.raises(ValueError, match="positive"):
        assign(table, "user", {"a": 1.0, "b": 0.0})
