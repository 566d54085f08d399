"""Row rules on text columns of few values (tested once per distinct value) find exactly the rows a per-row test finds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa

from labdatasets import expectations as E, features as F
from labdatasets.processing.statistics import SLICE_ROWS, SplitStatistics
from labdatasets.processing.validation import Checker, violations

FEATURES = F.Features({"id": F.Value("int64", nullable=False), "code": F.Text(), "word": F.Text()})


def _rows(rows: int) -> pa.Table:
    rng = np.random.default_rng(3)
    codes = np.array(["K1", "K22", "k3", "K4x", "Z9"], dtype=object)[rng.integers(0, 5, rows)]
    codes[rng.random(rows) < 0.05] = None
    words = [f"w{i}" for i in range(rows)]  # all distinct: tested row by row
    return pa.table({"id": np.arange(rows), "code": pa.array(codes.tolist(), pa.string()), "word": words})


def test_pattern_and_allowed_values_on_few_distinct_values_find_every_breaking_row():
    table = _rows(3 * SLICE_ROWS + 1234)  # several slices and a short last one
    rules = [E.Pattern("code", r"[A-Z][0-9]+"), E.AllowedValues("code", ["K1", "K22", "Z9"]), E.Pattern("word", r"w[0-9]*7")]
    checker = Checker(FEATURES, ("id",), E.resolve(FEATURES, key=("id",), declared=rules))
    found = {(v.rule["kind"], v.column): v for v in violations(checker, {"train": checker.check_shard(table).to_json()}, {})}
    codes = table.column("code").to_pylist()
    broken_pattern = [i for i, c in enumerate(codes) if c is not None and not re.fullmatch(r"[A-Z][0-9]+", c)]
    broken_allowed = [i for i, c in enumerate(codes) if c is not None and c not in ("K1", "K22", "Z9")]
    broken_word = [i for i, w in enumerate(table.column("word").to_pylist()) if not re.fullmatch(r"w[0-9]*7", w)]
    assert found[("pattern", "code")].count == len(broken_pattern)
    assert [e[0] for e in found[("pattern", "code")].examples] == broken_pattern[:5]
    assert found[("allowed_values", "code")].count == len(broken_allowed)
    assert [e[0] for e in found[("allowed_values", "code")].examples] == broken_allowed[:5]
    assert found[("pattern", "word")].count == len(broken_word)


def test_few_distinct_text_statistics_count_every_value():
    table = _rows(SLICE_ROWS + 999)
    out = SplitStatistics(FEATURES).add_table(table).to_json()["columns"]["code"]
    counts = table.column("code").value_counts().to_pylist()
    truth = {c["values"]: c["counts"] for c in counts if c["values"] is not None}
    assert out["top_exact"] and dict((v, c) for v, c in out["top"]) == truth
    assert out["distinct"] == len(truth) and out["nulls"] == table.column("code").null_count


def test_text_lengths_of_a_slice_count_its_own_characters():
    # an ASCII slice of an array whose other values are not ASCII: lengths in characters either way
    column = pa.array(["ab", "cde", "é" * 4, "ü"])
    stats = SplitStatistics(F.Features({"t": F.Text()}))
    stats.add_table(pa.table({"t": column.slice(0, 2)}))
    stats.add_table(pa.table({"t": column.slice(2, 2)}))
    assert stats.to_json()["columns"]["t"]["length"] == {"min": 1, "max": 4, "mean": 2.5}


def test_a_null_is_no_break_of_allowed_values_on_any_column():
    feats = F.Features({"id": F.Value("int64"), "n": F.Value("int64"), "t": F.Text()})
    table = pa.table({"id": [1, 2, 3, 4], "n": [1, None, 5, 1], "t": ["a", None, "b", "zz"]})
    rules = [E.AllowedValues("n", [1]), E.AllowedValues("t", ["a", "b"])]
    checker = Checker(feats, ("id",), E.resolve(feats, key=("id",), declared=rules))
    found = {v.column: v for v in violations(checker, {"train": checker.check_shard(table).to_json()}, {})}
    assert found["n"].count == 1 and found["n"].examples == ((3, 5),)
    assert found["t"].count == 1 and found["t"].examples == ((4, "zz"),)


def test_repeated_keys_found_across_tables_with_an_integer_or_a_text_key():
    """``UniqueKey`` on a sorted shard fed in tables of any size: a repeat that straddles two tables or two slices
    counts, for an integer key (compared in numpy) as for a text key or a key with nulls (compared by Arrow)."""
    from labdatasets.processing.validation import ShardCheck

    ids = np.arange(2 * SLICE_ROWS + 50)
    repeated = [7, SLICE_ROWS - 1, SLICE_ROWS, 2 * SLICE_ROWS + 3]  # inside, at a slice's end, at the next's start
    ids = np.sort(np.concatenate([ids, repeated, [SLICE_ROWS]]))  # SLICE_ROWS three times: two repeats
    for key_type, feature in ((pa.int64(), F.Value("int64", nullable=False)), (pa.string(), F.Text())):
        feats = F.Features({"id": feature})
        values = pa.array(ids).cast(key_type) if key_type == pa.int64() else pa.array([f"{i:08d}" for i in ids])
        checker = Checker(feats, ("id",), E.resolve(feats, key=("id",), declared=[]))
        check = ShardCheck(checker)
        for start in range(0, len(ids), 1000):  # tables of 1000 rows: repeats straddle them
            check.add(pa.table({"id": values.slice(start, 1000)}))
        result, _ = check.finish()
        (found,) = [v for v in violations(checker, {"train": result.to_json()}, {}) if v.rule["kind"] == "unique_key"]
        assert found.count == 5, key_type
        expected = [7, SLICE_ROWS - 1, SLICE_ROWS, 2 * SLICE_ROWS + 3]  # examples: each repeated key once
        assert [e[0] for e in found.examples] == [i if key_type == pa.int64() else f"{i:08d}" for i in expected]


def test_a_rule_skipped_by_its_cheap_test_has_no_breaking_row():
    """``Range`` and ``AllowedValues`` skip the row mask only when min and max show that no row breaks them:
    every case where the skip is taken has a mask without a break, at the bounds and with NaN too."""
    import pyarrow.compute as pc

    from labdatasets.processing.validation import _row_mask, _surely_kept

    rng = np.random.default_rng(11)
    labels = F.ClassLabel(names=["a", "b", "c", "d"])
    columns = {
        "int64": pa.array(rng.integers(0, 10, 500)),
        "int8": pa.array(rng.integers(-5, 5, 500).astype(np.int8)),
        "float64": pa.array(rng.random(500) * 10),
        "float32": pa.array((rng.random(500) * 10).astype(np.float32)),
        "nan": pa.array(np.append(rng.random(499), np.nan)),
        "edge": pa.array([0.1, 0.5, 1.0]),  # min == a bound, max == a bound
        "labels": pa.array(rng.integers(0, 3, 500)),
    }
    rules = [
        E.Range("c", min=0, max=9), E.Range("c", min=0, max=8), E.Range("c", min=1), E.Range("c", max=9.5),
        E.Range("c", min=0.1, max=1.0), E.Range("c", min=-5, max=4), E.Range("c", min=-4, max=4),
        E.AllowedValues("c", list(range(10))), E.AllowedValues("c", [0, 1, 2, 4, 5, 6, 7, 8, 9]),
        E.AllowedValues("c", [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4]),
    ]
    skipped = 0
    for name, column in columns.items():
        dtypes = {"int64": "int64", "int8": "int8", "float32": "float32", "labels": "int64"}
        feature = labels if name == "labels" else F.Value(dtypes.get(name, "float64"))
        cases = rules + ([E.AllowedValues("c", ["a", "b", "c"]), E.AllowedValues("c", ["a", "c"])] if name == "labels" else [])
        for rule in cases:
            try:
                mask = _row_mask(rule, column, feature)
            except (pa.ArrowInvalid, ValueError):  # a bound or value the column's type cannot hold
                continue
            if _surely_kept(rule, column, feature):
                skipped += 1
                assert not pc.any(mask).as_py(), (name, rule)
    assert skipped >= 12  # the cheap test is taken in the common cases


def _check_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name.startswith("labdatasets-checks")]


def test_checks_in_a_background_thread_give_the_same_result_and_runs_as_inline(tmp_path, monkeypatch):
    """A build checks each shard in a thread beside its writer: the statistics (the same floats), the rule
    tallies with their examples and the key runs written for the checks across splits are those of the
    same rows checked inline, and the thread is gone once the shard is finished."""
    import os

    from labdatasets.processing.validation import BACKGROUND_SLICES, ShardCheck

    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # a thread needs a second CPU; this machine's count must not decide
    feats = F.Features({"id": F.Value("int64", nullable=False), "code": F.Text(), "word": F.Text(), "x": F.Value("float64")})
    rng = np.random.default_rng(5)
    table = _rows(2 * SLICE_ROWS + 777).append_column("x", pa.array(rng.normal(size=2 * SLICE_ROWS + 777) * 1e3))
    ids = table.column("id").to_numpy().copy()
    ids[[10, SLICE_ROWS]] = ids[[9, SLICE_ROWS - 1]]  # two repeated keys, one across slices
    table = table.set_column(0, "id", pa.array(ids))
    rules = [E.Pattern("code", r"[A-Z][0-9]+"), E.Range("x", min=-2500.0, max=2500.0), E.Pattern("word", r"w[0-9]*7")]
    checker = Checker(feats, ("id",), E.resolve(feats, key=("id",), declared=rules))
    out = {}
    for background in (False, True):
        check = ShardCheck(checker, "train", str(tmp_path / f"runs-{background}"), background=background)
        assert (check._thread is not None) is background
        for start in range(0, table.num_rows, 5000):
            check.add(table.slice(start, 5000))
            if background:  # the caller waits rather than letting slices pile up
                assert check._queue is not None and check._queue.qsize() <= BACKGROUND_SLICES
        result, runs = check.finish()
        assert check._thread is None and _check_threads() == []
        out[background] = (json_of(result), [(rule, split, Path(path).read_bytes()) for rule, split, path in runs])
    assert out[True] == out[False]
    kinds = {v.rule["kind"]: v.count for v in violations(checker, {"train": json.loads(out[True][0])}, {})}
    assert kinds["unique_key"] == 2 and kinds["range"] > 0 and kinds["pattern"] > 0


def json_of(result) -> str:
    import json

    return json.dumps(result.to_json(), sort_keys=True)


def test_an_error_in_background_checks_is_raised_to_the_caller_and_stops_the_thread(monkeypatch):
    """A rule that cannot be checked on a column fails the shard with its own error, raised in the writer's
    thread (by the next add or by finish), never lost in the background; close() stops the thread of a shard
    whose rows stopped coming."""
    import os

    import pytest

    from labdatasets.processing.validation import ShardCheck

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    feats = F.Features({"id": F.Value("int64", nullable=False), "x": F.Value("float64")})
    checker = Checker(feats, ("id",), E.resolve(feats, key=("id",), declared=[]))
    broken = E.Range("x", max=1.0)
    broken._column = None  # a rule changed after it was made: _check_slice refuses it with a ConfigError
    checker.rules.append(broken)
    table = pa.table({"id": np.arange(3 * SLICE_ROWS), "x": np.zeros(3 * SLICE_ROWS)})
    check = ShardCheck(checker, background=True)
    with pytest.raises(Exception, match="row rule without a column"):
        for start in range(0, table.num_rows, 4096):
            check.add(table.slice(start, 4096))
        check.finish()
    check.close()
    assert _check_threads() == []
    check = ShardCheck(checker, background=True)  # a small shard: the error comes from finish()
    check.add(table.slice(0, 100))
    with pytest.raises(Exception, match="row rule without a column"):
        check.finish()
    assert _check_threads() == []
    idle = ShardCheck(checker, background=True)
    idle.add(table.slice(0, SLICE_ROWS + 1))
    idle.close()  # rows stopped coming (a failed write): no thread left waiting
    assert _check_threads() == []
    assert not ShardCheck(checker, background=False)._thread  # inline, as before
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert ShardCheck(checker, background=True)._thread is None  # one CPU: nothing to gain from a thread


# a pattern that some newline-joined values match as a whole, though no single value does: the joined test must
# see that each can match a newline (as RE2 reads it) and test value by value
SPANNING = [
    "a\nb|z", r"a\nb|z", r"a\x0ab|z", r"a\012b|z", r"a[\n]b|z", r"a[^x]b|z", r"a\sb|z", r"a\Wb|z", r"a\Db|z",
    r"a[\x00-\x7f]b|z", r"a[\n-~]b|z", r"a[\x00-\n]b|z", r"(?s)a.b|z", r"a(?s:.)b|z", r"a[[:space:]]b|z", r"a(?:[^y]|q)b|z",
]


def test_a_pattern_that_can_match_a_newline_is_tested_value_by_value():
    from labdatasets.processing.validation import _all_match, _never_matches_newline

    values = pa.array(["a", "b"])
    assert not _never_matches_newline("a(")  # not a pattern Python reads: value by value
    assert _all_match(r"(w)[0-9]+", pa.array(["w1", "w22"]))  # a group without flags is read through
    for regex in SPANNING:
        assert not _never_matches_newline(regex), regex
        assert not _all_match(regex, values), regex
    for regex in [r"a\nb|z", r"a[^x]b|z", r"a\sb|z", r"(?s)a.b|z"]:
        checker = Checker(FEATURES, ("id",), [E.Pattern("word", regex)])
        table = pa.table({"id": [1, 2], "code": ["K1", "K1"], "word": ["a", "b"]})
        (found,) = violations(checker, {"train": checker.check_shard(table).to_json()}, {})
        assert found.count == 2, regex


def test_a_value_holding_a_newline_is_tested_on_its_own():
    """Joined, ``w1\\nw2`` would read as two values that match; alone it breaks the pattern."""
    from labdatasets.processing.validation import _all_match

    assert _all_match(r"w[0-9]+", pa.array(["w1", "w22", "w3"]))  # the joined test is taken for plain values
    assert not _all_match(r"w[0-9]+", pa.array(["w1", "w1\nw2", "w3"]))
    checker = Checker(FEATURES, ("id",), [E.Pattern("word", r"w[0-9]+")])
    words = [f"w{i}" for i in range(1000)]
    words[700] = "w7\nw8"
    table = pa.table({"id": np.arange(1000), "code": ["K1"] * 1000, "word": words})
    (found,) = violations(checker, {"train": checker.check_shard(table).to_json()}, {})
    assert (found.count, found.examples[0][0]) == (1, 700)


def test_the_joined_pattern_test_agrees_with_a_test_of_each_value():
    """Anchors and word boundaries inside the pattern, empty values, nulls and a slice of a larger array: whenever
    the joined test says every value matches, RE2 on each value agrees; and for patterns it can read that
    hold no anchor, it says so whenever they all match."""
    import pyarrow.compute as pc

    from labdatasets.processing.validation import _all_match

    rng = np.random.default_rng(5)
    patterns = [r"[a-c]*", r"a+|b+", r"\bab?\b", r"^a.*", r"[a-c]+$", r"(?:ab|c)*", r"\w*", r"\S+", r"[ab]{1,2}c?",
                r"a*?b*", r"\d*", r"(a|b)\b(c)?", r"x|"]
    anchored = {r"\bab?\b", r"^a.*", r"[a-c]+$", r"(a|b)\b(c)?"}
    taken = 0
    for regex in patterns:
        for _ in range(60):
            n = int(rng.integers(1, 6))
            words = ["".join(rng.choice(list("aabbcc1 "), int(rng.integers(0, 4)))) for _ in range(n + 2)]
            column = pa.array([None if rng.random() < 0.1 else w for w in words], pa.string()).slice(1, n)
            each = pc.match_substring_regex(column.drop_null(), pattern=f"^(?:{regex})$").to_pylist()
            joined = _all_match(regex, column)
            if joined:
                taken += 1
                assert all(each), (regex, column.to_pylist())
            elif regex not in anchored and column.null_count < len(column):
                assert not all(each), (regex, column.to_pylist())
    assert taken >= 120, taken


def test_the_joined_pattern_test_reads_large_text_and_keeps_to_its_size_limit(monkeypatch):
    """``large_string`` offsets are 64-bit (read as 32-bit, the newline check would look at other bytes);
    a slice whose joined text would pass JOINED_PATTERN_BYTES is tested value by value, at the limit it is
    joined; a pattern RE2 refuses (a repeat over 1000) is left to the test value by value, which names it."""
    from labdatasets.processing import validation
    from labdatasets.processing.validation import _all_match

    assert _all_match(r"w[0-9]+", pa.array(["w1", "w22"], pa.large_string()))
    assert not _all_match(r"w[0-9]+", pa.array(["w1", "w1\nw2"], pa.large_string()))
    assert _all_match(r"w[0-9]+", pa.array(["w1\nw2", "w1"], pa.large_string()).slice(1))  # its own bytes only
    assert not _all_match("a{1001}", pa.array(["a" * 1001]))
    assert not _all_match(r"w[0-9]+", pa.array([b"w1", b"w2"], pa.binary()))  # not text: value by value
    words = pa.array(["zzzzzzzz", "w1", "w22", "w333"]).slice(1)  # 9 bytes and 3 values from byte 8 on: 12
    monkeypatch.setattr(validation, "JOINED_PATTERN_BYTES", 12)
    assert _all_match(r"w[0-9]+", words)
    monkeypatch.setattr(validation, "JOINED_PATTERN_BYTES", 11)
    assert not _all_match(r"w[0-9]+", words)
