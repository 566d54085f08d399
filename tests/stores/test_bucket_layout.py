"""What the s3:// and gs:// stores share (labdatasets/stores/_bucket.py): URIs, the key layout, verified writes."""

from __future__ import annotations

import io
import time

import pytest

from labdatasets.errors import ConfigError
from labdatasets.stores._bucket import BucketStore, split_bucket_uri
from labdatasets.stores.hashing import sha256_bytes

OID = sha256_bytes(b"payload")


@pytest.fixture
def s3_store(s3_env):
    from labdatasets.stores.s3 import S3Store

    return S3Store


@pytest.mark.parametrize(
    "uri,expected",
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/lab/snapshots", ("bucket", "lab/snapshots")),
        ("s3://bucket//lab/snapshots//", ("bucket", "lab/snapshots")),
        ("s3://bucket/X/dataX/", ("bucket", "X/dataX")),  # only slashes are stripped
    ],
)
def test_bucket_uris_split_into_bucket_and_prefix(uri, expected):
    assert split_bucket_uri(uri, "s3") == expected


def test_bad_bucket_uris_say_how_to_write_them():
    with pytest.raises(ConfigError) as info:
        split_bucket_uri("gs://bucket/x", "s3")
    assert str(info.value) == "'gs://bucket/x' is not a s3:// URI; write it as s3://bucket/prefix."
    with pytest.raises(ConfigError) as info:
        split_bucket_uri("gs:///x", "gs")
    assert str(info.value) == "'gs:///x' names no bucket; write it as gs://bucket/prefix."
    with pytest.raises(ConfigError) as info:
        split_bucket_uri("s3://reader:hunter2-secret@/x", "gs")
    assert "hunter2-secret" not in str(info.value)


def test_the_key_layout_under_a_prefix(s3_store):
    store = s3_store("s3://bucket/lab/snapshots/")
    assert (store.bucket_name, store.prefix, store.remote) == ("bucket", "lab/snapshots", True)
    assert store.key(OID) == f"lab/snapshots/objects/{OID[:2]}/{OID[2:]}"
    assert store.objects_prefix == "lab/snapshots/objects/"
    assert store.oid_of_key(store.key(OID)) == OID
    assert store.oid_of_key("lab/snapshots/objects/ab/not-an-oid") is None
    assert store.oid_of_key(f"lab/snapshots/objects/{OID[:2]}/{OID[2:]}.tmp") is None
    before = int(time.time())
    key = store.quarantine_key(OID)
    assert key.startswith(f"lab/snapshots/quarantine/{OID}.")
    assert before <= int(key.rsplit(".", 1)[1]) <= int(time.time())


def test_the_key_layout_at_the_bucket_root(s3_store):
    store = s3_store("s3://bucket")
    assert store.key(OID) == f"objects/{OID[:2]}/{OID[2:]}" and store.objects_prefix == "objects/"
    assert store.oid_of_key(f"objects/{OID[:2]}/{OID[2:]}") == OID
    assert store.quarantine_key(OID).startswith(f"quarantine/{OID}.")


def test_a_download_is_written_whole_and_its_hash_is_of_the_written_bytes(tmp_path):
    class Reader(io.BytesIO):
        closed_by_store = False

        def close(self):
            self.closed_by_store = True
            super().close()

    reader = Reader(b"payload")
    seen: list[int] = []
    assert BucketStore._write_verified(reader, tmp_path / "out", seen.append) == OID
    assert (tmp_path / "out").read_bytes() == b"payload" and sum(seen) == 7 and reader.closed_by_store
    (tmp_path / "out").write_bytes(b"a longer file from before")
    assert BucketStore._write_verified(io.BytesIO(b"x"), tmp_path / "out", None) == sha256_bytes(b"x")
    assert (tmp_path / "out").read_bytes() == b"x"  # truncated, not overlaid


def test_the_reader_is_closed_even_when_writing_fails(tmp_path):
    class Reader(io.BytesIO):
        closed_by_store = False

        def close(self):
            self.closed_by_store = True

    reader = Reader(b"payload")
    with pytest.raises(OSError):
        BucketStore._write_verified(reader, tmp_path / "missing-folder" / "out", None)
    assert reader.closed_by_store
