"""ONE contract for every snapshot store, run against file://, s3:// (moto) and gs:// (the emulator)."""

from __future__ import annotations

import base64
import os
import uuid

import pytest

from labdatasets.errors import SnapshotCorruptedError, SnapshotNotFoundError
from labdatasets.stores.hashing import sha256_bytes
from labdatasets.stores import Snapshots, open_store

SCHEMES = ["file", "s3", "gs"]


@pytest.fixture(params=SCHEMES)
def store_uri(request, tmp_path):
    if request.param == "file":
        return f"file://{tmp_path / 'store'}"
    if request.param == "s3":
        pytest.importorskip("boto3")
        return f"s3://{request.getfixturevalue('s3_bucket')}/lab/snapshots"
    pytest.importorskip("google.cloud.storage")
    return f"gs://{request.getfixturevalue('gcs_bucket')}/lab/snapshots"


@pytest.fixture
def store(store_uri):
    return open_store(store_uri)


def write(tmp_path, data: bytes):
    path = tmp_path / f"src-{uuid.uuid4().hex[:8]}.bin"
    path.write_bytes(data)
    return path


def overwrite_behind_the_stores_back(store, oid: str, data: bytes) -> None:
    """Simulate bit rot or a rogue writer, bypassing every guard of the store."""
    if store.scheme == "file":
        path = store.path(oid)
        os.chmod(path, 0o644)
        path.write_bytes(data)
    elif store.scheme == "s3":
        store.client.put_object(Bucket=store.bucket, Key=store.key(oid), Body=data)
    else:
        store.bucket.blob(store.key(oid)).upload_from_string(data)


def test_objects_are_content_addressed(store, tmp_path):
    info = store.add_file(write(tmp_path, b"hello snapshots"))
    assert info.oid == sha256_bytes(b"hello snapshots") and info.size == 15 and info.written
    assert store.has(info.oid) and not store.has(sha256_bytes(b"other"))
    assert store.get_bytes(info.oid) == b"hello snapshots"
    assert list(store.iter_oids()) == [info.oid]


def test_adding_existing_bytes_stores_nothing_new(store, tmp_path):
    first = store.add_file(write(tmp_path, b"same bytes"))
    second = store.add_file(write(tmp_path, b"same bytes"))
    assert second.oid == first.oid and not second.written
    assert list(store.iter_oids()) == [first.oid]


def test_a_write_never_replaces_an_existing_object(store, tmp_path):
    oid = store.add_file(write(tmp_path, b"original")).oid
    impostor = write(tmp_path, b"different bytes")
    assert store._upload(impostor, oid, impostor.stat().st_size, None) is False
    assert store.get_bytes(oid) == b"original"


def test_large_objects_round_trip_through_parallel_ranges(store, tmp_path, monkeypatch):
    if store.scheme == "s3":
        import labdatasets.stores.s3 as s3

        monkeypatch.setattr(s3, "MULTIPART_BYTES", 8 << 20)  # 12 MiB -> three 5 MiB parts
        monkeypatch.setattr(s3, "PART_BYTES", 5 << 20)
    data = os.urandom(12 << 20)  # more than one 8 MiB range
    oid = store.add_file(write(tmp_path, data)).oid
    seen = []
    dest = store.fetch(oid, tmp_path / "out" / "copy", progress=seen.append)
    assert dest.read_bytes() == data and sum(seen) == len(data)


def test_missing_objects(store, tmp_path):
    oid = sha256_bytes(b"never stored")
    assert not store.has(oid)
    with pytest.raises(SnapshotNotFoundError):
        store.fetch(oid, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_every_read_is_rehashed_and_corruption_is_quarantined(store, tmp_path):
    oid = store.add_file(write(tmp_path, b"precious")).oid
    overwrite_behind_the_stores_back(store, oid, b"tampered")
    with pytest.raises(SnapshotCorruptedError) as info:
        store.fetch(oid, tmp_path / "out" / "bad", context="toy:1.0.0 source 'rows'")
    # A local copy is repaired by verify --repair; a remote store's copy is not this machine's to repair.
    advice = "store's copy itself is probably damaged" if store.remote else "labdatasets verify --repair toy:1.0.0"
    assert info.value.actual == sha256_bytes(b"tampered") and advice in str(info.value)
    assert not (tmp_path / "out" / "bad").exists()
    store.quarantine(oid)
    assert not store.has(oid)
    assert store.add_file(write(tmp_path, b"precious")).written  # a good copy can be stored again


def test_a_machine_without_the_object_fetches_verifies_and_caches_it(store_uri, tmp_path):
    pinned = Snapshots(store_uri, f"file://{tmp_path / 'machine-a'}")
    oid = pinned.add_file(write(tmp_path, b"id\n1\n")).oid
    other = Snapshots(store_uri, f"file://{tmp_path / 'machine-b'}")
    assert not other.has_locally(oid) and other.primary_has(oid)
    assert other.local_path(oid).read_bytes() == b"id\n1\n"
    assert other.has_locally(oid)
    if pinned.same:
        return
    bad = pinned.add_file(write(tmp_path, b"good bytes")).oid
    overwrite_behind_the_stores_back(open_store(store_uri), bad, b"rotten bytes")
    third = Snapshots(store_uri, f"file://{tmp_path / 'machine-c'}")
    with pytest.raises(SnapshotCorruptedError):
        third.local_path(bad)
    assert not third.has_locally(bad)


def test_s3_requests_carry_the_guards(s3_bucket, tmp_path, monkeypatch):
    """moto accepts a wrong checksum: check what is sent, since real S3 enforces it."""
    import labdatasets.stores.s3 as s3

    store = open_store(f"s3://{s3_bucket}/guards")
    sent = []
    store.client.meta.events.register("before-send.s3.*", lambda request, **kw: sent.append(request))
    small = b"small object"
    oid = store.add_file(write(tmp_path, small)).oid
    put = [r for r in sent if r.method == "PUT"][-1]
    assert put.headers["If-None-Match"] == b"*"
    assert put.headers["x-amz-checksum-sha256"].decode() == base64.b64encode(bytes.fromhex(oid)).decode()
    monkeypatch.setattr(s3, "MULTIPART_BYTES", 5 << 20)
    monkeypatch.setattr(s3, "PART_BYTES", 5 << 20)
    sent.clear()
    big = os.urandom((6 << 20) + 7)
    store.add_file(write(tmp_path, big))
    parts = [r for r in sent if r.method == "PUT" and "partNumber=" in r.url]
    complete = [r for r in sent if r.method == "POST" and "uploadId=" in r.url]
    assert len(parts) == 2 and all(p.headers.get("x-amz-checksum-sha256") for p in parts)
    assert len(complete) == 1 and complete[0].headers["If-None-Match"] == b"*"
    assert store.has(sha256_bytes(big)) and store.get_bytes(sha256_bytes(big)) == big
    sent.clear()
    store.put_ref("prepared/toy/1.0.0.json", b"{}")
    (ref_put,) = [r for r in sent if r.method == "PUT"]
    assert ref_put.headers["If-None-Match"] == b"*" and ref_put.url.endswith("/guards/refs/prepared/toy/1.0.0.json")


def test_gcs_uploads_carry_if_generation_match_zero(gcs_bucket, tmp_path):
    """The emulator ignores the precondition: check that it is sent, since GCS enforces it."""
    store = open_store(f"gs://{gcs_bucket}/guards")
    urls = []
    store.client._http.hooks["response"].append(lambda response, *a, **kw: urls.append(response.request.url))
    store.add_file(write(tmp_path, b"guarded"))
    store.put_ref("prepared/toy/1.0.0.json", b"{}")
    uploads = [u for u in urls if "/upload/" in u]
    assert len(uploads) == 2 and all("ifGenerationMatch=0" in u for u in uploads)


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_a_missing_bucket_is_a_clear_error(scheme, request, tmp_path):
    request.getfixturevalue("s3_env" if scheme == "s3" else "gcs_env")
    store = open_store(f"{scheme}://no-such-bucket-{uuid.uuid4().hex[:8]}/x")
    with pytest.raises(SnapshotNotFoundError, match="does not exist"):
        store.add_file(write(tmp_path, b"x"))


def test_refs_are_written_once(store):
    """The shared prepared cache finds releases through refs; a ref, like an object, is never replaced."""
    assert store.get_ref("prepared/toy/1.0.0.json") is None
    assert store.put_ref("prepared/toy/1.0.0.json", b"first") is True
    assert store.put_ref("prepared/toy/1.0.0.json", b"second") is False
    assert store.get_ref("prepared/toy/1.0.0.json") == b"first"
