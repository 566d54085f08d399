"""Every build checks its own output: rows in = rows out, once each, in the split they were sent to."""

from __future__ import annotations

import pyarrow as pa
import pytest

import labdatasets
from labdatasets.errors import ProcessingError
from labdatasets.processing.ledger import check_ledger, key_digest, tally_records, tally_table
from tests.helpers import sample_rows


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
        ({"train": (8, 55, 100)}, {"train": [(8, 54)]}, "as many rows, but not the same ones"),
        ({"train": (10, 55, 107)}, {"train": [(10, 55)]}, r"received 10 rows, but split_by_hash assigned 8 rows to it \(2 rows duplicated"),
    ],
)
def test_a_ledger_that_does_not_add_up_names_the_runner_and_the_split(entered, written, message):
    records = _records(assigned={"train": (8, 100)}, entered=entered, written=written)
    with pytest.raises(ProcessingError, match=message) as info:
        check_ledger(records, splits=["train"], runner="SomeRunner", where="toy:1.0.0")
    assert "Building toy:1.0.0 on SomeRunner" in str(info.value)


def test_a_split_that_received_nothing_of_what_was_assigned_to_it_fails():
    records = _records(assigned={"train": (8, 100), "test": (2, 7)}, entered={"train": (8, 55, 100)}, written={"train": [(8, 55)]})
    with pytest.raises(ProcessingError, match=r"split 'test' received 0 rows, but split_by_hash assigned 2 rows to it \(2 rows lost\)"):
        check_ledger(records, splits=["train", "test"], runner="R", where="toy:1.0.0")


def test_a_ledger_without_its_first_entry_is_refused():
    with pytest.raises(ProcessingError, match="record of its own output is incomplete"):
        check_ledger([], splits=["train"], runner="R", where="toy:1.0.0")


def test_key_digest_does_not_depend_on_order_or_batching_but_on_every_copy():
    table = pa.table({"id": list(range(100)), "x": [float(i) for i in range(100)]})
    whole = key_digest(table, ["id"])
    parts = (key_digest(table.slice(0, 30), ["id"]) + key_digest(table.slice(30), ["id"])) % (1 << 64)
    assert parts == whole == key_digest(table.take(pa.array(list(reversed(range(100))))), ["id"])
    assert key_digest(pa.concat_tables([table, table.slice(5, 1)]), ["id"]) != whole


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
