"""Statistics in the committed output record (``snapshots/<name>/<version>.lock.json``).

``lock`` records each split's statistics (floats rounded to a stated number of digits);
a record written before statistics existed still verifies, and gets them when the
version is locked again; ``check`` compares the recorded counts exactly.
"""

from __future__ import annotations

import dataclasses
import json

import labdatasets
from labdatasets.cli import main
from labdatasets.pinning.outputs import STATISTICS_DIGITS, OutputRecord, compare_info, lock_path, rounded
from tests.helpers import sample_rows


def _floats(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _floats(v)
    elif isinstance(value, list):
        for v in value:
            yield from _floats(v)


def test_lock_records_statistics_and_an_old_record_still_verifies_then_gets_them(make_builder, capsys):
    make_builder.tabular("toy_locked_stats", rows=sample_rows(500))
    assert main(["lock", "toy_locked_stats", "--quiet"]) == 0
    b = labdatasets.builder("toy_locked_stats")
    path = lock_path(b)
    data = json.loads(path.read_text("utf-8"))
    info = b.prepared_info()
    for name, split in data["splits"].items():
        stats = split["statistics"]
        assert stats["num_rows"] == split["num_rows"] == info.splits[name].num_rows
        assert stats == rounded(info.splits[name].statistics)
        assert all(float(f"{x:.{STATISTICS_DIGITS}g}") == x for x in _floats(stats))
    assert compare_info(info, OutputRecord.read(path)) == []

    # a record from before statistics existed: same rows, no statistics; it verifies as it is
    old = OutputRecord.read(path)
    old = dataclasses.replace(old, splits={n: dataclasses.replace(s, statistics=None) for n, s in old.splits.items()})
    old.write(path)
    assert "statistics" not in path.read_text("utf-8")
    assert compare_info(info, OutputRecord.read(path)) == []
    assert main(["check", "toy_locked_stats"]) == 0
    # locking it again adds the statistics and changes nothing else
    assert main(["lock", "toy_locked_stats", "--quiet"]) == 0
    again = OutputRecord.read(path)
    assert again.locked_at == old.locked_at and again.body()["splits"].keys() == old.body()["splits"].keys()
    assert {n: s.fingerprint for n, s in again.splits.items()} == {n: s.fingerprint for n, s in old.splits.items()}
    assert all(s.statistics is not None for s in again.splits.values())

    # a recorded count that is not the prepared one is a problem (the record's digest is right: a wrong record)
    wrong = dict(again.splits["train"].statistics or {})
    wrong["num_rows"] = wrong["num_rows"] + 1
    tampered = dataclasses.replace(again, splits={**again.splits, "train": dataclasses.replace(again.splits["train"], statistics=wrong)})
    problems = compare_info(info, tampered)
    assert len(problems) == 1 and "split 'train' statistics differ from the committed ones in num_rows" in problems[0]
