"""station_readings pins from a bucket: dummy CSVs on moto S3, pinned into an s3:// snapshot store,
then loaded on a second machine (an empty home) that fetches the snapshots from the store."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import labdatasets
from tests.servers import filled_bucket

pytest.importorskip("boto3")
pytestmark = pytest.mark.slow

DUMMY = Path(labdatasets.builder("station_readings").module_dir()) / "dummy_data" / "stations"
BUCKET = "lab-sensor-exports"


@pytest.fixture
def sensor_bucket(s3_env):
    """The builder's real bucket name, on the moto server, holding the dummy exports."""
    exports = {f"stations/{path.relative_to(DUMMY).as_posix()}": path.read_bytes() for path in sorted(DUMMY.rglob("*.csv"))}
    with filled_bucket(s3_env, BUCKET, exports) as client:
        yield client


def dummy_rows() -> list[dict]:
    rows = []
    for path in sorted(DUMMY.rglob("*.csv")):
        with path.open() as fh:
            rows.extend(csv.DictReader(fh))
    return rows


def test_pin_to_an_s3_store_and_load_on_a_second_machine(sensor_bucket, s3_bucket, tmp_path, monkeypatch):
    store = f"s3://{s3_bucket}/snapshots"
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", store)
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    record = labdatasets.builder("station_readings:1.0.0").pin(progress=False)
    pin = record.sources["readings"]
    assert [o.path for o in pin.objects] == ["harbour.csv", "north.csv", "summit.csv"]
    assert all(o.metadata["etag"] for o in pin.objects) and pin.num_rows == 72
    stored = {item["Key"] for item in sensor_bucket.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert all(f"snapshots/objects/{o.oid[:2]}/{o.oid[2:]}" in stored for o in pin.objects)

    first = labdatasets.load("station_readings:1.0.0", format="pandas")

    # A second machine: an empty home, the same store and pins; the live bucket is gone.
    monkeypatch.setenv("LABDATASETS_HOME", str(tmp_path / "second-machine"))
    for item in sensor_bucket.list_objects_v2(Bucket=BUCKET)["Contents"]:
        sensor_bucket.delete_object(Bucket=BUCKET, Key=item["Key"])
    second = labdatasets.load("station_readings:1.0.0", format="pandas")
    cache = tmp_path / "second-machine" / "store" / "objects"
    assert sorted(p.parent.name + p.name for p in cache.rglob("*") if p.is_file()) == sorted(o.oid for o in pin.objects)
    for split in ("train", "test"):
        assert first[split].equals(second[split])

    both = sorted(list(second["train"]["reading_id"]) + list(second["test"]["reading_id"]))
    expected = sorted(f"{r['station']}@{r['observed_at'].replace(' ', 'T')}" for r in dummy_rows())
    assert both == expected
    summit = second["train"][second["train"]["station"] == "summit"]
    assert summit["humidity_pct"].isna().any() or second["test"][second["test"]["station"] == "summit"]["humidity_pct"].isna().any()

    # status reads the live bucket: every object is gone now
    from labdatasets.pinning.status import status

    report = status(labdatasets.builder("station_readings:1.0.0"))
    assert report.changed and report.sources[0].state == "unavailable"
