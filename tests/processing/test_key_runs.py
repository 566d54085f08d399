"""Checks across splits in fixed memory: key and group values in sorted runs on disk, merged by hash (no Beam).

What a user relies on: ``DisjointSplits`` and ``GroupInOneSplit`` report exactly the values found in two
splits, whatever the run sizes, the value types or hash collisions; splits in ``ignore`` are left out;
nulls are never a shared value; the runs are small (repeats dropped) and removed once merged.
"""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from labdatasets import expectations as E, features as F
from labdatasets.processing import key_runs
from labdatasets.processing.key_runs import HASH, KeyRunWriter, shared_values
from labdatasets.processing.validation import Checker, check_runs


def checker_of(features: F.Features, key=("id",), group_key=None, rules=()) -> Checker:
    resolved = E.resolve(features, key=key, group_key=group_key, declared=rules, where="t:1.0.0")
    return Checker(features, key, resolved)


def rule_index(checker: Checker, kind: type) -> int:
    [index] = [i for i, r in enumerate(checker.rules) if isinstance(r, kind)]
    return index


def write_runs(checker: Checker, folder: Path, splits: dict[str, list[pa.Table]], index: int) -> list[tuple[str, str]]:
    runs = []
    for split, shards in splits.items():
        for shard in shards:
            writer = KeyRunWriter(checker, split, str(folder))
            for start in range(0, max(shard.num_rows, 1), 5):  # the shard's rows come in slices
                writer.add(shard.slice(start, 5))
            runs += [(s, p) for i, s, p in writer.finish() if i == index]
    return runs


def found(runs, ignore=()) -> dict[str, set]:
    out: dict[str, set] = {}
    for bucket in shared_values(runs, ignore):
        for split, values in bucket:
            assert HASH not in values.column_names
            out.setdefault(split, set()).update(zip(*[values.column(n).to_pylist() for n in values.column_names], strict=True))
    return out


def expected_shared(splits: dict[str, list[list]], ignore=()) -> dict[str, set]:
    values = {s: {v for shard in shards for v in shard if None not in v} for s, shards in splits.items() if s not in ignore}
    return {
        s: shared for s, mine in values.items()
        if (shared := {v for v in mine if any(v in other for o, other in values.items() if o != s)})
    }


INT_CASES = {
    "int64": (pa.int64(), [-(2**63), -5, -1, 0, 1, 7, 2**40, 2**63 - 1]),
    "int32": (pa.int32(), [-(2**31), -3, 0, 5, 2**31 - 1]),
    "uint8": (pa.uint8(), [0, 1, 128, 255]),
    "uint64": (pa.uint64(), [0, 1, 2**63, 2**64 - 1]),
}


@pytest.mark.parametrize("small", [False, True], ids=["one-run", "many-small-runs"])
@pytest.mark.parametrize("case", sorted(INT_CASES))
def test_integer_keys_in_two_splits_are_found_exactly_in_their_type(tmp_path, monkeypatch, case, small):
    if small:
        monkeypatch.setattr(key_runs, "RUN_ROWS", 7)
        monkeypatch.setattr(key_runs, "SLICE_ROWS", 2)
    type_, extremes = INT_CASES[case]
    rng = random.Random(case)
    pool = sorted({*extremes, *(rng.randint(0, 120) for _ in range(60))})
    data = {
        "train": [pool[: len(pool) // 2] + pool[:3], list(reversed(pool[len(pool) // 3 :]))],  # repeats; not in order
        "test": [rng.sample(pool, 15) + [pool[-1], pool[0]]],
        "validation": [[pool[0], pool[1]]],
        "extra": [[]],
    }
    features = F.Features({"id": F.Value(str(type_))})
    checker = checker_of(features)
    index = rule_index(checker, E.DisjointSplits)
    tables = {s: [pa.table({"id": pa.array(shard, type_)}) for shard in shards] for s, shards in data.items()}
    runs = write_runs(checker, tmp_path / "checks", tables, index)
    got = {}
    for bucket in shared_values(runs):
        for split, values in bucket:
            assert values.schema == pa.schema([("id", type_)])  # the values come back in the key's type
            got.setdefault(split, set()).update((v,) for v in values.column("id").to_pylist())
    assert got == expected_shared({s: [[(v,) for v in shard] for shard in shards] for s, shards in data.items()})
    assert not (tmp_path / "checks").exists()  # runs and their folders removed


@pytest.mark.parametrize("collide", [False, True], ids=["hashes", "colliding-hashes"])
def test_text_and_multi_column_keys_are_compared_by_value(tmp_path, monkeypatch, collide):
    monkeypatch.setattr(key_runs, "RUN_ROWS", 6)
    monkeypatch.setattr(key_runs, "SLICE_ROWS", 3)
    if collide:  # every hash forced into 4 values: equal hashes must still be told apart by their values
        real = key_runs._hashes
        monkeypatch.setattr(key_runs, "_hashes", lambda values: (real(values) >> np.uint64(62)) << np.uint64(62))
    features = F.Features({"sku": F.Text(), "id": F.Value("int32")})
    checker = checker_of(features, key=("sku", "id"))
    index = rule_index(checker, E.DisjointSplits)
    rng = random.Random(4)
    pool = [(f"s{rng.randint(0, 6)}", rng.randint(0, 6)) for _ in range(80)]
    data = {
        "train": [pool[:40], pool[10:30]],
        "test": [pool[35:55] + [("s1", None), (None, 3)]],  # a null in the key is never a shared key
        "validation": [pool[50:] + [("s1", None), (None, 3), ("zz", 1)]],
    }
    tables = {s: [pa.table({"sku": pa.array([v[0] for v in shard]), "id": pa.array([v[1] for v in shard], pa.int32())})
                  for shard in shards] for s, shards in data.items()}
    runs = write_runs(checker, tmp_path / "checks", tables, index)
    expected = expected_shared(data)
    if collide:
        tally = check_runs(checker, index, runs)  # what the build reports: values compared, not hashes
        shared = {v for values in expected.values() for v in values}
        assert tally.count == len(shared)
    else:
        assert found(runs) == expected
    assert not (tmp_path / "checks").exists()


def test_groups_in_two_splits_nulls_left_out_and_repeats_written_once(tmp_path, monkeypatch):
    monkeypatch.setattr(key_runs, "SLICE_ROWS", 2)
    features = F.Features({"id": F.Value("int64"), "customer": F.Text()})
    checker = checker_of(features, group_key="customer")
    index = rule_index(checker, E.GroupInOneSplit)
    train = pa.table({"id": list(range(12)), "customer": ["a", "b", None, "c"] * 3})
    test = pa.table({"id": list(range(20, 26)), "customer": ["c", None, "d", "d", "e", "a"]})
    writer = KeyRunWriter(checker, "train", str(tmp_path / "checks"))
    writer.add(train)
    [(rule, split, path)] = [r for r in writer.finish() if r[0] == index]
    assert (rule, split) == (index, "train")
    run = pa.ipc.open_stream(path).read_all()
    assert sorted(run.column("customer").to_pylist()) == ["a", "b", "c"]  # each group once, no null
    assert run.column(HASH).to_pylist() == sorted(run.column(HASH).to_pylist())  # sorted by hash
    runs = [("train", path)] + write_runs(checker, tmp_path / "checks", {"test": [test]}, index)
    assert found(runs) == {"train": {("a",), ("c",)}, "test": {("a",), ("c",)}}


def test_integer_runs_hold_each_value_once_in_order(tmp_path):
    features = F.Features({"id": F.Value("int64")})
    checker = checker_of(features)
    index = rule_index(checker, E.DisjointSplits)
    writer = KeyRunWriter(checker, "train", str(tmp_path / "checks"))
    writer.add(pa.table({"id": [5, 3, 3, -2, 9, 5, 0]}))
    [(_, _, path)] = [r for r in writer.finish() if r[0] == index]
    hashes = pa.ipc.open_stream(path).read_all().column(HASH).to_numpy()
    assert len(hashes) == 5 and bool(np.all(hashes[1:] > hashes[:-1]))
    assert len(writer.finish()) == len(writer.runs) == 1  # nothing pending: no new run


def test_splits_in_ignore_are_left_out_and_one_split_finds_nothing(tmp_path):
    features = F.Features({"id": F.Value("int64")})
    checker = checker_of(features)
    index = rule_index(checker, E.DisjointSplits)
    data = {"train": [[(1,), (2,), (3,)]], "test": [[(2,), (9,)]], "validation": [[(3,), (9,), (4,)]]}
    tables = {s: [pa.table({"id": [v[0] for v in shard]}) for shard in shards] for s, shards in data.items()}
    runs = write_runs(checker, tmp_path / "checks", tables, index)
    assert found(runs, ignore=["test"]) == {"train": {(3,)}, "validation": {(3,)}}
    runs = write_runs(checker, tmp_path / "checks", tables, index)
    assert found(runs, ignore=["test", "validation"]) == {}
    assert not (tmp_path / "checks").exists()  # runs of a merge with one split are removed too
    runs = write_runs(checker, tmp_path / "checks", tables, index)
    assert found(runs) == expected_shared(data)


def test_runs_are_removed_when_the_merge_stops_early(tmp_path, monkeypatch):
    monkeypatch.setattr(key_runs, "SLICE_ROWS", 2)
    features = F.Features({"id": F.Value("int64")})
    checker = checker_of(features)
    index = rule_index(checker, E.DisjointSplits)
    tables = {"train": [pa.table({"id": list(range(0, 40))})], "test": [pa.table({"id": list(range(0, 40, 2))})]}
    runs = write_runs(checker, tmp_path / "checks", tables, index)
    merging = shared_values(runs)
    assert next(merging)
    merging.close()
    assert not (tmp_path / "checks").exists()


def test_runs_of_a_remote_runner_go_through_beam_filesystems(gcs_bucket, monkeypatch):
    """On a remote runner the runs live in the staging folder (``gs://...``): written, merged and deleted there."""
    pytest.importorskip("apache_beam.io.gcp.gcsfilesystem")
    from apache_beam.io.filesystems import FileSystems

    monkeypatch.setattr(key_runs, "SLICE_ROWS", 2)
    features = F.Features({"id": F.Value("int64"), "customer": F.Text()})
    checker = checker_of(features, group_key="customer")
    folder = f"gs://{gcs_bucket}/staging/checks/"
    data = {"train": pa.table({"id": list(range(10)), "customer": [f"c{i}" for i in range(10)]}),
            "test": pa.table({"id": [3, 20, 9], "customer": ["c9", "x", "y"]})}
    runs: dict[int, list[tuple[str, str]]] = {}
    for split, table in data.items():
        writer = KeyRunWriter(checker, split, folder)
        writer.add(table)
        for index, s, path in writer.finish():
            assert path.startswith(f"gs://{gcs_bucket}/staging/checks/{index}/{split}-")
            runs.setdefault(index, []).append((s, path))
    assert found(runs[rule_index(checker, E.DisjointSplits)]) == {"train": {(3,), (9,)}, "test": {(3,), (9,)}}
    assert found(runs[rule_index(checker, E.GroupInOneSplit)]) == {"train": {("c9",)}, "test": {("c9",)}}
    assert not [p for index in runs for _, p in runs[index] if FileSystems.exists(p)]  # deleted once merged


def test_text_runs_hold_each_key_once_in_hash_order(tmp_path):
    """A repeated text key (rows of one id, a unique_key violation) is written once per run, whatever its hash's
    place: the run stays as small as the shard's distinct keys."""
    features = F.Features({"sku": F.Text(), "id": F.Value("int64")})
    checker = checker_of(features, key=("sku",))
    index = rule_index(checker, E.DisjointSplits)
    skus = [f"k{i}" for i in range(30)] * 3 + ["k7"] * 5
    random.Random(2).shuffle(skus)
    writer = KeyRunWriter(checker, "train", str(tmp_path / "checks"))
    for start in range(0, len(skus), 10):
        writer.add(pa.table({"sku": skus[start : start + 10], "id": list(range(start, start + len(skus[start : start + 10])))}))
    [(_, _, path)] = [r for r in writer.finish() if r[0] == index]
    run = pa.ipc.open_stream(path).read_all()
    assert sorted(run.column("sku").to_pylist()) == sorted(set(skus))
    hashes = run.column(HASH).to_numpy()
    assert bool(np.all(hashes[1:] >= hashes[:-1]))


def test_a_run_that_cannot_be_read_fails_the_merge_and_the_runs_are_removed(tmp_path):
    features = F.Features({"id": F.Value("int64")})
    checker = checker_of(features)
    index = rule_index(checker, E.DisjointSplits)
    runs = write_runs(checker, tmp_path / "checks", {"train": [pa.table({"id": [1, 2]})], "test": [pa.table({"id": [2]})]}, index)
    broken = tmp_path / "checks" / str(index) / "validation-broken.arrows"
    broken.write_bytes(b"not an arrow stream")
    with pytest.raises(pa.ArrowInvalid):
        list(shared_values([*runs, ("validation", str(broken))]))
    assert not (tmp_path / "checks").exists()  # the good runs go too


def test_a_run_waiting_behind_another_is_not_read_ahead(tmp_path, monkeypatch):
    """Memory is a slice per run: a split whose values all hash after another's waits unread."""
    monkeypatch.setattr(key_runs, "SLICE_ROWS", 100)
    features = F.Features({"id": F.Value("int64")})
    checker = checker_of(features)
    index = rule_index(checker, E.DisjointSplits)
    tables = {"train": [pa.table({"id": pa.array(range(20_000), pa.int64())})],
              "test": [pa.table({"id": pa.array([*range(20_000, 40_000), 19_999], pa.int64())})]}
    runs = write_runs(checker, tmp_path / "checks", tables, index)
    del tables
    peaks: list[int] = []
    real = key_runs._shared

    def measured(*args):  # each round of the merge: what is buffered then (hashes in numpy, values in Arrow)
        peaks.append(tracemalloc.get_traced_memory()[0] - base + pa.total_allocated_bytes() - arrow_base)
        return real(*args)

    monkeypatch.setattr(key_runs, "_shared", measured)
    tracemalloc.start()
    try:
        base, arrow_base = tracemalloc.get_traced_memory()[0], pa.total_allocated_bytes()
        assert found(runs) == {"train": {(19_999,)}, "test": {(19_999,)}}
    finally:
        tracemalloc.stop()
    # a few slices of 100 hashes and the merge's own objects (about 50 kB); reading the waiting run ahead: 200 kB
    assert len(peaks) > 100 and max(peaks) < 100_000


def test_an_integer_first_key_column_is_not_taken_for_the_whole_key(tmp_path):
    features = F.Features({"id": F.Value("int64"), "sku": F.Text()})
    checker = checker_of(features, key=("id", "sku"))
    index = rule_index(checker, E.DisjointSplits)
    tables = {"train": [pa.table({"id": [1, 2, 3], "sku": ["a", "b", "c"]})],
              "test": [pa.table({"id": [1, 2, 4], "sku": ["z", "b", "c"]})]}
    runs = write_runs(checker, tmp_path / "checks", tables, index)
    assert found(runs) == {"train": {(2, "b")}, "test": {(2, "b")}}  # (1, a) and (1, z) are other keys


def test_every_chunk_and_every_rule_of_a_slice_is_written(tmp_path):
    features = F.Features({"id": F.Value("int64"), "customer": F.Text()})
    checker = checker_of(features, group_key="customer")
    groups = rule_index(checker, E.GroupInOneSplit)
    nulls = pa.table({"id": pa.array([None, None], pa.int64()), "customer": ["g0", "g1"]})  # no key: the key rule has nothing
    writer = KeyRunWriter(checker, "train", str(tmp_path / "checks"))
    writer.add(nulls)
    chunks = [pa.table({"id": pa.array([i], pa.int64()), "customer": [f"g{i}"]}) for i in (2, 3)]
    writer.add(pa.concat_tables(chunks))  # one slice in two chunks
    runs = [("train", p) for i, _, p in writer.finish() if i == groups]
    runs += write_runs(checker, tmp_path / "checks", {"test": [pa.table({"id": [7, 8], "customer": ["g1", "g3"]})]}, groups)
    assert found(runs) == {"train": {("g1",), ("g3",)}, "test": {("g1",), ("g3",)}}


def test_a_shard_writes_a_run_each_time_run_rows_values_are_gathered(tmp_path, monkeypatch):
    monkeypatch.setattr(key_runs, "RUN_ROWS", 7)
    features = F.Features({"id": F.Value("int64")})
    checker = checker_of(features)
    writer = KeyRunWriter(checker, "train", str(tmp_path / "checks"))
    for start in range(0, 50, 5):
        writer.add(pa.table({"id": list(range(start, start + 5))}))
    assert len(writer.runs) == 5  # at 10, 20, 30, 40 and 50 values: memory holds at most a run's worth
    assert len(writer.finish()) == 5
