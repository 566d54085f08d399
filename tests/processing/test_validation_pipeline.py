"""The split checks as Beam transforms: SplitChecksFn over Arrow batches and WriteSplits with a checker."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from labdatasets import expectations as E, features as F
from labdatasets.processing.ledger import LEDGER_FILENAME
from labdatasets.processing.validation import Checker, read_reports, violations

pytestmark = pytest.mark.slow

beam = pytest.importorskip("apache_beam")
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402

from labdatasets.processing.pipeline_io import SplitChecksFn, WriteSplits  # noqa: E402

FEATURES = F.Features({"id": F.Value("int64", nullable=False), "g": F.Text(), "x": F.Value("float64")})


def checker(**kw):
    return Checker(FEATURES, ("id",), E.resolve(FEATURES, key=("id",), **kw))


def test_split_checks_fn_over_arrow_batches_merges_like_one_table():
    rng = np.random.default_rng(1)
    table = pa.table({"id": np.arange(5000), "g": [f"g{i % 17}" for i in range(5000)], "x": rng.normal(size=5000)})
    batches = [table.slice(i, 700) for i in range(0, 5000, 700)]
    c = checker()
    with beam.Pipeline() as p:
        out = (
            p
            | beam.Create([("train", b) for b in batches])
            | beam.CombinePerKey(SplitChecksFn(c))
            | beam.MapTuple(lambda split, found: (split, found["statistics"]["num_rows"], found["statistics"]["columns"]["g"]["distinct"],
                                                  round(found["statistics"]["columns"]["x"]["mean"], 9)))
        )
        assert_that(out, equal_to([("train", 5000, 17, round(float(np.mean(table["x"])), 9))]))


def test_write_splits_with_a_checker_leaves_what_it_found(tmp_path):
    rows = pa.table({"id": np.arange(100), "g": [f"c{i // 10}" for i in range(100)], "x": np.arange(100) / 10})
    c = checker(group_key="g", declared=[E.Range("x", max=8.0)])
    with beam.Pipeline() as p:
        train = p | "train" >> beam.Create([rows.slice(0, 55)])
        test = p | "test" >> beam.Create([rows.slice(50, 50)])  # ids 50..54 (group c5) in both splits
        {"train": train, "test": test} | WriteSplits(out_dir=str(tmp_path), dataset="d", features=FEATURES, key=["id"], checker=c)
    records = json.loads((tmp_path / LEDGER_FILENAME).read_text())["records"]  # the checks' reports ride in the ledger
    reports, cross = read_reports(records)
    assert sorted(reports) == ["test", "train"]
    assert reports["train"]["statistics"]["num_rows"] == 55
    found = {v.rule["kind"]: v for v in violations(c, reports, cross)}
    assert found["disjoint_splits"].count == 5 and found["disjoint_splits"].examples[0] == (50, "test, train")
    assert found["group_in_one_split"].count == 1 and found["group_in_one_split"].examples == (("c5", "test, train"),)
    assert found["range"].split == "test" and found["range"].count == 19
    assert (tmp_path / "d-train-00000-of-00001.parquet").is_file()
