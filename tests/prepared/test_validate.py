"""`validate` on versions built before statistics existed; `info`, the notebook summary and `diff` show statistics."""

from __future__ import annotations

import json

import pytest

import labdatasets
from labdatasets.cli import main
from labdatasets.info import INFO_FILENAME, DatasetInfo
from tests.helpers import sample_rows

pytestmark = pytest.mark.slow

KEY = '            key="id",\n'
E_IMPORT = {"from labdatasets import features as F": "from labdatasets import expectations as E, features as F"}


def strip_to_old_format(folder):
    """What a build before statistics wrote: no statistics, expectations or validation."""
    path = folder / INFO_FILENAME
    data = json.loads(path.read_text())
    for split in data["splits"].values():
        split.pop("statistics")
    data.pop("validation")
    path.write_text(json.dumps(data, indent=2))
    return data


def test_an_old_version_loads_unchanged_and_validate_adds_its_statistics(make_builder, capsys):
    cls = make_builder.tabular("old_one", rows=sample_rows(120))
    b = labdatasets.builder(cls.name)
    b.build(progress=False)
    built = {n: s.statistics for n, s in b.prepared_info().splits.items()}
    fingerprints = {n: s.fingerprint for n, s in b.prepared_info().splits.items()}
    old = strip_to_old_format(b.prepared_dir)

    info = DatasetInfo.read(b.prepared_dir)
    assert all(s.statistics is None for s in info.splits.values()) and info.validation is None
    assert info.to_json()["splits"] == old["splits"]  # read and written back unchanged
    assert len(labdatasets.load(cls.name, split="train", format="pandas")) == info.splits["train"].num_rows

    assert main(["info", cls.name]) == 0
    assert "no statistics (built before they existed; 'labdatasets validate old_one:1.0.0' adds them)" in capsys.readouterr().out

    assert main(["validate", cls.name]) == 0
    out = capsys.readouterr().out
    assert "validated old_one:1.0.0; 0 warning(s); ok" in out
    again = DatasetInfo.read(b.prepared_dir)
    assert {n: s.statistics for n, s in again.splits.items()} == built  # the same numbers as the build's
    assert {n: s.fingerprint for n, s in again.splits.items()} == fingerprints
    assert again.validation["checked_by"] == "validate"

    assert main(["info", cls.name]) == 0
    out = capsys.readouterr().out
    assert "split train: statistics of" in out and "value_x2" in out
    html = labdatasets.builder(cls.name)._repr_html_()
    assert html.count("<svg") >= 3 and "Statistics of <code>train</code>" in html and "Expectations" in html


def test_validate_applies_rules_declared_after_the_build(make_builder, capsys):
    cls = make_builder.tabular("old_two", rows=sample_rows(60))
    labdatasets.builder(cls.name).build(progress=False)
    strip_to_old_format(labdatasets.builder(cls.name).prepared_dir)
    # the builder now declares a rule (and a column) the old data does not meet
    folder = cls.module_dir()
    module = folder / "old_two_dataset_builder.py"
    text = module.read_text().replace(KEY, '            key="id", expectations=[E.Range("value", max=10), E.Range("nope", max=1)],\n')
    for before, after in E_IMPORT.items():
        text = text.replace(before, after)
    cls2 = make_builder.write("old_two", text)
    assert cls2.name == "old_two"
    assert main(["validate", "old_two", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert not data["ok"] and data["skipped"] == ["range [-inf, 1] on column 'nope': not a column of old_two:1.0.0"]
    (broken,) = {v["rule"]["kind"] for v in data["violations"]}
    assert broken == "range" and sum(v["count"] for v in data["violations"]) == sum(1 for r in sample_rows(60) if r["value"] > 10)
    assert main(["validate", "old_two"]) == 1
    assert "ERROR: old_two:1.0.0 split 'train', column 'value': rule \"range [-inf, 10]\" broken by" in capsys.readouterr().out
    assert main(["info", "old_two"]) == 0
    assert "expectations broken (found by validate):" in capsys.readouterr().out


def test_diff_reports_statistics_that_moved(make_builder, capsys):
    rows_a = sample_rows(200)
    rows_b = [dict(r, value=r["value"] + 30, label="pos") for r in sample_rows(200)]
    make_builder.tabular("moving", rows=rows_a, version="1.0.0")
    labdatasets.builder("moving:1.0.0").build(progress=False)
    strip_to_old_format(labdatasets.builder("moving:1.0.0").prepared_dir)  # one side without statistics
    make_builder.tabular("moving", rows=rows_b, version="1.1.0", supported=["1.0.0"], source="data/rows_b.csv")
    from labdatasets.prepared.diff import diff_versions

    d = diff_versions("moving:1.0.0", "moving:1.1.0", progress=False)
    moved = {(c.split, c.column, c.what) for c in d.statistics}
    assert ("train", "value", "mean") in moved and ("train", "label", "vanished classes") in moved
    assert main(["diff", "moving:1.0.0", "moving:1.1.0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "statistics that moved" in out and "train.label: vanished classes ['neg'] -> []" in out


def test_check_lists_warnings_of_the_last_build_and_refuses_rules_that_cannot_apply(make_builder, capsys):
    from labdatasets.workflow.check import check

    rows = sample_rows(40)
    for row in rows[:10]:
        row["text"] = ""
    edits = {
        KEY: '            key="id", expectations=[E.MaxNullShare("text", 0.05, severity="warning")],\n',
        "loaders.LocalSource('data/rows.csv')": "loaders.LocalSource('data/rows.csv', empty_is_null=True)",
        **E_IMPORT,
    }
    cls = make_builder.tabular("warned", rows=rows, edits=edits)
    b = labdatasets.builder(cls.name)
    b.pin(progress=False)
    b.build(progress=False)
    report = check([cls.name])
    assert report.ok
    assert any('rule "at most 5% nulls" broken by' in f.message for f in report.warnings)
    assert main(["check", cls.name]) == 0
    assert "WARNING: warned:1.0.0 split 'train', column 'text'" in capsys.readouterr().out

    bad = make_builder.tabular("misdeclared", edits={KEY: '            key="id", expectations=[E.Pattern("value", "x")],\n', **E_IMPORT})
    labdatasets.builder(bad.name).pin(progress=False)
    (error,) = check([bad.name]).errors
    assert "Pattern applies to text; 'value' is float32" in error.message
