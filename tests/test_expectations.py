"""Expectation rules: declarations, and each rule catching a violation in tables (no Beam here).

The same rules on real Beam builds: tests/processing/test_validation_build.py.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from labdatasets import expectations as E, features as F
from labdatasets.errors import ConfigError
from labdatasets.processing.validation import Checker, check_tables, violations

FEATURES = F.Features(
    {
        "id": F.Value("int64", nullable=False),
        "customer": F.Text(),
        "amount": F.Value("float64"),
        "kind": F.ClassLabel(names=["a", "b", "c"]),
        "sku": F.Text(),
        "comment": F.Text(),
    }
)


def run(splits, rules=(), key=("id",), group_key=None):
    resolved = E.resolve(FEATURES, key=key, group_key=group_key, declared=rules, where="t:1.0.0")
    checker = Checker(FEATURES, key, resolved)
    results, cross = check_tables(checker, {name: [pa.Table.from_pylist(rows, schema=FEATURES.arrow_schema().with_metadata(None))]
                                            for name, rows in splits.items()})
    return violations(checker, results, cross)


def row(i, **over):
    out = {"id": i, "customer": f"c{i % 3}", "amount": float(i), "kind": i % 3, "sku": f"ABC-{i:04d}", "comment": "x"}
    out.update(over)
    return out


def test_resolve_adds_the_implied_rules_and_checks_declarations():
    rules = E.resolve(FEATURES, key=("id",), group_key="customer", declared=[E.Range("amount", min=0)])
    # ClassLabel columns are not nullable by default
    assert [(r.kind, r.column) for r in rules] == [
        ("not_null", "id"), ("not_null", "kind"), ("unique_key", None), ("disjoint_splits", None),
        ("group_in_one_split", "customer"), ("range", "amount"),
    ]
    assert E.resolve(FEATURES, key=("id",), declared=[E.DisjointSplits(severity="warning")])[3].severity == "warning"
    with pytest.raises(ConfigError, match="'nope', which is not a declared feature"):
        E.resolve(FEATURES, declared=[E.Range("nope", max=1)], where="t:1.0.0")
    with pytest.raises(ConfigError, match="Pattern applies to text"):
        E.resolve(FEATURES, declared=[E.Pattern("amount", "x")])
    with pytest.raises(ConfigError, match="not classes"):
        E.resolve(FEATURES, declared=[E.AllowedValues("kind", ["z"])])
    with pytest.raises(ConfigError, match="severity"):
        E.Range("amount", max=1, severity="fatal")
    with pytest.raises(ConfigError, match="needs a key"):
        E.resolve(FEATURES, declared=[E.UniqueKey()])
    for rule in rules + [E.AllowedValues("kind", ["a"]), E.Pattern("sku", "x+"), E.MaxNullShare("comment", 0.1, severity="warning")]:
        assert E.rule_from_json(rule.to_json()) == rule


def test_clean_data_breaks_nothing():
    assert run({"train": [row(i) for i in range(10)], "test": [row(i) for i in range(10, 13)]},
               rules=[E.Range("amount", 0, 100), E.AllowedValues("kind", ["a", "b", "c"]), E.Pattern("sku", "[A-Z]{3}-[0-9]{4}"),
                      E.MaxNullShare("comment", 0.0)]) == []


def test_each_row_rule_counts_rows_and_names_keys():
    rows = [row(i) for i in range(10)]
    rows[3]["amount"] = -1.0
    rows[7]["amount"] = float("nan")
    rows[5]["kind"] = 2
    rows[6]["sku"] = "abc-1"
    rows[8]["sku"] = None  # null is not a pattern break
    found = run({"train": rows}, rules=[E.Range("amount", min=0), E.AllowedValues("kind", ["a", "b"]), E.Pattern("sku", "[A-Z]{3}-[0-9]{4}")])
    by_rule = {v.rule["kind"]: v for v in found}
    assert by_rule["range"].count == 2 and by_rule["range"].examples[0] == (3, -1.0)
    assert by_rule["range"].key_names == ("id", "amount")
    assert by_rule["allowed_values"].count == 3  # ids 2, 5 and 8 are of class "c", shown by name
    assert by_rule["allowed_values"].examples == ((2, "c"), (5, "c"), (8, "c"))
    assert by_rule["pattern"].count == 1 and by_rule["pattern"].examples == ((6, "abc-1"),)
    message = by_rule["range"].message("shop:1.0.0")
    assert message.startswith("shop:1.0.0 split 'train', column 'amount': rule \"range [0, inf]\" broken by 2 rows; e.g. (id=3, amount=-1.0)")


def test_not_null_unique_key_and_null_share():
    rows = [row(i) for i in range(6)] + [row(2), row(2), row(4)]
    rows[0]["comment"] = None
    rows[1]["comment"] = None
    rows[2]["id"] = None
    found = run({"train": rows}, rules=[E.MaxNullShare("comment", 0.1, severity="warning")])
    kinds = {v.rule["kind"]: v for v in found}
    assert kinds["not_null"].count == 1 and kinds["not_null"].column == "id"
    assert kinds["unique_key"].count == 2 and kinds["unique_key"].examples == ((2,), (4,))
    share = kinds["max_null_share"]
    assert share.severity == "warning" and share.count == 2 and "22.2% of 9" in share.message()


def test_key_in_two_splits_and_group_straddling_splits():
    train = [row(i, customer=f"c{i}") for i in range(40)]
    test = [row(i, customer=f"c{i}") for i in range(40, 50)] + [row(7, customer="c7"), row(100, customer="c3")]
    found = run({"train": train, "test": test}, group_key="customer")
    kinds = {v.rule["kind"]: v for v in found}
    assert kinds["disjoint_splits"].count == 1
    assert kinds["disjoint_splits"].examples == ((7, "test, train"),)
    assert kinds["group_in_one_split"].count == 2
    assert kinds["group_in_one_split"].examples == (("c3", "test, train"), ("c7", "test, train"))
    assert "across splits, column 'customer': rule \"each group in one split\" broken by 2 groups" in kinds["group_in_one_split"].message()
    ignored = run({"train": train, "test": test}, rules=[E.DisjointSplits(ignore=["test"])])
    assert "disjoint_splits" not in {v.rule["kind"] for v in ignored}


def test_slices_of_a_shard_count_like_one_table(monkeypatch):
    """Rules run on slices of a shard (fixed temporaries); a repeated key across two slices still counts once."""
    import labdatasets.processing.validation as validation

    rows = [row(i) for i in range(10)] + [row(3), row(9)]
    rows[5]["amount"] = -5.0
    whole = run({"train": rows}, rules=[E.Range("amount", min=0)], group_key="customer")
    monkeypatch.setattr(validation, "SLICE_ROWS", 3)
    sliced = run({"train": rows}, rules=[E.Range("amount", min=0)], group_key="customer")
    assert sliced == whole
    kinds = {v.rule["kind"]: v for v in sliced}
    assert kinds["unique_key"].count == 2 and kinds["unique_key"].examples == ((3,), (9,))
    assert kinds["range"].count == 1 and kinds["range"].examples == ((5, -5.0),)


def test_checks_across_splits_merge_many_runs_and_compare_values_not_hashes(monkeypatch):
    """Key and group values go to sorted runs on disk (a few rows each here) and are merged by hash; values whose
    hashes collide (every hash forced into 4 values) are still told apart by their values."""
    import numpy as np

    import labdatasets.processing.key_runs as key_runs
    import labdatasets.processing.validation as validation

    train = [row(i, customer=f"c{i // 3}") for i in range(0, 300)]
    test = [row(i, customer=f"c{i // 3}") for i in range(300, 360)] + [row(17, customer="x"), row(298, customer="c5")]
    valid = [row(i, customer=f"v{i}") for i in range(400, 420)] + [row(17, customer="c5"), row(310, customer="y")]
    splits = {"train": train, "test": test, "validation": valid}
    whole = run(splits, group_key="customer")
    monkeypatch.setattr(key_runs, "RUN_ROWS", 7)
    monkeypatch.setattr(key_runs, "SLICE_ROWS", 2)
    monkeypatch.setattr(validation, "SLICE_ROWS", 5)
    assert run(splits, group_key="customer") == whole
    real = key_runs._hashes
    monkeypatch.setattr(key_runs, "_hashes", lambda values: (real(values) >> np.uint64(62)) << np.uint64(62))
    collided = run(splits, group_key="customer")
    assert collided == whole
    kinds = {v.rule["kind"]: v for v in whole}
    assert kinds["disjoint_splits"].count == 3
    assert kinds["disjoint_splits"].examples == ((17, "test, train, validation"), (298, "test, train"), (310, "test, validation"))
    # only c5 straddles splits (x and y are each in one split; row 298 is a group of c5 in test, of c99 in train)
    assert kinds["group_in_one_split"].count == 1
    assert kinds["group_in_one_split"].examples == (("c5", "test, train, validation"),)
