"""DatasetBuilderTestCase passes a correct builder and fails each kind of broken one."""

from __future__ import annotations

import dataclasses
import unittest

import pytest

from labdatasets import registry
from labdatasets.config import settings as resolve_settings
from labdatasets.testing import DatasetBuilderTestCase, DummyDataError, dummy_sources, isolated_settings
from tests.helpers import rows_csv, sample_rows

pytestmark = pytest.mark.slow


def run_case(builder_cls, **attrs) -> unittest.TestResult:
    """Run a DatasetBuilderTestCase subclass in-process, as pytest or unittest would."""
    case = type("Case", (DatasetBuilderTestCase,), {"BUILDER": builder_cls, **attrs})
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
    return result


def failed(result: unittest.TestResult) -> dict[str, str]:
    """{test method (or 'setUpClass'): message} of failures and errors."""
    out = {}
    for test, trace in result.failures + result.errors:
        name = getattr(test, "_testMethodName", None) or str(test).split(" ")[0]
        out[name] = trace
    return out


def dummy(rows) -> dict[str, str]:
    return {"dummy_data/rows.csv": rows_csv(rows)}


def counts(builder_cls, rows) -> dict[str, int]:
    """Rows per split computed with the splitting function alone (no Beam), for expectations."""
    import pyarrow as pa

    from labdatasets.processing.splitting import split_table

    table = pa.table({"id": [r["id"] for r in rows]})
    return {name: part.num_rows for name, part in split_table(table, "id", {"train": 0.8, "test": 0.2}).items()}


def test_base_class_is_not_collected_but_subclasses_are():
    assert DatasetBuilderTestCase.__test__ is False
    assert type("T", (DatasetBuilderTestCase,), {"BUILDER": object})().__test__ is True
    assert type("Abstract", (DatasetBuilderTestCase,), {})().__test__ is False


def test_a_correct_builder_passes_every_check(make_builder):
    rows = sample_rows(20)
    cls = make_builder.tabular("tc_good", extra_files=dummy(rows))
    result = run_case(cls, SPLITS=counts(cls, rows))
    assert failed(result) == {}
    assert result.testsRun == 7
    # No committed pin record next to a builder written in a temporary folder.
    assert [t._testMethodName for t, _ in result.skipped] == ["test_pin_record_matches_sources"]


def test_wrong_row_counts_fail_with_the_counts_to_write(make_builder):
    rows = sample_rows(20)
    cls = make_builder.tabular("tc_counts", extra_files=dummy(rows))
    right = counts(cls, rows)
    result = run_case(cls, SPLITS={"train": right["train"] + 1, "test": right["test"]})
    assert set(failed(result)) == {"test_splits_and_row_counts"}
    assert f"gives rows per split {{'train': {right['train']}, 'test': {right['test']}}}" in failed(result)[
        "test_splits_and_row_counts"
    ]
    result = run_case(cls, SPLITS={"train": right["train"]})  # a split the builder also makes is missing
    assert set(failed(result)) == {"test_splits_and_row_counts"}


def test_missing_or_ambiguous_dummy_data_is_named(make_builder):
    cls = make_builder.tabular("tc_nodummy")
    result = run_case(cls, SPLITS={"train": 1})
    (trace,) = failed(result).values()
    assert "DummyDataError" in trace and "no dummy data for source 'rows'" in trace and "rows.csv" in trace

    cls = make_builder.tabular(
        "tc_twodummies", extra_files={**dummy(sample_rows(3)), "dummy_data/rows.jsonl": '{"id": 1}\n'}
    )
    with pytest.raises(DummyDataError, match="several dummy files for source 'rows'"):
        dummy_sources(cls(settings=isolated_settings(make_builder.root / "s")))


def test_overlapping_splits_and_repeated_keys_fail(make_builder):
    """The build checks the key (unique, in one split): the test case reports the break and skips the rest."""
    split = "return P.split_by_hash(rows, key=\"id\", ratios={'train': 0.8, 'test': 0.2})"
    overlap = 'return {"train": rows, "test": rows | "Head" >> P.Filter(pc.field("id") < 3)}'
    cls = make_builder.tabular("tc_overlap", extra_files=dummy(sample_rows(10)), edits={split: overlap})
    result = run_case(cls, SPLITS={"train": 10, "test": 3})
    assert set(failed(result)) == {"test_expectations"}
    assert 'rule "no key in two splits" broken by 3 keys' in failed(result)["test_expectations"]
    assert len(result.skipped) == 6

    allowed = make_builder.tabular(
        "tc_overlap_ok",
        extra_files=dummy(sample_rows(10)),
        edits={
            split: overlap,
            'key="id",\n': 'key="id", expectations=[E.DisjointSplits(ignore=["test"])],\n',
            "from labdatasets import features as F": "from labdatasets import expectations as E, features as F",
        },
    )
    result = run_case(allowed, SPLITS={"train": 10, "test": 3})
    assert set(failed(result)) == {"test_splits_are_disjoint"}  # the test case's own check still sees it
    assert "is in both split 'test' and split 'train'" in failed(result)["test_splits_are_disjoint"]
    assert failed(run_case(allowed, SPLITS={"train": 10, "test": 3}, OVERLAPPING_SPLITS=["test"])) == {}

    cls = make_builder.tabular("tc_dupkey", extra_files=dummy(sample_rows(10) + sample_rows(1)))
    result = run_case(cls, SPLITS=counts(cls, sample_rows(10) + sample_rows(1)))
    assert 'rule "key unique in its split" broken by 1 row repeating a key; e.g. id=0' in failed(result)["test_expectations"]


def test_nondeterministic_processing_fails(make_builder):
    random_text = 'table = table.set_column(3, "text", pa.array([uuid.uuid4().hex for _ in range(table.num_rows)]))'
    rows = sample_rows(10)
    cls = make_builder.tabular(
        "tc_random",
        extra_files=dummy(rows),
        edits={"def tidy(table):\n    return": f"import uuid\n\ndef tidy(table):\n    {random_text}\n    return"},
    )
    result = run_case(cls, SPLITS=counts(cls, rows))
    assert set(failed(result)) == {"test_build_is_deterministic"}
    assert "two builds of the same pinned data gave different content" in failed(result)["test_build_is_deterministic"]


def _commit_pin(cls, replace_sources=None):
    """Pin the builder's real source into <builder>/snapshots/, where a committed record lives."""
    folder = cls.module_dir()
    b = cls(settings=dataclasses.replace(resolve_settings(), pins_dir=folder / "snapshots"))
    record = b.pin(progress=False)
    if replace_sources:
        record.path.unlink()
        record = dataclasses.replace(record, sources=replace_sources(record))
        record.write_new(folder / "snapshots" / cls.name / "1.0.0.json")
    return record


def test_the_committed_pin_record_must_name_the_declared_sources(make_builder):
    rows = sample_rows(20)
    cls = make_builder.tabular("tc_pinned", rows=rows, extra_files=dummy(rows[:10]))
    _commit_pin(cls)
    assert cls(settings=isolated_settings(make_builder.root / "x")).committed_pin_record() is not None
    result = run_case(cls, SPLITS=counts(cls, rows[:10]))
    assert failed(result) == {} and not result.skipped

    cls = make_builder.tabular("tc_renamed", rows=rows, extra_files={"dummy_data/rows.csv": rows_csv(rows[:10])})
    _commit_pin(cls, replace_sources=lambda r: {"renamed": r.sources["rows"]})
    result = run_case(cls, SPLITS=counts(cls, rows[:10]))
    assert set(failed(result)) == {"test_pin_record_matches_sources"}
    assert "does not pin the sources _sources() declares" in failed(result)["test_pin_record_matches_sources"]


def test_dummy_data_is_read_with_the_pinned_schema(make_builder):
    upper = 'table = table.set_column(3, "text", pc.utf8_upper(table["text"]))  # needs strings'
    rows = sample_rows(20)
    cls = make_builder.tabular(
        "tc_schema",
        rows=rows,
        extra_files=dummy(rows[:10]),
        edits={"def tidy(table):\n    return": f"def tidy(table):\n    {upper}\n    return"},
    )
    record = _commit_pin(cls)
    assert [f["type"] for f in record.sources["rows"].schema] == ["int64", "double", "string", "string"]
    # Dummy text that looks numeric would be read as int64 (and utf8_upper would fail); the pinned type wins.
    numeric_text = [{**r, "text": str(r["id"])} for r in rows[:10]]
    (cls.module_dir() / "dummy_data" / "rows.csv").write_text(rows_csv(numeric_text))
    assert failed(run_case(cls, SPLITS=counts(cls, rows[:10]))) == {}

    (cls.module_dir() / "dummy_data" / "rows.csv").write_text(rows_csv([{k: r[k] for k in ("id", "value", "label")} for r in rows[:10]], fields=("id", "value", "label")))
    (trace,) = failed(run_case(cls, SPLITS={})).values()
    assert "the dummy data's columns differ from the pinned source's: missing ['text']" in trace

    bad = [{**r, "id": "abc" if r["id"] == 3 else r["id"]} for r in rows[:10]]
    (cls.module_dir() / "dummy_data" / "rows.csv").write_text(rows_csv(bad))
    (trace,) = failed(run_case(cls, SPLITS={})).values()
    assert "does not fit the pinned schema of the real source" in trace and "id: int64" in trace


REMOTE_SOURCES = """{
    "orders": loaders.SQLSource("SELECT id, coupon, note, country FROM orders", connection="warehouse"),
    "labels": loaders.SheetsSource("1key", worksheet="Labels", column_types={"id": "string", "score": "float64"}),
    "photos": loaders.S3Source("s3://lab-photos/2026/", glob="*.png"),
    "readings": loaders.S3Source("s3://lab-readings/", glob="*.csv", format="csv", column_types={"station": "string"}),
}"""


def test_dummy_data_is_read_the_way_the_real_source_is(make_builder):
    """Globs, column types, and NULLs where the real source has NULLs, carry over to the dummy data."""
    from labdatasets.pinning.pin import snapshots_for
    from labdatasets.testing import pin_dummy_data
    from tests.loaders.contract import read_pinned

    cls = make_builder.sources_only(
        "tc_remote",
        REMOTE_SOURCES,
        doc="Sources of every remote kind, for reading their dummy data.",
        files={
            "dummy_data/orders.csv": 'id,coupon,note,country\n1,,"",NA\n2,SPRING,hi,DE\n',
            "dummy_data/labels.csv": "id,score,who\n007,0.5,\n008,,AK\n",
            "dummy_data/photos/a.png": b"\x89PNG a",
            "dummy_data/photos/b.png": b"\x89PNG b",
            "dummy_data/photos/manifest.json": b'{"camera": 2}',
            "dummy_data/readings/north.csv": "station,value,note\n12,1.5,\n13,2.0,late\n",
            "dummy_data/readings/README.md": "exports of the stations",
        },
    )
    b = cls(settings=isolated_settings(make_builder.root / "iso"))
    record = pin_dummy_data(b)
    tables = {name: read_pinned(pin, snapshots_for(b)).to_pylist() for name, pin in record.sources.items()}
    # A database and a spreadsheet have NULLs: an empty cell is NULL, a quoted "" an empty string, "NA" text.
    assert tables["orders"] == [
        {"id": 1, "coupon": None, "note": "", "country": "NA"},
        {"id": 2, "coupon": "SPRING", "note": "hi", "country": "DE"},
    ]
    assert tables["labels"] == [{"id": "007", "score": 0.5, "who": None}, {"id": "008", "score": None, "who": "AK"}]
    # A bucket prefix takes what its glob takes; a CSV file in a bucket keeps "" as text, and its column types.
    assert [row["path"] for row in tables["photos"]] == ["a.png", "b.png"]
    assert tables["readings"] == [{"station": "12", "value": 1.5, "note": ""}, {"station": "13", "value": 2.0, "note": "late"}]


def test_isolated_settings_never_touch_the_user_store(tmp_path, monkeypatch):
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", str(tmp_path / "team-store"))
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", str(tmp_path / "team-cache"))
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "team-pins"))
    s = isolated_settings(tmp_path / "iso")
    assert s.snapshot_store == "file://" + str((tmp_path / "iso" / "store").resolve())
    assert s.shared_cache is None and s.pins_dir == tmp_path / "iso" / "pins"
    assert s.data_dir == tmp_path / "iso" / "prepared"


def test_the_example_builders_are_registered_from_the_package():
    # The example tests import builders as labdatasets.datasets...; a second copy would have registered twice.
    for name in ("product_a", "iris", "digits"):
        assert registry.builder_cls(name).__module__.startswith("labdatasets.datasets.")
