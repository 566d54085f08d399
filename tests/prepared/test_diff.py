"""``diff``: the exact changes between two versions, with expectations computed from the sources."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.csv as pcsv
import pytest

import labdatasets
from labdatasets.cli import main
from labdatasets.prepared.diff import ColumnChange, diff_versions
from labdatasets.errors import LabDatasetsError
from tests.helpers import REPO, rows_csv, sample_rows

pytestmark = pytest.mark.slow

PRODUCT_A_DATA = REPO / "datasets" / "products" / "product_a" / "data"


def _raw(csv_name: str) -> dict[str, dict]:
    """The product A export as {sample_id: published values}, following the builder's documented mapping."""
    rows = pcsv.read_csv(PRODUCT_A_DATA / csv_name).to_pylist()
    out = {}
    for r in rows:
        sex = (r["Sex"] or "").lower()
        out[f"{r['studyName']}-{r['Individual ID']}"] = {
            "species": r["Species"].split(" ")[0],
            "island": r["Island"],
            "season": r["Date Egg"].year,
            "bill_length_mm": r["Culmen Length (mm)"],
            "bill_depth_mm": r["Culmen Depth (mm)"],
            "flipper_length_mm": r["Flipper Length (mm)"],
            "body_mass_g": r["Body Mass (g)"],
            "sex": None if sex in ("na", ".", "") else sex,
        }
    return out


def _same(a, b) -> bool:
    return a == b or (a is None and b is None) or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def test_product_a_1_0_0_to_1_2_0_gives_the_exact_changes():
    old_rows, new_rows = _raw("penguins_raw_2007_2008.csv"), _raw("penguins_raw_2007_2009.csv")
    d = diff_versions("product_a:1.0.0", "product_a:1.2.0")

    assert d.key == ("sample_id",) and d.key_declared
    assert d.schema.added == (
        ColumnChange("body_mass_kg", None, "float32"),
        ColumnChange("delta_15n", None, "float32"),
        ColumnChange("delta_13c", None, "float32"),
    )
    assert d.schema.removed == () and d.schema.retyped == ()

    old, new = labdatasets.load("product_a:1.0.0"), labdatasets.load("product_a:1.2.0")
    assert d.splits == {s: (len(old[s]), len(new[s])) for s in ("train", "test")}
    assert sum(a for a, _ in d.splits.values()) == len(old_rows) == 224
    assert sum(b for _, b in d.splits.values()) == len(new_rows) == 344

    assert list(d.added) == sorted(set(new_rows) - set(old_rows))
    assert len(d.added) == 120 and all(k.startswith("PAL0910-") for k in d.added)
    assert list(d.removed) == sorted(set(old_rows) - set(new_rows)) == []

    common = set(old_rows) & set(new_rows)
    expected_changes = {
        column: sum(not _same(old_rows[k][column], new_rows[k][column]) for k in common)
        for column in next(iter(old_rows.values()))
    }
    assert {v.column: v.changed for v in d.values} == expected_changes
    assert all(v.compared == len(common) for v in d.values)
    assert d.changed == sum(any(not _same(old_rows[k][c], new_rows[k][c]) for c in expected_changes) for k in common)
    assert d.unchanged == len(common) - d.changed

    split_of = {k: s for s, ds in old.items() for k in ds["sample_id"]}
    split_now = {k: s for s, ds in new.items() for k in ds["sample_id"]}
    expected_moves = {}
    for k in common:
        if split_of[k] != split_now[k]:
            expected_moves[(split_of[k], split_now[k])] = expected_moves.get((split_of[k], split_now[k]), 0) + 1
    assert dict(d.moved) == expected_moves


VERSIONED_BUILDER = '''
import pyarrow as pa

import labdatasets as lds
from labdatasets import expectations as E, features as F, loaders, processing as P


class Builder(lds.DatasetBuilder):
    """Two versions with every kind of change."""

    name = "{name}"
    VERSION = "1.1.0"
    SUPPORTED_VERSIONS = ["1.0.0"]
    RELEASE_NOTES = {{"1.0.0": "first", "1.1.0": "second"}}

    def _info(self):
        old = self.version < "1.1.0"
        features = {{
            "id": F.Value("int64", nullable=False),
            "value": F.Value("float32" if old else "float64"),
            "label": F.ClassLabel(names=["neg", "pos"] if old else ["pos", "neg"]),
        }}
        features["text" if old else "note"] = F.Text()
        return lds.DatasetInfo(features=F.Features(features), key={key})

    def _sources(self):
        return {{"rows": loaders.LocalSource("data/v1.csv" if self.version < "1.1.0" else "data/v2.csv")}}

    def _process(self, sources):
        return P.split_by_hash(sources["rows"], key="id", ratios={{"train": 0.7, "test": 0.3}})
'''


def _versions(make_builder, name="toy_diff", key='"id"'):
    v1 = sample_rows(40)
    v2 = []
    for r in v1:
        if r["id"] < 5:
            continue  # removed
        r = dict(r)
        if 10 <= r["id"] < 15:
            r["value"] += 0.25  # value changed
        if r["id"] in (20, 21):
            r["label"] = "neg" if r["label"] == "pos" else "pos"  # label changed
        r["note"] = r.pop("text")
        v2.append(r)
    v2 += [{"id": i, "value": 1.5, "label": "pos", "note": f"new {i}"} for i in range(100, 110)]  # added
    make_builder.write(
        name,
        VERSIONED_BUILDER.format(name=name, key=key),
        {"data/v1.csv": rows_csv(v1), "data/v2.csv": rows_csv(v2, fields=("id", "value", "label", "note"))},
    )
    return v1, v2


def test_every_kind_of_change_is_reported(make_builder):
    v1, v2 = _versions(make_builder)
    d = diff_versions("toy_diff:1.0.0", "toy_diff:1.1.0")
    assert d.schema.added == (ColumnChange("note", None, "text"),)
    assert d.schema.removed == (ColumnChange("text", "text", None),)
    # float32 -> float64 and reordered class names are both declaration changes.
    assert d.schema.retyped == (
        ColumnChange("value", "float32", "float64"),
        ColumnChange("label", "class label (2 classes)", "class label (2 classes)"),
    )
    old_ids, new_ids = {r["id"] for r in v1}, {r["id"] for r in v2}
    assert list(d.added) == sorted(new_ids - old_ids) and list(d.removed) == sorted(old_ids - new_ids)
    by_id = {r["id"]: r for r in v1}
    expected = {
        # float32 values widened to float64 differ from the new float64 values unless exactly representable.
        "value": sum(1 for r in v2 if r["id"] in old_ids and float(np.float32(by_id[r["id"]]["value"])) != r["value"]),
        # Compared by class name: renumbering neg/pos is not a change, flipping a label is.
        "label": sum(1 for r in v2 if r["id"] in old_ids and by_id[r["id"]]["label"] != r["label"]),
    }
    assert {v.column: v.changed for v in d.values} == expected
    assert expected["label"] == 2
    label = next(v for v in d.values if v.column == "label")
    assert label.examples == ((20, by_id[20]["label"], "neg" if by_id[20]["label"] == "pos" else "pos"),
                              (21, by_id[21]["label"], "neg" if by_id[21]["label"] == "pos" else "pos"))
    assert d.moved == {}  # same split rule, same keys
    assert not d.identical

    report = d.format(examples=2)
    assert "toy_diff:1.0.0 -> toy_diff:1.1.0   rows matched by: id" in report
    assert "  + note" in report and "  - text" in report and "  ~ value                    float32 -> float64" in report
    assert f"  added      {len(new_ids - old_ids):>9,}   e.g. 100, 101, ..." in report
    assert "      20: " in report


def test_diff_of_a_version_with_itself_is_empty(make_builder):
    _versions(make_builder, name="toy_same")
    d = diff_versions("toy_same:1.1.0", "toy_same:1.1.0")
    assert d.identical and d.changed == 0 and d.unchanged == 45
    assert "none (3 shared columns compared on 45 matched rows)" in d.format()


def test_without_a_key_rows_are_matched_by_their_values(make_builder):
    old_rows = sample_rows(20)
    new_rows = [dict(r, value=99.0) if r["id"] == 3 else r for r in old_rows] + sample_rows(1, offset=25)
    no_key = {'            key="id",': "            key=None,"}  # the DatasetInfo key, not the split key
    make_builder.tabular("toy_nokey_a", rows=old_rows, edits=no_key)
    make_builder.tabular("toy_nokey_b", rows=new_rows, edits=no_key)
    d = diff_versions("toy_nokey_a:1.0.0", "toy_nokey_b:1.0.0")
    assert not d.key_declared and d.key == ("id", "value", "label", "text", "value_x2")
    # The changed row is one removed and one added row; nothing is left to compare as values.
    assert [k[0] for k in d.removed] == [3] and [k[0] for k in d.added] == [3, 25]
    assert d.changed == 0 and d.unchanged == 19 and d.values == ()


def test_a_key_that_is_not_unique_is_refused(make_builder):
    from labdatasets.expectations import ExpectationError

    _versions(make_builder, name="toy_badkey", key='"label"')
    with pytest.raises(ExpectationError, match='rule "key unique in its split" broken by'):
        diff_versions("toy_badkey:1.0.0", "toy_badkey:1.1.0")  # every build checks the key now
    # prepared anyway (the key rules made warnings): diff still refuses to match rows by it
    relaxed = '"label", expectations=[E.UniqueKey(severity="warning"), E.DisjointSplits(severity="warning")]'
    _versions(make_builder, name="toy_badkey_warned", key=relaxed)
    with pytest.raises(LabDatasetsError, match=r"The key \['label'\] of toy_badkey_warned:1.0.0 is not unique"):
        diff_versions("toy_badkey_warned:1.0.0", "toy_badkey_warned:1.1.0")


def test_cli_diff_prints_the_report_and_json(make_builder, capsys):
    _versions(make_builder, name="toy_cli_diff")
    assert main(["diff", "toy_cli_diff:1.0.0", "toy_cli_diff:1.1.0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("toy_cli_diff:1.0.0 -> toy_cli_diff:1.1.0") and "changed values per column" in out
    assert main(["diff", "toy_cli_diff:1.0.0", "toy_cli_diff:1.1.0", "--json", "--examples", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rows"]["added"] == 10 and data["rows"]["added_keys"] == [100]
    assert data["schema"]["added"] == [{"name": "note", "old": None, "new": "text"}]
    assert main(["diff", "toy_cli_diff:1.0.0", "toy_cli_diff:1.1.0", "--no-build"]) == 0  # both prepared now
    capsys.readouterr()
    _versions(make_builder, name="toy_unbuilt")
    assert main(["diff", "toy_unbuilt:1.0.0", "toy_unbuilt:1.1.0", "--no-build"]) == 1
    assert "is not prepared" in capsys.readouterr().err
