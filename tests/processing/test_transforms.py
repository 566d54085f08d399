"""The Processing transforms in real Beam pipelines (DirectRunner)."""

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from labdatasets import processing as P

pytestmark = pytest.mark.slow

beam = pytest.importorskip("apache_beam")
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402


def batches():
    return [pa.table({"id": list(range(i, i + 50)), "x": [float(v) for v in range(i, i + 50)]}) for i in range(0, 200, 50)]


def rows_of(pcoll, label="rows"):
    return pcoll | label >> beam.FlatMap(lambda t: [tuple(r.values()) for r in t.to_pylist()])


def double(table):
    return table.set_column(1, "x", pc.multiply(table["x"], 2.0))


def test_map_batches_filter_map_rows():
    with BeamTestPipeline() as p:
        out = (
            p
            | beam.Create(batches())
            | "double" >> P.MapBatches(double)
            | "even" >> P.Filter(pc.equal(pc.bit_wise_and(pc.field("id"), 1), 0))
            | "small" >> P.Filter(lambda t: pc.less(t["id"], 20))
            | "per row" >> P.MapRows(lambda r: None if r["id"] == 4 else {"id": r["id"], "x": r["x"] + 1})
        )
        assert_that(rows_of(out), equal_to([(i, 2.0 * i + 1) for i in range(0, 20, 2) if i != 4]))


def test_split_by_hash_covers_every_row_once():
    with BeamTestPipeline() as p:
        parts = P.split_by_hash(p | beam.Create(batches()), key="id", ratios={"train": 0.75, "test": 0.25})
        merged = (parts["train"], parts["test"]) | beam.Flatten()
        assert_that(rows_of(merged), equal_to([(i, float(i)) for i in range(200)]))
        expected_test = [(i, float(i)) for i in range(200) if P.assign(pa.table({"id": [i]}), "id", {"train": 0.75, "test": 0.25})[0] == 1]
        assert_that(rows_of(parts["test"], "test rows"), equal_to(expected_test), label="test split")


def test_non_table_elements_are_refused_with_advice():
    from labdatasets.errors import ProcessingError

    with pytest.raises(ProcessingError, match="use P.MapRows for per-row Python code"):
        with BeamTestPipeline() as p:
            p | beam.Create([42]) | P.MapBatches(lambda t: t)
