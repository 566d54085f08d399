"""The s3:// snapshot store (labdatasets/stores/s3.py) against moto's S3 server on loopback, fast.

What a user of an s3:// store relies on, beyond the contract every store keeps
(tests/stores/test_store_contract.py): the bytes and keys in the bucket, multipart
uploads of large objects that are checked part by part and never left half-done,
downloads pinned to one object version, bounded retries of transient failures, and
errors that name the store, say what to do and never show a credential. Faults
come from tests/proxy.py's FaultProxy in front of moto (a real HTTP server either way).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import itertools
import logging
import os
import uuid

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

import boto3  # noqa: E402
import botocore.exceptions  # noqa: E402

from labdatasets.errors import SnapshotError, SnapshotNotFoundError  # noqa: E402
from labdatasets.stores import open_store, transfer  # noqa: E402
from labdatasets.stores import s3  # noqa: E402
from labdatasets.stores.hashing import sha256_bytes  # noqa: E402
from tests.proxy import Fault, FaultProxy  # noqa: E402
from tests.servers import TEST_AWS_KEY, TEST_AWS_SECRET, free_port  # noqa: E402

SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLEsessiontokenNEVERshown"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """boto3 asks once; labdatasets' own bounded retries (2 attempts, no waiting) are what is tested."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("LABDATASETS_TRANSFER_RETRIES", "2")
    monkeypatch.setenv("LABDATASETS_TRANSFER_BACKOFF", "0")
    monkeypatch.delenv("LABDATASETS_TRANSFER_WORKERS", raising=False)


@pytest.fixture
def raw(s3_env):
    """A plain boto3 client on the moto server, to look at the bucket behind the store's back."""
    return boto3.client("s3", endpoint_url=s3_env)


@pytest.fixture
def proxy(s3_env, monkeypatch):
    """A fault proxy in front of moto; stores opened afterwards talk through it."""
    with FaultProxy(s3_env) as running:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", running.url)
        yield running


@pytest.fixture
def small_parts(monkeypatch):
    """Multipart uploads of kilobytes: moto's S3_UPLOAD_PART_MIN_SIZE setting (5 MiB, as S3) set to 256 bytes."""
    import moto.s3.models

    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 256)
    monkeypatch.setattr(s3, "MULTIPART_BYTES", 2000)
    monkeypatch.setattr(s3, "PART_BYTES", 1000)


def sent_requests(store) -> list:
    sent: list = []
    store.client.meta.events.register("before-send.s3.*", lambda request, **kw: sent.append(request))
    return sent


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def xml_error(code: str) -> bytes:
    return f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()


# ------------------------------------------------------------------ bytes, keys, listing
def test_objects_and_refs_land_under_the_prefix_and_round_trip(s3_bucket, raw, tmp_path):
    store = open_store(f"s3://{s3_bucket}/lab/snapshots")
    assert list(store.iter_oids()) == []
    a, b = store.add_bytes(b"alpha rows\n"), store.add_bytes(b"beta rows\n")
    assert (a.written, b.written) == (True, True)
    assert store.put_ref("prepared/toy/1.0.0.json", b'{"ok": 1}') is True
    keys = sorted(item["Key"] for item in raw.list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert keys == sorted([
        f"lab/snapshots/objects/{a.oid[:2]}/{a.oid[2:]}", f"lab/snapshots/objects/{b.oid[:2]}/{b.oid[2:]}",
        "lab/snapshots/refs/prepared/toy/1.0.0.json",
    ])
    assert sorted(store.iter_oids()) == sorted([a.oid, b.oid])  # refs are not objects
    seen: list[int] = []
    assert store.fetch(a.oid, tmp_path / "a", progress=seen.append).read_bytes() == b"alpha rows\n" and sum(seen) == 11
    assert store.get_ref("prepared/toy/1.0.0.json") == b'{"ok": 1}'


def test_two_stores_in_one_bucket_list_only_their_own_objects(s3_bucket):
    # prefixes of the same length: stripping the wrong one would still look like an oid
    first, second = open_store(f"s3://{s3_bucket}/aa"), open_store(f"s3://{s3_bucket}/bb")
    oid = first.add_bytes(b"only in aa").oid
    assert list(first.iter_oids()) == [oid]
    assert list(second.iter_oids()) == [] and not second.has(oid)


def test_listing_skips_keys_that_are_not_objects(s3_bucket, raw):
    store = open_store(f"s3://{s3_bucket}/lab")
    oid = store.add_bytes(b"real object").oid
    raw.put_object(Bucket=s3_bucket, Key="lab/objects/ab/not-an-oid.tmp", Body=b"x")
    assert list(store.iter_oids()) == [oid]


def test_single_uploads_are_conditional_and_carry_their_sha256(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setattr(s3, "MULTIPART_BYTES", 1000)
    store = open_store(f"s3://{s3_bucket}/p")
    sent = sent_requests(store)
    data = os.urandom(1000)  # exactly MULTIPART_BYTES: still one PUT
    (tmp_path / "f").write_bytes(data)
    seen: list[int] = []
    info = store.add_file(tmp_path / "f", progress=seen.append)
    puts = [r for r in sent if r.method in ("PUT", "POST")]
    assert len(puts) == 1 and "uploadId" not in puts[0].url and "uploads" not in puts[0].url
    assert puts[0].headers["If-None-Match"] == b"*"
    assert puts[0].headers["x-amz-checksum-sha256"].decode() == b64_sha256(data)
    assert info.written and seen == [1000] and store.get_bytes(info.oid) == data
    sent.clear()
    assert store.put_ref("a/ref.json", b"[1, 2]") is True
    (put,) = [r for r in sent if r.method == "PUT"]
    assert put.headers["If-None-Match"] == b"*" and put.headers["x-amz-checksum-sha256"].decode() == b64_sha256(b"[1, 2]")


@pytest.mark.parametrize("size", [100, 2500])  # one PUT, or a multipart upload whose completion is refused
def test_a_write_refused_with_a_bare_412_means_already_there(size, s3_bucket, tmp_path, small_parts, proxy, raw):
    """Some S3-compatible servers (and proxies) answer a lost If-None-Match with a 412 and no error body."""
    store = open_store(f"s3://{s3_bucket}/p")
    proxy.add(Fault("status", status=412, method="PUT", path="/objects/", times=1 if size < 2000 else 0))
    proxy.add(Fault("status", status=412, method="PUT", path="/refs/", times=1))
    proxy.add(Fault("status", status=412, method="POST", path="uploadId=", times=1))
    (tmp_path / "f").write_bytes(os.urandom(size))
    assert store.add_file(tmp_path / "f").written is False
    assert store.put_ref("r.json", b"x") is False
    assert raw.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    assert raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


@pytest.mark.parametrize("size", [100, 2500])
def test_a_write_that_meets_a_concurrent_one_is_sent_again(size, s3_bucket, tmp_path, small_parts, proxy, raw):
    """S3 answers 409 ConditionalRequestConflict while another conditional write of the key is under way; that
    write may still fail, so "already there" would be a guess: AWS's advice is to write again."""
    store = open_store(f"s3://{s3_bucket}/p")
    conflict = xml_error("ConditionalRequestConflict")
    proxy.add(Fault("status", status=409, method="PUT", path="/objects/[^?]*$", times=1, body=conflict))
    proxy.add(Fault("status", status=409, method="POST", path="uploadId=", times=1, body=conflict))
    proxy.add(Fault("status", status=409, method="PUT", path="/refs/", times=1, body=conflict))
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    info = store.add_file(tmp_path / "f")
    assert info.written is True and raw.get_object(Bucket=s3_bucket, Key=store.key(info.oid))["Body"].read() == data
    assert store.put_ref("r.json", b"x") is True and store.get_ref("r.json") == b"x"
    assert sum(f.applied for f in proxy.faults) == 2  # the object's PUT (or its completion), the ref's PUT
    assert raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_a_multipart_upload_sent_again_after_a_409_counts_each_byte_once(s3_bucket, tmp_path, small_parts, proxy, raw):
    """The 409 abandons the first attempt after all its parts went up: its bytes are taken back from the progress,
    and the attempt that lands counts them, so a bar over several objects neither overshoots nor closes early."""
    store = open_store(f"s3://{s3_bucket}/p")
    conflict = xml_error("ConditionalRequestConflict")
    proxy.add(Fault("status", status=409, method="POST", path="uploadId=", times=1, body=conflict))
    data = os.urandom(2500)  # parts of 1000, 1000 and 500 bytes, sent twice
    (tmp_path / "big").write_bytes(data)
    seen: list[int] = []
    info = store.add_file(tmp_path / "big", progress=seen.append)
    assert info.written and proxy.faults[0].applied == 1
    assert raw.get_object(Bucket=s3_bucket, Key=store.key(info.oid))["Body"].read() == data
    assert sum(seen) == 2500
    assert sorted(n for n in seen if n > 0) == [500, 500, 1000, 1000, 1000, 1000] and [n for n in seen if n < 0] == [-2500]
    assert max(itertools.accumulate(seen)) == 2500 and min(itertools.accumulate(seen)) >= 0
    assert sum(seen[seen.index(-2500) + 1:]) == 2500  # the attempt that lands counts every byte


def test_a_bar_over_two_objects_stays_open_until_both_are_up_when_the_first_is_sent_again(
    s3_bucket, tmp_path, small_parts, proxy, monkeypatch
):
    """As ``publish`` shows it: one tqdm bar for all the files; counted twice, it filled (and closed) too early."""
    from labdatasets.present import progress as present_progress

    monkeypatch.setenv("LABDATASETS_PROGRESS", "1")
    tqdm = present_progress._tqdm()
    bars: list = []

    def recording_tqdm() -> type:
        class Recorded(tqdm):  # type: ignore[misc, valid-type]
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                bars.append(self)

        return Recorded

    monkeypatch.setattr(present_progress, "_tqdm", recording_tqdm)
    store = open_store(f"s3://{s3_bucket}/p")
    proxy.add(Fault("status", status=409, method="POST", path="uploadId=", times=1, body=xml_error("ConditionalRequestConflict")))
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(os.urandom(2500))
    second.write_bytes(os.urandom(3000))
    bar = present_progress.byte_progress(5500, "publish toy")
    assert store.add_file(first, progress=bar).written
    (shown,) = bars
    assert (shown.n, shown.disable) == (2500, False)
    assert store.add_file(second, progress=bar).written
    assert (shown.n, shown.disable) == (5500, True)  # full, then closed


# ------------------------------------------------------------------ multipart uploads
def test_large_objects_go_up_in_checked_parts(s3_bucket, tmp_path, small_parts, raw):
    store = open_store(f"s3://{s3_bucket}/big")
    sent = sent_requests(store)
    data = os.urandom(2001)  # one byte over MULTIPART_BYTES: parts of 1000, 1000 and 1 bytes
    (tmp_path / "big").write_bytes(data)
    seen: list[int] = []
    info = store.add_file(tmp_path / "big", progress=seen.append)
    assert info.written and info.oid == sha256_bytes(data) and sorted(seen) == [1, 1000, 1000]
    (create,) = [r for r in sent if r.method == "POST" and r.url.endswith("?uploads")]
    assert create.headers["x-amz-checksum-algorithm"] == b"SHA256"
    parts = sorted((r for r in sent if r.method == "PUT" and "partNumber=" in r.url), key=lambda r: r.url)
    chunks = [data[:1000], data[1000:2000], data[2000:]]
    assert [p.url.split("partNumber=")[1].split("&")[0] for p in parts] == ["1", "2", "3"]
    assert sorted(p.headers["x-amz-checksum-sha256"].decode() for p in parts) == sorted(b64_sha256(c) for c in chunks)
    (complete,) = [r for r in sent if r.method == "POST" and "uploadId=" in r.url]
    assert complete.headers["If-None-Match"] == b"*"
    body = complete.body.decode() if isinstance(complete.body, bytes) else complete.body
    for number, chunk in enumerate(chunks, 1):
        assert f"<PartNumber>{number}</PartNumber>" in body and f"<ChecksumSHA256>{b64_sha256(chunk)}</ChecksumSHA256>" in body
    assert raw.get_object(Bucket=s3_bucket, Key=store.key(info.oid))["Body"].read() == data
    assert store.get_bytes(info.oid) == data
    assert raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_a_multipart_upload_without_progress_and_in_whole_parts(s3_bucket, tmp_path, small_parts):
    store = open_store(f"s3://{s3_bucket}/big")
    data = os.urandom(3000)
    (tmp_path / "big").write_bytes(data)
    info = store.add_file(tmp_path / "big")
    assert info.written and store.get_bytes(info.oid) == data


def test_a_multipart_upload_that_loses_the_race_stores_nothing_new(s3_bucket, tmp_path, small_parts, raw):
    store = open_store(f"s3://{s3_bucket}/big")
    data = os.urandom(2500)
    (tmp_path / "big").write_bytes(data)
    oid = sha256_bytes(data)
    raw.put_object(Bucket=s3_bucket, Key=store.key(oid), Body=data)  # another machine was first
    seen: list[int] = []
    assert store._upload(tmp_path / "big", oid, len(data), seen.append) is False
    assert raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert sum(seen) == 0 and min(itertools.accumulate(seen)) >= 0  # as an object found there: no bytes went up


def test_a_failed_multipart_upload_is_aborted_and_named(s3_bucket, tmp_path, small_parts, proxy, raw):
    proxy.add(Fault("status", status=400, method="PUT", path="partNumber=2", body=xml_error("InvalidPart")))
    uri = f"s3://{s3_bucket}/big"
    store = open_store(uri)
    data = os.urandom(2500)
    (tmp_path / "big").write_bytes(data)
    seen: list[int] = []
    with pytest.raises(SnapshotError) as info:
        store.add_file(tmp_path / "big", progress=seen.append)
    assert sum(seen) == 0  # what the other parts sent is taken back
    assert str(info.value) == (
        f"The snapshot store {uri} failed while writing to it: An error occurred (InvalidPart) when calling the "
        "UploadPart operation (reached max retries: 0): injected"
    )
    assert raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert not store.has(sha256_bytes(data))


def test_when_the_abort_fails_too_the_upload_error_is_raised_and_the_abort_logged(
    s3_bucket, tmp_path, small_parts, proxy, caplog
):
    proxy.add(Fault("status", status=400, method="PUT", path="partNumber=1", body=xml_error("InvalidPart")))
    proxy.add(Fault("status", status=403, method="DELETE", path="uploadId=", body=xml_error("AccessDenied")))
    uri = f"s3://{s3_bucket}/big"
    store = open_store(uri)
    (tmp_path / "big").write_bytes(os.urandom(2500))
    with caplog.at_level(logging.WARNING, logger="labdatasets.stores.s3"), pytest.raises(SnapshotError, match="InvalidPart"):
        store.add_file(tmp_path / "big")
    assert [r.getMessage() for r in caplog.records if r.name == "labdatasets.stores.s3"] == [
        f"could not abort multipart upload of {uri}"
    ]


# ------------------------------------------------------------------ downloads
def test_downloads_stay_on_the_object_version_they_started_with(s3_bucket, tmp_path, monkeypatch):
    store = open_store(f"s3://{s3_bucket}/p")
    sent = sent_requests(store)
    data = bytes(range(256)) * 20
    oid = store.add_bytes(data).oid
    head = store.client.head_object(Bucket=s3_bucket, Key=store.key(oid))
    for chunk in (None, 1000):  # one streaming GET, then 1000-byte ranges in parallel
        if chunk:
            monkeypatch.setattr(transfer, "CHUNK_BYTES", chunk)
        sent.clear()
        assert store.fetch(oid, tmp_path / f"copy-{chunk}").read_bytes() == data
        gets = [r for r in sent if r.method == "GET"]
        assert gets and all(r.headers["If-Match"].decode() == head["ETag"] for r in gets)
        ranges = sorted(r.headers.get("Range", b"").decode() for r in gets)
        expected = sorted(f"bytes={s}-{min(s + 1000, len(data)) - 1}" for s in range(0, len(data), 1000))
        assert ranges == (expected if chunk else [""])


def test_ranged_reader_reads_one_version_of_an_object(s3_bucket, raw, monkeypatch):
    raw.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    old, new = os.urandom(5000), os.urandom(5000)
    first = raw.put_object(Bucket=s3_bucket, Key="k", Body=old)
    raw.put_object(Bucket=s3_bucket, Key="k", Body=new)
    client = s3.s3_client()
    for chunk in (None, 1000):
        if chunk:
            monkeypatch.setattr(transfer, "CHUNK_BYTES", chunk)
        reader = s3.ranged_reader(client, s3_bucket, "k", 5000, version_id=first["VersionId"], if_match="ignored-when-versioned")
        assert reader.read() == old
        reader.close()
        reader = s3.ranged_reader(client, s3_bucket, "k", 5000)
        assert reader.read() == new
        reader.close()
        with pytest.raises(botocore.exceptions.ClientError) as info:
            s3.ranged_reader(client, s3_bucket, "k", 5000, if_match=first["ETag"].strip('"')).read()
        assert s3.error_code(info.value) in ("PreconditionFailed", "412")


@pytest.mark.parametrize("chunk", [None, 2000])  # one streaming GET, or ranges of 2000 bytes
def test_a_cut_download_resumes_from_the_next_byte(chunk, s3_bucket, proxy, tmp_path, monkeypatch):
    if chunk:
        monkeypatch.setattr(transfer, "CHUNK_BYTES", chunk)
    store = open_store(f"s3://{s3_bucket}/p")
    data = os.urandom(3000)
    oid = store.add_bytes(data).oid
    proxy.add(Fault("truncate", method="GET", path=oid[2:12], keep_bytes=700, times=1))
    assert store.fetch(oid, tmp_path / "copy").read_bytes() == data
    ranges = [str(r.headers.get("Range")) for r in proxy.requests if r.method == "GET"]
    if chunk is None:  # a cut stream is asked again from the next byte on
        assert ranges == ["None", "bytes=700-"]
    else:  # a cut range (botocore drops its partial body) is asked again whole
        assert len(ranges) == 3 and sorted(set(ranges)) == ["bytes=0-1999", "bytes=2000-2999"]


# ------------------------------------------------------------------ retries of transient failures
@pytest.mark.parametrize("fault", [
    Fault("drop", times=1),
    Fault("status", status=503, times=1, body=xml_error("SlowDown")),
    Fault("status", status=500, times=1),
])
def test_a_transient_failure_is_asked_again(fault, s3_bucket, proxy, tmp_path):
    store = open_store(f"s3://{s3_bucket}/p")
    oid = store.add_bytes(b"asked twice").oid
    store.put_ref("r.json", b"ref bytes")
    for method, call, expected in [
        ("HEAD", lambda: store.has(oid), True),
        ("HEAD", lambda: store.fetch(oid, tmp_path / uuid.uuid4().hex).read_bytes(), b"asked twice"),
        ("GET", lambda: store.get_ref("r.json"), b"ref bytes"),
    ]:
        rule = proxy.add(Fault(fault.kind, method=method, status=fault.status, times=1, body=fault.body))
        assert call() == expected
        assert rule.applied == 1


def test_a_failure_that_is_not_transient_is_not_asked_again(s3_bucket, proxy):
    store = open_store(f"s3://{s3_bucket}/p")
    store.put_ref("r.json", b"ref")
    rule = proxy.add(Fault("status", status=400, method="GET", body=xml_error("InvalidRequest")))
    with pytest.raises(SnapshotError, match="InvalidRequest"):
        store.get_ref("r.json")
    assert rule.applied == 1


# ------------------------------------------------------------------ missing things
def test_missing_objects_and_refs(s3_bucket, tmp_path):
    uri = f"s3://{s3_bucket}/p"
    store = open_store(uri)
    oid = sha256_bytes(b"never stored")
    assert not store.has(oid) and store.get_ref("no/such.json") is None
    with pytest.raises(SnapshotNotFoundError) as info:
        store.fetch(oid, tmp_path / "x")
    assert str(info.value) == (
        f"Object {oid[:12]} is not in the snapshot store {uri}. Check that LABDATASETS_SNAPSHOT_STORE points at "
        "the lab's store, or pin the version again under a new VERSION."
    )
    assert not info.value.store_missing
    store.quarantine(oid)  # nothing to move aside: nothing happens


def no_bucket_message(bucket: str, uri: str) -> str:
    return (
        f"The snapshot store's bucket '{bucket}' does not exist ({uri}). Create the bucket, or correct the store's "
        "URI (LABDATASETS_SNAPSHOT_STORE, or LABDATASETS_SHARED_CACHE for the shared prepared cache)."
    )


@pytest.mark.parametrize("operation", ["has", "add", "fetch", "list", "put_ref", "get_ref", "quarantine"])
def test_a_missing_bucket_is_named(operation, s3_env, tmp_path):
    """A HEAD (has, fetch, the check before an upload) gets a bare 404 from a missing bucket, as from a missing
    object: the store asks about the bucket then, so that a missing bucket is not taken for a missing object."""
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    store = open_store(f"s3://{bucket}/x")
    oid = sha256_bytes(b"pinned long ago")
    call = {
        "has": lambda: store.has(oid), "add": lambda: store.add_bytes(b"x"),
        "fetch": lambda: store.fetch(oid, tmp_path / "x"), "list": lambda: list(store.iter_oids()),
        "put_ref": lambda: store.put_ref("r.json", b"x"), "get_ref": lambda: store.get_ref("r.json"),
        "quarantine": lambda: store.quarantine(oid),
    }[operation]
    with pytest.raises(SnapshotNotFoundError) as info:
        call()
    assert str(info.value) == no_bucket_message(bucket, f"s3://{bucket}/x")
    assert info.value.store_missing  # verify says it once instead of listing each object as missing


def test_a_missing_bucket_is_not_reported_as_a_missing_snapshot(s3_env, tmp_path):
    """A pinned object read through this machine's cache: the user is told the bucket is missing, not the object."""
    from labdatasets.stores.snapshots import Snapshots

    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    store = Snapshots(f"s3://{bucket}/lab", f"file://{tmp_path / 'cache'}")
    oid = sha256_bytes(b"pinned long ago")
    with pytest.raises(SnapshotNotFoundError) as info:
        store.local_path(oid, context="toy:1.0.0 source 'rows' object 'a.csv'")
    assert str(info.value) == no_bucket_message(bucket, f"s3://{bucket}/lab")
    assert not list((tmp_path / "cache").rglob("fetch.*"))  # nothing left in the cache


def test_the_bucket_is_asked_about_once_and_only_after_a_404(s3_bucket):
    """The check costs nothing when the object is there, and one HEAD of the bucket per store when one is not."""
    store = open_store(f"s3://{s3_bucket}/p")
    sent = sent_requests(store)
    oid = store.add_bytes(b"stored").oid  # a 404 (not there yet), the bucket's HEAD, the PUT
    heads = [r for r in sent if r.method == "HEAD"]
    assert [r.url.rstrip("/").endswith(s3_bucket) for r in heads] == [False, True]
    sent.clear()
    assert store.has(oid) and not store.has(sha256_bytes(b"never stored")) and not store.has(sha256_bytes(b"nor this"))
    assert len(sent) == 3 and all(not r.url.rstrip("/").endswith(s3_bucket) for r in sent)  # the object HEADs only


def test_quarantine_moves_the_object_aside(s3_bucket, raw):
    store = open_store(f"s3://{s3_bucket}/p")
    oid = store.add_bytes(b"suspect bytes").oid
    store.quarantine(oid)
    assert not store.has(oid)
    (key,) = [item["Key"] for item in raw.list_objects_v2(Bucket=s3_bucket, Prefix="p/quarantine/")["Contents"]]
    assert key.startswith(f"p/quarantine/{oid}.")
    assert raw.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == b"suspect bytes"


# ------------------------------------------------------------------ errors: what failed, where, what to do
OPERATIONS = {
    # name: (HTTP method of the failing request, what the message says the store was doing)
    "has": ("HEAD", "checking"),
    "add": ("PUT", "writing to"),
    "fetch": ("HEAD", "reading from"),
    "list": ("GET", "listing"),
    "put_ref": ("PUT", "writing to"),
    "get_ref": ("GET", "reading from"),
    "quarantine": ("PUT", "repairing"),
}


def run(operation: str, store, oid: str, tmp_path):
    return {
        "has": lambda: store.has(oid),
        "add": lambda: store.add_bytes(b"new bytes " + uuid.uuid4().bytes),
        "fetch": lambda: store.fetch(oid, tmp_path / uuid.uuid4().hex),
        "list": lambda: list(store.iter_oids()),
        "put_ref": lambda: store.put_ref(f"{uuid.uuid4().hex}.json", b"x"),
        "get_ref": lambda: store.get_ref("r.json"),
        "quarantine": lambda: store.quarantine(oid),
    }[operation]()


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_access_denied_says_which_store_and_what_to_check(operation, s3_bucket, proxy, tmp_path):
    code = "AccessDenied"
    uri = f"s3://{s3_bucket}/p"
    store = open_store(uri)
    oid = store.add_bytes(b"stored").oid
    store.put_ref("r.json", b"ref")
    method, doing = OPERATIONS[operation]
    proxy.add(Fault("status", status=403, method=method, body=xml_error(code)))
    with pytest.raises(SnapshotError) as info:
        run(operation, store, oid, tmp_path)
    assert type(info.value) is SnapshotError
    code = "403" if method == "HEAD" else code  # an answer to HEAD has no body: its code is its status
    assert str(info.value) == (
        f"Access denied {doing} the snapshot store {uri} ({code}). Check the AWS credentials "
        "(AWS_PROFILE, AWS_ACCESS_KEY_ID, ~/.aws) and that they may read and write the bucket."
    )


@pytest.mark.parametrize("operation", ["has", "get_ref"])
def test_a_server_error_names_the_store_and_the_request(operation, s3_bucket, proxy, tmp_path):
    uri = f"s3://{s3_bucket}/p"
    store = open_store(uri)
    oid = store.add_bytes(b"stored").oid
    store.put_ref("r.json", b"ref")
    method, doing = OPERATIONS[operation]
    proxy.add(Fault("status", status=501, method=method, body=xml_error("NotImplemented")))
    with pytest.raises(SnapshotError) as info:
        run(operation, store, oid, tmp_path)
    assert type(info.value) is SnapshotError
    message = str(info.value)
    code, text = ("501", "Not Implemented") if method == "HEAD" else ("NotImplemented", "injected")
    assert message.startswith(f"The snapshot store {uri} failed while {doing} it: An error occurred ({code}) when calling the "), message
    assert message.endswith(f" operation (reached max retries: 0): {text}"), message


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_an_unreachable_endpoint_says_try_again_later(operation, s3_bucket, monkeypatch, tmp_path):
    uri = f"s3://{s3_bucket}/p"
    oid = open_store(uri).add_bytes(b"stored").oid
    port = free_port()  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    store = s3.S3Store(uri)  # not open_store's cached one, which talks to moto
    doing = "checking" if operation == "add" else OPERATIONS[operation][1]  # add asks whether it has the bytes first
    with pytest.raises(SnapshotError) as info:
        run(operation, store, oid, tmp_path)
    message = str(info.value)
    assert message.startswith(
        f"Cannot reach the snapshot store {uri} while {doing} it: Could not connect to the endpoint URL: "
        f'"http://127.0.0.1:{port}/{s3_bucket}'
    ), message
    assert message.endswith('". Try again later.'), message


def test_a_write_whose_connection_drops_names_the_store(s3_bucket, proxy):
    uri = f"s3://{s3_bucket}/p"
    store = open_store(uri)
    proxy.add(Fault("drop", method="PUT", path="/objects/"))
    with pytest.raises(SnapshotError) as info:
        store.add_bytes(b"never arrives")
    assert str(info.value).startswith(f"The snapshot store {uri} failed while writing to it: Connection was closed"), str(info.value)


@pytest.fixture
def no_credentials(s3_env, monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.parametrize("operation", ["has", "list"])
def test_no_credentials_says_what_to_set(operation, s3_bucket, no_credentials, tmp_path):
    uri = f"s3://{s3_bucket}/p"
    store = open_store(uri)
    doing = OPERATIONS[operation][1]
    oid = sha256_bytes(b"x")
    with pytest.raises(SnapshotError) as info:
        run("has" if operation == "add" else operation, store, oid, tmp_path)
    doing = "checking" if operation == "add" else doing
    assert str(info.value) == (
        f"No AWS credentials found while {doing} the snapshot store {uri} (Unable to locate credentials). Set "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), or "
        "AWS_PROFILE naming a profile in ~/.aws/credentials, or run where an instance role provides them."
    )


def test_partial_credentials_are_named_without_showing_them(s3_bucket, no_credentials, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_AWS_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    uri = f"s3://{s3_bucket}/p"
    with pytest.raises(SnapshotError) as info:
        open_store(uri).has(sha256_bytes(b"x"))
    message = str(info.value)
    assert message.startswith(f"No AWS credentials found while opening the snapshot store {uri} (Partial credentials found in env")
    assert TEST_AWS_KEY not in message and SESSION_TOKEN not in message and "AWS_SECRET_ACCESS_KEY" in message


def test_no_error_shows_a_credential(s3_bucket, proxy, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    store = open_store(f"s3://{s3_bucket}/p")
    oid = sha256_bytes(b"x")
    messages = []
    for status, body in [(403, xml_error("InvalidToken")), (500, None), (400, xml_error("ExpiredToken"))]:
        rule = proxy.add(Fault("status", status=status, body=body))
        for operation in ("has", "put_ref", "list"):
            with pytest.raises(SnapshotError) as info:
                run(operation, store, oid, tmp_path)
            messages.append(str(info.value))
        proxy.faults.remove(rule)
    assert len(messages) == 9
    for message in messages:
        assert TEST_AWS_KEY not in message and TEST_AWS_SECRET not in message and SESSION_TOKEN not in message


# ------------------------------------------------------------------ what counts as missing, denied, transient
def client_error(code: str | None, status: int | None = None) -> botocore.exceptions.ClientError:
    response: dict = {}
    if code is not None:
        response["Error"] = {"Code": code, "Message": "m"}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return botocore.exceptions.ClientError(response, "GetObject")


@pytest.mark.parametrize("code", ["404", "NoSuchKey", "NotFound", "NoSuchVersion"])
def test_what_counts_as_missing(code):
    assert s3.is_missing(client_error(code)) and not s3.is_denied(client_error(code))


@pytest.mark.parametrize("code", [
    "403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "AllAccessDisabled",
])
def test_what_counts_as_denied(code):
    assert s3.is_denied(client_error(code)) and not s3.is_missing(client_error(code))


def test_error_codes():
    assert s3.error_code(client_error("SlowDown")) == "SlowDown"
    assert s3.error_code(client_error(None)) == "" and s3.error_code(ValueError("x")) == ""
    no_code = botocore.exceptions.ClientError({"Error": {"Message": "m"}}, "GetObject")
    assert s3.error_code(no_code) == ""
    assert not s3.is_missing(client_error("NoSuchBucket")) and not s3.is_missing(ValueError("404"))


@pytest.mark.parametrize("code", ["SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500", "502", "504"])
def test_retryable_codes_are_transient_whatever_the_status(code):
    assert s3.is_transient(client_error(code, status=200)) and s3.is_transient(client_error(code))


@pytest.mark.parametrize("status,transient", [(500, True), (501, True), (599, True), (499, False), (404, False), (None, False)])
def test_server_errors_are_transient(status, transient):
    assert s3.is_transient(client_error("Whatever", status=status)) is transient


@pytest.mark.parametrize("exc,transient", [
    (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), True),
    (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), True),
    (botocore.exceptions.IncompleteReadError(actual_bytes=1, expected_bytes=2), True),
    (botocore.exceptions.HTTPClientError(error="e"), True),
    (ConnectionResetError("reset"), True),
    (TimeoutError("slow"), True),
    (http.client.IncompleteRead(b"", 5), True),
    (ValueError("no"), False),
    (botocore.exceptions.NoCredentialsError(), False),
])
def test_what_counts_as_transient(exc, transient):
    assert s3.is_transient(exc) is transient


@pytest.mark.parametrize("exc,unavailable", [
    (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), True),
    (botocore.exceptions.ConnectTimeoutError(endpoint_url="http://x"), True),
    (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), True),
    (botocore.exceptions.ResponseStreamingError(error="e"), True),
    (botocore.exceptions.IncompleteReadError(actual_bytes=1, expected_bytes=2), True),
    (client_error("500", status=500), False),
    (ConnectionResetError("reset"), False),
])
def test_what_counts_as_unreachable(exc, unavailable):
    assert s3.is_unavailable(exc) is unavailable


def test_the_client_is_sized_for_parallel_transfers(s3_env, monkeypatch):
    monkeypatch.setenv("AWS_RETRY_MODE", "legacy")  # a profile's legacy mode does not apply: ours is standard
    config = s3.s3_client().meta.config
    assert config.max_pool_connections == 32 and config.retries["mode"] == "standard"
    assert config.request_checksum_calculation == "when_required" and config.response_checksum_validation == "when_required"


def test_sha256_b64():
    assert s3.sha256_b64(hashlib.sha256(b"abc").hexdigest()) == b64_sha256(b"abc")
