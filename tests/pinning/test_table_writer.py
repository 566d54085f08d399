"""TableSnapshotWriter storing rows in a background thread (SQL pins): the same object as in the
caller's thread, errors raised in the caller's thread, nothing stored after a failure."""

from __future__ import annotations

import hashlib

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


def test_the_background_writer_stores_the_same_object_and_reports_all_bytes(store):
    data = batches(17, 333)
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


# ---------------------------------------------------------------- the bytes of a pinned table


def layouts(table: pa.Table, *sizes: int) -> list[pa.Table]:
    """``table`` cut into pieces of these sizes (the rest in the last piece): how a driver might deliver it."""
    out, offset = [], 0
    for size in sizes:
        out.append(table.slice(offset, size))
        offset += size
    out.append(table.slice(offset))
    return out


def test_the_same_rows_give_the_same_object_in_row_groups_of_fixed_size_whatever_the_batches(store):
    rows = table_writer.ROW_GROUP_ROWS * 2 + 1234
    data = pa.table({"id": pa.array(range(rows), pa.int64()),
                     "name": [None if i % 7 == 0 else f"n{i % 1000}" for i in range(rows)]}, schema=SCHEMA)
    whole = pin(store, [data], background=False)
    cut = pin(store, layouts(data, 1, 0, 9_999, 70_000, 3), background=True)
    assert cut.objects[0].oid == whole.objects[0].oid  # a driver's batch sizes never change the bytes
    assert cut.metadata["content_sha256"] == whole.metadata["content_sha256"]
    assert cut.num_rows == whole.num_rows == rows
    stored = pq.ParquetFile(store.local_path(whole.objects[0].oid))
    sizes = [stored.metadata.row_group(i).num_rows for i in range(stored.metadata.num_row_groups)]
    assert sizes == [table_writer.ROW_GROUP_ROWS, table_writer.ROW_GROUP_ROWS, 1234]
    assert stored.read().equals(data)  # every row, in the source's order, nulls where they were


def test_the_stored_object_is_parquet_with_the_fixed_writer_settings_and_its_exact_sha256(store):
    data = batches(3, 50)
    sizes: list[int] = []
    entry = pin(store, data, background=False, progress=sizes.append)
    obj = entry.objects[0]
    path = store.local_path(obj.oid)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == obj.oid
    assert path.stat().st_size == obj.size == sum(sizes)  # progress reports every byte once, in the caller's thread too
    meta = pq.ParquetFile(path).metadata
    assert meta.format_version == "2.6"
    column = meta.row_group(0).column(1)
    assert column.compression == "ZSTD"
    assert column.is_stats_set and column.statistics.null_count == 30
    assert any("DICTIONARY" in e for e in column.encodings)
    # the same settings written by pyarrow itself give the same bytes: the object is plain Parquet, nothing private
    expected = pa.BufferOutputStream()
    pq.write_table(pa.concat_tables(data), expected, **table_writer.PARQUET_OPTIONS)
    assert expected.getvalue().to_pybytes() == path.read_bytes()
    assert table_writer.PARQUET_OPTIONS["compression_level"] == 1


def test_rows_are_cast_to_the_declared_schema(store):
    narrow = pa.table({"id": pa.array([3, 1, 2], pa.int32()), "name": pa.array(["c", None, "b"], pa.large_string())})
    entry = pin(store, [narrow], background=False)
    table = pq.read_table(store.local_path(entry.objects[0].oid))
    assert table.schema == SCHEMA
    assert table.to_pylist() == [{"id": 3, "name": "c"}, {"id": 1, "name": None}, {"id": 2, "name": "b"}]


def test_the_pin_describes_the_rows_and_keeps_the_sources_metadata(store):
    with TableSnapshotWriter(store, SCHEMA, label="t:1.0.0 source 'rows'") as writer:
        writer.write(batches(1, 42)[0])
        got = writer.finish_pin("rows.parquet", kind="sql", location={"table": "rows"}, metadata={"server": "10.11"})
    assert (got.kind, got.format, got.num_rows, got.location) == ("sql", "parquet", 42, {"table": "rows"})
    assert got.arrow() == SCHEMA
    assert got.objects[0].path == "rows.parquet"
    assert got.metadata["server"] == "10.11"
    assert got.metadata["content_hash"] == "arrow-ipc-values-sha256-v1"
    hasher = table_writer.ContentHasher(SCHEMA)  # what `status` computes from the live source
    hasher.write(batches(1, 42)[0])
    hasher.flush()
    assert got.metadata["content_sha256"] == hasher.hexdigest()
    with TableSnapshotWriter(store, SCHEMA, label="t:1.0.0 source 'rows'") as writer:
        writer.write(batches(1, 42)[0])
        entry = writer.finish("rows.parquet", metadata={"part": 1})
    assert entry.metadata == {"part": 1} and entry.oid == got.objects[0].oid


def test_an_empty_source_is_a_readable_object_of_no_rows(store):
    entry = pin(store, [], background=False)
    assert entry.num_rows == 0
    table = pq.read_table(store.local_path(entry.objects[0].oid))
    assert table.num_rows == 0 and table.schema == SCHEMA


def test_a_writer_left_without_finishing_or_after_an_error_stores_nothing(store):
    staging = store.staging_dir()
    before = set(staging.iterdir())
    with TableSnapshotWriter(store, SCHEMA, label="t:1.0.0 source 'rows'") as writer:
        writer.write(batches(1, 10)[0])  # the caller forgets finish()
    assert not writer.tmp.exists()
    with pytest.raises(KeyError):
        with TableSnapshotWriter(store, SCHEMA, label="t:1.0.0 source 'rows'") as writer:
            writer.write(batches(1, 10)[0])
            raise KeyError("the source failed")
    assert set(staging.iterdir()) == before
    assert list(store._cache.iter_oids()) == []


def test_aborting_after_finish_keeps_the_stored_object(store):
    with TableSnapshotWriter(store, SCHEMA, label="t:1.0.0 source 'rows'") as writer:
        writer.write(batches(1, 10)[0])
        entry = writer.finish("rows.parquet")
        writer.abort()
    assert pq.read_table(store.local_path(entry.oid)).num_rows == 10


def test_a_full_disk_while_storing_rows_names_the_source_and_keeps_nothing(tmpfs):
    from labdatasets.errors import LocalWriteError

    disk = tmpfs("size=1m")
    store = Snapshots(f"file://{disk / 'store'}")
    staging = store.staging_dir()
    rows = table_writer.ROW_GROUP_ROWS * 3  # the disk fills while a later row group is written
    noise = pa.table({"id": pa.array(range(rows), pa.int64()),
                      "name": [hashlib_hex(i) for i in range(rows)]}, schema=SCHEMA)  # incompressible
    for background in (False, True):
        # the way a source connector drives the writer: abort() on any error, then the error propagates
        writer = TableSnapshotWriter(store, SCHEMA, label="t:1.0.0 source 'rows'", background=background)
        with pytest.raises(LocalWriteError) as info:
            try:
                for batch in noise.to_batches(max_chunksize=20_000):
                    writer.write(batch)
                writer.finish("rows.parquet")
            except BaseException:
                writer.abort()  # never raises: the disk's error is the one the user sees
                raise
        assert "t:1.0.0 source 'rows'" in str(info.value) and "No space left" in str(info.value)
        assert f"disk holding {staging} while storing the rows" in str(info.value)
        assert list(staging.iterdir()) == []


def hashlib_hex(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


# ---------------------------------------------------------------- the content hash


def content_hash(*tables: pa.Table, schema: pa.Schema = SCHEMA) -> tuple[int, str]:
    hasher = table_writer.ContentHasher(schema)
    for t in tables:
        hasher.write(t)
    hasher.flush()
    return hasher.rows, hasher.hexdigest()


def test_the_content_hash_follows_the_values_and_where_the_nulls_are():
    base = pa.table({"id": [1, 2, 3], "name": ["a", None, "c"]}, schema=SCHEMA)
    rows, digest = content_hash(base)
    assert rows == 3
    # the same values read by a driver that keeps a validity bitmap without nulls, or other bytes under a null
    ids = pa.Array.from_buffers(pa.int64(), 3, [pa.py_buffer(b"\xff"), base["id"].combine_chunks().buffers()[1]])
    assert ids.null_count == 0 and ids.buffers()[0] is not None
    assert content_hash(pa.table({"id": ids, "name": base["name"]}, schema=SCHEMA)) == (3, digest)
    assert content_hash(*layouts(base, 1, 1)) == (3, digest)
    changed = {
        "a value": pa.table({"id": [1, 2, 4], "name": ["a", None, "c"]}, schema=SCHEMA),
        "a null moved": pa.table({"id": [1, 2, 3], "name": ["a", "c", None]}, schema=SCHEMA),
        "a null filled": pa.table({"id": [1, 2, 3], "name": ["a", "", "c"]}, schema=SCHEMA),
        "the row order": pa.table({"id": [2, 1, 3], "name": [None, "a", "c"]}, schema=SCHEMA),
        "a row more": pa.table({"id": [1, 2, 3, 4], "name": ["a", None, "c", "d"]}, schema=SCHEMA),
    }
    for what, table in changed.items():
        assert content_hash(table)[1] != digest, what


def test_the_content_hash_of_a_column_of_nulls_only():
    schema = pa.schema([pa.field("nothing", pa.null()), pa.field("name", pa.string())])
    two = pa.table({"nothing": pa.nulls(2), "name": pa.array([None, None], pa.string())}, schema=schema)
    three = pa.table({"nothing": pa.nulls(3), "name": pa.array([None, None, None], pa.string())}, schema=schema)
    assert content_hash(two, schema=schema)[0] == 2
    assert content_hash(two, schema=schema)[1] != content_hash(three, schema=schema)[1]
    parts = table_writer.column_digest_parts(pa.nulls(2))
    assert len(parts) == 1  # a null-typed column is all nulls: nothing to drop, its length is in the batch


# ---------------------------------------------------------------- row groups


def test_the_rechunker_cuts_exact_row_groups_and_early_at_the_byte_limit():
    schema = pa.schema([pa.field("x", pa.int64())])
    rechunker = table_writer.Rechunker(schema, rows=4, max_bytes=1 << 30)
    out = []
    for size in (3, 10, 0, 7, 1):
        out += list(rechunker.push(pa.table({"x": pa.array(range(size), pa.int32())})))
    out += list(rechunker.flush())
    assert [b.num_rows for b in out] == [4, 4, 4, 4, 4, 1]
    assert all(b.schema == schema for b in out)
    assert pa.Table.from_batches(out).column("x").to_pylist() == [*range(3), *range(10), *range(7), 0]
    assert list(rechunker.flush()) == []  # nothing left over
    # wide rows: a row group is cut once the batches it holds reach max_bytes (checked between batches)
    small = table_writer.Rechunker(schema, rows=1000, max_bytes=41)  # a cut once the rows hold 41 bytes (6 int64s)
    cut = [b for size in (2, 2, 2, 5, 1, 3) for b in small.push(pa.table({"x": list(range(size))}))] + list(small.flush())
    assert [b.num_rows for b in cut] == [6, 6, 3]  # 5 values (40 bytes) are not yet a row group; the count restarts
    exact = table_writer.Rechunker(schema, rows=1000, max_bytes=40)
    assert [b.num_rows for b in exact.push(pa.table({"x": list(range(5))}))] == [5]  # 40 bytes reach the limit
    fresh = table_writer.Rechunker(schema, rows=1000, max_bytes=41)
    assert list(fresh.push(pa.table({"x": list(range(5))}))) == []  # 40 bytes: below the limit, from the first row
    assert table_writer.ROW_GROUP_BYTES == 64 << 20


def test_the_content_hash_is_the_same_in_every_release():
    """`status` compares it with what a pin recorded, maybe years ago: its value for given rows never changes
    (a change needs a new CONTENT_HASH method name, or every pinned SQL source would look changed)."""
    assert table_writer.CONTENT_HASH == "arrow-ipc-values-sha256-v1"
    with_null = pa.table({"id": [1, 2, 3], "name": ["a", None, "c"]}, schema=SCHEMA)
    without = pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]}, schema=SCHEMA)
    assert content_hash(with_null) == (3, "53640eaa832ab031a25fcd17364f50d099df428859712821cf2e4a6f46b5f1f2")
    assert content_hash(without) == (3, "77520fb943f7559a1d9f359f2dc545ded75462e1113e46572c724e5069b252b5")


def test_a_background_writer_drained_before_it_finishes_or_aborts(store):
    """The SQL connector drains the writer (to see its errors) before finishing or abandoning the pin."""
    with TableSnapshotWriter(store, SCHEMA, label="t:1.0.0 source 'rows'", background=True) as writer:
        for batch in batches(3, 10):
            writer.write(batch)
        writer.drain()
        entry = writer.finish("rows.parquet")
    assert pq.read_table(store.local_path(entry.oid)).num_rows == 30
    writer = TableSnapshotWriter(store, SCHEMA, label="t:1.0.0 source 'rows'", background=True)
    writer.write(batches(1, 10)[0])
    writer.drain()
    writer.abort()  # the source failed after every batch was stored
    assert not writer.tmp.exists()


def test_a_snapshot_store_that_fails_to_take_the_object_is_the_error_seen(tmp_path, tmpfs):
    """The local copy is made, the configured store is full: its error reaches the user, nothing else."""
    from labdatasets.errors import LabDatasetsError

    store = Snapshots(f"file://{tmpfs('size=64k') / 'shared'}", f"file://{tmp_path / 'cache'}")
    noise = pa.table({"id": pa.array(range(20_000), pa.int64()), "name": [hashlib_hex(i) for i in range(20_000)]},
                     schema=SCHEMA)
    with pytest.raises(LabDatasetsError) as info:
        pin(store, [noise], background=False)
    assert "No space left" in str(info.value)


def test_a_process_that_drops_a_background_writer_still_exits(tmp_path):
    """A pin abandoned without abort() (a crash in the caller) never keeps Python from exiting."""
    import subprocess
    import sys

    code = (
        "import pyarrow as pa\n"
        "from labdatasets.pinning.table_writer import TableSnapshotWriter\n"
        "from labdatasets.stores import Snapshots\n"
        f"store = Snapshots('file://{tmp_path / 'store'}')\n"
        "schema = pa.schema([('id', pa.int64())])\n"
        "writer = TableSnapshotWriter(store, schema, label='t:1.0.0 source rows', background=True)\n"
        "writer.write(pa.table({'id': [1, 2]}, schema=schema))\n"
        "print('dropped')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "dropped\n", done.stderr
