"""Reading and checking a prepared folder, without a build: what a load reads, what ``verify`` finds, what is reused.

Shards written here with pyarrow (several row groups, so ranges cross them) and the
session's prepared world (:mod:`tests.prepared.world`), damaged per test: a flipped
byte (same length), a truncated, missing or stray file, a ``dataset_info.json`` that
disagrees with its shards or with the committed output record. Whatever the damage,
the rows served are exactly the committed ones or an error naming the version and
the file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labdatasets.errors import LabDatasetsError, PreparedDataError
from labdatasets.info import ShardInfo
from labdatasets.prepared import folder
from labdatasets.stores.hashing import sha256_file
from tests.faults._tamper import flip, offset_of
from tests.prepared.world import NAME

FULL = f"{NAME}:1.0.0"
HINT = (
    f"Run 'labdatasets verify --repair {FULL}' (it fetches the version again from the shared cache or rebuilds it "
    "from the pins), or load it again: load repairs it by itself."
)
ROWS = 35
GROUP = 10  # rows per row group: groups [0, 10), [10, 20), [20, 30), [30, 35)


def damaged_message(path, what: str) -> str:
    return f"Prepared file {path} of {FULL} is damaged: {what}. It was not served. {HINT}"


# ----------------------------------------------------------------------------- read_shard
def rows_table() -> pa.Table:
    return pa.table({"id": pa.array(range(ROWS), pa.int64()), "name": [f"row {i}" for i in range(ROWS)]})


def written(path, table: pa.Table | None = None, **kwargs) -> ShardInfo:
    """Write ``table`` (default: :func:`rows_table`) as a build does, in row groups of :data:`GROUP`; its ShardInfo."""
    table = rows_table() if table is None else table
    kwargs.setdefault("row_group_size", GROUP)
    pq.write_table(table, path, write_page_checksum=True, **kwargs)
    return ShardInfo(path.name, table.num_rows, path.stat().st_size, sha256_file(path))


def read(path, shard: ShardInfo, rows=None, schema=None) -> pa.Table:
    return folder.read_shard(path, shard, full_name=FULL, schema=schema, rows=rows)


def test_a_whole_shard_reads_back_exactly_its_rows(tmp_path):
    path = tmp_path / "s.parquet"
    shard = written(path)
    assert read(path, shard, schema=rows_table().schema).equals(rows_table())
    assert read(path, shard).equals(rows_table())  # no declared schema: not compared


@pytest.mark.parametrize(
    "lo, hi",
    [(0, ROWS), (0, 10), (10, 20), (2, 5), (5, 25), (12, 13), (19, 21), (25, 35), (34, 35), (30, 35), (7, 7), (0, 1)],
)
def test_a_range_of_rows_reads_back_exactly_those_rows(tmp_path, lo, hi):
    path = tmp_path / "s.parquet"
    shard = written(path)
    got = read(path, shard, rows=(lo, hi), schema=rows_table().schema)
    assert got.equals(rows_table().slice(lo, hi - lo)), (lo, hi, got.column("id").to_pylist())


def group_offset(path, group: int) -> int:
    """A byte inside the first column's data of row group ``group``."""
    col = pq.ParquetFile(path).metadata.row_group(group).column(0)
    return col.data_page_offset + col.total_compressed_size // 2


@pytest.mark.parametrize("lo, hi, damaged_group", [(10, 20, 0), (10, 20, 2), (0, 10, 1), (12, 13, 0), (12, 13, 2), (20, 30, 1), (30, 35, 2)])
def test_a_range_touches_only_its_row_groups(tmp_path, lo, hi, damaged_group):
    """A damaged row group outside the range is never read (a slice of a big shard reads only what it needs)."""
    path = tmp_path / "s.parquet"
    shard = written(path, compression="none")
    flip(path, group_offset(path, damaged_group))
    assert read(path, shard, rows=(lo, hi)).equals(rows_table().slice(lo, hi - lo))
    covering = (damaged_group * GROUP, damaged_group * GROUP + GROUP)
    with pytest.raises(PreparedDataError, match="is damaged: OSError"):
        read(path, shard, rows=covering)


@pytest.mark.parametrize("rows", [None, (0, 5), (20, 25)])
def test_a_flipped_value_that_still_decodes_is_caught_by_the_page_checksum(tmp_path, rows):
    """Uncompressed plain values: without the page checksum the flip would be served as another number."""
    path = tmp_path / "s.parquet"
    table = pa.table({"id": pa.array(range(ROWS), pa.int64())})
    shard = written(path, table, compression="none", use_dictionary=False, row_group_size=ROWS)
    flip(path, group_offset(path, 0))
    flipped = pq.read_table(path).column("id").to_pylist()  # what a reader without checksums returns
    assert len(flipped) == ROWS and flipped != list(range(ROWS))
    with pytest.raises(PreparedDataError) as err:
        read(path, shard, rows=rows)
    assert str(err.value).startswith(f"Prepared file {path} of {FULL} is damaged: OSError: ") and str(err.value).endswith(HINT)
    assert "CRC" in str(err.value) or "checksum" in str(err.value).lower()


@pytest.mark.parametrize("rows", [None, (0, 5)])
def test_a_row_count_other_than_the_recorded_one_is_an_error(tmp_path, rows):
    path = tmp_path / "s.parquet"
    shard = written(path)
    for recorded in (ROWS - 1, ROWS + 1):
        with pytest.raises(PreparedDataError) as err:
            read(path, dataclasses.replace(shard, num_rows=recorded), rows=rows)
        assert str(err.value) == damaged_message(path, f"it holds {ROWS} rows, but dataset_info.json records {recorded}")


@pytest.mark.parametrize("rows", [None, (3, 14)])
def test_columns_other_than_the_declared_features_are_an_error(tmp_path, rows):
    path = tmp_path / "s.parquet"
    shard = written(path)
    renamed = pa.schema([("id", pa.int64()), ("title", pa.string())])
    with pytest.raises(PreparedDataError) as err:
        read(path, shard, rows=rows, schema=renamed)
    assert str(err.value) == damaged_message(
        path, "its columns ['id', 'name'] (int64, string) are not the declared features ['id', 'title'] (int64, string)"
    )
    retyped = pa.schema([("id", pa.float64()), ("name", pa.string())])
    with pytest.raises(PreparedDataError, match=r"its columns \['id', 'name'\] \(int64, string\) are not the declared"):
        read(path, shard, rows=rows, schema=retyped)
    # the same kinds in another width (Parquet stores some types in another unit): served
    assert read(path, shard, rows=rows, schema=pa.schema([("id", pa.int32()), ("name", pa.large_string())])).num_rows


@pytest.mark.parametrize("rows", [None, (0, 5)])
def test_a_missing_shard_is_named(tmp_path, rows):
    path = tmp_path / "gone.parquet"
    with pytest.raises(PreparedDataError) as err:
        read(path, ShardInfo(path.name, ROWS, 1, "0" * 64), rows=rows)
    assert str(err.value) == damaged_message(path, "it is missing") and err.value.__cause__ is None


@pytest.mark.parametrize("rows", [None, (0, 5)])
@pytest.mark.parametrize("how", ["truncated", "not parquet", "empty"])
def test_a_truncated_or_foreign_file_is_named_with_the_reader_error(tmp_path, rows, how):
    long_dir = tmp_path / ("d" * 120) / ("e" * 120)  # a reader error naming the path is longer than the kept 300 chars
    long_dir.mkdir(parents=True)
    path = long_dir / "s.parquet"
    shard = written(path)
    data = path.read_bytes()
    os.chmod(path, 0o644)
    path.write_bytes({"truncated": data[: len(data) // 2], "not parquet": b"id,name\n1,a\n" * 20, "empty": b""}[how])
    with pytest.raises(PreparedDataError) as err:
        read(path, shard, rows=rows)
    cause = err.value.__cause__
    assert cause is not None
    assert str(err.value) == damaged_message(path, f"{type(cause).__name__}: {str(cause)[:300]}")
    if str(path) in str(cause):
        assert len(str(cause)) > 300  # so the kept part is exactly the first 300 characters


# ----------------------------------------------------------------------------- same_columns
SAME_KIND = [
    (pa.int8(), pa.int64()), (pa.uint32(), pa.int16()), (pa.float16(), pa.float64()), (pa.float32(), pa.float64()),
    (pa.bool_(), pa.bool_()), (pa.string(), pa.large_string()), (pa.large_string(), pa.string()),
    (pa.binary(), pa.large_binary()), (pa.binary(4), pa.binary()), (pa.large_binary(), pa.binary(3)),
    (pa.date32(), pa.date64()), (pa.time32("s"), pa.time64("us")), (pa.duration("s"), pa.duration("ns")),
    (pa.decimal128(10, 2), pa.decimal128(20, 4)), (pa.timestamp("s"), pa.timestamp("ms")),
    (pa.timestamp("s", tz="UTC"), pa.timestamp("us", tz="UTC")),
    (pa.dictionary(pa.int32(), pa.string()), pa.string()), (pa.string(), pa.dictionary(pa.int8(), pa.large_string())),
    (pa.list_(pa.int32()), pa.large_list(pa.int64())), (pa.list_(pa.int32(), 3), pa.list_(pa.int64())),
    (pa.struct([("a", pa.int32()), ("b", pa.string())]), pa.struct([("a", pa.int64()), ("b", pa.large_string())])),
    (pa.null(), pa.null()), (pa.map_(pa.string(), pa.int32()), pa.map_(pa.string(), pa.int32())),
]
OTHER_KIND = [
    (pa.int64(), pa.float64()), (pa.int64(), pa.bool_()), (pa.float64(), pa.bool_()), (pa.int64(), pa.string()),
    (pa.string(), pa.binary()), (pa.large_string(), pa.large_binary()), (pa.binary(4), pa.string()),
    (pa.date32(), pa.timestamp("s")), (pa.time64("us"), pa.duration("us")), (pa.date32(), pa.time32("s")),
    (pa.decimal128(10, 2), pa.float64()), (pa.duration("s"), pa.int64()), (pa.date64(), pa.int64()),
    (pa.time32("ms"), pa.int32()), (pa.decimal128(5, 1), pa.int64()),
    (pa.timestamp("s"), pa.timestamp("s", tz="UTC")), (pa.timestamp("s", tz="UTC"), pa.timestamp("s", tz="Europe/Paris")),
    (pa.timestamp("ms"), pa.int64()), (pa.dictionary(pa.int32(), pa.string()), pa.int32()),
    (pa.list_(pa.int32()), pa.list_(pa.string())), (pa.list_(pa.int32()), pa.int32()),
    (pa.large_list(pa.int32()), pa.string()), (pa.list_(pa.int32(), 2), pa.binary(2)),
    (pa.struct([("a", pa.int32())]), pa.struct([("b", pa.int32())])),
    (pa.struct([("a", pa.int32())]), pa.struct([("a", pa.string())])),
    (pa.struct([("a", pa.int32())]), pa.struct([("a", pa.int32()), ("b", pa.int32())])),
    (pa.null(), pa.int32()), (pa.map_(pa.string(), pa.int32()), pa.map_(pa.string(), pa.string())),
]


@pytest.mark.parametrize("got, want", SAME_KIND, ids=str)
def test_columns_of_the_same_kind_in_another_unit_are_the_declared_ones(got, want):
    assert folder.same_columns(pa.schema([("x", got)]), pa.schema([("x", want)]))
    assert folder.same_columns(pa.schema([("k", pa.int64()), ("x", want)]), pa.schema([("k", pa.int32()), ("x", got)]))


@pytest.mark.parametrize("got, want", OTHER_KIND, ids=str)
def test_columns_of_another_kind_are_not_the_declared_ones(got, want):
    assert not folder.same_columns(pa.schema([("x", got)]), pa.schema([("x", want)]))
    assert not folder.same_columns(pa.schema([("x", want)]), pa.schema([("x", got)]))
    assert not folder.same_columns(pa.schema([("k", pa.int64()), ("x", got)]), pa.schema([("k", pa.int64()), ("x", want)]))


def test_column_names_must_be_the_declared_ones_in_order():
    ab = pa.schema([("a", pa.int64()), ("b", pa.string())])
    assert folder.same_columns(ab, ab)
    assert not folder.same_columns(pa.schema([("b", pa.string()), ("a", pa.int64())]), ab)
    assert not folder.same_columns(pa.schema([("a", pa.int64())]), ab)  # a column dropped
    assert not folder.same_columns(ab, pa.schema([("a", pa.int64())]))  # a column added
    assert not folder.same_columns(pa.schema([("A", pa.int64()), ("b", pa.string())]), ab)


# ----------------------------------------------------------------------------- the world: a prepared version
def edit_info(b, change) -> None:
    """Edit the prepared ``dataset_info.json`` of ``b`` in place (``change(data)``)."""
    path = b.prepared_dir / "dataset_info.json"
    os.chmod(path, 0o644)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def rewrite(path, table: pa.Table, **kwargs) -> None:
    os.chmod(path, 0o644)
    pq.write_table(table, path, write_page_checksum=True, **kwargs)


def record_bytes(b, split: str, path) -> None:
    """Record ``path``'s current sha256 and size for ``split``'s shard, as a writer of other bytes would."""

    def change(data):
        data["splits"][split]["shards"][0].update(sha256=sha256_file(path), num_bytes=path.stat().st_size)

    edit_info(b, change)


def state(world):
    """(builder, its prepared info, pin record, output record) as they are on disk now."""
    from labdatasets.pinning.outputs import read_lock

    b = world.builder()
    record = b.require_pin_record()
    return b, folder.read_info(b.prepared_dir), record, read_lock(b, record)


def test_an_intact_version_has_no_problems_and_is_reused(world):
    b, info, record, lock = state(world)
    assert lock is not None and lock.applies_to(info.snapshot_id, info.code_fingerprint)
    assert folder.full_problems(b.prepared_dir, info, lock) == ([], [])
    assert folder.full_problems(b.prepared_dir, info, None) == ([], [])
    assert folder.committed_problems(b, info, record) == []
    assert folder.info_problems(info) == []
    assert folder.reusable(b, info, record) is True
    assert folder.reuse(b, record) == b.prepared_dir


def test_the_rows_read_are_exactly_the_committed_ones(world):
    from tests.prepared.world import prepared_rows

    b, info, _, _ = state(world)
    schema = info.features.arrow_schema()
    for name, table in prepared_rows(b).items():
        (shard,) = info.splits[name].shards
        path = b.prepared_dir / shard.filename
        assert folder.read_shard(path, shard, full_name=FULL, schema=schema).equals(table)
        assert folder.read_shard(path, shard, full_name=FULL, schema=schema, rows=(3, 7)).equals(table.slice(3, 4))


@pytest.mark.parametrize("how", ["flipped", "truncated", "missing"])
def test_a_damaged_shard_is_named_by_the_full_check(world, how):
    b, info, _, lock = state(world)
    shard = world.shard()
    size = shard.stat().st_size
    if how == "flipped":
        flip(shard, offset_of(shard, "data_page"))
        assert shard.stat().st_size == size
    elif how == "truncated":
        os.chmod(shard, 0o644)
        shard.write_bytes(shard.read_bytes()[:-100])
    else:
        os.chmod(shard, 0o644)
        shard.unlink()
    what = "missing" if how == "missing" else "corrupted"
    for committed in (lock, None):
        assert folder.full_problems(b.prepared_dir, info, committed) == ([f"prepared file {shard.name}: {what}"], [])
    assert folder.committed_problems(b, info, b.require_pin_record()) == []  # the cheap check reads no shard
    with pytest.raises(PreparedDataError, match=f"Prepared file {shard} of {FULL} is damaged"):
        folder.read_shard(shard, info.splits["train"].shards[0], full_name=FULL, schema=info.features.arrow_schema())


def test_every_damaged_file_is_named_split_by_split(world):
    b, info, _, lock = state(world)
    test_shard, train_shard = world.shard("test"), world.shard()
    flip(test_shard, offset_of(test_shard, "footer"))
    os.chmod(train_shard, 0o644)
    train_shard.unlink()
    assert folder.full_problems(b.prepared_dir, info, lock) == (
        [f"prepared file {test_shard.name}: corrupted", f"prepared file {train_shard.name}: missing"], []
    )


def test_a_shard_with_its_recorded_hash_but_no_parquet_footer_is_unreadable(world):
    b, _, _, lock = state(world)
    shard = world.shard()
    os.chmod(shard, 0o644)
    shard.write_bytes(b"PAR1 this is not a footer")
    record_bytes(b, "train", shard)
    info = folder.read_info(b.prepared_dir)
    problems, notes = folder.full_problems(b.prepared_dir, info, None)
    (problem,) = problems
    assert problem.startswith(f"prepared file {shard.name}: unreadable footer (") and problem.endswith(")"), problem
    assert notes == []
    problems, _ = folder.full_problems(b.prepared_dir, info, lock)
    assert problem in problems  # with the committed record too, once


def test_a_recorded_row_count_other_than_the_footer_s_is_a_problem(world):
    b, _, _, lock = state(world)
    shard = world.shard()

    def fewer(data):
        data["splits"]["train"]["num_rows"] = 49
        data["splits"]["train"]["shards"][0]["num_rows"] = 49

    edit_info(b, fewer)
    info = folder.read_info(b.prepared_dir)
    assert folder.info_problems(info) == []  # consistent with itself
    holds = f"prepared file {shard.name}: holds 50 rows, dataset_info.json records 49"
    assert folder.full_problems(b.prepared_dir, info, None) == ([holds], [])
    problems, notes = folder.full_problems(b.prepared_dir, info, lock)
    assert problems == [
        "dataset_info.json: split 'train' has 49 rows, committed 50",
        f"dataset_info.json: split 'train' has shards [('{shard.name}', 49)], committed [('{shard.name}', 50)]",
        holds,
    ] and notes == []


def test_split_counts_that_are_not_the_sum_of_their_shards_are_problems(world):
    b, _, record, lock = state(world)

    def edit(data):
        data["splits"]["train"]["num_rows"] = 51
        data["splits"]["test"]["shards"] = []

    edit_info(b, edit)
    info = folder.read_info(b.prepared_dir)
    own = [
        "dataset_info.json: split 'train' records 51 rows, its shards 50",
        "dataset_info.json: split 'test' records 10 rows, its shards 0",
        "dataset_info.json: split 'test' lists no files",
    ]
    assert folder.info_problems(info) == own
    assert folder.full_problems(b.prepared_dir, info, None)[0][:3] == own
    committed = folder.committed_problems(b, info, record)
    assert committed[:3] == own and "dataset_info.json: split 'train' has 51 rows, committed 50" in committed
    assert folder.full_problems(b.prepared_dir, info, lock)[0][: len(committed)] == committed


def test_other_bytes_of_the_same_rows_are_a_note(world):
    """A build here with another pyarrow (here: gzip) writes other bytes for the committed rows: accepted, said."""
    b, _, _, lock = state(world)
    shard = world.shard()
    rewrite(shard, pq.read_table(shard), compression="gzip")
    record_bytes(b, "train", shard)
    info = folder.read_info(b.prepared_dir)
    note = f"split 'train': other bytes than the committed ones ({shard.name}), the same rows (content fingerprint matches)"
    assert folder.full_problems(b.prepared_dir, info, lock) == ([], [note])
    assert folder.full_problems(b.prepared_dir, info, None) == ([], [])  # nothing committed to compare with
    other = dataclasses.replace(lock, code_fingerprint="f" * 64)  # a record of other processing: not this build's
    assert folder.full_problems(b.prepared_dir, info, other) == ([], [])


def test_other_bytes_of_other_rows_are_named_by_their_fingerprint(world):
    from labdatasets.processing.fingerprint import content_fingerprint

    b, _, _, lock = state(world)
    shard = world.shard()
    table = pq.read_table(shard)
    rewrite(shard, table.set_column(1, "value", pa.array([0.5] * table.num_rows, pa.float32())))
    record_bytes(b, "train", shard)
    info = folder.read_info(b.prepared_dir)
    got, want = content_fingerprint([shard]), lock.splits["train"].fingerprint
    assert got != want
    assert folder.full_problems(b.prepared_dir, info, lock) == (
        [f"split 'train': its rows have fingerprint {got[:16]}, committed {want[:16]}"], []
    )


def test_other_bytes_that_cannot_be_read_are_a_problem_and_the_other_splits_are_still_checked(world):
    b, _, _, lock = state(world)
    test_shard, train_shard = world.shard("test"), world.shard()
    flip(test_shard, offset_of(test_shard, "page_header"))  # the footer reads; the pages do not
    record_bytes(b, "test", test_shard)
    os.chmod(train_shard, 0o644)
    train_shard.unlink()
    info = folder.read_info(b.prepared_dir)
    problems, notes = folder.full_problems(b.prepared_dir, info, lock)
    assert len(problems) == 2 and notes == [], problems
    assert problems[0].startswith("split 'test': unreadable (") and problems[0].endswith(")")
    assert problems[1] == f"prepared file {train_shard.name}: missing"


def test_a_record_of_another_build_is_not_compared(world):
    """An output record of other processing says nothing about this folder: only its own consistency counts."""
    b, info, _, lock = state(world)
    edit_info(b, lambda data: data["splits"]["train"].update(fingerprint="0" * 64))
    info = folder.read_info(b.prepared_dir)
    other = dataclasses.replace(lock, snapshot_id="e" * 64)
    assert folder.full_problems(b.prepared_dir, info, other) == ([], [])
    problems, _ = folder.full_problems(b.prepared_dir, info, lock)
    assert problems == [f"dataset_info.json: split 'train' has fingerprint {'0' * 16}, committed {lock.splits['train'].fingerprint[:16]}"]


def two_shards(world):
    """Write the train split as two shards (25 rows each) and record them; the two paths."""
    b = world.builder()
    one = world.shard()
    table = pq.read_table(one)
    os.chmod(one, 0o644)
    one.unlink()
    paths = [b.prepared_dir / f"{NAME}-train-0000{i}-of-00002.parquet" for i in range(2)]
    for i, path in enumerate(paths):
        pq.write_table(table.slice(25 * i, 25), path, write_page_checksum=True)

    def change(data):
        data["splits"]["train"]["shards"] = [
            {"filename": p.name, "num_rows": 25, "num_bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in paths
        ]

    edit_info(b, change)
    return paths


@pytest.mark.parametrize("first", ["missing", "corrupted", "unreadable footer"])
def test_every_shard_of_a_split_is_checked(world, first):
    b = world.builder()
    paths = two_shards(world)
    assert folder.full_problems(b.prepared_dir, folder.read_info(b.prepared_dir), None) == ([], [])
    if first == "missing":
        paths[0].unlink()
    elif first == "corrupted":
        flip(paths[0], offset_of(paths[0], "data_page"))
    else:
        paths[0].write_bytes(b"PAR1 no footer")
        record_bytes(b, "train", paths[0])
    flip(paths[1], offset_of(paths[1], "data_page"))
    problems, _ = folder.full_problems(b.prepared_dir, folder.read_info(b.prepared_dir), None)
    assert len(problems) == 2 and problems[0].startswith(f"prepared file {paths[0].name}: {first}"), problems
    assert problems[1] == f"prepared file {paths[1].name}: corrupted"


def test_other_bytes_of_several_shards_are_named_together(world):
    """A two-shard split committed, then written again by another pyarrow: one note names both files."""
    from labdatasets.pinning.outputs import OutputRecord

    b = world.builder()
    paths = two_shards(world)
    record = b.require_pin_record()
    lock = OutputRecord.of_info(folder.read_info(b.prepared_dir), record, locked_at="2026-01-01T00:00:00Z")
    for path in paths:
        rewrite(path, pq.read_table(path), compression="gzip")
    edit_info(b, lambda data: data["splits"]["train"].update(
        shards=[{"filename": p.name, "num_rows": 25, "num_bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in paths]
    ))
    info = folder.read_info(b.prepared_dir)
    assert folder.full_problems(b.prepared_dir, info, lock) == (
        [],
        [f"split 'train': other bytes than the committed ones ({paths[0].name}, {paths[1].name}), the same rows "
         "(content fingerprint matches)"],
    )


def test_a_folder_removed_while_it_is_checked_has_every_file_missing(world):
    """Another process (``cache prune``) removed the folder after its dataset_info.json was read."""
    b, info, _, lock = state(world)
    shutil.rmtree(b.prepared_dir)
    assert folder.full_problems(b.prepared_dir, info, lock) == (
        [f"prepared file {world.shard('test').name}: missing", f"prepared file {world.shard().name}: missing"], []
    )


# ----------------------------------------------------------------------------- stray files
STRAY = f"{NAME}-train-00001-of-00002.parquet"


def test_a_stray_file_in_a_prepared_folder_is_a_problem(world):
    """A shard no record names (a copy, a leftover): a reader of the folder's *.parquet would take it for data."""
    b, info, _, lock = state(world)
    shutil.copy(world.shard(), b.prepared_dir / STRAY)
    (b.prepared_dir / "notes").mkdir()
    (b.prepared_dir / ".dataset_info.json.123.tmp").write_text("{}")  # hidden: an atomic write in progress
    (b.prepared_dir / ".progress").mkdir()
    expected = [
        "prepared file notes: not named in dataset_info.json (remove it: a reader of the folder's files would take it for data)",
        f"prepared file {STRAY}: not named in dataset_info.json (remove it: a reader of the folder's files would take it for data)",
    ]
    assert folder.full_problems(b.prepared_dir, info, lock) == (expected, [])
    assert folder.full_problems(b.prepared_dir, info, None) == (expected, [])


def test_verify_names_a_stray_file_and_repair_removes_it(world):
    from labdatasets.prepared.verify import verify

    world.use_cache()
    b = world.builder()
    shutil.copy(world.shard(), b.prepared_dir / STRAY)
    report = verify(b, progress=False)
    assert not report.ok and report.name == FULL
    assert report.problems == [
        f"prepared file {STRAY}: not named in dataset_info.json (remove it: a reader of the folder's files would take it for data)"
    ]
    report = verify(world.builder(), repair=True, progress=False)
    assert report.ok and len(report.repaired) == 1
    assert sorted(p.name for p in b.prepared_dir.iterdir()) == sorted(
        ["dataset_info.json", world.shard().name, world.shard("test").name]
    )


# ----------------------------------------------------------------------------- reuse
def test_prepared_data_of_another_snapshot_is_refused_with_both_named(world):
    b, _, record, _ = state(world)
    edit_info(b, lambda data: data.update(snapshot_id="a" * 64))
    info = folder.read_info(b.prepared_dir)
    message = (
        f"{FULL} in {b.prepared_dir} was built from snapshot {'a' * 12}, but its pin record ({record.path}) names "
        f"snapshot {record.snapshot_id[:12]}. The prepared data is not what this version means: move that folder away "
        "(or pass data_dir=) and build again."
    )
    with pytest.raises(PreparedDataError) as err:
        folder.reusable(b, info, record)
    assert str(err.value) == message
    with pytest.raises(PreparedDataError) as err:
        folder.reuse(b, record)
    assert str(err.value) == message
    assert folder.reusable(b, info, None) is True  # no pin record: nothing says what the version is


def test_prepared_data_of_other_processing_is_rebuilt(world, caplog):
    b, _, record, _ = state(world)
    edit_info(b, lambda data: data.update(code_fingerprint="c" * 64))
    info = folder.read_info(b.prepared_dir)
    with caplog.at_level(logging.WARNING, logger="labdatasets.prepared.folder"):
        assert folder.reusable(b, info, record) is False
        assert folder.reuse(b, record) is None
    assert [r.getMessage() for r in caplog.records] == [
        f"{FULL} in {b.prepared_dir} was built by processing code {'c' * 12}, but this version's processing is now "
        f"{record.code_fingerprint[:12]}; rebuilding it"
    ] * 2


def test_prepared_data_that_is_not_the_committed_one_is_not_reused(world, caplog):
    b, _, record, lock = state(world)

    def edit(data):
        for name in ("train", "test"):
            data["splits"][name]["num_rows"] = 1
            data["splits"][name]["fingerprint"] = "9" * 64

    edit_info(b, edit)
    info = folder.read_info(b.prepared_dir)
    problems = folder.committed_problems(b, info, record)
    assert problems == [
        "dataset_info.json: split 'train' records 1 rows, its shards 50",
        "dataset_info.json: split 'test' records 1 rows, its shards 10",
        "dataset_info.json: split 'test' has 1 rows, committed 10",
        f"dataset_info.json: split 'test' has fingerprint {'9' * 16}, committed {lock.splits['test'].fingerprint[:16]}",
        "dataset_info.json: split 'train' has 1 rows, committed 50",
        f"dataset_info.json: split 'train' has fingerprint {'9' * 16}, committed {lock.splits['train'].fingerprint[:16]}",
    ]
    with caplog.at_level(logging.WARNING, logger="labdatasets.prepared.folder"):
        assert folder.reusable(b, info, record) is False
        assert folder.reuse(b, record) is None
    assert [r.getMessage() for r in caplog.records] == [
        f"{FULL} in {b.prepared_dir} is not what its committed records say ({'; '.join(problems[:5])}); it is not used: "
        "fetching or building it again"
    ] * 2


def test_without_an_output_record_only_the_folder_s_own_consistency_is_checked(world):
    from labdatasets.pinning.outputs import lock_path

    b, _, record, _ = state(world)
    os.chmod(lock_path(b), 0o644)
    lock_path(b).unlink()
    edit_info(b, lambda data: data["splits"]["train"].update(fingerprint="9" * 64))
    info = folder.read_info(b.prepared_dir)
    assert folder.committed_problems(b, info, record) == []
    assert folder.reusable(b, info, record) is True
    edit_info(b, lambda data: data["splits"]["train"].update(num_rows=7))
    info = folder.read_info(b.prepared_dir)
    assert folder.committed_problems(b, info, record) == ["dataset_info.json: split 'train' records 7 rows, its shards 50"]
    assert folder.reusable(b, info, record) is False


def test_committed_records_that_disagree_stop_the_reuse(world):
    """The pin record was edited after its output record was written: neither can be trusted, nothing is reused."""
    from labdatasets.pinning.outputs import OutputRecordError

    b, info, _, _ = state(world)
    path = b.pin_record_path()
    os.chmod(path, 0o644)
    data = json.loads(path.read_text())
    data["pinned_at"] = "2000-01-01T00:00:00Z"
    path.write_text(json.dumps(data, indent=2))
    record = world.builder().require_pin_record()
    for check in (folder.committed_problems, folder.reusable):
        with pytest.raises(OutputRecordError, match="is not the one .* was written for"):
            check(b, info, record)
    with pytest.raises(OutputRecordError):
        folder.reuse(world.builder(), record)


def test_a_committed_record_of_other_processing_is_not_compared_by_the_cheap_check(world):
    b, _, record, _ = state(world)
    edit_info(b, lambda data: data.update(code_fingerprint="c" * 64, description="edited"))
    edit_info(b, lambda data: data["splits"]["train"].update(fingerprint="9" * 64))
    assert folder.committed_problems(b, folder.read_info(b.prepared_dir), record) == []


def test_a_folder_prepared_before_fingerprints_existed_is_reused(world):
    """No snapshot id and no processing fingerprint in its dataset_info.json: nothing to compare, it is used."""
    b, _, record, _ = state(world)
    edit_info(b, lambda data: data.update(snapshot_id=None, code_fingerprint=None))
    info = folder.read_info(b.prepared_dir)
    assert info.snapshot_id is None and info.code_fingerprint is None
    assert folder.reusable(b, info, record) is True
    assert folder.reuse(b, record) == b.prepared_dir
    edit_info(b, lambda data: data.update(code_fingerprint="c" * 64))  # no snapshot id: the processing still decides
    assert folder.reuse(world.builder(), record) is None


def test_an_unreadable_dataset_info_is_not_reused(world, caplog):
    b, _, record, _ = state(world)
    path = b.prepared_dir / "dataset_info.json"
    os.chmod(path, 0o644)
    path.write_text("{not json")
    with pytest.raises(PreparedDataError) as unreadable:
        folder.read_info(b.prepared_dir)
    with caplog.at_level(logging.WARNING, logger="labdatasets.prepared.folder"):
        assert folder.reuse(b, record) is None
    assert [r.getMessage() for r in caplog.records] == [f"{unreadable.value}; fetching or building {FULL} again"]


def test_a_version_not_prepared_is_not_reused(world):
    b, _, record, _ = state(world)
    shutil.rmtree(b.prepared_dir)
    assert folder.read_info(b.prepared_dir) is None and not folder.is_prepared(b.prepared_dir)
    assert folder.reuse(b, record) is None
    with pytest.raises(PreparedDataError) as err:
        folder.built_info(b)
    assert str(err.value) == (
        f"{FULL} was built, but {b.prepared_dir} has no dataset_info.json now (did another process remove it?). "
        f"Run the command again; 'labdatasets build {FULL}' rebuilds it."
    )


# ----------------------------------------------------------------------------- where, when, the lock
def test_where_a_version_lives_and_its_lock(world, tmp_path, monkeypatch):
    assert folder.version_dir(tmp_path, "toy", None, "1.0.0") == tmp_path / "toy" / "1.0.0"
    assert folder.version_dir(tmp_path, "toy", "small", "1.0.0") == tmp_path / "toy" / "small" / "1.0.0"
    b = world.builder()
    assert folder.version_dir(b.data_dir, NAME, None, "1.0.0") == b.prepared_dir
    assert folder.built_info(b) == folder.read_info(b.prepared_dir)
    lock = b.data_dir / ".locks" / f"{NAME}--1.0.0.lock"
    assert folder.lock_path(b) == lock

    monkeypatch.setenv("LABDATASETS_LOCK_TIMEOUT", "0.05")
    with folder.locked(b, "building"):
        assert lock.is_file()
        failed: list[BaseException] = []

        def second():
            try:
                with folder.locked(world.builder(), "building"):
                    pass
            except LabDatasetsError as exc:
                failed.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    (exc,) = failed
    assert f"waiting for another process building {FULL} (lock {lock})" in str(exc)
    with folder.locked(world.builder(), "building"):  # released
        pass


def test_a_read_marks_the_folder_used(world, tmp_path):
    b = world.builder()
    old = time.time() - 10 * 86400
    os.utime(b.prepared_dir, (old, old))
    assert folder.last_used(b.prepared_dir) == pytest.approx(old)
    folder.mark_used(b.prepared_dir)
    assert folder.last_used(b.prepared_dir) == pytest.approx(time.time(), abs=60)
    assert folder.last_used(b.prepared_dir) == b.prepared_dir.stat().st_mtime
    folder.mark_used(tmp_path / "gone")  # a folder removed meanwhile (or a read-only data dir): no error
