"""How a build writes its splits, step by step: the shard writer, the Beam steps' own methods called directly
on small Arrow tables, and two tiny DirectRunner pipelines (built once for the module).

What a user relies on: a split's rows are written in key order whatever order they arrive in, no row is
lost or written twice across shards, the rows/bytes/sha256 recorded for a shard are those of the file on
disk, an error while writing records no shard, and errors name the dataset, version and split.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import random
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labdatasets import expectations as E, features as F
from labdatasets.errors import ProcessingError
from labdatasets.processing import fingerprint, ledger
from labdatasets.processing.fingerprint import fingerprint_tables
from labdatasets.processing.ledger import LEDGER_FILENAME, check_ledger, key_digest, tally_table
from labdatasets.processing.splitting import key_hash
from labdatasets.processing.tables import bucket_slices
from labdatasets.processing.validation import Checker, ShardResult

beam = pytest.importorskip("apache_beam")
from apache_beam.transforms.window import GlobalWindow  # noqa: E402
from apache_beam.utils.windowed_value import WindowedValue  # noqa: E402

from labdatasets.processing import pipeline_io as io_  # noqa: E402
from labdatasets.processing.pipeline_io import (  # noqa: E402
    MANIFEST_DIR,
    ArrowTableCoder,
    ShardWriter,
    SplitChecksFn,
    WriteSplit,
    WriteSplits,
    parquet_dictionary_columns,
    parquet_options,
    shard_filename,
)
from labdatasets.processing.spill import sort_spec, write_run  # noqa: E402

FEATURES = F.Features({"id": F.Value("int64", nullable=False), "label": F.Value("int64"), "x": F.Value("float64")})
WHERE = "toy:1.2.0"


def rows(n: int, start: int = 0) -> pa.Table:
    ids = np.arange(start, start + n)
    return pa.table({"id": ids, "label": ids % 3, "x": ids / 7}, schema=FEATURES.arrow_schema())


def shuffled(table: pa.Table, seed: int = 0) -> pa.Table:
    order = list(range(table.num_rows))
    random.Random(seed).shuffle(order)
    return table.take(pa.array(order, pa.int64()))


def cuts(table: pa.Table, sizes: list[int]) -> list[pa.Table]:
    out, offset = [], 0
    for size in sizes:
        out.append(table.slice(offset, size))
        offset += size
    assert offset == table.num_rows
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def small_groups(monkeypatch):
    """Row groups of 100 rows and fingerprint batches of 64: many of each from a few hundred rows."""
    monkeypatch.setattr(io_, "ROW_GROUP_ROWS", 100)
    monkeypatch.setattr(fingerprint, "FINGERPRINT_BATCH", 64)


# ------------------------------------------------------------------------------------------------ names, coder
def test_shard_filenames_name_dataset_split_index_and_count():
    assert shard_filename("toy", "train", 3, 12) == "toy-train-00003-of-00012.parquet"
    assert shard_filename("a_b", "test", 0, 1) == "a_b-test-00000-of-00001.parquet"


def test_objects_are_read_in_chunks_bounded_by_bytes_and_count():
    objs = [SimpleNamespace(size=s, n=i) for i, s in enumerate([4, 4, 4, 1, 1, 1, 1, 20, 1, 5, 5])]
    chunks = io_._chunk_objects(objs, max_bytes=10, max_count=3)
    assert [[o.n for o in c] for c in chunks] == [[0, 1], [2, 3, 4], [5, 6], [7], [8, 9], [10]]
    assert io_._chunk_objects(objs[9:], max_bytes=10, max_count=2) == [objs[9:]]  # exactly the limits: one chunk
    fits = [SimpleNamespace(size=s) for s in (10, 5, 5)]
    assert io_._chunk_objects(fits, max_bytes=10, max_count=3) == [fits[:1], fits[1:]]  # a new chunk starts empty
    assert io_._chunk_objects([], max_bytes=10, max_count=3) == []


def test_the_shuffle_coder_round_trips_tables_and_is_the_one_registered():
    table = rows(50).slice(10, 7)
    coder = ArrowTableCoder()
    assert coder.decode(coder.encode(table)).equals(table)
    assert coder.estimate_size(table) == table.nbytes
    assert coder.is_deterministic() is True
    assert coder.to_type_hint() is pa.Table
    assert isinstance(beam.coders.registry.get_coder(pa.Table), ArrowTableCoder)


# ------------------------------------------------------------------------------------------------ parquet options
def test_dictionary_columns_are_chosen_from_a_sample_of_the_first_rows():
    n = 20_000
    first = np.arange(16_384) % 2048  # 2048 distinct in the first 16_384 rows: 8 rows per value, just enough
    table = pa.table({
        "a": np.concatenate([first, np.arange(10**6, 10**6 + n - 16_384)]),  # unique after the sample
        "b": np.concatenate([np.arange(16_384) % 2049, np.zeros(n - 16_384, np.int64)]),  # one value too many
        "flag": np.arange(n) % 2 == 0,
        "f": (np.arange(n) % 2).astype(np.float64),
        "l": pa.array([[1]] * n),
        "s": pa.array(["x"] * n),
    })
    assert parquet_dictionary_columns(table) == ["a", "s"]
    head = pa.table({"c": np.concatenate([np.zeros(16, np.int64), np.arange(1, 200)])})  # repeats in its first 16 rows only
    assert (parquet_dictionary_columns(head), parquet_dictionary_columns(head, sample_rows=16)) == ([], ["c"])
    nulls = pa.table({"v": pa.array([1, None] * 4), "w": pa.array([1] * 8)})
    assert parquet_dictionary_columns(nulls) == ["w"]  # null counts as a value: 2 distinct in 8 rows is too many


def test_every_shard_is_written_with_the_same_options():
    table = rows(64)
    assert parquet_options(table) == {"compression": "snappy", "use_dictionary": ["label"], "write_page_checksum": True}


# ------------------------------------------------------------------------------------------------ the shard writer
def test_a_shard_written_in_pieces_has_the_bytes_of_one_write_and_a_manifest_of_them(tmp_path, small_groups):
    whole = rows(1000)
    writer = ShardWriter(str(tmp_path), "toy-train-00000-of-00001.parquet", split="train", index=0, sort_columns=["id"], fingerprint=True)
    for part in cuts(whole, [1, 99, 0, 250, 37, 313, 200, 100]):
        writer.write(part)
    manifest = writer.close()
    path = tmp_path / "toy-train-00000-of-00001.parquet"
    expected = io.BytesIO()
    pq.write_table(whole, expected, row_group_size=100, **parquet_options(whole))
    assert path.read_bytes() == expected.getvalue()
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [100] * 10
    assert manifest == {
        "split": "train", "index": 0, "filename": path.name, "num_rows": 1000, "num_bytes": path.stat().st_size,
        "sha256": sha256(path), "key_digest": key_digest(whole, ["id"]), "fingerprint": fingerprint_tables(whole.schema, [whole]),
    }
    assert pq.read_table(path).equals(whole)


def test_a_shard_smaller_than_a_row_group_and_one_of_exact_groups(tmp_path, small_groups):
    for n, sizes in ((30, [10, 20]), (200, [100, 100]), (201, [150, 51]), (150, [99, 51])):
        whole = rows(n)
        writer = ShardWriter(str(tmp_path), f"s{n}.parquet", split="test", index=2, sort_columns=["id", "x"], fingerprint=False)
        for part in cuts(whole, sizes):
            writer.write(part)
        manifest = writer.close()
        path = tmp_path / f"s{n}.parquet"
        meta = pq.ParquetFile(path).metadata
        assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [100] * (n // 100) + ([n % 100] if n % 100 else [])
        assert pq.read_table(path).equals(whole)
        assert "fingerprint" not in manifest  # a shard of several: the split is fingerprinted from its files
        assert (manifest["num_rows"], manifest["num_bytes"], manifest["sha256"]) == (n, path.stat().st_size, sha256(path))
        assert manifest["key_digest"] == key_digest(whole, ["id", "x"])


def test_the_key_digest_of_many_pieces_wraps_like_the_ledgers(tmp_path, small_groups):
    whole = rows(400)
    writer = ShardWriter(str(tmp_path), "d.parquet", split="train", index=0, sort_columns=["id"], fingerprint=False)
    pieces = cuts(whole, [1] * 40 + [360])
    for part in pieces:
        writer.write(part)
    assert sum(key_digest(p, ["id"]) for p in pieces) >= 1 << 64  # the sum overflows: the digest wraps
    assert writer.close()["key_digest"] == key_digest(whole, ["id"])


def test_the_fingerprint_of_a_one_shard_split_does_not_depend_on_how_rows_arrived(tmp_path, small_groups):
    whole = rows(700)
    prints = set()
    for sizes in ([700], [64] * 10 + [60], [1, 63, 65, 300, 271], [5] * 140):
        writer = ShardWriter(str(tmp_path), "f.parquet", split="train", index=0, sort_columns=["id"], fingerprint=True)
        for part in cuts(whole, sizes):
            writer.write(part)
        prints.add(writer.close()["fingerprint"])
    assert prints == {fingerprint_tables(whole.schema, [whole])}
    exact = rows(640)  # ten whole fingerprint batches: nothing left over at the end
    writer = ShardWriter(str(tmp_path), "e.parquet", split="train", index=0, sort_columns=["id"], fingerprint=True)
    for part in cuts(exact, [64, 500, 76]):
        writer.write(part)
    assert writer.close()["fingerprint"] == fingerprint_tables(exact.schema, [exact])


def _fingerprint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("labdatasets-fingerprint")]


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_aborting_a_shard_removes_its_partial_file_and_stops_its_thread(tmp_path, small_groups):
    before = _fingerprint_threads()
    writer = ShardWriter(str(tmp_path), "a.parquet", split="train", index=0, sort_columns=["id"], fingerprint=True)
    writer.write(rows(250))
    assert writer._fh is not None and not writer._fh.closed and (tmp_path / "a.parquet").exists()
    writer.abort()
    assert writer._fh.closed
    assert not (tmp_path / "a.parquet").exists()  # no partial shard for anything to pick up
    assert _fingerprint_threads() == before
    del writer
    gc.collect()  # the Parquet writer's finalizer neither writes a footer nor fails on the closed file
    ShardWriter(str(tmp_path), "b.parquet", split="train", index=0, sort_columns=["id"], fingerprint=True).abort()  # nothing written


def test_a_closed_shard_leaves_no_thread_behind(tmp_path, small_groups):
    before = _fingerprint_threads()
    writer = ShardWriter(str(tmp_path), "c.parquet", split="train", index=0, sort_columns=["id"], fingerprint=True)
    writer.write(rows(10))
    writer.close()
    assert _fingerprint_threads() == before


# ------------------------------------------------------------------------------------------------ _write_shard
def test_writing_a_shard_records_its_manifest_and_counts_rows(tmp_path, small_groups):
    from labdatasets.present.progress import CounterFile

    whole = rows(300)
    counter = CounterFile(str(tmp_path / "bar"))
    out = list(io_._write_shard(str(tmp_path), "toy", 3, ["id"], "train", 1, cuts(whole, [120, 180]), counter))
    path = tmp_path / "toy-train-00001-of-00003.parquet"
    assert pq.read_table(path).equals(whole)
    manifest = json.loads((tmp_path / MANIFEST_DIR / (path.name + ".json")).read_text())
    assert out == [manifest]
    assert manifest == {"split": "train", "index": 1, "filename": path.name, "num_rows": 300, "num_bytes": path.stat().st_size,
                        "sha256": sha256(path), "key_digest": key_digest(whole, ["id"])}
    assert counter.path.read_text() == "300"  # the bar's last count: every row written
    one = list(io_._write_shard(str(tmp_path), "toy", 1, ["id"], "test", 0, [whole]))
    assert one[0]["fingerprint"] == fingerprint_tables(whole.schema, [whole])  # one shard: fingerprinted as written


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_an_error_while_writing_a_shard_records_no_manifest(tmp_path, small_groups):
    def failing():
        yield rows(150)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        list(io_._write_shard(str(tmp_path), "toy", 1, ["id"], "train", 0, failing()))
    assert not (tmp_path / MANIFEST_DIR).exists()  # the build learns of no shard: nothing of it is kept
    assert list(tmp_path.iterdir()) == []
    assert _fingerprint_threads() == []


def checker(**kw) -> Checker:
    return Checker(FEATURES, ("id",), E.resolve(FEATURES, key=("id",), **kw))


def test_writing_a_shard_with_checks_reports_them_and_its_runs(tmp_path, small_groups):
    c = checker(declared=[E.Range("x", max=10.0)])
    whole = rows(300)
    out = list(io_._write_shard(str(tmp_path), "toy", 1, ["id"], "train", 0, cuts(whole, [70, 230]), None, c, str(tmp_path / "runs")))
    assert out[0] == ("manifest", json.loads((tmp_path / MANIFEST_DIR / "toy-train-00000-of-00001.parquet.json").read_text()))
    assert out[1][0] == "checks" and out[1][1][:2] == ("train", 0)
    assert out[1][1][2].to_json() == c.check_shard(whole).to_json()
    runs = [r for r in out[2:]]
    assert runs and all(r[0] == "runs" and r[1][1] == "train" and Path(r[1][2]).exists() for r in runs)
    without_runs = list(io_._write_shard(str(tmp_path / "b"), "toy", 1, ["id"], "train", 0, [whole], None, c))
    assert [o[0] for o in without_runs] == ["manifest", "checks"]


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_shard_whose_checks_fail_in_their_thread_is_not_written(tmp_path, small_groups, monkeypatch):
    """The checks run in a thread beside the writer; an error there fails the shard as one in the writer does:
    raised to the build, no shard file, no manifest, no thread left behind. A failed write stops the thread too."""
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    c = checker(declared=[E.Range("x", max=10.0)])
    c.rules[-1]._column = None  # a rule changed after it was made: refused when the slice is checked
    with pytest.raises(Exception, match="row rule without a column"):
        list(io_._write_shard(str(tmp_path), "toy", 1, ["id"], "train", 0, cuts(rows(300), [70, 230]), None, c))
    assert list(tmp_path.iterdir()) == []
    assert [t for t in threading.enumerate() if t.name.startswith("labdatasets-checks")] == []

    def failing():
        yield rows(150)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        list(io_._write_shard(str(tmp_path), "toy", 1, ["id"], "train", 0, failing(), None, checker()))
    assert list(tmp_path.iterdir()) == []
    assert [t for t in threading.enumerate() if t.name.startswith("labdatasets-checks")] == []


def test_a_shard_writer_output_becomes_written_reports():
    manifest = {"split": "train", "index": 0, "num_rows": 3}
    assert list(io_._written(manifest)) == [{"stage": "written", **manifest}]
    assert list(io_._written(("manifest", manifest))) == [{"stage": "written", **manifest}]
    assert list(io_._written(("checks", ("train", 0, "r")))) == [("checks", "train", 0, "r")]
    assert list(io_._written(("runs", (1, "train", "/p")))) == [("runs", 1, "train", "/p")]


def test_rows_and_tallies_are_told_apart_by_shard_index():
    table, tally = rows(3), tally_table("entry", ["train"], [3], [7])
    assert list(io_._rows_only((("train", 0), table))) == [(("train", 0), table)]
    assert list(io_._rows_only((("train", -1), tally))) == []
    assert list(io_._tallies_only((("train", 0), table))) == []
    assert list(io_._tallies_only((("train", -1), tally))) == [
        {"stage": "entry", "origin": None, "split": "train", "rows": 3, "digest": 7, "split_digest": None}
    ]
    assert list(io_._tally_dicts(tally)) == list(ledger.tally_records(tally))
    assert io_._keyed_by_none({"a": 1}) == (None, {"a": 1})


# ------------------------------------------------------------------------------------------------ checks, ledger
def test_check_reports_merge_a_splits_shards_in_shard_order():
    c = checker()
    rng = np.random.default_rng(3)
    parts = [pa.table({"id": np.arange(i * 100, i * 100 + 100), "label": np.arange(100) % 3, "x": rng.normal(size=100) * 10**i})
             for i in range(4)]
    results = [c.check_shard(p) for p in parts]
    items = [("checks", "train", i, r) for i, r in enumerate(results)] + [("checks", "test", 0, c.check_shard(parts[0]))]
    reports = io_._check_reports(c, list(reversed(items)))
    merged = c.empty()
    for r in results:
        merged.merge(r)
    assert reports == [{"stage": "checks", "split": "test", **c.check_shard(parts[0]).to_json()},
                       {"stage": "checks", "split": "train", **merged.to_json()}]


def test_check_reports_find_keys_written_to_two_splits(tmp_path):
    from labdatasets.processing.validation import read_reports, tally_json, violations

    c = checker()
    runs = str(tmp_path / "runs")
    items = []
    for split, table in (("train", rows(60)), ("test", rows(50, start=50))):  # ids 50..59 in both
        items += [io_._written(o) for o in io_._write_shard(str(tmp_path), "toy", 1, ["id"], split, 0, [table], None, c, runs)]
    reports = io_._check_reports(c, [t for out in items for t in out if not isinstance(t, dict)])
    [across] = [r for r in reports if r.get("stage") == "across"]
    rule = next(i for i, r in enumerate(c.rules) if r.kind == "disjoint_splits")
    assert across["rule"] == rule and {k: v for k, v in across.items() if k not in ("stage", "rule")} == tally_json(
        next(iter(read_reports(reports)[1].values()))
    )
    [found] = violations(c, *read_reports(reports))
    assert (found.rule["kind"], found.count, found.examples[0]) == ("disjoint_splits", 10, (50, "test, train"))


def test_the_ledger_is_one_sorted_file_of_every_report(tmp_path):
    records = [{"stage": "written", "split": "b", "rows": 2}, {"stage": "entry", "split": "a", "rows": 1}, {"stage": "seed", "origins": {}}]
    out = list(io_._WriteLedger(str(tmp_path)).process((None, records)))
    assert out == [str(tmp_path / LEDGER_FILENAME)]
    written = json.loads((tmp_path / LEDGER_FILENAME).read_text("utf-8"))
    assert written == {"records": sorted(records, key=lambda r: json.dumps(r, sort_keys=True))}


def test_the_ledger_turns_shard_results_into_checks_reports(tmp_path):
    c = checker()
    table = rows(40)
    items = [{"stage": "seed", "origins": {}}, ("checks", "train", 0, c.check_shard(table))]
    list(io_._WriteLedger(str(tmp_path), c).process((None, items)))
    records = json.loads((tmp_path / LEDGER_FILENAME).read_text("utf-8"))["records"]
    assert records == [{"stage": "seed", "origins": {}},
                       {"stage": "checks", "split": "train", **json.loads(json.dumps(c.check_shard(table).to_json()))}]


def test_split_checks_fn_merges_tables_and_shard_results_like_one_table():
    c = checker()
    whole = rows(300)
    fn = SplitChecksFn(c)
    a = fn.add_input(fn.create_accumulator(), whole.slice(0, 100))
    b = fn.add_input(fn.create_accumulator(), c.check_shard(whole.slice(100, 150)))
    d = fn.add_input(fn.create_accumulator(), whole.slice(250))
    assert isinstance(a, ShardResult)
    expected = c.check_shard(whole.slice(0, 100))
    for part in (whole.slice(100, 150), whole.slice(250)):
        expected.merge(c.check_shard(part))
    found = fn.extract_output(fn.merge_accumulators([a, b, d]))
    assert found == expected.to_json() and found["statistics"]["num_rows"] == 300


# ------------------------------------------------------------------------------------------------ conform and shard
def _conform(num_shards: int, origin=None, progress_dir=None) -> io_._ConformAndShard:
    fn = io_._ConformAndShard("train", FEATURES, WHERE, ["id"], num_shards, ["id"], origin, progress_dir)
    fn.setup()
    return fn


def test_conform_and_shard_sends_every_row_to_exactly_one_shard_and_tallies_them(tmp_path):
    table = shuffled(rows(500))
    fn = _conform(3, progress_dir=str(tmp_path / "bar"))
    out = list(fn.process(table.to_pylist()))  # rows as Python dicts are conformed too
    fn.finish_bundle()
    (tally_key, tally), *shards = out
    assert tally_key == ("train", -1)
    assert list(ledger.tally_records(tally)) == [
        {"stage": "entry", "origin": None, "split": "train", "rows": 500, "digest": key_digest(table, ["id"]), "split_digest": None}
    ]
    expected = {i: part for i, part in bucket_slices(table, ["id"], 3, salt="shard")}
    assert [k for k, _ in shards] == [("train", i) for i in range(3)]
    for (_, index), part in shards:
        assert part.equals(expected[index])
    assert sorted(pa.concat_tables([p for _, p in shards]).column("id").to_pylist()) == list(range(500))
    from labdatasets.present.progress import CONFORMED_DIR

    [count] = (tmp_path / "bar" / CONFORMED_DIR).iterdir()
    assert count.read_text() == "500"


def test_conform_and_shard_keeps_one_shard_whole_and_skips_empty_input():
    table = rows(5)
    fn = _conform(1)
    out = list(fn.process(table))
    assert [k for k, _ in out] == [("train", -1), ("train", 0)]
    assert out[1][1].equals(table)
    assert list(fn.process(table.slice(0, 0))) == []
    assert _conform(1)._progress is None  # no bar: nothing counted


def test_conform_and_shard_leaves_out_empty_shards():
    table = rows(2)
    out = list(_conform(50).process(table))
    assert sum(p.num_rows for _, p in out[1:]) == 2 and all(p.num_rows for _, p in out[1:])


def test_conform_and_shard_reports_the_split_digest_of_split_by_hash_rows():
    table = rows(40)
    out = list(_conform(2, origin=(["id"], "s1")).process(table))
    [record] = ledger.tally_records(out[0][1])
    assert record["split_digest"] == int(key_hash(table, ["id"], "s1").sum(dtype=np.uint64))
    assert record["split_digest"] != int(key_hash(table, ["id"], "").sum(dtype=np.uint64))


def test_rows_that_do_not_fit_the_features_name_dataset_version_split_and_row():
    bad = pa.table({"id": pa.array([1, None], pa.int64()), "label": [0, 1], "x": [0.0, 1.0]})
    with pytest.raises(ProcessingError, match=r"toy:1\.2\.0 split 'train': column 'id'"):
        list(_conform(1).process(bad))
    wrong = pa.table({"id": [7, 8], "label": ["1", "one"], "x": [0.0, 1.0]})
    with pytest.raises(ProcessingError, match=r"toy:1\.2\.0 split 'train': column 'label', row with id=8"):
        list(_conform(1).process(wrong))


# ------------------------------------------------------------------------------------------------ spill and merge
def test_spilled_runs_hold_every_row_once_sorted_biggest_group_first(tmp_path):
    fn = io_._SpillRuns(str(tmp_path), ["id"], 100)
    fn.start_bundle()
    data = shuffled(rows(400), seed=5)
    pieces = cuts(data, [30, 50, 20, 10, 70, 60, 60, 100])
    shards = [("train", 0), ("test", 0), ("test", 0), ("train", 1), ("train", 1), ("train", 0), ("test", 0), ("test", 0)]
    out, spilled_at = [], []
    for i, (key, piece) in enumerate(zip(shards, pieces, strict=True)):
        now = [("now", o) for o in fn.process((key, piece))]
        spilled_at += [i] * len(now)
        out += now
    out += [("end", o) for o in fn.finish_bundle()]
    # 100 rows gathered (30 + 70): the biggest group is spilled at once
    assert out[0] == ("now", (("test", 0), (out[0][1][1][0], 70))) and spilled_at[0] == 2
    got: dict[tuple[str, int], list[int]] = {}
    for when, item in out:
        if when == "end":
            assert isinstance(item, WindowedValue) and item.windows == [GlobalWindow()]
            item = item.value
        key, (path, n) = item
        assert Path(path).parent.parent == tmp_path / key[0]
        ids = pa.ipc.open_file(path).read_all().column("id").to_pylist()
        assert ids == sorted(ids) and len(ids) == n
        got.setdefault(key, []).extend(ids)
    expected: dict[tuple[str, int], list[int]] = {}
    for key, piece in zip(shards, pieces, strict=True):
        expected.setdefault(key, []).extend(piece.column("id").to_pylist())
    assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in expected.items()}
    assert fn._rows == 0
    fn.start_bundle()
    assert list(fn.finish_bundle()) == []


def test_merged_and_in_memory_shards_are_written_in_key_order(tmp_path, small_groups):
    whole = rows(600)
    data = shuffled(whole, seed=9)
    spec = sort_spec(whole.schema, ["id"])
    runs = [write_run(part, str(tmp_path / "spill"), spec) for part in cuts(data, [250, 250, 100])]
    merge = io_._MergeShard(str(tmp_path / "m"), "toy", 2, ["id"], str(tmp_path / "bar"))
    merge.setup()
    [manifest] = merge.process((("train", 1), list(reversed(runs))))
    assert pq.read_table(tmp_path / "m" / "toy-train-00001-of-00002.parquet").equals(whole)
    assert manifest["num_rows"] == 600
    from labdatasets.present.progress import WRITTEN_DIR

    [count] = (tmp_path / "bar" / WRITTEN_DIR).iterdir()
    assert count.read_text() == "600"

    shard = io_._WriteShard(str(tmp_path / "w"), "toy", 1, ["id"], str(tmp_path / "bar2"))
    shard.setup()
    [manifest] = shard.process((("test", 0), cuts(data, [1, 299, 300])))
    assert pq.read_table(tmp_path / "w" / "toy-test-00000-of-00001.parquet").equals(whole)
    [count] = (tmp_path / "bar2" / WRITTEN_DIR).iterdir()
    assert count.read_text() == "600"
    assert manifest["fingerprint"] == fingerprint_tables(whole.schema, [whole])


def test_a_shard_writer_with_checks_passes_them_on(tmp_path):
    c = checker()
    shard = io_._WriteShard(str(tmp_path), "toy", 1, ["id"], None, c, str(tmp_path / "runs"))
    shard.setup()
    out = list(shard.process((("train", 0), [shuffled(rows(50))])))
    assert [o[0] for o in out[:2]] == ["manifest", "checks"] and out[2:] and all(o[0] == "runs" for o in out[2:])
    spec = sort_spec(FEATURES.arrow_schema(), ["id"])
    merge = io_._MergeShard(str(tmp_path / "m"), "toy", 1, ["id"], None, c, str(tmp_path / "runs2"))
    merge.setup()
    out = list(merge.process((("train", 0), [write_run(shuffled(rows(50)), str(tmp_path / "s"), spec)])))
    assert [o[0] for o in out[:2]] == ["manifest", "checks"] and out[2:] and all(o[0] == "runs" for o in out[2:])


def test_counters_live_in_their_subfolder_of_the_progress_folder(tmp_path):
    from labdatasets.present.progress import WRITTEN_DIR

    assert io_._counter(None, "WRITTEN_DIR") is None
    assert io_._counter("", "WRITTEN_DIR") is None
    counter = io_._counter(str(tmp_path), "WRITTEN_DIR")
    assert counter.path.parent == tmp_path / WRITTEN_DIR


# ------------------------------------------------------------------------------------------------ reading pins
def pinned(tmp: Path, fmt: str, tables_or_bytes: list, *, missing: bool = False, read_options=None):
    """A snapshot store in ``tmp`` holding one object per item, and the pin of a source made of them."""
    from labdatasets.pinning.record import ObjectEntry, SourcePin
    from labdatasets.stores import Snapshots

    store = Snapshots("file://" + str(tmp / "store"))
    objects = []
    for i, item in enumerate(tables_or_bytes):
        path = tmp / f"part{i}.{fmt}"
        if fmt == "parquet":
            pq.write_table(item, path)
        else:
            path.write_bytes(item)  # files, or the text of a csv
        info = store.add_file(path)
        objects.append(ObjectEntry(path.name, "0" * 64 if missing else info.oid, info.size))
    schema = FEATURES.arrow_schema() if fmt in ("parquet", "csv") else pa.schema([])
    return store, SourcePin.of_table(
        kind="local", location={}, format=fmt, objects=objects, schema=schema, num_rows=None, read_options=read_options
    )


def test_reading_a_pinned_source_gives_its_rows_in_batches_and_counts_bytes(tmp_path):
    from labdatasets.present.progress import CounterFile  # noqa: F401 - the bar's files are CounterFiles

    data = rows(130)
    store, pin = pinned(tmp_path, "parquet", cuts(data, [90, 40]))
    fn = io_._ReadObjects(pin, store.to_uris(), "toy:1.2.0 source 'rows'", 40, str(tmp_path / "bar"))
    fn.setup()
    out = list(fn.process(list(pin.objects)))
    fn.finish_bundle()
    assert [t.num_rows for t in out] == [40, 40, 10, 40]
    assert pa.concat_tables(out).equals(data)
    [count] = [f for f in (tmp_path / "bar").iterdir() if f.is_file()]
    assert count.read_text() == str(sum(o.size for o in pin.objects))
    fresh = io_._ReadObjects(pin, store.to_uris(), "toy", 1000, None)  # process() before setup(): opens the store
    assert pa.concat_tables(list(fresh.process(list(pin.objects)))).equals(data)
    fresh.finish_bundle()


def test_reading_a_pinned_csv_uses_its_read_options(tmp_path):
    store, pin = pinned(tmp_path, "csv", [b"id;label;x\n1;2;0.5\n3;4;1.5\n"], read_options={"delimiter": ";"})
    fn = io_._ReadObjects(pin, store.to_uris(), "toy", 10, None)
    fn.setup()
    [table] = fn.process(list(pin.objects))
    assert table.to_pylist() == [{"id": 1, "label": 2, "x": 0.5}, {"id": 3, "label": 4, "x": 1.5}]


def test_reading_pinned_files_gives_paths_and_bytes(tmp_path):
    from labdatasets.pinning.tabular import files_schema

    store, pin = pinned(tmp_path, "files", [b"abc", b"de"])
    fn = io_._ReadObjects(pin, store.to_uris(), "toy", 10, str(tmp_path / "bar"))
    fn.setup()
    [table] = fn.process(list(pin.objects))
    fn.finish_bundle()
    assert table.to_pylist() == [{"path": "part0.files", "data": b"abc"}, {"path": "part1.files", "data": b"de"}]
    assert table.schema.equals(files_schema())  # neither column may hold a null
    [count] = [f for f in (tmp_path / "bar").iterdir() if f.is_file()]
    assert count.read_text() == "5"


def test_a_missing_pinned_object_is_named_with_its_source(tmp_path):
    store, pin = pinned(tmp_path, "parquet", [rows(3)], missing=True)
    fn = io_._ReadObjects(pin, store.to_uris(), "toy:1.2.0 source 'rows'", 10, None)
    fn.setup()
    with pytest.raises(Exception, match=r"toy:1\.2\.0 source 'rows' object 'part0\.parquet'"):
        list(fn.process(list(pin.objects)))
    (tmp_path / "f").mkdir()
    store, files = pinned(tmp_path / "f", "files", [b"x"], missing=True)
    fn = io_._ReadObjects(files, store.to_uris(), "toy:1.2.0 source 'rows'", 10, None)
    fn.setup()
    with pytest.raises(Exception, match=r"toy:1\.2\.0 source 'rows' object 'part0\.files'"):
        list(fn.process(list(files.objects)))


def test_rows_are_ordered_by_the_key_or_else_by_every_sortable_column():
    by_key = WriteSplits(out_dir="o", dataset="toy", features=FEATURES, key=["x"])
    whole = WriteSplits(out_dir="o", dataset="toy", features=FEATURES)
    assert (by_key.sort_columns, whole.sort_columns) == (["x"], ["id", "label", "x"])


# ------------------------------------------------------------------------------------------------ real pipelines
def test_a_missing_pinned_object_fails_a_pipeline_naming_its_source(tmp_path):
    from labdatasets.processing.transforms import ReadPinnedSource

    store, pin = pinned(tmp_path, "parquet", [rows(3)], missing=True)
    with pytest.raises(Exception, match=r"toy:1\.2\.0 source 'rows' object 'part0\.parquet'"):
        with beam.Pipeline(runner="DirectRunner") as p:
            _ = p | ReadPinnedSource(pin, store.to_uris(), label="toy:1.2.0 source 'rows'")


def test_a_build_writes_every_row_once_in_key_order_and_manifests_of_its_files(tmp_path, monkeypatch):
    """One small build on the DirectRunner: a pinned source read from its store, split_by_hash into two splits,
    two shards each, sorted on disk, with checks and a progress folder (in the test, not a fixture: mutmut
    times a test's call, and a mutant's time limit follows from it)."""
    from labdatasets.processing.transforms import ReadPinnedSource, split_by_hash

    split_build = tmp_path
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # nothing is written where the build was started
    store, pin = pinned(tmp_path, "parquet", cuts(shuffled(rows(300), seed=2), [100, 120, 80]))
    with beam.Pipeline(runner="DirectRunner") as p:
        pcoll = p | ReadPinnedSource(pin, store.to_uris(), label="toy source", batch_rows=60, progress_dir=str(tmp_path / "bar"))
        splits = split_by_hash(pcoll, key="id", ratios={"train": 0.7, "test": 0.3}, salt="s")
        splits["extra"] = p | "extra" >> beam.Create([rows(5)])  # ids 0..4 again: found by the checks across splits
        _ = splits | WriteSplits(
            out_dir=str(tmp_path / "out"), dataset="toy", features=FEATURES, key=["id"], num_shards=2, where=WHERE,
            spill_dir=str(tmp_path / "spill"), progress_dir=str(tmp_path / "bar"), checker=checker(),
        )
    out = split_build / "out"
    records = json.loads((out / LEDGER_FILENAME).read_text())["records"]
    counts = check_ledger(records, splits=["train", "test", "extra"], runner="DirectRunner", where=WHERE)
    [seed] = [r for r in records if r["stage"] == "seed"]
    assert sorted(seed["origins"]) == ["test", "train"]
    assert sum(r["rows"] for r in records if r["stage"] == "split") == 300  # split_by_hash's tallies, once
    assert {r["split"] for r in records if r["stage"] == "checks"} == {"train", "test", "extra"}
    [across] = [r for r in records if r["stage"] == "across"]
    assert across["count"] == 5
    ids = []
    for split in ("train", "test"):
        split_ids = []
        for index in range(2):
            path = out / shard_filename("toy", split, index, 2)
            got = pq.read_table(path).column("id").to_pylist()
            assert got == sorted(got)
            manifest = json.loads((out / MANIFEST_DIR / (path.name + ".json")).read_text())
            assert (manifest["num_rows"], manifest["num_bytes"], manifest["sha256"]) == (len(got), path.stat().st_size, sha256(path))
            split_ids += got
        assert len(split_ids) == counts[split]
        ids += split_ids
    assert sorted(ids) == list(range(300)) and counts["extra"] == 5
    assert list(cwd.iterdir()) == []
    assert len(list(out.glob("*.parquet"))) == 6 and not list((tmp_path / "spill").rglob("*.arrow"))
    assert sum(int(f.read_text()) for f in (split_build / "bar" / "written").iterdir()) == 305
    assert sum(int(f.read_text()) for f in (split_build / "bar" / "conformed").iterdir()) == 305
    assert sum(int(f.read_text()) for f in (split_build / "bar").iterdir() if f.is_file()) == sum(
        f.stat().st_size for f in split_build.glob("part*.parquet"))  # bytes read


def test_a_build_without_spill_writes_fingerprinted_shards_and_checks_across_splits(tmp_path):
    """The other runners' way: the rows shuffled and each shard sorted in memory, one shard per split."""
    sources = {"train": shuffled(rows(120), seed=4), "test": shuffled(rows(20, start=115), seed=5)}  # ids 115..119 in both
    with beam.Pipeline(runner="DirectRunner") as p:
        splits = {name: p | f"Create {name}" >> beam.Create(cuts(t, [t.num_rows // 2, t.num_rows - t.num_rows // 2]), reshuffle=False)
                  for name, t in sources.items()}
        _ = splits | WriteSplits(
            out_dir=str(tmp_path / "out"), dataset="toy", features=FEATURES, key=["id"], where=WHERE,
            progress_dir=str(tmp_path / "bar"), checker=checker(),
        )
    out = tmp_path / "out"
    for split, first, n in (("train", 0, 120), ("test", 115, 20)):
        path = out / shard_filename("toy", split, 0, 1)
        whole = rows(n, start=first)
        assert pq.read_table(path).equals(whole)
        manifest = json.loads((out / MANIFEST_DIR / (path.name + ".json")).read_text())
        assert manifest["fingerprint"] == fingerprint_tables(whole.schema, [whole]) and manifest["sha256"] == sha256(path)
    records = json.loads((out / LEDGER_FILENAME).read_text())["records"]
    assert check_ledger(records, splits=["train", "test"], runner="DirectRunner", where=WHERE) == {"train": 120, "test": 20}
    [across] = [r for r in records if r["stage"] == "across"]
    assert across["count"] == 5
    assert {r["split"]: r["statistics"]["num_rows"] for r in records if r["stage"] == "checks"} == {"train": 120, "test": 20}
    assert sum(int(f.read_text()) for f in (tmp_path / "bar" / "written").iterdir()) == 140
    assert sorted(f.name for f in out.iterdir()) == [  # the runs of the checks across splits are gone
        LEDGER_FILENAME, MANIFEST_DIR, shard_filename("toy", "test", 0, 1), shard_filename("toy", "train", 0, 1)
    ]


def test_a_pipeline_of_rows_that_do_not_fit_fails_naming_the_split(tmp_path):
    bad = pa.table({"id": pa.array([1, None], pa.int64()), "label": [0, 1], "x": [0.0, 1.0]})
    with pytest.raises(ProcessingError) as raised:
        with beam.Pipeline(runner="DirectRunner") as p:  # WriteSplit used directly, without where=
            _ = p | beam.Create([bad]) | WriteSplit(split="train", out_dir=str(tmp_path), dataset="toy", features=FEATURES, key=["id"])
    assert str(raised.value).startswith("split 'train': column 'id', row with id=None: null")
    assert not list(tmp_path.glob("*.parquet"))


def test_the_ledger_is_the_last_step_as_dask_builds_require(tmp_path):
    from labdatasets.processing.runners import check_pipeline

    for spill in (None, str(tmp_path / "spill")):
        p = beam.Pipeline(runner="DirectRunner")
        _ = p | beam.Create([rows(3)]) | WriteSplit(
            split="train", out_dir=str(tmp_path), dataset="toy", features=FEATURES, key=["id"], spill_dir=spill
        )
        check_pipeline(p, "DaskRunner", where=WHERE, last_label="Write ledger")  # the label build.py checks for
