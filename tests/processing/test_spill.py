"""Local builds sort on disk: sorted runs and a k-way merge give the rows of an in-memory sort, in its order."""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import labdatasets
from labdatasets.processing import pipeline_io, spill
from labdatasets.processing.fingerprint import compact_batches, fingerprint_tables
from labdatasets.processing.spill import merge_runs, sort_spec, sort_table, write_run
from tests.helpers import sample_rows


def _tables(rng: random.Random, kind: str) -> list[pa.Table]:
    tables = []
    for _ in range(rng.randint(1, 6)):
        n = rng.randint(1, 3000)
        if kind == "few":  # many equal keys, NaN and nulls: ties are broken by the other columns
            ids = [rng.choice([None, math.nan]) if rng.random() < 0.02 else float(rng.randint(0, 20)) for _ in range(n)]
            id_array = pa.array(ids, pa.float64())
        elif kind == "sorted":  # sources sorted by id: runs that do not overlap
            start = sum(t.num_rows for t in tables)
            id_array = pa.array(range(start, start + n), pa.int64())
        else:
            id_array = pa.array([rng.randint(0, 10**9) for _ in range(n)], pa.int64())
        tables.append(
            pa.table({"id": id_array, "x": [rng.random() for _ in range(n)], "s": [str(rng.randint(0, 5)) for _ in range(n)]})
        )
    return tables


@pytest.mark.parametrize("kind", ["few", "sorted", "random"])
@pytest.mark.parametrize("seed", range(6))
def test_merging_sorted_runs_gives_the_rows_of_one_sort_in_its_order(tmp_path, monkeypatch, kind, seed):
    monkeypatch.setattr(spill, "MERGE_SLICE_ROWS", 97)  # many rounds, buffers that run low often
    tables = _tables(random.Random(seed), kind)
    for key in (["id"], []):
        spec = sort_spec(tables[0].schema, key)
        paths = [write_run(t, str(tmp_path / f"runs-{len(key)}"), spec)[0] for t in tables]
        merged = pa.concat_tables(list(merge_runs(paths, spec)))
        expected = sort_table(pa.concat_tables(tables), spec)
        assert merged.num_rows == expected.num_rows
        assert fingerprint_tables(merged.schema, [merged]) == fingerprint_tables(expected.schema, [expected])  # NaN-safe
        assert not list((tmp_path / f"runs-{len(key)}").iterdir())  # runs are removed once merged


def test_the_content_fingerprint_does_not_depend_on_how_rows_are_chunked():
    n = 150_000
    table = pa.table({"id": np.arange(n), "text": [f"row {i}" for i in range(n)]})
    chunked = [table.slice(offset, 9_999) for offset in range(0, n, 9_999)]
    assert fingerprint_tables(table.schema, [table]) == fingerprint_tables(table.schema, chunked)
    batch = next(compact_batches(table.slice(70_000, 10)))
    assert batch.column(1).buffers()[1].size == 11 * 4  # its own offsets, not the whole column's


@pytest.mark.slow
def test_a_build_from_many_small_runs_has_the_fingerprints_of_one_run(make_builder, monkeypatch):
    rows = sample_rows(4000)
    random.Random(3).shuffle(rows)  # a source not sorted by its key
    make_builder.tabular("toy_runs", rows=rows)
    builder = labdatasets.builder("toy_runs")
    builder.build(progress=False)
    expected = {name: (s.num_rows, s.fingerprint) for name, s in builder.info.splits.items()}
    monkeypatch.setattr(pipeline_io, "RUN_ROWS", 150)  # about 25 runs per split
    monkeypatch.setattr(spill, "MERGE_SLICE_ROWS", 16)
    builder.build(overwrite=True, progress=False)
    assert {name: (s.num_rows, s.fingerprint) for name, s in builder.info.splits.items()} == expected
    assert not (builder.prepared_dir / ".spill").exists()


# ------------------------------------------------------------------------------------------ sort order and runs
def test_the_sort_spec_is_the_key_then_the_other_sortable_columns():
    schema = pa.schema([("a", pa.int64()), ("b", pa.string()), ("tags", pa.list_(pa.string())), ("c", pa.float64())])
    assert sort_spec(schema, ["c", "a"]) == ["c", "a", "b"]  # the key in its own order, lists left out
    assert sort_spec(schema, ["gone", "b"]) == ["b", "a", "c"]  # key columns the schema lacks are skipped
    assert sort_spec(schema, ["gone"]) == ["a", "b", "c"]  # no key column at all: every sortable column
    assert sort_spec(schema, []) == ["a", "b", "c"]


def test_sort_table_orders_two_rows_ties_and_nulls_and_keeps_a_sorted_table():
    assert sort_table(pa.table({"id": [2, 1]}), ["id"]).column("id").to_pylist() == [1, 2]
    tied = sort_table(pa.table({"id": [1, 1, 2], "x": [5.0, 3.0, 0.0]}), ["id", "x"])  # ids in order, ties not
    assert tied.column("x").to_pylist() == [3.0, 5.0, 0.0]
    nulls = sort_table(pa.table({"id": [None, 1, 2]}), ["id"])
    assert nulls.column("id").to_pylist() == [1, 2, None]  # nulls last, as Arrow sorts them
    ordered = pa.table({"id": [1, 2, 3], "x": [3.0, 2.0, 1.0]})
    assert sort_table(ordered, ["id", "x"]) is ordered  # a source sorted by its key is not sorted again
    assert sort_table(pa.table({"id": [3, 1]}), []).column("id").to_pylist() == [3, 1]  # no sortable column


def test_a_run_is_sorted_counted_and_written_in_slices_under_a_new_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "MERGE_SLICE_ROWS", 10)
    table = pa.table({"id": list(range(35, 0, -1)), "x": [float(i % 4) for i in range(35)]})
    path, rows = write_run(table, str(tmp_path / "new" / "train"), ["id", "x"])
    assert rows == 35 and Path(path).parent == tmp_path / "new" / "train"
    reader = pa.ipc.open_file(path)
    assert [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)] == [10, 10, 10, 5]
    assert reader.read_all().column("id").to_pylist() == list(range(1, 36))
    again, _ = write_run(table, str(tmp_path / "new" / "train"), ["id", "x"])
    assert again != path  # every run has its own file


def _merge(tmp_path, parts: list[pa.Table], spec: list[str], **kwargs) -> pa.Table:
    folder = tmp_path / "runs"
    paths = [write_run(part, str(folder), spec)[0] for part in parts]
    chunks = list(merge_runs(paths, spec, **kwargs))
    return pa.concat_tables(chunks) if chunks else parts[0].schema.empty_table()


def test_one_run_empty_runs_and_no_runs_merge_to_every_row_once(tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "MERGE_SLICE_ROWS", 4)
    table = pa.table({"id": [5, 3, 9, 1, 7, 2, 8, 6, 4, 0, 11], "x": [float(i) for i in range(11)]})
    expected = sort_table(table, ["id", "x"])
    assert _merge(tmp_path, [table], ["id", "x"]).equals(expected)
    empty = table.schema.empty_table()
    assert _merge(tmp_path, [empty, table.slice(0, 6), empty, table.slice(6)], ["id", "x"]).equals(expected)
    assert _merge(tmp_path, [empty, empty], ["id", "x"]).num_rows == 0
    assert list(merge_runs([], ["id"])) == []
    assert not list((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("cut", [1, 3, 4, 5, 8, 13])
def test_multi_column_and_string_keys_merge_in_key_order_whatever_the_run_boundaries(tmp_path, monkeypatch, cut):
    monkeypatch.setattr(spill, "MERGE_SLICE_ROWS", 4)
    rng = random.Random(cut)
    n = 60
    table = pa.table({
        "g": [rng.choice(["a", "b", "c", None]) for _ in range(n)],  # a few groups: long ties across runs
        "id": [rng.randint(0, 9) for _ in range(n)],
        "x": [rng.random() for _ in range(n)],
    })
    spec = sort_spec(table.schema, ["g", "id"])
    parts = [table.slice(start, cut) for start in range(0, n, cut)]
    merged = _merge(tmp_path, parts, spec)
    assert merged.equals(sort_table(table, spec))  # every row once, ties ordered by the rest of the key, nulls last


def test_the_merge_reads_runs_a_slice_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "MERGE_SLICE_ROWS", 16)
    ids = list(range(2000))
    random.Random(1).shuffle(ids)
    parts = [pa.table({"id": ids[i : i + 500]}) for i in range(0, 2000, 500)]
    paths = [write_run(part, str(tmp_path / "runs"), ["id"])[0] for part in parts]
    chunks = list(merge_runs(paths, ["id"]))
    assert pa.concat_tables(chunks).column("id").to_pylist() == list(range(2000))
    # memory: at most two slices per run are buffered, so no chunk comes near a run's size
    assert len(chunks) > 20 and max(c.num_rows for c in chunks) <= 4 * 2 * 16


def test_spill_files_are_removed_when_the_merge_stops_early_and_kept_on_request(tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "MERGE_SLICE_ROWS", 8)
    parts = [pa.table({"id": list(range(start, 200, 3))}) for start in range(3)]
    paths = [write_run(part, str(tmp_path / "runs"), ["id"])[0] for part in parts]
    kept = pa.concat_tables(list(merge_runs(paths, ["id"], remove=False)))
    assert kept.column("id").to_pylist() == list(range(200)) and all(Path(p).exists() for p in paths)
    merging = merge_runs(paths, ["id"])
    next(merging)
    merging.close()  # the shard's writer failed: its runs go anyway
    assert not list((tmp_path / "runs").iterdir())


def test_a_run_already_gone_at_the_end_does_not_fail_the_merge(tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "MERGE_SLICE_ROWS", 8)
    parts = [pa.table({"id": list(range(start, 100, 2))}) for start in range(2)]
    paths = [write_run(part, str(tmp_path / "runs"), ["id"])[0] for part in parts]
    merging = merge_runs(paths, ["id"])
    chunks = [next(merging)]
    os.remove(paths[0])  # e.g. the spill folder cleaned by hand; the open file still reads
    chunks += list(merging)
    assert pa.concat_tables(chunks).column("id").to_pylist() == list(range(100))
    assert not Path(paths[1]).exists()


def test_a_run_with_nulls_but_no_nan_merges_with_a_run_of_nans(tmp_path, monkeypatch):
    """Float keys sort numbers, then NaN, then null: a run whose slice ends in nulls, with no NaN, against a run
    whose slice ends in NaN gives every number first, whatever the slice each run is at."""
    monkeypatch.setattr(spill, "MERGE_SLICE_ROWS", 4)
    nulls = pa.table({"id": pa.array([1.0, None, None, None, None, None], pa.float64())})
    nans = pa.table({"id": pa.array([0.5, 2.0] + [math.nan] * 9, pa.float64())})
    merged = _merge(tmp_path, [nulls, nans], ["id"])
    ids = merged.column("id").to_pylist()
    assert ids[:3] == [0.5, 1.0, 2.0] and all(math.isnan(v) for v in ids[3:12]) and ids[12:] == [None] * 5


def test_a_run_waiting_behind_another_is_not_read_ahead(tmp_path, monkeypatch):
    """Memory stays a few slices per run: a run whose keys all come after another's is not read while it waits."""
    monkeypatch.setattr(spill, "MERGE_SLICE_ROWS", 100)
    parts = [pa.table({"id": pa.array(range(start, start + 20_000), pa.int64())}) for start in (20_000, 0)]
    paths = [write_run(part, str(tmp_path / "runs"), ["id"])[0] for part in parts]
    del parts
    base, peak, rows = pa.total_allocated_bytes(), 0, 0
    for chunk in merge_runs(paths, ["id"]):
        rows += chunk.num_rows
        peak = max(peak, pa.total_allocated_bytes() - base)
        del chunk
    assert rows == 40_000
    assert peak < 20_000 * 8 // 4  # a few slices of 100 int64 values (about 13 kB); a run read ahead holds 160 kB
