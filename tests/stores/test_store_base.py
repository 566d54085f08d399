"""The behaviour every store shares (labdatasets/stores/base.py), checked fast.

``LocalStore`` overrides the add/read paths with its own one-pass versions, so the
shared ones (``add_file``, ``put_known``, ``add_bytes``, ``fetch`` with its re-downloads,
``get_bytes``, ``verify``) are exercised here through :class:`FolderRemote`: a store
backend written against the documented contract (the five primitives), keeping its
objects in a folder and able to damage or cut the bytes on their way, as a network would.
"""

from __future__ import annotations

import errno
import logging
import shutil
from pathlib import Path

import pytest

from labdatasets.errors import (
    ConfigError,
    LocalWriteError,
    SnapshotCorruptedError,
    SnapshotError,
    SnapshotNotFoundError,
)
from labdatasets.stores import LocalStore, object_key
from labdatasets.stores.base import FETCH_TRIES, ObjectInfo, SnapshotStore, ref_key
from labdatasets.stores.hashing import sha256_bytes
from labdatasets.stores.retry import TransferInterrupted

OID = sha256_bytes(b"payload")


class FolderRemote(SnapshotStore):
    """A remote-style backend over a folder; ``transit`` may rewrite each download's bytes (one call per download)."""

    scheme = "folder"
    remote = True

    def __init__(self, uri: str, *, remote: bool = True, report_hash: bool = False):
        super().__init__(uri)
        self.root = Path(uri.split("://", 1)[1])
        self.remote = remote  # type: ignore[misc]
        self.report_hash = report_hash
        self.transit = lambda n, data: data
        self.downloads = 0
        self.uploads: list[tuple[str, int]] = []
        self.quarantined: list[str] = []
        self.fail_with: BaseException | None = None
        self.written_to: list[Path] = []

    def _path(self, oid: str) -> Path:
        return self.root / object_key(oid)

    def has(self, oid: str) -> bool:
        return self._path(oid).is_file()

    def _upload(self, path, oid, size, progress):
        self.uploads.append((oid, size))
        target = self._path(oid)
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        if progress:
            progress(size)
        return True

    def _download(self, oid, dest, progress):
        if self.fail_with is not None:
            self.written_to.append(dest)
            raise self.fail_with
        if not self.has(oid):
            raise self.not_found(oid)
        self.downloads += 1
        self.written_to.append(dest)
        data = self.transit(self.downloads, self._path(oid).read_bytes())
        dest.write_bytes(data)
        if progress:
            progress(len(data))
        return sha256_bytes(data) if self.report_hash else None

    def iter_oids(self):
        return iter(())

    def _quarantine(self, oid):
        self.quarantined.append(oid)
        self._path(oid).unlink()


@pytest.fixture
def remote(tmp_path):
    return FolderRemote(f"folder://{tmp_path / 'remote'}/")


def _file(tmp_path: Path, data: bytes, name: str = "src.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _flip_last(data: bytes) -> bytes:
    """The same length, one byte different: what a size check would miss."""
    return data[:-1] + bytes([data[-1] ^ 0xFF])


# ------------------------------------------------------------------ keys and names
def test_object_keys_are_the_two_level_layout_and_only_oids_are_accepted():
    assert object_key(OID) == f"objects/{OID[:2]}/{OID[2:]}"
    for bad in (OID.upper(), OID[:-1], OID + "0", "g" * 64, "", f"../{OID[3:]}"):
        with pytest.raises(ConfigError) as info:
            object_key(bad)
        assert str(info.value) == (
            f"{bad!r} is not a snapshot object id (the sha256 of its bytes, 64 lowercase hex digits). Object ids come "
            "from pin records: if this one did, that pin record is damaged; restore it from version control."
        )


@pytest.mark.parametrize("name", ["a", "prepared/product_a/1.2.0.json", "A-b_c.d/e", "x/.hidden", "x/..y"])
def test_valid_ref_names(name):
    assert ref_key(name) == f"refs/{name}"


@pytest.mark.parametrize("name", ["", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b", "../a", "a b", "a\\b", "a/b\n"])
def test_ref_names_that_could_escape_or_are_malformed_are_refused(name):
    with pytest.raises(ConfigError) as info:
        ref_key(name)
    assert str(info.value) == (
        f"{name!r} is not a valid ref name in a snapshot store: use '/'-separated parts of letters, digits, '_', '.' "
        "and '-' (no empty, '.' or '..' parts), as in 'prepared/product_a/1.2.0.json'."
    )


def test_a_store_without_refs_says_so_and_checks_the_name_first(remote):
    for call in (lambda: remote.put_ref("prepared/x.json", b"{}"), lambda: remote.get_ref("prepared/x.json")):
        with pytest.raises(ConfigError) as info:
            call()
        assert str(info.value) == (
            f"The folder:// store {remote.uri} cannot hold refs yet, which the shared prepared cache needs; use a "
            "store that implements _put_ref/_get_ref."
        )
    with pytest.raises(ConfigError, match="not a valid ref name"):
        remote.put_ref("../escape", b"{}")
    with pytest.raises(ConfigError, match="not a valid ref name"):
        remote.get_ref("../escape")


def test_local_refs_check_names_before_touching_the_disk(tmp_path):
    store = LocalStore(f"file://{tmp_path / 'store'}")
    assert store.put_ref("a/b.json", b"1") is True and store.get_ref("a/b.json") == b"1"
    with pytest.raises(ConfigError):
        store.put_ref("a/../../outside.json", b"x")
    assert not (tmp_path / "outside.json").exists()


def test_uri_and_repr(tmp_path):
    store = FolderRemote("folder:///data/store///")
    assert store.uri == "folder:///data/store"
    assert FolderRemote("folder:///data/storeX/").uri == "folder:///data/storeX"  # only slashes are stripped
    assert repr(store) == "FolderRemote('folder:///data/store')"
    secret = FolderRemote("folder://reader:hunter2-secret@host/store")
    assert "hunter2-secret" not in repr(secret) and repr(secret).startswith("FolderRemote('folder://reader:")


def test_object_info_is_written_unless_said_otherwise():
    assert ObjectInfo("x", 1).written is True
    assert ObjectInfo("x", 1, written=False).written is False


# ------------------------------------------------------------------ adding
def test_add_file_names_the_bytes_and_uploads_only_new_objects(remote, tmp_path):
    info = remote.add_file(_file(tmp_path, b"payload"))
    assert info == ObjectInfo(OID, 7, written=True)
    assert remote.uploads == [(OID, 7)] and remote._path(OID).read_bytes() == b"payload"
    again = remote.add_file(str(_file(tmp_path, b"payload", "copy.bin")))
    assert again == ObjectInfo(OID, 7, written=False)
    assert remote.uploads == [(OID, 7)]  # not sent twice


def test_add_file_reports_what_the_backend_did(remote, tmp_path):
    """A concurrent writer may store the object between has() and the upload: written=False then."""
    remote.has = lambda oid: False  # type: ignore[method-assign]
    assert remote.add_file(_file(tmp_path, b"payload")).written is True
    assert remote.add_file(_file(tmp_path, b"payload")) == ObjectInfo(OID, 7, written=False)
    assert remote.put_known(_file(tmp_path, b"payload"), OID) == ObjectInfo(OID, 7, written=False)


def test_uploads_report_their_progress(remote, tmp_path):
    seen: list[int] = []
    remote.add_file(_file(tmp_path, b"payload"), progress=seen.append)
    remote.put_known(_file(tmp_path, b"other!"), sha256_bytes(b"other!"), progress=seen.append)
    assert seen == [7, 6]


def test_put_known_trusts_the_callers_hash_and_uploads_only_new_objects(remote, tmp_path):
    src = _file(tmp_path, b"payload")
    assert remote.put_known(str(src), OID) == ObjectInfo(OID, 7, written=True)
    assert remote.put_known(src, OID) == ObjectInfo(OID, 7, written=False)
    assert remote.uploads == [(OID, 7)]


def test_add_bytes_stores_them_and_leaves_no_temporary_file(remote, tmp_path, monkeypatch):
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    info = remote.add_bytes(b"payload")
    assert info == ObjectInfo(OID, 7, written=True) and remote._path(OID).read_bytes() == b"payload"
    assert remote.add_bytes(b"payload").written is False
    assert list(scratch.iterdir()) == []


# ------------------------------------------------------------------ fetching
def test_fetch_places_exactly_the_pinned_bytes_and_nothing_else(remote, tmp_path):
    remote.add_bytes(b"payload")
    seen: list[int] = []
    dest = remote.fetch(OID, str(tmp_path / "deep" / "er" / "copy"), progress=seen.append)
    assert dest == tmp_path / "deep" / "er" / "copy" and dest.read_bytes() == b"payload"
    assert seen == [7] and remote.downloads == 1
    assert sorted(p.name for p in dest.parent.iterdir()) == ["copy"]  # no .incomplete left
    # the bytes were written next to dest under a name no reader takes for the object, then renamed
    (partial,) = remote.written_to
    assert partial.parent == dest.parent and partial.name.startswith(f".{OID[:12]}.") and partial.name.endswith(".incomplete")


def test_fetch_replaces_a_stale_file_at_dest(remote, tmp_path):
    remote.add_bytes(b"payload")
    (tmp_path / "copy").write_bytes(b"old")
    assert remote.fetch(OID, tmp_path / "copy").read_bytes() == b"payload"


@pytest.mark.parametrize("report_hash", [False, True])
def test_a_same_length_corruption_from_a_local_store_is_caught_once_and_named(tmp_path, report_hash):
    store = FolderRemote(f"folder://{tmp_path / 'remote'}", remote=False, report_hash=report_hash)
    store.add_bytes(b"payload")
    store.transit = lambda n, data: _flip_last(data)
    (tmp_path / "out").mkdir()
    with pytest.raises(SnapshotCorruptedError) as info:
        store.fetch(OID, tmp_path / "out" / "copy", context="toy:1.0.0 source 'rows'")
    bad = sha256_bytes(_flip_last(b"payload"))
    error = info.value
    assert (error.oid, error.actual, error.path) == (OID, bad, f"{store.uri}/{object_key(OID)}")
    assert str(error) == (
        f"Snapshot object {OID[:12]} of toy:1.0.0 source 'rows' is corrupted: expected sha256 {OID}, got {bad} "
        f"({store.uri}/{object_key(OID)}). It was not used. Run 'labdatasets verify --repair toy:1.0.0' to move it "
        "aside and fetch a good copy."
    )
    assert store.downloads == 1  # a local copy is not downloaded again
    assert list((tmp_path / "out").iterdir()) == []


def test_a_corruption_without_context_names_a_placeholder(tmp_path):
    store = FolderRemote(f"folder://{tmp_path / 'remote'}", remote=False)
    store.add_bytes(b"payload")
    store.transit = lambda n, data: b"other"
    with pytest.raises(SnapshotCorruptedError) as info:
        store.fetch(OID, tmp_path / "copy")
    assert f"Snapshot object {OID[:12]} is corrupted" in str(info.value)
    assert "verify --repair NAME:VERSION'" in str(info.value)


@pytest.mark.parametrize("report_hash", [False, True])
def test_damage_in_transit_is_downloaded_again(remote, tmp_path, report_hash, caplog):
    remote.report_hash = report_hash
    remote.add_bytes(b"payload")
    remote.transit = lambda n, data: _flip_last(data) if n < FETCH_TRIES else data
    with caplog.at_level(logging.WARNING, logger="labdatasets.stores.base"):
        dest = remote.fetch(OID, tmp_path / "copy", context="toy:1.0.0")
    assert dest.read_bytes() == b"payload" and remote.downloads == FETCH_TRIES == 3
    bad = sha256_bytes(_flip_last(b"payload"))[:12]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, f"snapshot object {OID[:12]} (toy:1.0.0) arrived damaged from {remote.uri} (sha256 {bad}); "
                          "downloading it again")
    ] * 2


def test_the_same_wrong_bytes_every_time_blame_the_stores_copy(remote, tmp_path):
    remote.add_bytes(b"payload")
    remote.transit = lambda n, data: _flip_last(data)
    with pytest.raises(SnapshotCorruptedError) as info:
        remote.fetch(OID, tmp_path / "copy", context="toy:1.0.0 source 'rows'")
    bad = sha256_bytes(_flip_last(b"payload"))
    where = f"{remote.uri}/{object_key(OID)}"
    assert remote.downloads == 3
    assert (info.value.oid, info.value.actual, info.value.path) == (OID, bad, where)
    assert str(info.value) == (
        f"Snapshot object {OID[:12]} of toy:1.0.0 source 'rows' arrived damaged from {remote.uri}: expected sha256 "
        f"{OID}, got {bad}. 3 downloads gave the same wrong bytes, so the store's copy itself is probably damaged "
        "(this machine's cache was not involved and 'verify' will find nothing here). Nothing was used. Check it: "
        f"download {where} and compare its sha256 with {OID}. If they differ, restore the object from the bucket's "
        "versioning or a backup (or from a machine whose local cache holds a good copy), or pin toy:1.0.0 again "
        "under a new VERSION."
    )
    assert not (tmp_path / "copy").exists() and list(tmp_path.glob("*.incomplete")) == []


def test_differently_damaged_downloads_blame_the_network(remote, tmp_path):
    remote.add_bytes(b"payload")
    remote.transit = lambda n, data: data[:-1] + bytes([n])
    with pytest.raises(SnapshotCorruptedError) as info:
        remote.fetch(OID, tmp_path / "copy")
    assert remote.downloads == 3 and info.value.actual == sha256_bytes(b"payloa" + bytes([3]))
    message = str(info.value)
    assert message.startswith(f"Snapshot object {OID[:12]} arrived damaged from {remote.uri}: expected sha256 {OID}")
    assert message.endswith(
        "Each of 3 downloads was damaged differently, so the bytes are being damaged on the way (a proxy, a network "
        "device or this machine's memory), not in the store. Nothing was used; check the network path to the store "
        "and run the command again."
    )
    assert not (tmp_path / "copy").exists() and list(tmp_path.glob("*.incomplete")) == []


def test_two_same_then_one_different_is_still_the_network(remote, tmp_path):
    remote.add_bytes(b"payload")
    remote.transit = lambda n, data: data[:-1] + bytes([n // 3])
    with pytest.raises(SnapshotCorruptedError, match="Each of 3 downloads was damaged differently"):
        remote.fetch(OID, tmp_path / "copy")


def test_a_missing_object_is_named_and_leaves_nothing(remote, tmp_path):
    with pytest.raises(SnapshotNotFoundError) as info:
        remote.fetch(OID, tmp_path / "copy")
    assert str(info.value) == (
        f"Object {OID[:12]} is not in the snapshot store {remote.uri}. Check that LABDATASETS_SNAPSHOT_STORE points at "
        "the lab's store, or pin the version again under a new VERSION."
    )
    assert list(tmp_path.iterdir()) == []
    assert f"Object {OID[:12]} (toy:1.0.0) is not in" in str(remote.not_found(OID, context="toy:1.0.0"))


def test_a_read_that_kept_dropping_says_how_much_arrived_and_what_to_do(remote, tmp_path):
    remote.add_bytes(b"payload")
    remote.fail_with = TransferInterrupted(1234, 5678901, 6, ConnectionResetError("reset by peer"))
    with pytest.raises(SnapshotError) as info:
        remote.fetch(OID, tmp_path / "copy", context="toy:1.0.0 source 'rows'")
    assert type(info.value) is SnapshotError and info.value.__cause__ is remote.fail_with
    assert str(info.value) == (
        f"Downloading snapshot object {OID[:12]} (toy:1.0.0 source 'rows') from the folder:// store {remote.uri} "
        "failed: 1,234 of 5,678,901 bytes arrived in 6 requests, each dropped or cut short (last error: reset by "
        "peer). Nothing was stored or used. Check the network and the store's endpoint, then run the command again "
        "(LABDATASETS_TRANSFER_RETRIES, now 5, allows more attempts)."
    )
    assert list(tmp_path.iterdir()) == [tmp_path / "remote"]
    quiet = remote.interrupted(OID, TransferInterrupted(0, 10, 2, None))
    assert f"{OID[:12]} from the folder://" in str(quiet) and "2 requests, each dropped or cut short. Nothing" in str(quiet)
    assert "now 1, allows" in str(quiet)


def test_a_full_local_disk_while_downloading_is_this_machines_problem(remote, tmp_path):
    remote.add_bytes(b"payload")
    remote.fail_with = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(LocalWriteError) as info:
        remote.fetch(OID, tmp_path / "copy", context="toy:1.0.0")
    (partial,) = remote.written_to
    assert str(info.value).startswith(
        f"No space left on the disk holding {partial} while fetching snapshot object {OID[:12]} (toy:1.0.0) from {remote.uri}."
    )
    assert info.value.path == str(partial) and info.value.__cause__ is remote.fail_with
    assert list(tmp_path.iterdir()) == [tmp_path / "remote"]


@pytest.fixture
def full_disk(tmpfs):
    """A tmpfs with no inode left for a new file (root only)."""
    disk = tmpfs("size=64k,nr_inodes=2")
    (disk / "out").mkdir()  # the last inode
    return disk


def test_no_room_for_the_partial_file_is_this_machines_problem(remote, tmp_path, full_disk):
    remote.add_bytes(b"payload")
    with pytest.raises(LocalWriteError) as info:
        remote.fetch(OID, full_disk / "out" / "copy", context="toy:1.0.0")
    assert str(info.value).startswith(
        f"No space left on the disk holding {full_disk / 'out'} while fetching snapshot object {OID[:12]} (toy:1.0.0) "
        f"from {remote.uri}."
    )
    assert info.value.path == str(full_disk / "out") and remote.downloads == 0
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == errno.ENOSPC


def test_other_os_errors_while_downloading_are_not_blamed_on_the_disk(remote, tmp_path):
    remote.add_bytes(b"payload")
    remote.fail_with = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    with pytest.raises(ConnectionRefusedError):
        remote.fetch(OID, tmp_path / "copy")
    assert list(tmp_path.iterdir()) == [tmp_path / "remote"]


def test_a_destination_that_cannot_be_created_is_reported(remote, tmp_path):
    remote.add_bytes(b"payload")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(FileExistsError):  # not a full disk: the original error, untouched
        remote.fetch(OID, tmp_path / "file" / "copy")
    assert remote.downloads == 0


def test_get_bytes_and_verify_go_through_the_verified_fetch(remote, tmp_path):
    remote.add_bytes(b"payload")
    assert remote.get_bytes(OID) == b"payload"
    remote.verify(OID)
    remote.transit = lambda n, data: _flip_last(data)
    for call in (remote.get_bytes, remote.verify):
        with pytest.raises(SnapshotCorruptedError) as info:
            call(OID)
        assert str(info.value).startswith(f"Snapshot object {OID[:12]} arrived damaged from {remote.uri}: ")
    with pytest.raises(SnapshotCorruptedError, match="toy:1.0.0"):
        remote.get_bytes(OID, context="toy:1.0.0")
    with pytest.raises(SnapshotCorruptedError, match="toy:2.0.0"):
        remote.verify(OID, context="toy:2.0.0")
    remote.quarantine(OID)
    assert remote.quarantined == [OID] and not remote.has(OID)
