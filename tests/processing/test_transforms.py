"""The Processing transforms in real Beam pipelines (DirectRunner)."""

import numpy as np
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


def table_rows(pcoll, label):
    return pcoll | label >> beam.FlatMap(lambda t: [tuple(sorted(r.items())) for r in t.to_pylist()])


def as_rows(dicts):
    return [tuple(sorted(d.items())) for d in dicts]


PEOPLE = [{"pid": i, "name": f"p{i}", "city": i % 3} for i in range(0, 40)]
CITIES = [{"city": 0, "cname": "Oslo"}, {"city": 1, "cname": "Lima"}, {"city": 5, "cname": "Nowhere"}]


def people_and_cities(p):
    people = p | "people" >> beam.Create([pa.Table.from_pylist(PEOPLE[i : i + 7]) for i in range(0, 40, 7)])
    cities = p | "cities" >> beam.Create([pa.Table.from_pylist(CITIES[:2]), pa.Table.from_pylist(CITIES[2:])])
    return people, cities


@pytest.mark.parametrize("how", ["inner", "left", "outer", "semi", "anti"])
def test_join_matches_a_reference_join(how):
    names = {0: "Oslo", 1: "Lima"}
    if how == "inner":
        expected = [{**r, "cname": names[r["city"]]} for r in PEOPLE if r["city"] in names]
    elif how == "left":
        expected = [{**r, "cname": names.get(r["city"])} for r in PEOPLE]
    elif how == "outer":
        expected = [{**r, "cname": names.get(r["city"])} for r in PEOPLE] + [{"pid": None, "name": None, "city": 5, "cname": "Nowhere"}]
    elif how == "semi":
        expected = [r for r in PEOPLE if r["city"] in names]
    else:
        expected = [r for r in PEOPLE if r["city"] not in names]
    with BeamTestPipeline() as p:
        joined = people_and_cities(p) | P.Join(on="city", how=how, num_buckets=4)
        assert_that(table_rows(joined, "rows"), equal_to(as_rows(expected)))


def test_join_with_different_key_names_and_clashing_columns():
    left = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    right = [{"ref": 1, "v": "x"}, {"ref": 1, "v": "y"}]
    with BeamTestPipeline() as p:
        pair = (p | "l" >> beam.Create([pa.Table.from_pylist(left)]), p | "r" >> beam.Create([pa.Table.from_pylist(right)]))
        joined = pair | P.Join(on="id", right_on="ref", suffixes=("_left", "_right"))
        expected = [{"id": 1, "v_left": "a", "v_right": "x"}, {"id": 1, "v_left": "a", "v_right": "y"}]
        assert_that(table_rows(joined, "rows"), equal_to(as_rows(expected)))


def test_join_refuses_a_single_pcollection_and_bad_arguments():
    from labdatasets.errors import ProcessingError

    with pytest.raises(ValueError, match="how must be one of"):
        P.Join(on="id", how="cross")
    with pytest.raises(ProcessingError, match=r"\(left, right\) \| P.Join"):
        with BeamTestPipeline() as p:
            p | beam.Create(batches()) | P.Join(on="id")


def test_deduplicate_keeps_the_same_row_whatever_the_arrival_order():
    rows = [{"k": i % 10, "v": i} for i in range(100)]
    expected = as_rows([{"k": k, "v": k} for k in range(10)])  # the smallest v per key, by the tie-break order
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(100)
        shuffled = [rows[i] for i in order]
        with BeamTestPipeline() as p:
            tables = [pa.Table.from_pylist(shuffled[i : i + 13]) for i in range(0, 100, 13)]
            out = p | beam.Create(tables) | P.Deduplicate(key="k", num_buckets=3)
            assert_that(table_rows(out, "rows"), equal_to(expected))


def test_deduplicate_whole_rows():
    rows = [{"a": 1, "b": "x"}, {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": None, "b": "x"}, {"a": None, "b": "x"}]
    with BeamTestPipeline() as p:
        out = p | beam.Create([pa.Table.from_pylist(rows[:2]), pa.Table.from_pylist(rows[2:])]) | P.Deduplicate()
        assert_that(table_rows(out, "rows"), equal_to(as_rows([rows[0], rows[2], rows[3]])))


def test_select_rename_and_map_columns():
    with BeamTestPipeline() as p:
        out = (
            p
            | beam.Create(batches())
            | "select" >> P.SelectColumns({"key": "id", "x": "x"})
            | "rename" >> P.RenameColumns({"x": "value"})
            | "derive"
            >> P.MapColumns({"double": lambda t: pc.multiply(t["value"], 2.0), "big": pc.field("double") > 300.0, "value": lambda t: pc.negate(t["value"])})
        )
        expected = [{"key": i, "value": -float(i), "double": 2.0 * i, "big": 2.0 * i > 300} for i in range(200)]
        assert_that(table_rows(out, "rows"), equal_to(as_rows(expected)))


def test_select_of_a_missing_column_names_it():
    from labdatasets.errors import ProcessingError

    with pytest.raises(ProcessingError, match=r"SelectColumns: column\(s\) \['nope'\] not in the data"):
        with BeamTestPipeline() as p:
            p | beam.Create(batches()) | P.SelectColumns(["id", "nope"])


def test_sort_rows_breaks_key_ties_by_the_other_columns():
    from labdatasets.processing.transforms import sort_rows

    rows = pa.table({"k": [2, 1, 1, 2, 1], "v": ["b", "z", "a", "a", "m"], "l": [[1], [2], [3], [4], [5]]})
    out = sort_rows(rows, ["k"])
    assert list(zip(out["k"].to_pylist(), out["v"].to_pylist(), strict=True)) == [(1, "a"), (1, "m"), (1, "z"), (2, "a"), (2, "b")]
    for seed in range(5):
        shuffled = rows.take(pa.array(np.random.default_rng(seed).permutation(5)))
        assert sort_rows(shuffled, ["k"]).equals(out)
    unique = pa.table({"k": [3, 1, 2]})
    assert sort_rows(unique, ["k"])["k"].to_pylist() == [1, 2, 3]


def test_every_lazily_exported_name_exists():
    """processing/__init__.py lists the transforms statically so that importing it needs no Beam."""
    for name in P._BEAM_NAMES:
        assert callable(getattr(P, name)), name
