"""A full local disk: pinning (local and MySQL sources), the pin-record write, a store fetch into
the local cache, and a download from the shared cache.

Each is a small tmpfs mounted for the test (``mount -t tmpfs -o size=...``; needs root, else
the tests skip saying so). Every case must end in a :class:`LocalWriteError` that names the
disk and what to set, never blames the source or the store, and leaves no temporary file,
no half pin record and no half prepared folder; a rerun with space succeeds.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

import labdatasets
from labdatasets.errors import LabDatasetsError, LocalWriteError, SnapshotError, SourceError
from tests.helpers import sample_rows


@pytest.fixture
def tiny_disk(tmpfs):
    """Factory: ``tiny_disk(kib)`` mounts a tmpfs of that size and returns its path (unmounted afterwards)."""
    return lambda kib: tmpfs(f"size={kib}k")


def fill(disk: Path) -> None:
    """Fill ``disk`` to the last byte."""
    with open(disk / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    try:
        os.truncate(disk / "filler", os.path.getsize(disk / "filler"))
    except OSError:
        pass


def leftovers(root: Path) -> list[str]:
    """Temporary files and folders a failed write may leave."""
    found = []
    for path in root.rglob("*"):
        name = path.name
        if path.name == "filler":
            continue
        if name.startswith((".incomplete", "add.", "put.", "fetch.", "table.")) or name.endswith(".incomplete") or (
            name.startswith(".") and ".json." in name
        ):
            found.append(str(path.relative_to(root)))
    return found


def big_rows(n: int) -> list[dict]:
    return [{**r, "text": uuid.uuid4().hex * 8} for r in sample_rows(n)]


def _clear(exc: LabDatasetsError, *words: str) -> bool:
    text = str(exc)
    return isinstance(exc, LocalWriteError) and "No space left" in text and all(w in text for w in words)


def test_pinning_a_local_source_onto_a_full_disk(tiny_disk, make_builder, monkeypatch, tmp_path, fault_outcome):
    disk = tiny_disk(256)
    monkeypatch.setenv("LABDATASETS_HOME", str(disk / "home"))
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    make_builder.tabular("full_local", rows=big_rows(3000))  # about 900 kB of CSV
    with pytest.raises(LabDatasetsError) as info:
        labdatasets.builder("full_local:1.0.0").pin(progress=False)
    clear = _clear(info.value, "LABDATASETS_HOME") and not isinstance(info.value, (SourceError, SnapshotError))
    left = leftovers(disk)
    assert not (tmp_path / "pins" / "full_local").exists()
    # With space (another home), the same pin succeeds.
    monkeypatch.setenv("LABDATASETS_HOME", str(tmp_path / "roomy"))
    record = labdatasets.builder("full_local:1.0.0").pin(progress=False)
    assert record.sources["rows"].num_rows == 3000
    fault_outcome("disk full while pinning a local source", tries=1, survived=int(clear and not left),
                  unclear=int(not clear), data_lost=0)
    assert not left, left


def test_pinning_mysql_onto_a_full_disk_does_not_blame_the_database(
    tiny_disk, mysql_database, make_builder, monkeypatch, tmp_path, fault_outcome
):
    import sqlalchemy

    engine = sqlalchemy.create_engine(mysql_database)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE notes (id BIGINT PRIMARY KEY, body VARCHAR(300))")
        conn.exec_driver_sql(
            "INSERT INTO notes SELECT seq, REPEAT(MD5(seq), 8) FROM seq_1_to_20000"
        )
    engine.dispose()
    disk = tiny_disk(192)
    monkeypatch.setenv("LABDATASETS_HOME", str(disk / "home"))
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    monkeypatch.setenv("LABDATASETS_CONNECTION_NOTES", mysql_database)
    name = make_builder.sources_only(
        "full_mysql", '{"notes": loaders.SQLSource(table="notes", connection="notes")}', doc="Notes."
    ).name
    tries = survived = unclear = 0
    for fast in (True, False):  # connectorx, then the streaming reader
        if not fast:
            monkeypatch.setenv("LABDATASETS_HOME", str(disk / "home2"))
        tries += 1
        builder = labdatasets.builder(name)
        if not fast:
            for source in builder.sources().values():
                source.fast = False
        try:
            builder.pin(progress=False)
        except LabDatasetsError as exc:
            ok = _clear(exc, "LABDATASETS_HOME") and not isinstance(exc, SourceError) and "notes" in str(exc)
            survived += ok and not leftovers(disk)
            unclear += not ok
        else:
            pytest.fail("the pin fitted on a 192 KiB disk; the test needs more rows")
    fault_outcome("disk full while pinning a MySQL table (both readers)", tries=tries, survived=survived, unclear=unclear)


def test_a_pin_record_that_cannot_be_written(tiny_disk, make_builder, monkeypatch, tmp_path, fault_outcome):
    disk = tiny_disk(64)
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(disk / "pins"))
    (disk / "pins").mkdir()
    fill(disk)
    make_builder.tabular("full_record")
    with pytest.raises(LabDatasetsError) as info:
        labdatasets.builder("full_record:1.0.0").pin(progress=False)
    clear = _clear(info.value, "pin record of full_record:1.0.0", "pin again")
    left = leftovers(disk)
    assert not (disk / "pins" / "full_record" / "1.0.0.json").exists()
    (disk / "filler").unlink()
    assert labdatasets.builder("full_record:1.0.0").pin(progress=False).path.is_file()  # a rerun with space works
    fault_outcome("disk full while writing the pin record", tries=1, survived=int(clear and not left), unclear=int(not clear))
    assert clear and not left, (str(info.value), left)


def test_fetching_into_a_full_cache_and_downloading_from_the_shared_cache(
    tiny_disk, s3_bucket, make_builder, monkeypatch, tmp_path, lab_home, fault_outcome
):
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"s3://{s3_bucket}/store")
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"s3://{s3_bucket}/prepared")
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    make_builder.tabular("full_fetch", rows=big_rows(3000))
    from labdatasets.prepared.shared_cache import publish

    publish(labdatasets.builder("full_fetch:1.0.0"), progress=False)
    tries = survived = unclear = 0
    # 1. A machine whose local store (the cache in front of the s3:// store) is full: the build fetches the pins.
    disk = tiny_disk(96)
    monkeypatch.setenv("LABDATASETS_HOME", str(disk / "home"))
    monkeypatch.delenv("LABDATASETS_SHARED_CACHE")
    tries += 1
    with pytest.raises(LabDatasetsError) as info:
        labdatasets.builder("full_fetch:1.0.0").build(progress=False)
    ok = _clear(info.value) and "full_fetch:1.0.0" in str(info.value) and not isinstance(info.value, SnapshotError)
    survived += ok and not leftovers(disk)
    unclear += not ok
    # 2. A machine whose prepared-data folder is full: the download from the shared cache fails clearly, no build.
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"s3://{s3_bucket}/prepared")
    monkeypatch.setenv("LABDATASETS_HOME", str(tmp_path / "machine-c"))
    data_disk = tiny_disk(96)
    monkeypatch.setenv("LABDATASETS_DATA_DIR", str(data_disk))
    tries += 1
    with pytest.raises(LabDatasetsError) as info:
        labdatasets.load("full_fetch:1.0.0", split="train", progress=False)
    ok = _clear(info.value, "LABDATASETS_DATA_DIR") and "full_fetch:1.0.0" in str(info.value)
    survived += ok and not leftovers(data_disk)
    unclear += not ok
    assert not list(data_disk.glob("full_fetch/*/dataset_info.json"))
    # With space, the download works.
    monkeypatch.setenv("LABDATASETS_DATA_DIR", str(tmp_path / "roomy-data"))
    assert len(labdatasets.load("full_fetch:1.0.0", split="train+test", format="pandas", progress=False)) == 3000
    fault_outcome("disk full: store fetch into the local cache, shared-cache download", tries=tries, survived=survived,
                  unclear=unclear)
