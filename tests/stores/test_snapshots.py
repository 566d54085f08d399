"""The public API of :class:`Snapshots`, against a file://, an s3:// (moto) and a gs:// (emulator) primary store."""

from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path

import pytest

from labdatasets.errors import ConfigError, LabDatasetsError, SnapshotCorruptedError, SnapshotNotFoundError
from labdatasets.stores import Snapshots, open_store
from labdatasets.stores.hashing import sha256_bytes

from tests.stores.test_store_contract import overwrite_behind_the_stores_back

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["file", "s3", "gs"])
def primary_uri(request, tmp_path):
    if request.param == "file":
        return f"file://{tmp_path / 'shared-store'}"
    if request.param == "s3":
        pytest.importorskip("boto3")
        return f"s3://{request.getfixturevalue('s3_bucket')}/lab/snapshots"
    pytest.importorskip("google.cloud.storage")
    return f"gs://{request.getfixturevalue('gcs_bucket')}/lab/snapshots"


def machine(primary_uri: str, tmp_path: Path, name: str) -> Snapshots:
    """The view of one machine: the shared primary store and a local cache of its own."""
    return Snapshots(primary_uri, f"file://{tmp_path / name}")


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"src-{hashlib.sha256(data).hexdigest()[:8]}.bin"
    path.write_bytes(data)
    return path


def test_where_the_objects_are(primary_uri, tmp_path):
    store = machine(primary_uri, tmp_path, "machine-a")
    assert not store.same
    assert store.primary_is_local == primary_uri.startswith("file://")
    assert store.primary_location == primary_uri  # nothing to hide in these URIs
    alone = Snapshots(f"file://{tmp_path / 'alone'}")
    assert alone.same and alone.primary_is_local
    assert "alone" in repr(alone) and "machine-a" in repr(store)


def test_a_credential_in_the_primary_uri_is_never_shown(tmp_path, s3_env, s3_bucket):
    pytest.importorskip("boto3")
    store = machine(f"s3://{s3_bucket}/lab?token=hunter2secret", tmp_path, "machine-a")
    assert "hunter2secret" not in store.primary_location and "hunter2secret" not in repr(store)
    error = store.not_found(sha256_bytes(b"absent"), context="toy:1.0.0 source 'rows'")
    assert "hunter2secret" not in str(error) and "toy:1.0.0 source 'rows'" in str(error)


def test_uris_round_trip_and_a_worker_gets_a_cache_of_its_own(primary_uri, tmp_path):
    store = machine(primary_uri, tmp_path, "machine-a")
    oid = store.add_file(write(tmp_path, b"id\n1\n2\n")).oid
    same_view = Snapshots.from_uris(store.to_uris())
    assert same_view.to_uris() == store.to_uris() and same_view.has_locally(oid)
    primary, cache = store.to_uris(share_cache=False)
    assert cache is None and primary == store.to_uris()[0]
    worker = Snapshots.from_uris((primary, cache))
    worker_cache = worker.to_uris()[1]
    assert worker_cache is not None and worker_cache != store.to_uris()[1]
    assert not worker.has_locally(oid) and worker.has(oid)
    assert worker.local_path(oid).read_bytes() == b"id\n1\n2\n"  # fetched and verified into its own cache
    assert worker.has_locally(oid)


def test_has_looks_in_both_stores_and_has_locally_only_here(primary_uri, tmp_path):
    pinned = machine(primary_uri, tmp_path, "machine-a")
    oid = pinned.add_file(write(tmp_path, b"pinned on machine a")).oid
    assert pinned.has_locally(oid) and pinned.primary_has(oid)
    other = machine(primary_uri, tmp_path, "machine-b")
    assert other.has(oid) and other.primary_has(oid) and not other.has_locally(oid)
    absent = sha256_bytes(b"never stored")
    assert not other.has(absent) and not other.primary_has(absent) and not other.has_locally(absent)


def test_a_file_hashed_while_written_in_the_staging_dir_is_adopted(primary_uri, tmp_path):
    store = machine(primary_uri, tmp_path, "machine-a")
    staging = store.staging_dir()
    assert staging.is_dir() and staging.stat().st_dev == (tmp_path / "machine-a").stat().st_dev
    data = os.urandom(1 << 16)
    tmp = staging / "table.parquet"
    tmp.write_bytes(data)
    info = store.adopt_file(tmp, sha256_bytes(data))
    assert info.oid == sha256_bytes(data) and info.size == len(data)
    assert not tmp.exists()  # moved into the store, not copied
    assert store.has_locally(info.oid) and store.primary_has(info.oid)
    assert machine(primary_uri, tmp_path, "machine-b").get_bytes(info.oid) == data


def test_added_path_is_the_copy_just_added_and_nothing_else(primary_uri, tmp_path):
    store = machine(primary_uri, tmp_path, "machine-a")
    info = store.add_file(write(tmp_path, b"a,b\n1,2\n"))
    assert store.added_path(info.oid).read_bytes() == b"a,b\n1,2\n"
    assert store.added_path(store.add_small(b"small").oid).read_bytes() == b"small"
    other = machine(primary_uri, tmp_path, "machine-b")  # holds nothing on this machine
    with pytest.raises(SnapshotNotFoundError, match="Run the command again"):
        other.added_path(info.oid)


def test_verify_local_checks_only_this_machines_copy_and_repair_fetches_a_good_one(primary_uri, tmp_path):
    pinned = machine(primary_uri, tmp_path, "machine-a")
    oid = pinned.add_file(write(tmp_path, b"precious rows")).oid
    other = machine(primary_uri, tmp_path, "machine-b")
    assert other.verify_local(oid) is False  # not here, and nothing was fetched to check it
    assert not other.has_locally(oid)
    assert pinned.verify_local(oid) is True
    local = open_store(pinned.to_uris()[1])
    overwrite_behind_the_stores_back(local, oid, b"bit rot")
    with pytest.raises(SnapshotCorruptedError, match="verify --repair toy:1.0.0") as info:
        pinned.verify_local(oid, context="toy:1.0.0 source 'rows'")
    assert info.value.actual == sha256_bytes(b"bit rot")
    with pytest.raises(SnapshotCorruptedError):  # every read re-hashes: the bad copy is never returned
        pinned.local_path(oid)
    pinned.quarantine_local(oid)
    assert not pinned.has_locally(oid) and pinned.primary_has(oid)
    assert pinned.local_path(oid).read_bytes() == b"precious rows"  # a verified copy from the primary store
    assert pinned.verify_local(oid) is True


def test_without_a_separate_primary_a_quarantined_object_is_gone(tmp_path):
    store = Snapshots(f"file://{tmp_path / 'store'}")
    oid = store.add_file(write(tmp_path, b"only copy")).oid
    overwrite_behind_the_stores_back(open_store(store.to_uris()[0]), oid, b"damaged")
    with pytest.raises(SnapshotCorruptedError):
        store.verify_local(oid)
    store.quarantine_local(oid)
    assert not store.has(oid)
    with pytest.raises(SnapshotNotFoundError, match="LABDATASETS_SNAPSHOT_STORE") as info:
        store.local_path(oid, context="toy:1.0.0 source 'rows'")
    assert "toy:1.0.0 source 'rows'" in str(info.value) and str(tmp_path / "store") in str(info.value)


def test_the_local_cache_must_be_a_local_folder(tmp_path, s3_env, s3_bucket):
    pytest.importorskip("boto3")
    with pytest.raises(ConfigError) as info:
        Snapshots(f"file://{tmp_path / 'store'}", f"s3://{s3_bucket}/cache")
    assert str(info.value) == (
        f"The local snapshot cache must be a file:// store, got s3://{s3_bucket}/cache. Point LABDATASETS_HOME at a "
        "folder on this machine (the local store is its store/ folder)."
    )


def test_bad_arguments_raise_errors_of_the_tree_that_are_still_value_errors(tmp_path):
    from labdatasets.loaders import GCSSource, LocalSource, S3Source
    from labdatasets.stores import object_key, register_store
    from labdatasets.stores._bucket import split_bucket_uri

    cases = [
        (lambda: register_store("file", "elsewhere:Store"), "already served by labdatasets.stores.local:LocalStore"),
        (lambda: split_bucket_uri("gs://bucket/x", "s3"), "is not a s3:// URI"),
        (lambda: split_bucket_uri("s3:///x", "s3"), "names no bucket"),
        (lambda: object_key("not-an-oid"), "restore it from version control"),
        (lambda: open_store(f"file://{tmp_path / 's'}").put_ref("../escape", b"x"), "not a valid ref name"),
        (lambda: S3Source("gs://bucket/key.csv"), "s3://bucket/key URL"),
        (lambda: GCSSource("gs://bucket/key.csv", format="xlsx"), "format='xlsx'; use one of"),
        (lambda: LocalSource(tmp_path / "data.csv", format="xlsx"), "data.csv.*format='xlsx'; use one of"),
    ]
    for call, message in cases:
        with pytest.raises(ConfigError, match=message) as info:
            call()
        assert isinstance(info.value, LabDatasetsError) and isinstance(info.value, ValueError)


# ------------------------------------------------------------------ no reach-ins from outside labdatasets/stores
# The two stores behind Snapshots, and the private helpers of the stores, are reached through Snapshots' API only.
_INTERNALS = {"primary", "cache", "_primary", "_cache", "_tmp_dir", "_publish", "_upload", "_download",
              "_quarantine", "_put_ref", "_get_ref", "_link_into_place", "_link_new", "_writing", "_under_prefix"}


def reach_ins(source: str, filename: str = "<code>") -> list[str]:
    """``file:line attr`` for every ``x.<internal>`` where ``x`` is not ``self``/``cls`` (nor ``functools.cache``)."""
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Attribute) or node.attr not in _INTERNALS:
            continue
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        if owner in ("self", "cls") or (owner == "functools" and node.attr == "cache"):
            continue
        found.append((node.lineno, node.end_col_offset or 0, f"{filename}:{node.lineno} .{node.attr}"))
    return [hit for *_, hit in sorted(found)]


def test_the_reach_in_check_finds_reach_ins():
    code = (
        "store.cache.has(oid)\n"
        "ctx.store.primary.uri\n"
        "dir=store.cache._tmp_dir()\n"
        "snapshots._cache.path(oid)\n"
        "self._cache = {}\n"
        "@functools.cache\ndef f(): pass\n"
    )
    assert reach_ins(code) == [
        "<code>:1 .cache", "<code>:2 .primary", "<code>:3 .cache", "<code>:3 ._tmp_dir", "<code>:4 ._cache",
    ]


def test_nothing_outside_the_stores_package_reaches_into_a_store():
    stores = REPO / "labdatasets" / "stores"
    files = [
        path
        for top in ("labdatasets", "loaders", "datasets", "benchmarks", "tools")
        for path in sorted((REPO / top).rglob("*.py"))
        if stores not in path.parents
    ]
    assert len(files) > 50  # the scan sees the code
    found = [hit for path in files for hit in reach_ins(path.read_text("utf-8"), str(path.relative_to(REPO)))]
    assert found == [], "use the public API of labdatasets.stores.Snapshots instead: " + ", ".join(found)


# ------------------------------------------------------------------ two file:// stores: every path of the view


def two_stores(tmp_path: Path, machine_name: str = "machine-a") -> tuple[Snapshots, str, str]:
    primary, cache = f"file://{tmp_path / 'shared-store'}", f"file://{tmp_path / machine_name}"
    return Snapshots(primary, cache), primary, cache


def test_every_way_in_writes_through_to_the_configured_store_and_reports_its_bytes(tmp_path, monkeypatch):
    import io
    import tempfile

    store, primary, cache = two_stores(tmp_path)
    assert repr(store) == f"Snapshots({primary!r}, cache={cache!r})"
    seen: list[int] = []
    data = os.urandom(200_000)
    infos = [
        store.add_file(write(tmp_path, data), progress=seen.append),
        store.add_stream(io.BytesIO(data[::-1]), progress=seen.append),
        store.add_small(b"small"),
        store.add_bytes(b'{"a": 1}'),
    ]
    assert sum(seen) == 2 * len(data)
    assert [(i.oid, i.size, i.written) for i in infos] == [
        (sha256_bytes(data), len(data), True), (sha256_bytes(data[::-1]), len(data), True),
        (sha256_bytes(b"small"), 5, True), (sha256_bytes(b'{"a": 1}'), 8, True),
    ]
    for info in infos:
        assert store.has_locally(info.oid) and store.primary_has(info.oid)
    assert store.add_bytes(b'{"a": 1}').written is False
    other = Snapshots(primary, f"file://{tmp_path / 'machine-b'}")
    # fetched through the cache's own tmp/, never the system temp folder (here it does not even exist)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-system-tmp"))
    assert [other.get_bytes(i.oid) for i in infos] == [data, data[::-1], b"small", b'{"a": 1}']
    assert not list(other.staging_dir().iterdir()) and not (tmp_path / "no-system-tmp").exists()


def test_uploads_of_large_objects_show_a_bar_naming_the_store(tmp_path, monkeypatch):
    import labdatasets.present.progress as progress

    bars: list[list] = []
    real = progress.byte_progress

    def recording(total, desc, **kwargs):
        bar = [total, desc, 0]
        bars.append(bar)
        update = real(total, desc, **kwargs)

        def counted(n):
            bar[2] += n
            update(n)

        return counted

    monkeypatch.setattr(progress, "byte_progress", recording)
    store, primary, _ = two_stores(tmp_path)
    at_limit, over = os.urandom(8 << 20), os.urandom((8 << 20) + 1)
    store.add_file(write(tmp_path, at_limit))
    store.add_small(b"tiny")
    assert bars == []  # 8 MiB and less: no bar
    oid = store.add_file(write(tmp_path, over)).oid
    assert bars == [[len(over), f"upload {oid[:12]} to {primary}", len(over)]]


def test_a_file_adopted_into_a_single_store_is_written_once(tmp_path):
    store = Snapshots(f"file://{tmp_path / 'store'}")
    data = b"hashed while written"
    for expected in (True, False):
        tmp = store.staging_dir() / "table.parquet"
        tmp.write_bytes(data)
        info = store.adopt_file(tmp, sha256_bytes(data))
        assert (info.oid, info.size, info.written) == (sha256_bytes(data), len(data), expected)
        assert not tmp.exists()


def test_a_mirror_restores_an_object_neither_store_holds_into_both(tmp_path):
    store, primary, _ = two_stores(tmp_path)
    data = os.urandom(100_000)
    oid = sha256_bytes(data)
    source = write(tmp_path, data)
    seen: list[int] = []
    path = store.local_path(oid, mirror={oid: source}.get, progress=seen.append, context="toy:1.0.0 source 'rows'")
    assert path.read_bytes() == data and sum(seen) == len(data)
    assert store.has_locally(oid) and store.primary_has(oid)  # pushed to the configured store as well
    assert Snapshots(primary, f"file://{tmp_path / 'machine-b'}").get_bytes(oid) == data


def test_damaged_copies_are_named_with_their_context_and_never_cached(tmp_path):
    from tests.stores.test_store_contract import overwrite_behind_the_stores_back

    store, primary, cache = two_stores(tmp_path)
    oid = store.add_small(b"precious rows").oid
    overwrite_behind_the_stores_back(open_store(cache), oid, b"bit rot here")
    for read in (store.local_path, store.get_bytes):
        with pytest.raises(SnapshotCorruptedError, match=r"of toy:1\.0\.0 source 'rows' is corrupted.*verify --repair toy:1\.0\.0"):
            read(oid, context="toy:1.0.0 source 'rows'")
    with pytest.raises(SnapshotCorruptedError, match="verify --repair NAME:VERSION"):  # no context: no dataset named
        store.verify_local(oid)
    store.quarantine_local(oid)
    overwrite_behind_the_stores_back(open_store(primary), oid, b"rotten upstream")
    with pytest.raises(SnapshotCorruptedError, match=r"of toy:1\.0\.0 source 'rows' is corrupted"):
        store.local_path(oid, context="toy:1.0.0 source 'rows'")
    assert not store.has_locally(oid) and not list(store.staging_dir().iterdir())  # nothing damaged kept
    overwrite_behind_the_stores_back(open_store(primary), oid, b"precious rows")
    seen: list[int] = []
    assert store.local_path(oid, progress=seen.append).read_bytes() == b"precious rows" and sum(seen) == 13
    assert store.verify_local(oid) is True


def test_not_found_says_where_it_looked_and_what_to_do(tmp_path):
    store, primary, cache = two_stores(tmp_path)
    alone = Snapshots(primary)
    oid = sha256_bytes(b"never pinned")
    advice = (
        ". Point LABDATASETS_SNAPSHOT_STORE at the store it was pinned to (the pin record's snapshot_store, "
        "for versions pinned since it is recorded), or ask whoever pinned it to push its objects there."
    )
    for read in (alone.local_path, alone.get_bytes):
        with pytest.raises(SnapshotNotFoundError) as info:
            read(oid)
        assert str(info.value) == f"Snapshot object {oid[:12]} is not in {primary}{advice}"
    assert str(store.not_found(oid)) == f"Snapshot object {oid[:12]} is not in {primary} or the local cache {cache}{advice}"
    with pytest.raises(SnapshotNotFoundError) as info:
        store.get_bytes(oid, context="toy:1.0.0 source 'rows'")
    assert str(info.value) == f"Snapshot object {oid[:12]} (toy:1.0.0 source 'rows') is not in {primary} or the local cache {cache}{advice}"
    changed = write(tmp_path, b"edited since the pin")
    with pytest.raises(SnapshotNotFoundError) as info:
        store.local_path(oid, mirror={oid: changed}.get)
    assert str(info.value) == (
        f"Snapshot object {oid[:12]} is not in {primary} or the local cache {cache}, and its local source no longer holds "
        f"the pinned bytes{advice}"
    )
    assert not store.has_locally(oid) and not store.primary_has(oid)
    info_added = alone.add_small(b"added")
    other = Snapshots(f"file://{tmp_path / 'other'}")
    with pytest.raises(SnapshotNotFoundError) as info:
        other.added_path(info_added.oid)
    assert str(info.value) == (
        f"Snapshot object {info_added.oid[:12]} is not in the local store {other.to_uris()[1]}, though it was just added: "
        "something removed it meanwhile (a 'labdatasets cache prune' in another process?). Run the command again."
    )
