import os
import stat
import threading

import pytest

from labdatasets.errors import SnapshotCorruptedError, SnapshotNotFoundError
from labdatasets.stores.hashing import sha256_bytes
from labdatasets.stores import LocalStore, Snapshots, object_key, open_store


@pytest.fixture
def store(tmp_path):
    return LocalStore(f"file://{tmp_path / 'store'}")


def test_objects_are_content_addressed_and_read_only(store, tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(b"hello snapshots")
    info = store.add_file(src)
    assert info.oid == sha256_bytes(b"hello snapshots") and info.size == 15 and info.written
    path = store.path(info.oid)
    assert path.relative_to(store.root).as_posix() == object_key(info.oid) == f"objects/{info.oid[:2]}/{info.oid[2:]}"
    assert path.read_bytes() == b"hello snapshots"
    assert stat.S_IMODE(path.stat().st_mode) & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0
    assert list(store.iter_oids()) == [info.oid]
    assert not list((store.root / "tmp").iterdir())  # nothing left behind


def test_adding_existing_bytes_changes_nothing(store, tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(b"same bytes")
    first = store.add_file(src)
    before = store.path(first.oid).stat()
    second = store.add_file(src)
    after = store.path(first.oid).stat()
    assert second.oid == first.oid and not second.written
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_a_write_never_replaces_an_existing_object(store, tmp_path):
    """Even a buggy caller linking other bytes under an oid cannot overwrite it."""
    src = tmp_path / "a.bin"
    src.write_bytes(b"original")
    info = store.add_file(src)
    impostor = store.staging_dir() / "impostor"
    impostor.write_bytes(b"different")
    assert store._link_into_place(impostor, info.oid) is False
    assert store.path(info.oid).read_bytes() == b"original"


def test_concurrent_writers_of_one_object(store, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 << 20))
    results = []
    threads = [threading.Thread(target=lambda: results.append(store.add_file(src))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.oid for r in results}) == 1
    assert sum(r.written for r in results) == 1
    store.verify(results[0].oid)


def test_corruption_is_detected_and_named(store, tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(b"precious")
    oid = store.add_file(src).oid
    path = store.path(oid)
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(SnapshotCorruptedError) as info:
        store.open_verified(oid, context="toy:1.0.0 source 'rows'")
    message = str(info.value)
    assert oid in message and sha256_bytes(b"tampered") in message
    assert "toy:1.0.0 source 'rows'" in message and "labdatasets verify --repair toy:1.0.0" in message
    store.quarantine(oid)
    assert not store.has(oid) and len(list((store.root / "quarantine").iterdir())) == 1


def test_missing_object(store):
    with pytest.raises(SnapshotNotFoundError, match="is not in the snapshot store"):
        store.open_verified("ab" * 32)


def test_fetch_verifies_before_placing(store, tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(b"fetch me")
    oid = store.add_file(src).oid
    dest = tmp_path / "out" / "copy"
    assert store.fetch(oid, dest).read_bytes() == b"fetch me"
    os.chmod(store.path(oid), 0o644)
    store.path(oid).write_bytes(b"rotten")
    with pytest.raises(SnapshotCorruptedError):
        store.fetch(oid, tmp_path / "out" / "bad")
    assert not (tmp_path / "out" / "bad").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["copy"]


def test_two_level_view_fetches_from_the_configured_store(tmp_path):
    primary_uri, cache_uri = f"file://{tmp_path / 'shared'}", f"file://{tmp_path / 'cache'}"
    src = tmp_path / "x.csv"
    src.write_bytes(b"id\n1\n")
    snaps = Snapshots(primary_uri, cache_uri)
    oid = snaps.add_file(src).oid
    assert open_store(primary_uri).has(oid)
    fresh_cache = Snapshots(primary_uri, f"file://{tmp_path / 'other-machine'}")
    assert not fresh_cache.has_locally(oid) and fresh_cache.has(oid) and fresh_cache.primary_has(oid)
    assert fresh_cache.local_path(oid).read_bytes() == b"id\n1\n"
    assert fresh_cache.has_locally(oid)


def test_mirror_is_used_only_when_it_hashes_to_the_oid(tmp_path):
    snaps = Snapshots(f"file://{tmp_path / 'store'}")
    good = tmp_path / "good.csv"
    good.write_bytes(b"pinned bytes")
    oid = sha256_bytes(b"pinned bytes")
    assert snaps.local_path(oid, mirror=lambda _: good).read_bytes() == b"pinned bytes"
    changed = tmp_path / "changed.csv"
    changed.write_bytes(b"edited after the pin")
    other = sha256_bytes(b"never stored")
    with pytest.raises(SnapshotNotFoundError, match="no longer holds the pinned bytes"):
        snaps.local_path(other, mirror=lambda _: changed)


def test_refs_are_written_once_and_named_safely(tmp_path):
    from labdatasets.stores import open_store

    store = open_store(f"file://{tmp_path / 'cache'}")
    assert store.get_ref("prepared/toy/1.0.0.json") is None
    assert store.put_ref("prepared/toy/1.0.0.json", b"first") is True
    assert store.put_ref("prepared/toy/1.0.0.json", b"second") is False
    assert store.get_ref("prepared/toy/1.0.0.json") == b"first"
    for bad in ("../escape", "/abs", "a//b", "a/./b", "sp ace"):
        with pytest.raises(ValueError, match="not a valid ref name"):
            store.put_ref(bad, b"x")


def test_leftover_files_in_the_object_folders_are_not_objects(store, tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(b"one object")
    info = store.add_file(src)
    objects = store.root / "objects"
    (objects / "README").write_text("a file beside the prefix folders")
    (objects / "abc").mkdir()  # not a two-character prefix
    (objects / "abc" / ("0" * 61)).write_text("x")
    (objects / ("00" if info.oid[:2] != "00" else "01")).write_text("a two-character file, not a folder")
    (objects / "zz").mkdir()
    (objects / "zz" / ("0" * 62)).write_text("not hex")
    prefix = objects / info.oid[:2]
    (prefix / ".DS_Store").write_text("x")
    (prefix / (info.oid[2:] + ".orig")).write_text("an editor's backup")
    (store.root / "tmp" / "add.killed").write_text("a writer killed half way")
    assert list(store.iter_oids()) == [info.oid]
    assert store.has(info.oid) and not store.has("ab" + "0" * 62)


def test_small_objects_streams_and_uploads_are_stored_once_and_named_by_their_bytes(store, tmp_path):
    import hashlib
    import io

    data = b"small object \x00\xff" * 3
    oid = hashlib.sha256(data).hexdigest()
    first, again = store.add_small(data), store.add_small(data)
    assert (first.oid, first.size, first.written) == (oid, len(data), True)
    assert (again.oid, again.size, again.written) == (oid, len(data), False)
    streamed = store.add_stream(io.BytesIO(data * 1000))
    assert (streamed.oid, streamed.size, streamed.written) == (hashlib.sha256(data * 1000).hexdigest(), len(data) * 1000, True)
    assert store.add_stream(io.BytesIO(data * 1000)).written is False
    src = tmp_path / "big.bin"
    src.write_bytes(data * 7)
    other = LocalStore(f"file://{tmp_path / 'other'}")
    put = other.put_known(src, sha256_bytes(data * 7))
    assert (put.oid, put.size, put.written) == (sha256_bytes(data * 7), len(data) * 7, True)
    assert other.put_known(src, sha256_bytes(data * 7)).written is False
    assert store.get_bytes(oid) == data and other.get_bytes(put.oid) == data * 7
    assert not list(store.staging_dir().iterdir()) and not list(other.staging_dir().iterdir())  # no temporary file left


def test_missing_and_corrupted_objects_are_named_with_their_context(store, tmp_path):
    info = store.add_small(b"some bytes to damage")
    missing = "ab" * 32
    with pytest.raises(SnapshotNotFoundError) as err:
        store.get_bytes(missing, context="toy:1.0.0 source 'rows'")
    assert str(err.value).startswith(f"Object {missing[:12]} (toy:1.0.0 source 'rows') is not in the snapshot store ")
    path = store.path(info.oid)
    os.chmod(path, 0o644)
    path.write_bytes(b"SOME bytes to damage")
    with pytest.raises(SnapshotCorruptedError) as err:
        store.get_bytes(info.oid, context="toy:1.0.0 source 'rows'")
    assert str(path) in str(err.value) and "toy:1.0.0" in str(err.value) and info.oid[:12] in str(err.value)
    store.quarantine(info.oid)
    assert not store.has(info.oid)
    assert [p.name.split(".")[0] for p in (store.root / "quarantine").iterdir()] == [info.oid]
    store.quarantine(info.oid)  # nothing left to move: no error


def test_refs_are_written_once(store):
    assert store.get_ref("prepared/toy/1.0.0.json") is None
    assert store.put_ref("prepared/toy/1.0.0.json", b'{"a": 1}') is True
    assert store.put_ref("prepared/toy/1.0.0.json", b'{"a": 2}') is False
    assert store.get_ref("prepared/toy/1.0.0.json") == b'{"a": 1}'
    assert not list(store.staging_dir().iterdir())


# ------------------------------------------------------------------ partial writes, other filesystems, errors


def test_a_plain_folder_path_is_a_store_too(tmp_path):
    store = LocalStore(str(tmp_path / "plain"))
    assert store.root == tmp_path / "plain"
    assert store.has(store.add_small(b"x").oid) and (tmp_path / "plain" / "objects").is_dir()


def test_every_write_reports_its_bytes_and_stages_in_the_stores_own_tmp(store, tmp_path, monkeypatch):
    """A partial write lives in ``<root>/tmp`` (same disk: the final link is atomic), is never listed, and is gone after.

    The system temp folder is never used: here it does not even exist (a TMPDIR on a full or removed disk).
    """
    import io
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-system-tmp"))
    data = os.urandom(300_000)
    src = tmp_path / "a.bin"
    src.write_bytes(data)
    seen: list[tuple[int, list[str], list[str]]] = []
    watched = [store]

    def progress(n: int) -> None:  # called while the object is being written
        s = watched[0]
        seen.append((n, sorted(p.parent.name for p in s.root.rglob("*") if p.is_file()), list(s.iter_oids())))

    def written_by(call, into: LocalStore) -> tuple[int, set]:
        seen.clear()
        watched[0] = into
        call()
        return sum(n for n, _, _ in seen), {(tuple(files), tuple(oids)) for _, files, oids in seen}

    total, during = written_by(lambda: store.add_file(src, progress=progress), store)
    assert total == len(data) and during == {(("tmp",), ())}  # one partial file, in tmp/, not an object
    other = LocalStore(f"file://{tmp_path / 'other'}")
    total, during = written_by(lambda: other.add_stream(io.BytesIO(data[::-1]), progress=progress), other)
    assert total == len(data)
    assert all(files == ("tmp",) and oids == () for files, oids in during)
    total, during = written_by(lambda: other.put_known(src, sha256_bytes(data), progress=progress), other)
    assert total == len(data)
    assert all(files.count("tmp") == 1 and oids == (sha256_bytes(data[::-1]),) for files, oids in during)
    dest = tmp_path / "out" / "copy"
    total, _ = written_by(lambda: store.fetch(sha256_bytes(data), dest, progress=progress), store)
    assert total == len(data) and dest.read_bytes() == data
    small = store.add_small(b"small")
    assert store.put_ref("prepared/toy/1.0.0.json", b"{}") is True
    assert store.get_bytes(small.oid) == b"small"
    store.verify(small.oid)
    assert not list((store.root / "tmp").iterdir()) and not list((other.root / "tmp").iterdir())
    assert not (tmp_path / "no-system-tmp").exists()


def test_on_a_filesystem_without_hard_links_objects_are_renamed_into_place(store, tmp_path, monkeypatch):
    """Some network mounts refuse ``os.link``; a write then renames, still never replacing an object."""
    import errno
    import io

    real_link = os.link

    def no_links(src, dst, *args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted", str(dst))

    monkeypatch.setattr(os, "link", no_links)
    src = tmp_path / "a.bin"
    src.write_bytes(b"on a mount without links")
    info = store.add_file(src)
    assert info.written and store.path(info.oid).read_bytes() == b"on a mount without links"
    assert store.add_file(src).written is False
    assert store.add_stream(io.BytesIO(b"streamed")).written is True
    assert store.add_small(b"small").written is True
    other = LocalStore(f"file://{tmp_path / 'other'}")
    assert other.put_known(src, info.oid).written is True
    staged = store.staging_dir() / "table.parquet"
    staged.write_bytes(b"adopted")
    assert store.put_verified_file(staged, sha256_bytes(b"adopted")) is True and not staged.exists()
    impostor = store.staging_dir() / "impostor"
    impostor.write_bytes(b"different")
    assert store._link_into_place(impostor, info.oid) is False  # the existing object is kept
    assert store.get_bytes(info.oid) == b"on a mount without links"
    impostor.unlink()
    assert not list((store.root / "tmp").iterdir()) and not list((other.root / "tmp").iterdir())
    assert sorted(store.iter_oids()) == sorted(sha256_bytes(b) for b in (b"on a mount without links", b"streamed", b"small", b"adopted"))

    def broken_disk(src, dst, *args, **kwargs):  # any other failure is not "no hard links": it is raised
        raise OSError(errno.EIO, "Input/output error", str(dst))

    monkeypatch.setattr(os, "link", broken_disk)
    with pytest.raises(OSError, match="Input/output error"):
        store.add_small(b"never stored")
    assert not store.has(sha256_bytes(b"never stored")) and not list((store.root / "tmp").iterdir())
    monkeypatch.setattr(os, "link", real_link)


def test_a_full_or_read_only_store_disk_is_named_in_the_error(store, tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    from labdatasets.errors import LocalWriteError

    src = tmp_path / "a.bin"
    src.write_bytes(b"no room for me")

    def full(src_path, dst, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    with monkeypatch.context() as mp:
        mp.setattr(os, "link", full)
        with pytest.raises(LocalWriteError) as info:
            store.add_file(src)
    message = str(info.value)
    assert message.startswith(f"No space left on the disk holding {store.root} while writing a snapshot object into the local store {store.root}.")
    assert not list(store.iter_oids()) and not list((store.root / "tmp").iterdir())  # nothing half-written kept

    fresh = LocalStore(f"file://{tmp_path / 'read-only'}")
    real_mkdir = Path.mkdir

    def read_only(path, *args, **kwargs):
        if path == fresh.root / "tmp":
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_mkdir(path, *args, **kwargs)

    with monkeypatch.context() as mp:
        mp.setattr(Path, "mkdir", read_only)
        with pytest.raises(LocalWriteError) as info:
            fresh.add_small(b"x")
    assert str(info.value).startswith(f"Cannot write {fresh.root} while preparing the local snapshot store: Read-only file system.")


def test_an_unreadable_source_is_not_blamed_on_the_store(store, tmp_path, monkeypatch):
    """A source this user may not read raises as such, not as "make the store's folder writable"."""
    import errno

    import labdatasets.stores.local as local

    src = tmp_path / "secret.csv"
    src.write_bytes(b"a,b\n")

    def unreadable(path, fd, progress=None):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(local, "copy_file_and_hash", unreadable)
    with pytest.raises(PermissionError) as info:
        store.add_file(src)
    assert info.value.filename == str(src) and "LABDATASETS_HOME" not in str(info.value)
    assert not list((store.root / "tmp").iterdir())


def test_errors_without_a_context_name_no_dataset(store):
    missing = "cd" * 32
    for read in (store.open_verified, store.verify, store.get_bytes):
        with pytest.raises(SnapshotNotFoundError) as err:
            read(missing)
        assert str(err.value).startswith(f"Object {missing[:12]} is not in the snapshot store {store.uri}.")
    info = store.add_small(b"to be damaged")
    os.chmod(store.path(info.oid), 0o644)
    store.path(info.oid).write_bytes(b"damaged")
    for read in (store.open_verified, store.verify, store.get_bytes):
        with pytest.raises(SnapshotCorruptedError) as err:
            read(info.oid)
        assert str(err.value).startswith(f"Snapshot object {info.oid[:12]} is corrupted: expected sha256 {info.oid}")
        assert "labdatasets verify --repair NAME:VERSION" in str(err.value)


def test_a_missing_object_cannot_be_fetched(store, tmp_path):
    missing = "ef" * 32
    with pytest.raises(SnapshotNotFoundError) as err:
        store.fetch(missing, tmp_path / "out" / "x")
    assert str(err.value).startswith(f"Object {missing[:12]} is not in the snapshot store {store.uri}.")
    assert not list((tmp_path / "out").iterdir())


def test_refs_are_read_only_and_quarantine_keeps_every_damaged_copy(store, tmp_path):
    store.put_ref("prepared/toy/1.0.0.json", b"{}")
    ref = store.root / "refs" / "prepared" / "toy" / "1.0.0.json"
    assert stat.S_IMODE(ref.stat().st_mode) & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0
    oids = [store.add_small(data).oid for data in (b"first damaged", b"second damaged")]
    for oid in oids:
        store.quarantine(oid)  # verify --repair of two damaged objects
    assert sorted(p.name.split(".")[0] for p in (store.root / "quarantine").iterdir()) == sorted(oids)
    assert not any(store.has(oid) for oid in oids) and list(store.iter_oids()) == []


def test_refs_are_written_once_on_a_filesystem_without_hard_links(store, monkeypatch):
    """The shared prepared cache publishes refs on the same mounts as objects: no ``os.link`` there either."""
    import errno

    def no_links(src, dst, *args, **kwargs):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported", str(dst))

    monkeypatch.setattr(os, "link", no_links)
    assert store.put_ref("prepared/toy/1.0.0.json", b'{"a": 1}') is True
    assert store.put_ref("prepared/toy/1.0.0.json", b'{"a": 2}') is False
    assert store.get_ref("prepared/toy/1.0.0.json") == b'{"a": 1}'
    assert not list(store.staging_dir().iterdir())
