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


def _reference_key_hash(table, columns, salt):
    """key_hash as the plain numpy expressions it was first written as (one temporary array per step)."""
    import hashlib

    from labdatasets.processing.splitting import _salt64, _value_bytes

    def mix(x):
        with np.errstate(over="ignore"):
            x = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            return x ^ (x >> np.uint64(31))

    h = np.full(table.num_rows, _salt64(salt), dtype=np.uint64)
    for name in columns:
        column = table.column(name).combine_chunks()
        if pa.types.is_floating(column.type):
            values = column.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False).view(np.uint64)
        elif pa.types.is_integer(column.type) or pa.types.is_boolean(column.type):
            values = column.cast(pa.int64(), safe=False).fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64)
        else:
            values = np.array(
                [int.from_bytes(hashlib.blake2b(_value_bytes(v), digest_size=8).digest(), "little") for v in column.to_pylist()],
                dtype=np.uint64,
            )
        hashed = mix(values)
        hashed[column.is_null().to_numpy(zero_copy_only=False)] = np.uint64(0x5BD1E995)
        h = mix(h ^ hashed)
    return h


def test_key_hash_in_place_equals_the_reference_expressions():
    """The in-place hashing (no temporaries) gives the very values of the plain expressions, for every kind of
    key, with nulls, over several chunks and slices: rows never move between splits because of it."""
    rng = np.random.default_rng(7)
    ints = rng.integers(-(2**62), 2**62, 3000)
    nulls = rng.random(3000) < 0.1
    table = pa.table({
        "i64": ints, "i32": pa.array(ints.astype(np.int32), mask=nulls), "u8": ints.astype(np.uint8),
        "flag": pa.array(ints % 2 == 0, mask=nulls), "f64": pa.array(rng.random(3000), mask=nulls),
        "f32": rng.random(3000).astype(np.float32), "text": pa.array([f"k{v}" for v in ints], mask=nulls),
    })
    chunked = pa.concat_tables([table.slice(0, 1000), table.slice(1000, 333), table.slice(1333)])
    for t in (table, chunked, table.slice(17, 1500), table.slice(0, 0)):
        for columns in [[c] for c in table.column_names] + [["i64", "text"], ["f64", "i32", "flag"], []]:
            for salt in ("", "v2"):
                assert (key_hash(t, columns, salt) == _reference_key_hash(t, columns, salt)).all(), (columns, salt)


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


def test_split_key_errors_and_ratio_errors_say_what_to_do():
    import pyarrow as pa

    from labdatasets.errors import ColumnNotFoundError, DeclarationError
    from labdatasets.processing.splitting import key_hash, normalize_ratios

    with pytest.raises(DeclarationError) as info:
        normalize_ratios({})
    assert str(info.value) == "split ratios must name at least one split, e.g. {'train': 0.8, 'test': 0.2}"
    with pytest.raises(ColumnNotFoundError) as info:
        key_hash(pa.table({"id": [1]}), ["id", "user"])
    assert str(info.value) == (
        "split key column(s) ['user'] not in the data (columns: ['id']); name columns the processing produces in key="
    )


def test_key_hashes_of_extreme_and_narrow_integers():
    import numpy as np
    import pyarrow as pa

    from labdatasets.processing.splitting import key_hash

    big = pa.table({"k": pa.array([0, 2**63, 2**64 - 1, None], pa.uint64())})
    hashes = key_hash(big, "k")  # values above int64's range hash like any other
    assert hashes.dtype == np.uint64 and len(set(hashes.tolist())) == 4
    narrow = pa.table({"k": pa.array([1, -1, 7], pa.int8())})
    wide = pa.table({"k": pa.array([1, -1, 7], pa.int64())})
    assert key_hash(narrow, "k").tolist() == key_hash(wide, "k").tolist()  # a key is its value, not its width
    assert key_hash(pa.table({"k": [1.5, None]}), "k").dtype == np.uint64
    assert key_hash(pa.table({"k": [1, 2]}), []).tolist() == key_hash(pa.table({"k": [3, 4]}), []).tolist()  # no key: all alike
    assert key_hash(pa.table({"k": [1, 2]}), [], salt="s").dtype == np.uint64
