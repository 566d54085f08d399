"""TableSnapshotWriter storing rows in a background thread (SQL pins): the same object as in the
caller's thread, errors raised in the caller's thread, nothing stored after a failure."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labdatasets.pinning import table_writer
from labdatasets.pinning.table_writer import TableSnapshotWriter
from labdatasets.stores import Snapshots

SCHEMA = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.string())])


def batches(count: int, rows: int) -> list[pa.Table]:
    return [
        pa.table({"id": pa.array(range(i * rows, (i + 1) * rows), pa.int64()),
                  "name": [None if j % 5 == 0 else f"n{j}" for j in range(i * rows, (i + 1) * rows)]}, schema=SCHEMA)
        for i in range(count)
    ]


@pytest.fixture
def store(tmp_path):
    return Snapshots(f"file://{tmp_path / 'store'}")


def pin(store, data, *, background, progress=None):
    with TableSnapshotWriter(store, SCHEMA, label="t:1.0.0 source 'rows'", background=background, progress=progress) as w:
        for batch in data:
            w.write(batch)
        return w.finish_pin("rows.parquet", kind="sql", location={}, metadata={})


def test_the_background_writer_stores_the_same_object_and_reports_all_bytes(store, monkeypatch):
    monkeypatch.setattr(table_writer, "ROW_GROUP_ROWS", 1000)
    data = batches(17, 333)  # row groups cut across the incoming batches
    seen: list[int] = []
    here = pin(store, data, background=False)
    there = pin(store, data, background=True, progress=seen.append)
    assert there.objects[0].oid == here.objects[0].oid
    assert there.metadata["content_sha256"] == here.metadata["content_sha256"]
    assert there.num_rows == 17 * 333
    assert sum(seen) == there.objects[0].size  # progress, reported from the caller's thread, adds up
    table = pq.read_table(store.local_path(there.objects[0].oid))
    assert table.equals(pa.concat_tables(data))


def test_an_error_in_the_background_is_raised_to_the_caller_and_nothing_is_stored(store, tmp_path):
    tmp = store.staging_dir()
    before = set(tmp.iterdir())
    bad = pa.table({"id": ["1", "two"], "name": ["a", "b"]})  # "two" is no int64: the cast to the schema fails
    with pytest.raises(pa.ArrowInvalid, match="two"):
        with TableSnapshotWriter(store, SCHEMA, label="t:1.0.0 source 'rows'", background=True) as writer:
            writer.write(batches(1, 10)[0])
            writer.write(bad)
            for batch in batches(5, 10):  # the error surfaces at a later write at the latest
                writer.write(batch)
            writer.finish("rows.parquet")
    assert set(tmp.iterdir()) == before  # the partial file is gone
    assert writer._thread is None  # the thread has ended


def test_abandoning_a_background_writer_ends_its_thread_and_drops_the_file(store):
    writer = TableSnapshotWriter(store, SCHEMA, label="t:1.0.0 source 'rows'", background=True)
    for batch in batches(4, 100):
        writer.write(batch)
    writer.abort()
    assert writer._thread is None
    assert not writer.tmp.exists()
