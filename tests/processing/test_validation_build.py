"""Each expectation catching a real violation in a real Beam build; statistics recorded as pandas computes them."""

from __future__ import annotations

import json

import pytest

import labdatasets
from labdatasets.expectations import ExpectationError
from tests.helpers import sample_rows

pytestmark = pytest.mark.slow

KEY = '            key="id",\n'
TIDY = "def tidy(table):\n    return"
CUSTOMER = '''def tidy(table):
    table = table.append_column("customer", pc.divide(table["id"], 5))
    return'''
CUSTOMER_FEATURE = ('"value_x2": F.Value("float64"),', '"value_x2": F.Value("float64"), "customer": F.Value("int64"),')


NULLS = {"loaders.LocalSource('data/rows.csv')": "loaders.LocalSource('data/rows.csv', empty_is_null=True)"}


def rules(*declared: str, extra: str = "") -> dict[str, str]:
    return {KEY: f"            key=\"id\", {extra} expectations=[{', '.join(declared)}],\n",
            "from labdatasets import features as F": "from labdatasets import expectations as E, features as F"}


def build_error(cls, **kw) -> ExpectationError:
    with pytest.raises(ExpectationError) as caught:
        labdatasets.builder(cls.name).build(progress=False, **kw)
    assert not labdatasets.builder(cls.name).is_prepared()  # a failed build leaves nothing prepared
    return caught.value


def test_a_clean_build_records_statistics_equal_to_pandas(make_builder):
    rows = sample_rows(300)
    for row in rows[::7]:
        row["text"] = ""  # empty cells: nulls in the CSV reader
    cls = make_builder.tabular("v_clean", rows=rows, edits={**rules(
        'E.Range("value", min=0, max=150)', 'E.AllowedValues("label", ["neg", "pos"])',
        'E.Pattern("text", "row number [0-9]+")', 'E.MaxNullShare("text", 0.2)',
    ), **NULLS})
    b = labdatasets.builder(cls.name)
    b.build(progress=False)
    info = b.info
    assert [r.kind for r in info.expectations] == ["range", "allowed_values", "pattern", "max_null_share"]
    saved = json.loads((b.prepared_dir / "dataset_info.json").read_text())
    assert saved["validation"]["violations"] == []
    for name, split in info.splits.items():
        df = labdatasets.load(cls.name, split=name, format="pandas")
        stats = split.statistics
        assert stats["num_rows"] == len(df) == split.num_rows
        value = df["value"].astype("float64")
        assert stats["columns"]["value"]["mean"] == pytest.approx(value.mean())
        assert stats["columns"]["value"]["std"] == pytest.approx(value.std())
        assert stats["columns"]["value"]["min"] == pytest.approx(value.min())
        assert stats["columns"]["text"]["nulls"] == int(df["text"].isna().sum()) > 0
        assert stats["columns"]["text"]["distinct"] == df["text"].nunique()
        labels = df["label"].value_counts()
        assert stats["columns"]["label"]["classes"] == {"neg": int(labels.get(0, 0)), "pos": int(labels.get(1, 0))}
        assert stats["columns"]["id"]["min"] == df["id"].min() and stats["columns"]["id"]["max"] == df["id"].max()


def test_range_allowed_values_and_pattern_fail_the_build_naming_rows(make_builder):
    rows = sample_rows(150)
    cls = make_builder.tabular("v_rows", rows=rows, edits=rules(
        'E.Range("value", max=40)', 'E.AllowedValues("label", ["neg"])', 'E.Pattern("text", "row number [0-9]{1,2}")',
    ))
    error = build_error(cls)
    by_rule: dict[str, list] = {}
    for v in error.violations:
        by_rule.setdefault(v.rule["kind"], []).append(v)
    assert sum(v.count for v in by_rule["range"]) == sum(1 for r in rows if r["value"] > 40)
    assert sum(v.count for v in by_rule["allowed_values"]) == sum(1 for r in rows if r["label"] == "pos")
    assert sum(v.count for v in by_rule["pattern"]) == 50  # ids 100..149 have three digits
    text = str(error)
    assert text.startswith("v_rows:1.0.0 was not built: its data breaks")
    train = next(v for v in by_rule["range"] if v.split == "train")
    first = min(r["id"] for r in rows if r["value"] > 40 and r["id"] in {e[0] for e in train.examples} | {10**9})
    assert f"split 'train', column 'value': rule \"range [-inf, 40]\" broken by {train.count} rows; e.g. (id={first}, value=" in text
    assert len(train.examples) == 5 and list(train.examples) == sorted(train.examples)


def test_nulls_in_a_required_column_fail_the_build_naming_the_row(make_builder):
    """nullable=False: the build refuses the first batch with a null, naming split, column, row and count."""
    from labdatasets.errors import ProcessingError

    tidy_nulls = 'def tidy(table):\n    table = table.set_column(1, "value", pc.if_else(pc.less(table["id"], 4), None, table["value"]))\n    return'
    cls = make_builder.tabular("v_nulls", rows=sample_rows(40), edits={
        '"value": F.Value("float32"),': '"value": F.Value("float32", nullable=False),', TIDY: tidy_nulls,
    })
    with pytest.raises(ProcessingError) as caught:
        labdatasets.builder(cls.name).build(progress=False)
    message = str(caught.value)
    assert "v_nulls:1.0.0 split '" in message and "column 'value', row with id=" in message
    assert "null in a non-nullable feature (" in message and "in this batch of" in message
    assert not labdatasets.builder(cls.name).is_prepared()


def test_a_repeated_key_and_a_key_in_two_splits(make_builder):
    cls = make_builder.tabular("v_dupkey", rows=sample_rows(30) + sample_rows(2))
    error = build_error(cls)
    (dup,) = error.violations
    assert dup.rule["kind"] == "unique_key" and dup.count == 2 and [e[0] for e in dup.examples] == [0, 1]

    overlap = 'return {"train": rows, "test": rows | "Head" >> P.Filter(pc.field("id") < 3)}'
    split = "return P.split_by_hash(rows, key=\"id\", ratios={'train': 0.8, 'test': 0.2})"
    cls = make_builder.tabular("v_overlap", rows=sample_rows(20), edits={split: overlap})
    error = build_error(cls)
    (across,) = error.violations
    assert across.rule["kind"] == "disjoint_splits" and across.split is None and across.count == 3
    assert across.examples == ((0, "test, train"), (1, "test, train"), (2, "test, train"))
    assert "across splits: rule \"no key in two splits\" broken by 3 keys in more than one split; e.g. (id=0, splits='test, train')" in str(error)

    allowed = make_builder.tabular("v_overlap_ok", rows=sample_rows(20), edits={
        split: overlap, **rules('E.DisjointSplits(ignore=["test"])')})
    labdatasets.builder(allowed.name).build(progress=False)
    assert labdatasets.builder(allowed.name).info.splits["test"].num_rows == 3


def test_a_group_that_straddles_splits_fails_and_splitting_by_the_group_fixes_it(make_builder):
    edits = {TIDY: CUSTOMER, CUSTOMER_FEATURE[0]: CUSTOMER_FEATURE[1], KEY: '            key="id", group_key="customer",\n'}
    cls = make_builder.tabular("v_groups", rows=sample_rows(200), edits=edits)
    error = build_error(cls, workers=2)  # the checks also run in the DirectRunner's worker processes
    (leak,) = error.violations
    assert leak.rule["kind"] == "group_in_one_split" and leak.column == "customer"
    assert 0 < leak.count <= 40  # 40 customers of 5 rows each
    assert all(splits == "test, train" for _, splits in leak.examples)

    by_group = "return P.split_by_hash(rows, key=\"customer\", ratios={'train': 0.8, 'test': 0.2})"
    split = "return P.split_by_hash(rows, key=\"id\", ratios={'train': 0.8, 'test': 0.2})"
    fixed = make_builder.tabular("v_groups_ok", rows=sample_rows(200), edits={**edits, split: by_group})
    b = labdatasets.builder(fixed.name)
    b.build(progress=False)
    owners: dict[int, set[str]] = {}
    for name in b.info.splits:
        for customer in labdatasets.load(fixed.name, split=name, format="pandas")["customer"]:
            owners.setdefault(int(customer), set()).add(name)
    assert all(len(s) == 1 for s in owners.values())


def test_a_warning_rule_is_recorded_and_listed_not_fatal(make_builder, capsys):
    rows = sample_rows(50)
    for row in rows[:20]:
        row["text"] = ""
    cls = make_builder.tabular("v_warn", rows=rows, edits={**rules('E.MaxNullShare("text", 0.1, severity="warning")'), **NULLS})
    from labdatasets.cli import main

    assert main(["build", cls.name, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "WARNING: v_warn:1.0.0 split 'train', column 'text': rule \"at most 10% nulls\" broken by" in out
    info = labdatasets.builder(cls.name).info
    assert [v["rule"]["kind"] for v in info.validation["violations"]] == ["max_null_share"] * 2

    cls = make_builder.tabular("v_warn_error", rows=rows, edits={**rules('E.MaxNullShare("text", 0.1)'), **NULLS})
    error = build_error(cls)
    assert {v.split for v in error.violations} == {"train", "test"}
    assert all(v.unit == "null rows" for v in error.violations)
