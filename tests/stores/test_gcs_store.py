"""The gs:// snapshot store (labdatasets/stores/gcs.py) against the GCS emulator, fast.

What a user of a ``gs://`` store relies on: the bytes that come back are the
bytes that went in (their sha256 is the object id), objects and refs are
written once and never replaced, listings show this store's objects only,
large objects arrive as exact ranges, transient failures are asked again, and
every failure names the store, what was being done and what to do, without a
credential in it. Faults a local emulator never makes (403, 412, 5xx, cut
answers) come from tests/proxy.py in front of it.

The cross-store contract (file://, s3://, gs://) is tests/stores/test_store_contract.py;
a flaky network under many objects is tests/faults/test_network.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

pytest.importorskip("google.cloud.storage")

from google.api_core import exceptions as gexc  # noqa: E402
from google.auth import exceptions as auth_exceptions  # noqa: E402

from labdatasets.errors import SnapshotError, SnapshotNotFoundError  # noqa: E402
from labdatasets.stores import open_store, transfer  # noqa: E402
from labdatasets.stores.gcs import (  # noqa: E402
    POOL_CONNECTIONS, GCSStore, blob_reader, gcs_client, is_transient, retry_timeout,
)
from labdatasets.stores.hashing import sha256_bytes  # noqa: E402
from tests.proxy import Fault, FaultProxy  # noqa: E402
from tests.servers import free_port  # noqa: E402


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setenv("LABDATASETS_TRANSFER_BACKOFF", "0")
    monkeypatch.delenv("LABDATASETS_TRANSFER_RETRIES", raising=False)
    monkeypatch.delenv("LABDATASETS_TRANSFER_WORKERS", raising=False)
    monkeypatch.delenv("LABDATASETS_GCS_TIMEOUT", raising=False)


@pytest.fixture
def uri(gcs_bucket) -> str:
    return f"gs://{gcs_bucket}/lab/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def store(uri) -> GCSStore:
    return GCSStore(uri)


@pytest.fixture
def proxied(gcs_env, monkeypatch):
    """``proxied(uri, *faults)``: a GCSStore whose every request goes through a FaultProxy in front of the emulator."""
    stack = contextlib.ExitStack()

    def open_proxied(uri: str, *faults: Fault, delay: float = 0.0) -> tuple[GCSStore, FaultProxy]:
        proxy = stack.enter_context(FaultProxy(f"http://{gcs_env}", faults=faults, delay=delay))
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        return GCSStore(uri), proxy

    with stack:
        yield open_proxied


def blob_names(store: GCSStore) -> list[str]:
    return sorted(b.name for b in store.client.list_blobs(store.bucket_name, prefix=f"{store.prefix}/"))


def media_ranges(proxy: FaultProxy) -> list[str]:
    return [r.headers.get("Range") or r.headers.get("range") for r in proxy.requests if "alt=media" in r.path]


# ------------------------------------------------------------------ bytes in, bytes out
@pytest.mark.parametrize("size", [0, 1, 1000])
def test_bytes_round_trip_under_their_sha256(store, tmp_path, size):
    data = bytes(i % 251 for i in range(size))
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    sent: list[int] = []
    info = store.add_file(src, progress=sent.append)
    assert (info.oid, info.size, info.written) == (sha256_bytes(data), size, True)
    assert sent == [size]  # one progress call with the whole size, after the upload
    assert blob_names(store) == [f"{store.prefix}/objects/{info.oid[:2]}/{info.oid[2:]}"]
    got: list[int] = []
    dest = store.fetch(info.oid, tmp_path / "out" / "copy", progress=got.append)
    assert dest.read_bytes() == data and sum(got) == size
    assert store.has(info.oid) is True and store.has(sha256_bytes(data + b"x")) is False
    again = store.add_file(src, progress=sent.append)
    assert (again.oid, again.written) == (info.oid, False) and sent == [size]


def test_a_writer_that_finds_the_object_already_stored_writes_nothing(store, tmp_path):
    """Two machines add the same bytes: the one that checks second (after has() said no) stores nothing."""
    oid = store.add_bytes(b"original").oid
    impostor = tmp_path / "impostor.bin"
    impostor.write_bytes(b"other bytes")
    sent: list[int] = []
    assert store._upload(impostor, oid, impostor.stat().st_size, sent.append) is False
    assert sent == [] and store.get_bytes(oid) == b"original"


def test_an_upload_without_progress_reports_nothing(store, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"quiet")
    assert store.add_file(src).written and store.get_bytes(sha256_bytes(b"quiet")) == b"quiet"


def test_uploads_carry_a_crc32c_of_their_bytes_and_create_only(store):
    """GCS verifies the CRC32C it is sent and refuses to replace with ifGenerationMatch=0 (the emulator checks neither)."""
    import google_crc32c

    sent = []
    store.client._http.hooks["response"].append(lambda response, *a, **kw: sent.append(response.request))
    store.add_bytes(b"object bytes")
    store.put_ref("prepared/toy/1.0.0.json", b'{"ref": 1}')
    uploads = [r for r in sent if "/upload/" in r.url]
    assert len(uploads) == 2 and all("ifGenerationMatch=0" in r.url for r in uploads)
    for request, data in zip(uploads, (b"object bytes", b'{"ref": 1}'), strict=True):
        crc = base64.b64encode(google_crc32c.Checksum(data).digest()).decode()
        assert f'"crc32c": "{crc}"' in request.body.decode("latin-1"), request.body[:400]


def test_a_412_means_another_writer_stored_it_first(proxied, uri, tmp_path):
    """A server that enforces ifGenerationMatch=0 answers 412 to the second writer: nothing written, no error."""
    store, proxy = proxied(uri, Fault("status", status=412, method="POST", path="/upload/"))
    src = tmp_path / "src.bin"
    src.write_bytes(b"raced")
    sent: list[int] = []
    info = store.add_file(src, progress=sent.append)
    assert info.written is False and sent == []
    assert store.put_ref("prepared/toy/1.0.0.json", b"late") is False
    assert proxy.stats["status"] == 2


# ------------------------------------------------------------------ large objects
def test_a_large_object_arrives_as_exact_ranges(proxied, uri, tmp_path, monkeypatch):
    monkeypatch.setattr(transfer, "CHUNK_BYTES", 64 << 10)
    data = bytes(range(256)) * 1000 + b"tail"  # 256,004 bytes: three full ranges and a short one
    oid = GCSStore(uri).add_bytes(data).oid
    store, proxy = proxied(uri, delay=0.05)
    threads: set[str] = set()

    def media_thread(response, *args, **kwargs):  # a response hook: returning None keeps the response
        if "alt=media" in response.request.url:
            threads.add(threading.current_thread().name)

    store.client._http.hooks["response"].append(media_thread)
    assert store.fetch(oid, tmp_path / "big").read_bytes() == data
    want = [f"bytes={s}-{min(s + (64 << 10), len(data)) - 1}" for s in range(0, len(data), 64 << 10)]
    assert sorted(media_ranges(proxy)) == sorted(want)  # no byte asked twice, none past the end
    assert len(threads) > 1  # the ranges were in flight together
    # ... and all of one generation: an object replaced meanwhile (by a rogue writer) is never mixed into it
    generation = store.bucket.get_blob(store.key(oid)).generation
    assert all(f"generation={generation}" in r.path for r in proxy.requests if "alt=media" in r.path)


def test_one_range_at_a_time_when_parallel_reads_are_off(store, tmp_path, monkeypatch):
    monkeypatch.setattr(transfer, "CHUNK_BYTES", 64 << 10)
    monkeypatch.setenv("LABDATASETS_TRANSFER_WORKERS", "1")
    data = bytes(range(256)) * 1000
    oid = store.add_bytes(data).oid
    seen: list[tuple[str, str]] = []
    store.client._http.hooks["response"].append(
        lambda response, *a, **kw: seen.append((threading.current_thread().name, response.request.headers.get("Range", "")))
    )
    assert store.fetch(oid, tmp_path / "seq").read_bytes() == data
    ranges = [r for _, r in seen if r]
    assert ranges == [f"bytes={s}-{min(s + (64 << 10), len(data)) - 1}" for s in range(0, len(data), 64 << 10)]
    assert len({name for name, r in seen if r}) == 1  # one thread: one request in flight


def test_a_blob_reader_reads_the_stored_bytes_of_a_gzip_encoded_object(proxied, gcs_bucket):
    """An object uploaded with Content-Encoding: gzip is read (and pinned) as stored, never decompressed.

    GCS serves such an object as it is, with ``Content-Encoding: gzip``, to a client that accepts gzip
    (requests does); the emulator leaves that header out, so the proxy sets it.
    """
    import gzip

    raw = gzip.compress(b"id,value\n" + b"1,one\n" * 200)
    store, proxy = proxied(f"gs://{gcs_bucket}/lab", Fault("header", path="alt=media", headers={"Content-Encoding": "gzip"}))
    blob = store.bucket.blob("src/table.csv.gz")
    blob.content_encoding = "gzip"
    blob.upload_from_string(raw)
    reader = blob_reader(blob, len(raw))
    try:
        assert reader.read() == raw
    finally:
        reader.close()
    assert proxy.stats["header"] == 1


def test_many_parallel_downloads_share_the_connection_pool_without_dropping_connections(proxied, uri, caplog):
    """The loaders fetch 16 small objects and 8 ranges at once; requests' default pool of 10 would drop the rest."""
    from labdatasets.loaders._objects import SMALL_OBJECT_WORKERS

    assert POOL_CONNECTIONS >= SMALL_OBJECT_WORKERS + transfer.WORKERS
    client = gcs_client()
    for url in ("https://storage.googleapis.com/", "http://127.0.0.1/"):
        assert client._http.get_adapter(url)._pool_maxsize == POOL_CONNECTIONS
    oids = [GCSStore(uri).add_bytes(f"object {i}".encode()).oid for i in range(SMALL_OBJECT_WORKERS + transfer.WORKERS)]
    store, _ = proxied(uri, delay=0.1)  # every request in flight at once
    caplog.set_level(logging.WARNING, logger="urllib3.connectionpool")
    results: dict[str, bytes] = {}
    threads = [threading.Thread(target=lambda o=oid: results.__setitem__(o, store.get_bytes(o))) for oid in oids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(sha256_bytes(results[o]) == o for o in oids)
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


# ------------------------------------------------------------------ listing, refs, quarantine
def test_a_listing_holds_this_stores_objects_only(gcs_bucket, tmp_path):
    """Two stores in one bucket under prefixes of the same length; refs, quarantined copies and stray keys are not objects."""
    a, b = GCSStore(f"gs://{gcs_bucket}/lab/a"), GCSStore(f"gs://{gcs_bucket}/lab/b")
    mine = {a.add_bytes(f"a{i}".encode()).oid for i in range(3)}
    theirs = b.add_bytes(b"b0").oid
    a.put_ref("prepared/toy/1.0.0.json", b"{}")
    a.bucket.blob("lab/a/objects/README").upload_from_string(b"not an object")
    gone = a.add_bytes(b"damaged").oid
    a.quarantine(gone)
    assert sorted(a.iter_oids()) == sorted(mine) and list(b.iter_oids()) == [theirs]
    assert list(GCSStore(f"gs://{gcs_bucket}/lab/empty").iter_oids()) == []


def test_refs_live_under_the_prefix_and_are_written_once(store):
    assert store.get_ref("prepared/toy/1.0.0.json") is None
    assert store.put_ref("prepared/toy/1.0.0.json", b"first") is True
    assert store.put_ref("prepared/toy/1.0.0.json", b"second") is False
    assert store.get_ref("prepared/toy/1.0.0.json") == b"first"
    assert blob_names(store) == [f"{store.prefix}/refs/prepared/toy/1.0.0.json"]


def test_quarantine_moves_the_object_aside_and_keeps_its_bytes(store):
    oid = store.add_bytes(b"suspect bytes").oid
    store.quarantine(oid)
    assert not store.has(oid)
    (kept,) = blob_names(store)
    assert kept.startswith(f"{store.prefix}/quarantine/{oid}.")
    assert store.bucket.blob(kept).download_as_bytes() == b"suspect bytes"
    store.quarantine(oid)  # already moved: nothing to do, no error
    assert blob_names(store) == [kept]


# ------------------------------------------------------------------ missing things
def test_a_missing_object_names_the_store_and_what_to_do(store, tmp_path):
    oid = sha256_bytes(b"never stored")
    with pytest.raises(SnapshotNotFoundError) as info:
        store.fetch(oid, tmp_path / "x")
    assert str(info.value).startswith(f"Object {oid[:12]} is not in the snapshot store {store.uri}. Check that ")
    assert "LABDATASETS_SNAPSHOT_STORE" in str(info.value)
    assert not (tmp_path / "x").exists()


def test_an_object_that_vanishes_before_its_bytes_are_read_is_missing(proxied, uri, tmp_path):
    store, _ = proxied(uri, Fault("status", status=404, method="GET", path="alt=media"))
    oid = store.add_bytes(b"here, then gone").oid
    with pytest.raises(SnapshotNotFoundError, match=f"Object {oid[:12]} is not in the snapshot store {uri}"):
        store.fetch(oid, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_a_missing_bucket_is_named(gcs_env, tmp_path):
    name = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    store = GCSStore(f"gs://{name}/lab")
    expected = (
        f"The snapshot store's bucket '{name}' does not exist (gs://{name}/lab). Create the bucket, or correct the "
        "store's URI (LABDATASETS_SNAPSHOT_STORE, or LABDATASETS_SHARED_CACHE for the shared prepared cache)."
    )
    src = tmp_path / "src.bin"
    src.write_bytes(b"x")
    for call in (lambda: store.add_file(src), lambda: list(store.iter_oids()), lambda: store.put_ref("r.json", b"{}")):
        with pytest.raises(SnapshotNotFoundError) as info:
            call()
        assert str(info.value) == expected and info.value.store_missing
    assert store.has(sha256_bytes(b"x")) is False and store.get_ref("r.json") is None
    store.quarantine(sha256_bytes(b"x"))  # nothing to move aside


# ------------------------------------------------------------------ failures: what was being done, and what to do
OID = sha256_bytes(b"some object")
OPERATIONS = {
    # what the user called: (the requests refused, the call, the words of the message)
    # (the client's own GET of the bucket's metadata, whose failure it ignores, is let through)
    "has": (dict(method="GET", path="/o/"), lambda s, tmp: s.has(OID), "checking"),
    "upload": (dict(method="POST", path="/upload/"), lambda s, tmp: s.add_bytes(b"new object"), "writing to"),
    "fetch": (dict(method="GET", path="/o/"), lambda s, tmp: s.fetch(OID, tmp / "x"), "reading from"),
    "list": (dict(method="GET", path=r"/o\?"), lambda s, tmp: list(s.iter_oids()), "listing"),
    "put_ref": (dict(method="POST", path="/upload/"), lambda s, tmp: s.put_ref("a/b.json", b"{}"), "writing to"),
    "get_ref": (dict(method="GET", path="/o/"), lambda s, tmp: s.get_ref("a/b.json"), "reading from"),
    "quarantine": (dict(method="POST", path="/o/"), lambda s, tmp: s.quarantine(OID), "repairing"),
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_access_denied_says_what_was_being_done_and_what_to_check(operation, proxied, uri, tmp_path):
    where, call, doing = OPERATIONS[operation]
    store, proxy = proxied(uri, Fault("status", status=403, **where))
    with pytest.raises(SnapshotError) as info:
        call(store, tmp_path)
    assert str(info.value) == (
        f"Access denied {doing} the snapshot store {uri}. Check GOOGLE_APPLICATION_CREDENTIALS (or "
        "'gcloud auth application-default login') and the bucket's permissions."
    )
    assert proxy.stats["status"] == 1, proxy.requests  # a refusal is not asked again


def test_any_other_refusal_is_reported_with_the_servers_answer(proxied, uri):
    store, _ = proxied(uri, Fault("status", status=400, method="GET"))
    with pytest.raises(SnapshotError) as info:
        store.has(OID)
    assert str(info.value).startswith(f"The snapshot store {uri} failed while checking it: 400 GET http://127.0.0.1:")
    assert str(info.value).endswith("injected fault: HTTP 400")


# Answers the emulator cannot give (behind it, a 401 makes the client refresh its anonymous credentials),
# and 5xx answers, which the SDK itself retries for two minutes before they reach the store.
@pytest.mark.parametrize(
    "exc",
    [gexc.ServiceUnavailable("down"), gexc.GatewayTimeout("down"), gexc.InternalServerError("down"), gexc.TooManyRequests("down")],
    ids=lambda e: type(e).__name__,
)
def test_an_unavailable_store_says_try_again_later(store, exc):
    message = str(store._fail(exc, "reading from"))
    assert message == f"Cannot reach the snapshot store {store.uri} while reading from it: {exc}. Try again later."


def test_a_store_still_unreachable_after_the_retries_says_what_to_check(store, monkeypatch):
    """The SDK asks again after a refused connection or a 5xx until the store's timeout, then raises RetryError
    naming the last error (real ones: the tests below)."""
    import requests

    monkeypatch.delenv("STORAGE_EMULATOR_HOST")  # (read when the message is made, not when the store is opened)
    refused = requests.ConnectionError("HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded (Connection refused)")
    assert str(store._fail(gexc.RetryError("Timeout of 30.0s exceeded", refused), "checking")) == (
        f"Cannot reach the snapshot store {store.uri} while checking it: no connection (asked for 30 s; last error: "
        f"{refused}). Check this machine's network connection and DNS, then run the command again; "
        "LABDATASETS_GCS_TIMEOUT (now 30 s) sets how long to keep trying."
    )
    for cause in (gexc.ServiceUnavailable("503 GET /storage/v1/b/x/o/y"), gexc.BadGateway("502 GET /storage/v1/b/x/o/y")):
        assert str(store._fail(gexc.RetryError("Timeout of 30.0s exceeded", cause), "checking")) == (
            f"Cannot reach the snapshot store {store.uri} while checking it: it kept answering with errors (asked for "
            f"30 s; last: {cause}). Try again later; LABDATASETS_GCS_TIMEOUT (now 30 s) sets how long to keep trying."
        )
    other = gexc.RetryError("Timeout of 30.0s exceeded", ValueError("a bug"))
    assert str(store._fail(other, "checking")).startswith(f"The snapshot store {store.uri} failed while checking it: Timeout")


@pytest.mark.parametrize(
    "env,seconds", [(None, 30.0), ("", 30.0), ("5", 5.0), ("0.5", 0.5), ("0", 0.0), ("-1", 30.0), ("soon", 30.0)]
)
def test_how_long_a_store_keeps_trying(env, seconds, monkeypatch, uri):
    """LABDATASETS_GCS_TIMEOUT: seconds (default 30, not the SDK's 120); 0 asks once; nonsense means the default."""
    if env is not None:
        monkeypatch.setenv("LABDATASETS_GCS_TIMEOUT", env)
    assert retry_timeout() == seconds
    store = GCSStore(uri)
    assert store.timeout == seconds and store.retry.timeout == seconds


@pytest.fixture
def closed_port(gcs_bucket, monkeypatch) -> str:
    """STORAGE_EMULATOR_HOST pointing at a loopback port nothing listens on (once the bucket exists): every connection is refused."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
    monkeypatch.setenv("LABDATASETS_GCS_TIMEOUT", "1.5")
    return endpoint


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_store_that_refuses_connections_says_so_within_its_timeout(operation, closed_port, uri, tmp_path):
    _, call, doing = OPERATIONS[operation]
    store = GCSStore(uri)
    started = time.monotonic()
    with pytest.raises(SnapshotError) as info:
        call(store, tmp_path)
    assert time.monotonic() - started < 8  # 1.5 s of asking again, not the SDK's 120 s
    message = str(info.value)
    # an upload checks whether the object is there first
    doing = "checking" if operation == "upload" else doing
    assert message.startswith(f"Cannot reach the snapshot store {uri} while {doing} it: no connection (asked for 1.5 s; ")
    assert "Connection refused" in message
    assert message.endswith(
        f"Check this machine's network connection and DNS, and that the endpoint in STORAGE_EMULATOR_HOST ({closed_port}) "
        "is running, then run the command again; LABDATASETS_GCS_TIMEOUT (now 1.5 s) sets how long to keep trying."
    )


@pytest.mark.parametrize("fault", [Fault("drop"), Fault("status", status=503)], ids=["dropped", "503"])
def test_a_store_that_keeps_failing_is_asked_again_until_its_timeout(fault, proxied, uri, monkeypatch):
    monkeypatch.setenv("LABDATASETS_GCS_TIMEOUT", "1.5")
    store, proxy = proxied(uri, fault)
    started = time.monotonic()
    with pytest.raises(SnapshotError) as info:
        list(store.iter_oids())
    assert time.monotonic() - started < 8
    assert proxy.stats[fault.kind] >= 2  # asked again (backoff from 1 s, at random), then gave up
    what = "no connection" if fault.kind == "drop" else "it kept answering with errors"
    assert str(info.value).startswith(f"Cannot reach the snapshot store {uri} while listing it: {what} (asked for 1.5 s; ")
    assert str(info.value).endswith("LABDATASETS_GCS_TIMEOUT (now 1.5 s) sets how long to keep trying.")


def test_a_401_is_access_denied(store):
    assert str(store._fail(gexc.Unauthorized("expired"), "listing")).startswith(
        f"Access denied listing the snapshot store {store.uri}. Check GOOGLE_APPLICATION_CREDENTIALS"
    )


def test_no_credentials_says_how_to_provide_them(tmp_path, monkeypatch):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    with pytest.raises(SnapshotError) as info:
        open_store("gs://lab-data/snapshots")
    assert str(info.value) == (
        "No Google credentials found while opening the snapshot store gs://lab-data/snapshots. Set "
        "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run 'gcloud auth "
        "application-default login'."
    )


@pytest.fixture
def refused_key(tmp_path, monkeypatch) -> Iterator[dict]:
    """A service-account key whose token endpoint (a fault proxy answering 401) refuses it."""
    from tests.sheets_server import service_account_info

    with FaultProxy("http://127.0.0.1:9", faults=[Fault("status", status=401)]) as proxy:
        info = service_account_info(f"{proxy.url}/token")
        key = tmp_path / "revoked-key.json"
        key.write_text(json.dumps(info))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "lab-test")
        yield info


def test_a_refused_credential_is_named_and_never_shown(refused_key):
    store = GCSStore("gs://lab-data/snapshots")
    with pytest.raises(SnapshotError) as info:
        store.has(OID)
    message = str(info.value)
    assert message.startswith("Google refused the credentials while checking the snapshot store gs://lab-data/snapshots (")
    assert "injected fault: HTTP 401" in message  # the token endpoint's answer, as the SDK reported it
    assert message.endswith(
        "). The key in GOOGLE_APPLICATION_CREDENTIALS (or the 'gcloud auth application-default login' session) is "
        "revoked, expired or not valid; replace it, then run the command again."
    )
    for secret in (refused_key["private_key_id"], "PRIVATE KEY", refused_key["private_key"].splitlines()[1][:20]):
        assert secret not in message


def test_a_token_endpoint_that_cannot_be_reached_is_no_connection_not_a_refused_key(refused_key, monkeypatch, tmp_path):
    """No network: the credential's token endpoint refuses the connection. That says nothing about the key."""
    info = dict(refused_key, token_uri=f"http://127.0.0.1:{free_port()}/token")
    key = tmp_path / "key.json"
    key.write_text(json.dumps(info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.setenv("LABDATASETS_GCS_TIMEOUT", "1")
    store = GCSStore("gs://lab-data/snapshots")
    started = time.monotonic()
    with pytest.raises(SnapshotError) as caught:
        store.has(OID)
    assert time.monotonic() - started < 8
    message = str(caught.value)
    assert message.startswith("Cannot reach the snapshot store gs://lab-data/snapshots while checking it: no connection (")
    assert "/token" in message and "Connection refused" in message
    assert message.endswith(
        "Check this machine's network connection and DNS, then run the command again; LABDATASETS_GCS_TIMEOUT "
        "(now 1 s) sets how long to keep trying."
    )
    for secret in (info["private_key_id"], "PRIVATE KEY", info["private_key"].splitlines()[1][:20]):
        assert secret not in message


# ------------------------------------------------------------------ transient failures are asked again
@pytest.mark.parametrize(
    "exc,transient",
    [
        (gexc.ServiceUnavailable("503"), True),
        (gexc.GatewayTimeout("504"), True),
        (gexc.InternalServerError("500"), True),
        (gexc.TooManyRequests("429"), True),
        (gexc.BadGateway("502"), True),
        (gexc.NotFound("404"), False),
        (gexc.Forbidden("403"), False),
        (gexc.PreconditionFailed("412"), False),
        (auth_exceptions.RefreshError("refused"), False),
        (ConnectionResetError("reset"), True),
        (TimeoutError("slow"), True),
        (ValueError("a bug"), False),
    ],
    ids=repr,
)
def test_which_failures_are_worth_asking_again(exc, transient):
    assert is_transient(exc) is transient


def test_cut_and_dropped_answers_are_transient():
    import http.client

    import requests
    from google.resumable_media import common

    class Answer:
        def __init__(self, status_code):
            self.status_code = status_code

    for exc in (requests.ConnectionError("dropped"), requests.Timeout("slow"), requests.exceptions.ChunkedEncodingError("cut"),
                http.client.IncompleteRead(b"part", 10)):
        assert is_transient(exc) is True, exc
    assert is_transient(common.InvalidResponse(Answer(500), "5xx")) is True
    assert is_transient(common.InvalidResponse(Answer(503), "5xx")) is True
    assert is_transient(common.InvalidResponse(Answer(499), "4xx")) is False
    assert is_transient(common.InvalidResponse(Answer(None), "no status")) is False
    assert is_transient(common.InvalidResponse(None, "no answer at all")) is False


def test_a_cut_answer_is_read_again_from_where_it_stopped(proxied, uri, tmp_path):
    data = bytes(range(256)) * 400
    store, proxy = proxied(uri)
    oid = store.add_bytes(data).oid
    proxy.add(Fault("truncate", keep_bytes=5000, method="GET", path="alt=media", times=1))
    assert store.fetch(oid, tmp_path / "x").read_bytes() == data
    assert proxy.stats["truncate"] == 1


def test_a_dropped_ref_read_is_asked_again(proxied, uri):
    store, proxy = proxied(uri)
    store.put_ref("prepared/toy/1.0.0.json", b"the ref")
    proxy.add(Fault("drop", method="GET", path="alt=media", times=1))
    assert store.get_ref("prepared/toy/1.0.0.json") == b"the ref"
    assert proxy.stats["drop"] == 1
