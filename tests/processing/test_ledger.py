"""Every build checks its own output: rows in = rows out, once each, in the split they were sent to."""

from __future__ import annotations

import pyarrow as pa
import pytest

import labdatasets
from labdatasets.errors import ProcessingError
from labdatasets.processing.ledger import check_ledger, key_digest, tally_records, tally_table
from tests.helpers import sample_rows


WHAT_NEXT = (
    "The output of {runner} is not trustworthy and was not kept. Build again (on the DirectRunner to compare: its output "
    "is checked the same way); if it happens again, report it with this message."
)


def _records(*, assigned, entered, written, origins=None):
    records = [{"stage": "seed", "origins": origins if origins is not None else {s: "o1" for s in assigned}}]
    for split, (rows, digest) in assigned.items():
        records += tally_records(tally_table("split", [split], [rows], [digest], origin="o1"))
    for split, (rows, digest, split_digest) in entered.items():
        records += tally_records(tally_table("entry", [split], [rows], [digest], split_digests=[split_digest]))
    for split, shards in written.items():
        for i, (rows, digest) in enumerate(shards):
            records.append({"stage": "written", "split": split, "index": i, "num_rows": rows, "key_digest": digest})
    return records


def test_a_ledger_that_adds_up_gives_the_rows_per_split():
    records = _records(
        assigned={"train": (8, 100), "test": (2, 7)},
        entered={"train": (8, 55, 100), "test": (2, 3, 7)},
        written={"train": [(5, 50), (3, 5)], "test": [(2, 3)]},
    )
    assert check_ledger(records, splits=["train", "test"], runner="DirectRunner", where="toy:1.0.0") == {"train": 8, "test": 2}


@pytest.mark.parametrize(
    ("entered", "written", "message"),
    [
        ({"train": (8, 55, 100)}, {"train": [(7, 50)]}, "split 'train' received 8 rows, but its Parquet writers wrote 7 \\(1 rows lost\\)"),
        ({"train": (8, 55, 100)}, {"train": [(9, 60)]}, r"wrote 9 \(1 rows duplicated or sent to more than one split\)"),
        (
            {"train": (8, 55, 100)}, {"train": [(8, 54)]},
            r"wrote 8 \(as many rows, but not the same ones: some duplicated, others lost or moved to another split\)\. ",
        ),
        ({"train": (10, 55, 107)}, {"train": [(10, 55)]}, r"received 10 rows, but split_by_hash assigned 8 rows to it \(2 rows duplicated"),
    ],
)
def test_a_ledger_that_does_not_add_up_names_the_runner_and_the_split(entered, written, message):
    records = _records(assigned={"train": (8, 100)}, entered=entered, written=written)
    with pytest.raises(ProcessingError, match=message) as info:
        check_ledger(records, splits=["train"], runner="SomeRunner", where="toy:1.0.0")
    assert str(info.value).startswith("Building toy:1.0.0 on SomeRunner: split 'train' received ")
    assert str(info.value).endswith("). " + WHAT_NEXT.format(runner="SomeRunner"))


def test_a_split_that_received_nothing_of_what_was_assigned_to_it_fails():
    records = _records(assigned={"train": (8, 100), "test": (2, 7)}, entered={"train": (8, 55, 100)}, written={"train": [(8, 55)]})
    with pytest.raises(ProcessingError, match=r"split 'test' received 0 rows, but split_by_hash assigned 2 rows to it \(2 rows lost\)"):
        check_ledger(records, splits=["train", "test"], runner="R", where="toy:1.0.0")


@pytest.mark.parametrize("kept", ["none", "all but the seed"])
def test_a_ledger_without_its_first_entry_is_refused(kept):
    records = _records(assigned={"train": (8, 100)}, entered={"train": (8, 55, 100)}, written={"train": [(8, 55)]})
    records = [] if kept == "none" else [r for r in records if r["stage"] != "seed"]
    with pytest.raises(ProcessingError) as info:
        check_ledger(records, splits=["train"], runner="R", where="toy:1.0.0")
    assert str(info.value) == (
        "Building toy:1.0.0 on R: the pipeline's record of its own output is incomplete (its first entry is missing), "
        "so the output cannot be checked; build again."
    )


def test_splits_not_from_split_by_hash_and_empty_splits_are_checked_too():
    """A split made otherwise (beam.Create, a second source) has no split_by_hash tallies; an empty one no reports."""
    records = _records(assigned={"train": (8, 100)}, entered={"train": (8, 55, 100), "extra": (5, 9, None)},
                       written={"train": [(8, 55)], "extra": [(5, 9)]}, origins={"train": "o1"})
    assert check_ledger(records, splits=["train", "extra", "empty"], runner="R", where="toy:1.0.0") == {
        "train": 8, "extra": 5, "empty": 0
    }
    lost = _records(assigned={"train": (8, 100)}, entered={"train": (8, 55, 100), "extra": (5, 9, None)},
                    written={"train": [(8, 55)], "extra": [(4, 8)]}, origins={"train": "o1"})
    with pytest.raises(ProcessingError, match=r"split 'extra' received 5 rows, but its Parquet writers wrote 4 \(1 rows lost\)"):
        check_ledger(lost, splits=["train", "extra"], runner="R", where="toy:1.0.0")


def test_rows_in_a_split_that_split_by_hash_assigned_nothing_to_fail():
    records = _records(assigned={"train": (8, 100)}, entered={"train": (8, 55, 100), "test": (2, 3, 7)},
                       written={"train": [(8, 55)], "test": [(2, 3)]}, origins={"train": "o1", "test": "o1"})
    with pytest.raises(ProcessingError, match=(
        r"split 'test' received 2 rows, but split_by_hash assigned 0 rows to it \(2 rows duplicated or sent to more than one split\)"
    )):
        check_ledger(records, splits=["train", "test"], runner="R", where="toy:1.0.0")


def test_shards_of_a_split_the_build_does_not_have_fail():
    records = _records(assigned={"train": (8, 100)}, entered={"train": (8, 55, 100)}, written={"train": [(8, 55)], "valid": [(1, 4)]})
    with pytest.raises(ProcessingError) as info:
        check_ledger(records, splits=["train"], runner="R", where="toy:1.0.0")
    assert str(info.value) == (
        "Building toy:1.0.0 on R: shards were written for unknown split(s) ['valid']. " + WHAT_NEXT.format(runner="R")
    )


def test_reports_of_zero_rows_add_nothing():
    """An empty batch or shard reports 0 rows and a digest of 0 (or none): the ledger still adds up."""
    records = _records(assigned={"train": (8, 100)}, entered={"train": (8, 55, 100)}, written={"train": [(8, 55)]})
    records += tally_records(tally_table("entry", ["train"], [0], [0], split_digests=[0]))
    records += tally_records(tally_table("split", ["train"], [0], [0], origin="o1"))
    records += [{"stage": "written", "split": "train", "index": 1, "num_rows": 0, "key_digest": 0},
                {"stage": "written", "split": "train", "index": 2, "num_rows": 0}]
    assert check_ledger(records, splits=["train"], runner="R", where="toy:1.0.0") == {"train": 8}


def test_a_tally_keeps_every_64_bit_digest_and_a_missing_split_digest():
    """Digests are sums modulo 2**64: half of them are above what a signed 64-bit integer holds."""
    top = (1 << 64) - 1
    assert list(tally_records(tally_table("entry", ["train", "test"], [3, 0], [top, (1 << 64) + 5], split_digests=[1 << 63, None]))) == [
        {"stage": "entry", "origin": None, "split": "train", "rows": 3, "digest": top, "split_digest": 1 << 63},
        {"stage": "entry", "origin": None, "split": "test", "rows": 0, "digest": 5, "split_digest": None},
    ]
    assert list(tally_records(tally_table("split", ["train"], [2], [1 << 63], origin="o1"))) == [
        {"stage": "split", "origin": "o1", "split": "train", "rows": 2, "digest": 1 << 63, "split_digest": None},
    ]


def test_key_digest_does_not_depend_on_order_or_batching_but_on_every_copy():
    table = pa.table({"id": list(range(100)), "x": [float(i) for i in range(100)]})
    whole = key_digest(table, ["id"])
    parts = (key_digest(table.slice(0, 30), ["id"]) + key_digest(table.slice(30), ["id"])) % (1 << 64)
    assert parts == whole == key_digest(table.take(pa.array(list(reversed(range(100))))), ["id"])
    assert key_digest(pa.concat_tables([table, table.slice(5, 1)]), ["id"]) != whole
    assert key_digest(table.slice(0, 0), ["id"]) == 0  # an empty batch adds nothing


# ---------------------------------------------------------------------------------- on real Beam pipelines
@pytest.mark.slow
@pytest.mark.parametrize(
    ("runner", "message"),
    [
        ("DroppingRunner", "split 'train' received 16.. rows, but its Parquet writers wrote 16.. \\(. rows lost\\)"),
        ("DuplicatingRunner", "split 'train' received 16.. rows, but its Parquet writers wrote 3... \\(16.. rows duplicated"),
        ("MisroutingRunner", "split 'train' received 2000 rows, but split_by_hash assigned 16.. rows to it \\(... rows duplicated or sent to more than one split\\)"),
    ],
)
def test_a_runner_that_loses_duplicates_or_misroutes_rows_fails_the_build(make_builder, tmp_path, runner, message):
    make_builder.tabular("toy_faulty", rows=sample_rows(2000))
    builder = labdatasets.builder("toy_faulty")
    name = f"tests.faulty_runner.{runner}"
    with pytest.raises(ProcessingError, match=message) as info:
        builder.build(beam_options={"runner": name, "temp_location": str(tmp_path / "staging")}, progress=False)
    assert f"Building toy_faulty:1.0.0 on {name}" in str(info.value)
    assert not builder.prepared_dir.exists()  # nothing went into the prepared folder
    builder.build(progress=False)  # the DirectRunner's output adds up
    assert builder.info.num_rows == 2000
