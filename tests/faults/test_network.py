"""A flaky network between labdatasets and its s3:// store: 5xx, dropped connections, cut and
damaged bodies, delays (tests/proxy.py in front of the moto server and the GCS emulator).

Reads resume by range and re-hash at the end; a read that keeps failing ends in an
error naming the store, the object and how many bytes arrived; a corruption caught in
flight is downloaded again, and if it persists the message blames the store's copy,
not this machine's cache.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from labdatasets.errors import LabDatasetsError, SnapshotCorruptedError, SnapshotError
from tests.proxy import Fault, FaultProxy
from tests.helpers import sample_rows

pytest.importorskip("boto3")


@pytest.fixture
def flaky_s3(s3_env, monkeypatch):
    """A fault proxy in front of moto, with boto3 pointed at it; yields the proxy (no rules yet)."""
    with FaultProxy(s3_env, seed=int(os.environ.get("LABDATASETS_FAULT_SEED", "9"))) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        monkeypatch.setenv("LABDATASETS_TRANSFER_BACKOFF", "0.01")
        yield proxy


def _store(bucket: str):
    from labdatasets.stores.s3 import S3Store

    return S3Store(f"s3://{bucket}/store-{uuid.uuid4().hex[:6]}")


def _objects(store, n: int, size: int) -> dict[str, bytes]:
    out = {}
    for i in range(n):
        data = hashlib.sha256(f"object {i}".encode()).digest() * (size // 32) + bytes([i])
        info = store.add_bytes(data)
        out[info.oid] = data
    return out


def _cold_loads(name: str, rows, monkeypatch, homes, attempts: int = 4) -> tuple[int, int, int, int]:
    """``load`` ``name:1.0.0`` on ``attempts`` cold machines (a fresh home each); ``(tries, survived, wrong, unclear)``."""
    import labdatasets

    tries = survived = wrong = unclear = 0
    for attempt in range(attempts):
        # A cold machine: nothing cached, nothing prepared.
        monkeypatch.setenv("LABDATASETS_HOME", f"{homes}-{attempt}")
        tries += 1
        try:
            df = labdatasets.load(f"{name}:1.0.0", split="train+test", format="pandas", progress=False)
        except LabDatasetsError as exc:
            unclear += name not in str(exc)
            continue
        same = sorted(df["id"].tolist()) == [r["id"] for r in rows]
        survived += same
        wrong += not same
    return tries, survived, wrong, unclear


@pytest.mark.parametrize("mode", ["stream", "ranges"])
@pytest.mark.parametrize("kind", ["truncate", "drop", "status", "delay"])
def test_store_fetch_survives_a_flaky_network(kind, mode, flaky_s3, s3_bucket, tmp_path, monkeypatch, fault_outcome):
    if mode == "ranges":
        import labdatasets.stores.transfer as transfer

        monkeypatch.setattr(transfer, "CHUNK_BYTES", 64 << 10)  # several parallel ranges per object
        monkeypatch.setenv("LABDATASETS_TRANSFER_WORKERS", "4")
    else:
        monkeypatch.setenv("LABDATASETS_TRANSFER_WORKERS", "1")
    store = _store(s3_bucket)
    objects = _objects(store, 4, 300_000)
    probability = {"truncate": 0.3, "drop": 0.2, "status": 0.2, "delay": 0.3}[kind]
    flaky_s3.add(Fault(kind, probability=probability, method="GET", seconds=0.05))
    tries = survived = wrong = unclear = 0
    for round_ in range(2):
        for oid, data in objects.items():
            tries += 1
            dest = tmp_path / f"{round_}-{oid}"
            try:
                store.fetch(oid, dest, context="faults:1.0.0 source 'x'")
            except LabDatasetsError as exc:
                unclear += "faults:1.0.0" not in str(exc)
                continue
            if dest.read_bytes() != data:
                wrong += 1
            else:
                survived += 1
    assert flaky_s3.stats[kind] > 0, flaky_s3.stats  # the faults did happen
    assert not list(tmp_path.glob("**/*.incomplete"))
    fault_outcome(f"s3:// store fetch ({mode}), {probability:.0%} of GETs {kind}", tries=tries, survived=survived,
                  wrong_data=wrong, unclear=unclear)


def test_a_read_that_keeps_failing_says_what_arrived_and_what_to_do(flaky_s3, s3_bucket, tmp_path, monkeypatch, fault_outcome):
    monkeypatch.setenv("LABDATASETS_TRANSFER_WORKERS", "1")
    monkeypatch.setenv("LABDATASETS_TRANSFER_RETRIES", "3")
    store = _store(s3_bucket)
    (oid,) = _objects(store, 1, 200_000)
    flaky_s3.add(Fault("truncate", method="GET", path=oid[2:12], keep_bytes=0))
    with pytest.raises(SnapshotError) as info:
        store.fetch(oid, tmp_path / "x", context="faults:1.0.0 source 'x' object 'a.bin'")
    message = str(info.value)
    assert "faults:1.0.0 source 'x' object 'a.bin'" in message and store.uri in message
    assert "bytes arrived in" in message and "run the command again" in message and "LABDATASETS_TRANSFER_RETRIES" in message
    assert not (tmp_path / "x").exists() and not list(tmp_path.iterdir())
    fault_outcome("s3:// store fetch, every GET of one object cut short", tries=1, survived=1)


def test_damage_in_flight_is_downloaded_again_and_a_damaged_store_copy_is_named(
    flaky_s3, s3_bucket, tmp_path, monkeypatch, fault_outcome
):
    monkeypatch.setenv("LABDATASETS_TRANSFER_WORKERS", "1")
    store = _store(s3_bucket)
    objects = _objects(store, 3, 100_000)
    oids = list(objects)
    # Damage on the way, once per object: the second download is good.
    for oid in oids:
        flaky_s3.add(Fault("corrupt", method="GET", path=oid[2:12], times=1))
    for oid in oids:
        assert store.fetch(oid, tmp_path / oid).read_bytes() == objects[oid]
    assert flaky_s3.stats["corrupt"] == 3
    # The stored copy itself damaged: every download the same wrong bytes; the message says so.
    import boto3

    bad = oids[0]
    boto3.client("s3", endpoint_url=flaky_s3.url).put_object(Bucket=store.bucket, Key=store.key(bad), Body=b"tampered")
    with pytest.raises(SnapshotCorruptedError) as info:
        store.fetch(bad, tmp_path / "bad", context="faults:1.0.0 source 'x'")
    message = str(info.value)
    assert "store's copy itself is probably damaged" in message and "verify' will find nothing here" in message
    assert "sha256" in message and "new VERSION" in message and "--repair" not in message
    assert not (tmp_path / "bad").exists()
    fault_outcome("s3:// store fetch, bytes damaged in flight (once per object)", tries=3, survived=3)
    fault_outcome("s3:// store object damaged in the bucket", tries=1, survived=1)


def test_pin_and_load_through_a_flaky_s3_store(flaky_s3, s3_bucket, make_builder, monkeypatch, tmp_path, fault_outcome):
    """The issue's case: 4% of answers cut used to fail 3 loads in 4. Pin, build and load, from a cold cache each time."""
    import labdatasets

    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"s3://{s3_bucket}/store")
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    rows = sample_rows(300)
    make_builder.tabular("flaky_s3", rows=rows)
    for kind, probability in (("truncate", 0.04), ("drop", 0.04), ("status", 0.04), ("delay", 0.2)):
        flaky_s3.add(Fault(kind, probability=probability, seconds=0.02))
    tries = survived = wrong = unclear = 0
    tries += 1
    try:
        labdatasets.builder("flaky_s3:1.0.0").pin(progress=False)
        survived += 1
    except LabDatasetsError as exc:
        unclear += "flaky_s3:1.0.0" not in str(exc)
        pytest.fail(f"pin failed through the flaky proxy: {exc}")
    loads, loaded, wrong, unclear_loads = _cold_loads("flaky_s3", rows, monkeypatch, tmp_path / "home")
    tries, survived, unclear = tries + loads, survived + loaded, unclear + unclear_loads
    assert sum(flaky_s3.stats[k] for k in ("truncate", "drop", "status")) > 0, flaky_s3.stats
    fault_outcome("pin + 4 cold loads via s3:// store, 4% truncated/dropped/5xx each, 20% delayed",
                  tries=tries, survived=survived, wrong_data=wrong, unclear=unclear)


@pytest.mark.parametrize("kind", ["truncate", "drop", "status"])
def test_gcs_store_fetch_survives_a_flaky_network(kind, gcs_server, gcs_bucket, monkeypatch, tmp_path, fault_outcome):
    import labdatasets.stores.transfer as transfer
    from labdatasets.stores.gcs import GCSStore

    monkeypatch.setattr(transfer, "CHUNK_BYTES", 64 << 10)  # several ranged requests per object
    monkeypatch.setenv("LABDATASETS_TRANSFER_BACKOFF", "0.01")
    store = GCSStore(f"gs://{gcs_bucket}/store-{uuid.uuid4().hex[:6]}")
    objects = _objects(store, 4, 300_000)
    tries = survived = wrong = unclear = 0
    with FaultProxy(f"http://{gcs_server}", seed=5) as proxy:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        flaky = GCSStore(store.uri)  # a client that goes through the proxy
        # Only the media downloads (alt=media): a cut metadata answer is the SDK's own business.
        proxy.add(Fault(kind, probability=0.25, method="GET", path="alt=media"))
        for workers in ("1", "4"):
            monkeypatch.setenv("LABDATASETS_TRANSFER_WORKERS", workers)
            for oid, data in objects.items():
                tries += 1
                try:
                    got = flaky.fetch(oid, tmp_path / f"{workers}-{oid}", context="faults:1.0.0 source 'g'").read_bytes()
                except LabDatasetsError as exc:
                    unclear += "faults:1.0.0" not in str(exc)
                    continue
                wrong += got != data
                survived += got == data
        assert proxy.stats[kind] > 0, (proxy.stats, proxy.requests[-5:])
    fault_outcome(f"gs:// store fetch, 25% of media GETs {kind}", tries=tries, survived=survived, wrong_data=wrong, unclear=unclear)


def test_cold_loads_from_an_s3_shared_cache_through_a_flaky_network(
    flaky_s3, s3_bucket, make_builder, monkeypatch, tmp_path, fault_outcome
):
    """Published once (no faults), then loaded on cold machines with 10% of answers cut, dropped or 5xx."""
    import labdatasets
    from labdatasets.prepared.shared_cache import publish

    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"s3://{s3_bucket}/prepared")
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    rows = sample_rows(300)
    make_builder.tabular("flaky_cache", rows=rows)
    publish(labdatasets.builder("flaky_cache:1.0.0"), progress=False)
    for kind in ("truncate", "drop", "status"):
        flaky_s3.add(Fault(kind, probability=0.1, method="GET"))
    built: list[str] = []
    import importlib

    builder_module = importlib.import_module("labdatasets.builder")  # the attribute labdatasets.builder is a function

    original_build = builder_module.DatasetBuilder.build

    def no_build(self, *args, **kwargs):  # a cold load must come from the cache, not from a rebuild
        built.append(self.full_name)
        return original_build(self, *args, **kwargs)

    monkeypatch.setattr(builder_module.DatasetBuilder, "build", no_build)
    tries, survived, wrong, unclear = _cold_loads("flaky_cache", rows, monkeypatch, tmp_path / "cold")
    assert sum(flaky_s3.stats[k] for k in ("truncate", "drop", "status")) > 0, flaky_s3.stats
    assert not built, f"the shared cache was not used: {built}"
    fault_outcome("4 cold loads from an s3:// shared cache, 10% of GETs cut/dropped/5xx", tries=tries, survived=survived,
                  wrong_data=wrong, unclear=unclear)
