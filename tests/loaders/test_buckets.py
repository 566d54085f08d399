"""S3Source and GCSSource against moto's S3 server and the GCS emulator."""

from __future__ import annotations

import io
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labdatasets.errors import SourceAuthError, SourceError, SourceNotFoundError, SourceUnavailableError
from tests.loaders.contract import SourceContract

pytest.importorskip("boto3")
pytest.importorskip("google.cloud.storage")

CSV = b"station,day,value\nnorth,2026-10-01,0.5\nsouth,2026-10-01,1.25\n"
ROWS = pa.table({"station": ["north", "south"], "day": pa.array(["2026-10-01", "2026-10-01"]).cast(pa.date32()), "value": [0.5, 1.25]})


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@pytest.fixture
def s3(s3_env):
    import boto3

    return boto3.client("s3", endpoint_url=s3_env)


@pytest.fixture
def gcs(gcs_bucket):
    from google.cloud import storage

    return storage.Client().bucket(gcs_bucket)


class TestS3SingleCSV(SourceContract):
    @pytest.fixture
    def source(self, s3, s3_bucket):
        from labdatasets.loaders.s3 import S3Source

        s3.put_object(Bucket=s3_bucket, Key="stations/2026-10/readings.csv", Body=CSV)
        return S3Source(f"s3://{s3_bucket}/stations/2026-10/readings.csv")

    @pytest.fixture
    def expected(self):
        return ROWS

    @pytest.fixture
    def change_source(self, s3, s3_bucket):
        return lambda: s3.put_object(Bucket=s3_bucket, Key="stations/2026-10/readings.csv", Body=CSV + b"east,2026-10-02,2.0\n")

    @pytest.fixture
    def missing_source(self, s3_bucket):
        from labdatasets.loaders.s3 import S3Source

        return S3Source(f"s3://{s3_bucket}/stations/nothing.csv")


class TestS3VersionedParquetGlob(SourceContract):
    @pytest.fixture
    def source(self, s3, s3_bucket):
        from labdatasets.loaders.s3 import S3Source

        s3.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=s3_bucket, Key="exports/part-0.parquet", Body=parquet_bytes(ROWS.slice(0, 1)))
        s3.put_object(Bucket=s3_bucket, Key="exports/part-1.parquet", Body=parquet_bytes(ROWS.slice(1)))
        s3.put_object(Bucket=s3_bucket, Key="exports/_SUCCESS", Body=b"")
        return S3Source(f"s3://{s3_bucket}/exports/", glob="*.parquet", format="parquet")

    @pytest.fixture
    def expected(self):
        return ROWS

    @pytest.fixture
    def change_source(self, s3, s3_bucket):
        return lambda: s3.delete_object(Bucket=s3_bucket, Key="exports/part-1.parquet")

    @pytest.fixture
    def missing_source(self, s3_bucket):
        from labdatasets.loaders.s3 import S3Source

        return S3Source(f"s3://{s3_bucket}/exports/", glob="*.csv")


class TestS3Files(SourceContract):
    expected_files = {"cats/1.png": b"\x89PNG cat", "dogs/2.png": b"\x89PNG dog"}

    @pytest.fixture
    def source(self, s3, s3_bucket):
        from labdatasets.loaders.s3 import S3Source

        for rel, data in self.expected_files.items():
            s3.put_object(Bucket=s3_bucket, Key=f"images/{rel}", Body=data)
        s3.put_object(Bucket=s3_bucket, Key="images/notes.txt", Body=b"skip me")
        return S3Source(f"s3://{s3_bucket}/images/", glob="*.png")

    @pytest.fixture
    def expected(self):
        return None

    @pytest.fixture
    def change_source(self, s3, s3_bucket):
        return lambda: s3.put_object(Bucket=s3_bucket, Key="images/cats/3.png", Body=b"\x89PNG kitten")

    @pytest.fixture
    def missing_source(self):
        from labdatasets.loaders.s3 import S3Source

        return S3Source(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/images/")


class TestGCSJsonLines(SourceContract):
    @pytest.fixture
    def source(self, gcs, gcs_bucket):
        from labdatasets.loaders.gcs import GCSSource

        gcs.blob("surveys/answers.jsonl").upload_from_string(b'{"id": 1, "answer": "yes"}\n{"id": 2, "answer": "no"}\n')
        return GCSSource(f"gs://{gcs_bucket}/surveys/answers.jsonl")

    @pytest.fixture
    def expected(self):
        return pa.table({"id": [1, 2], "answer": ["yes", "no"]})

    @pytest.fixture
    def change_source(self, gcs):
        return lambda: gcs.blob("surveys/answers.jsonl").upload_from_string(b'{"id": 1, "answer": "maybe"}\n{"id": 2, "answer": "no"}\n')

    @pytest.fixture
    def missing_source(self, gcs_bucket):
        from labdatasets.loaders.gcs import GCSSource

        return GCSSource(f"gs://{gcs_bucket}/surveys/none.jsonl")


class TestGCSFiles(SourceContract):
    expected_files = {"a.bin": b"\x00" * 10 + b"a", "sub/b.bin": b"bbb"}

    @pytest.fixture
    def source(self, gcs, gcs_bucket):
        from labdatasets.loaders.gcs import GCSSource

        for rel, data in self.expected_files.items():
            gcs.blob(f"scans/{rel}").upload_from_string(data)
        return GCSSource(f"gs://{gcs_bucket}/scans/")

    @pytest.fixture
    def expected(self):
        return None

    @pytest.fixture
    def change_source(self, gcs):
        return lambda: gcs.blob("scans/a.bin").delete()

    @pytest.fixture
    def missing_source(self):
        from labdatasets.loaders.gcs import GCSSource

        return GCSSource(f"gs://no-such-bucket-{uuid.uuid4().hex[:8]}/scans/")


def test_s3_pins_record_etag_version_and_size(s3, s3_bucket, ctx):
    from labdatasets.loaders.s3 import S3Source

    s3.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=s3_bucket, Key="d/x.csv", Body=CSV)
    pin = S3Source(f"s3://{s3_bucket}/d/x.csv").pin(ctx)
    (obj,) = pin.objects
    assert obj.metadata == {"etag": first["ETag"].strip('"'), "version_id": first["VersionId"]} and obj.size == len(CSV)
    s3.put_object(Bucket=s3_bucket, Key="d/x.csv", Body=CSV.replace(b"0.5", b"9.5"))
    status = S3Source(f"s3://{s3_bucket}/d/x.csv").status(pin, ctx)
    assert status.state == "changed" and status.details[0].startswith("modified: x.csv (etag ")


def test_gcs_pins_record_generation_and_checksums(gcs, gcs_bucket, ctx):
    from labdatasets.loaders.gcs import GCSSource

    blob = gcs.blob("d/x.csv")
    blob.upload_from_string(CSV)
    blob.reload()
    pin = GCSSource(f"gs://{gcs_bucket}/d/x.csv").pin(ctx)
    assert pin.objects[0].metadata == {"generation": int(blob.generation), "md5": blob.md5_hash, "crc32c": blob.crc32c}
    assert GCSSource(f"gs://{gcs_bucket}/d/x.csv").status(pin, ctx).state == "unchanged"


def test_an_object_changed_while_pinning_stores_nothing(s3, s3_bucket, ctx, snapshots, monkeypatch, local_store):
    from labdatasets.loaders.s3 import S3Source

    s3.put_object(Bucket=s3_bucket, Key="moving/a.csv", Body=CSV)
    source = S3Source(f"s3://{s3_bucket}/moving/", glob="*.csv")
    listed = S3Source._list

    def list_then_overwrite(self, prefix):
        found = listed(self, prefix)
        s3.put_object(Bucket=s3_bucket, Key="moving/a.csv", Body=CSV + b"late,2026-10-03,3\n")
        return found

    monkeypatch.setattr(S3Source, "_list", list_then_overwrite)
    with pytest.raises(SourceError, match="changed while it was being pinned"):
        source.pin(ctx)
    monkeypatch.setattr(S3Source, "_list", listed)

    # Overwritten after the first 8 MiB range arrived (one range in flight at a time, so the
    # next range is asked for after the overwrite): the partial download is dropped.
    import os

    import labdatasets.stores.s3
    import labdatasets.stores.transfer

    monkeypatch.setattr(labdatasets.stores.transfer, "WORKERS", 1)
    monkeypatch.setattr(labdatasets.stores.s3, "parallel_ranges", lambda size: True)

    s3.put_object(Bucket=s3_bucket, Key="moving/big.bin", Body=os.urandom(20 << 20))
    big = S3Source(f"s3://{s3_bucket}/moving/big.bin", format="files")
    done = []

    def overwrite_once(**kwargs):
        if not done:
            done.append(True)
            s3.put_object(Bucket=s3_bucket, Key="moving/big.bin", Body=b"replaced")

    big.client.meta.events.register("after-call.s3.GetObject", overwrite_once)
    with pytest.raises(SourceError, match="changed while it was being pinned"):
        big.pin(ctx)
    assert done and list(local_store.iter_oids()) == []
    tmp = local_store.root / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []


def test_large_objects_download_in_parallel_ranges(s3, s3_bucket, ctx, snapshots):
    import os

    from labdatasets.stores.hashing import sha256_bytes
    from labdatasets.loaders.s3 import S3Source

    data = os.urandom(20 << 20)
    s3.put_object(Bucket=s3_bucket, Key="big/blob.bin", Body=data)
    ranges = []
    source = S3Source(f"s3://{s3_bucket}/big/blob.bin", format="files")
    source.client.meta.events.register("before-send.s3.GetObject", lambda request, **kw: ranges.append(request.headers.get("Range")))
    pin = source.pin(ctx)
    assert pin.objects[0].oid == sha256_bytes(data)
    assert sorted(ranges) == sorted([b"bytes=0-8388607", b"bytes=8388608-16777215", b"bytes=16777216-20971519"])


def test_s3_without_credentials_is_an_auth_error(s3_bucket, ctx, monkeypatch, tmp_path):
    from labdatasets.loaders.s3 import S3Source

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(SourceAuthError, match="AWS_PROFILE"):
        S3Source(f"s3://{s3_bucket}/x.csv").pin(ctx)


def test_bucket_urls_are_checked(s3_bucket):
    from labdatasets.loaders.gcs import GCSSource
    from labdatasets.loaders.s3 import S3Source

    with pytest.raises(ValueError, match="s3://bucket/key"):
        S3Source("gs://x/y")
    with pytest.raises(ValueError, match="gs://bucket/key"):
        GCSSource("s3://x/y")
    with pytest.raises(SourceNotFoundError):
        pass_missing = S3Source(f"s3://{s3_bucket}/")
        pass_missing.objects("t")


def test_one_streaming_request_per_object_when_asked(s3, s3_bucket, ctx, monkeypatch):
    import os

    from labdatasets.stores.hashing import sha256_bytes
    from labdatasets.loaders.s3 import S3Source

    monkeypatch.setenv("LABDATASETS_TRANSFER_WORKERS", "1")
    data = os.urandom(20 << 20)
    s3.put_object(Bucket=s3_bucket, Key="big/one.bin", Body=data)
    ranges = []
    source = S3Source(f"s3://{s3_bucket}/big/one.bin", format="files")
    source.client.meta.events.register("before-send.s3.GetObject", lambda request, **kw: ranges.append(request.headers.get("Range")))
    assert source.pin(ctx).objects[0].oid == sha256_bytes(data)
    assert ranges == [None]


# ---------------------------------------------------------------- many small objects, request by request
def _pngs(n: int) -> dict[str, bytes]:
    return {f"imgs/{i:03d}.png": b"\x89PNG" + bytes([i % 256]) * (100 + 37 * i) for i in range(n)}


def test_small_s3_objects_are_one_conditional_get_each(s3, s3_bucket, s3_env, ctx, snapshots, monkeypatch, local_store):
    from collections import Counter

    from labdatasets.stores.hashing import sha256_bytes
    from labdatasets.loaders.s3 import S3Source
    from tests.proxy import FaultProxy

    s3.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    objects = _pngs(40)
    written = {}
    for key, data in objects.items():
        s3.put_object(Bucket=s3_bucket, Key=key, Body=b"an older version")
        written[key] = s3.put_object(Bucket=s3_bucket, Key=key, Body=data)
    with FaultProxy(s3_env) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        pin = S3Source(f"s3://{s3_bucket}/imgs/", glob="*.png").pin(ctx)
    # One listing page and one GET per object: no HEAD, no second request for the version.
    assert Counter(r.method for r in proxy.requests) == {"GET": 41}
    gets = {r.path.split("?")[0].split("/", 2)[2]: r for r in proxy.requests if "list-type" not in r.path}
    assert sorted(gets) == sorted(objects)
    for key, seen in gets.items():
        assert seen.headers["If-Match"] == written[key]["ETag"]  # exactly the listed version
    for entry in pin.objects:
        key = f"imgs/{entry.path}"
        assert entry.oid == sha256_bytes(objects[key]) and entry.size == len(objects[key])
        assert entry.metadata == {"etag": written[key]["ETag"].strip('"'), "version_id": written[key]["VersionId"]}
        assert local_store.get_bytes(entry.oid) == objects[key]


def test_small_gcs_objects_are_one_get_of_their_generation_each(gcs, gcs_bucket, gcs_env, ctx, monkeypatch):
    from labdatasets.stores.hashing import sha256_bytes
    from labdatasets.loaders.gcs import GCSSource
    from tests.proxy import FaultProxy

    objects = _pngs(30)
    generations = {}
    for key, data in objects.items():
        blob = gcs.blob(key)
        blob.upload_from_string(data)
        generations[key] = int(blob.generation)
    with FaultProxy(f"http://{gcs_env}") as proxy:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        pin = GCSSource(f"gs://{gcs_bucket}/imgs/").pin(ctx)
    media = [r.path for r in proxy.requests if "alt=media" in r.path]
    assert len(media) == len(objects)  # one download per object...
    other = [r.path.split("?")[0] for r in proxy.requests if "alt=media" not in r.path]
    assert not [p for p in other if "/o/" in p]  # no request for an object's metadata
    assert len(other) <= 3  # the bucket and one listing page, whatever the number of objects
    for entry in pin.objects:
        key = f"imgs/{entry.path}"
        assert entry.oid == sha256_bytes(objects[key])
        assert entry.metadata["generation"] == generations[key]
        assert sum(f"generation={generations[key]}" in p for p in media) == 1


def test_small_object_faults_are_retried_or_store_nothing_wrong(s3, s3_bucket, s3_env, ctx, snapshots, monkeypatch, local_store):
    from labdatasets.stores.hashing import sha256_bytes
    from labdatasets.loaders.s3 import S3Source
    from tests.proxy import Fault, FaultProxy

    objects = _pngs(12)
    for key, data in objects.items():
        s3.put_object(Bucket=s3_bucket, Key=key, Body=data)
    source = f"s3://{s3_bucket}/imgs/"
    # A 503 on a GET is retried by the SDK: the pin completes with the right bytes.
    with FaultProxy(s3_env, faults=[Fault("status", status=503, method="GET", path=r"/imgs/0", times=3)]) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        pin = S3Source(source, glob="*.png").pin(ctx)
    assert proxy.faults[0].applied == 3
    assert sorted(e.oid for e in pin.objects) == sorted(sha256_bytes(d) for d in objects.values())
    # A body cut short under its full Content-Length never becomes a snapshot object.
    with FaultProxy(s3_env, faults=[Fault("truncate", keep_bytes=50, method="GET", path=r"/imgs/005")]) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        with pytest.raises(SourceUnavailableError, match="kept failing .*received 0 of"):  # retried, then a clear error
            S3Source(source, glob="*.png").pin(ctx)
    assert set(local_store.iter_oids()) <= {sha256_bytes(d) for d in objects.values()}


@pytest.mark.parametrize("path", ["d/x.csv", "scans/"])
def test_a_gcs_source_that_refuses_connections_says_so_within_the_gcs_timeout(path, gcs_bucket, ctx, monkeypatch):
    """Source reads are asked again for LABDATASETS_GCS_TIMEOUT seconds, as the gs:// store's are, not the SDK's 120 s."""
    import time

    from labdatasets.loaders.gcs import GCSSource
    from tests.servers import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # a loopback port nothing listens on: every connection is refused
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
    monkeypatch.setenv("LABDATASETS_GCS_TIMEOUT", "1.5")
    url = f"gs://{gcs_bucket}/{path}"
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError) as info:
        GCSSource(url).pin(ctx)
    assert time.monotonic() - started < 8  # 1.5 s of asking again, not the SDK's 120 s
    message = str(info.value)
    assert info.value.source == url
    assert message.startswith(f"{ctx.label}: cannot reach GCS for {url}: no connection (asked for 1.5 s; last error: ")
    assert "Connection refused" in message
    assert message.endswith(
        f"Check this machine's network connection and DNS, and that the endpoint in STORAGE_EMULATOR_HOST ({endpoint}) "
        "is running, then run the command again; LABDATASETS_GCS_TIMEOUT (now 1.5 s) sets how long to keep trying."
    )
