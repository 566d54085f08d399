"""Local builds sort on disk: sorted runs and a k-way merge give the rows of an in-memory sort, in its order."""

from __future__ import annotations

import math
import random

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
