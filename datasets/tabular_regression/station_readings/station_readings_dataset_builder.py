"""Station readings: hourly temperature, humidity and pressure from the lab's field stations.

Loading: the stations upload one CSV per station and month to the
``lab-sensor-exports`` S3 bucket; a version pins every CSV of its months
(ETag, VersionId and size recorded, downloaded in parallel). Processing: one
row per reading with an id ``station@time``; train/test 80/20 by a hash of it.

How it is pinned: with AWS credentials that can read the bucket (an
``AWS_PROFILE`` or the usual environment variables), ``labdatasets pin
station_readings`` writes ``snapshots/station_readings/<version>.json``, to be
committed. The tests upload ``dummy_data/stations/`` to a moto S3 server
instead and pin into a temporary folder and a temporary snapshot store.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

import labdatasets as lds
from labdatasets import features as F
from labdatasets import loaders
from labdatasets import processing as P

BUCKET = "lab-sensor-exports"
COLUMN_TYPES = {
    "station": "string",
    "observed_at": "timestamp[s]",
    "temperature_c": "float64",
    "humidity_pct": "float64",
    "pressure_hpa": "float64",
}


def tidy(table: pa.Table) -> pa.Table:
    """Raw station CSV rows -> the published features (one batch at a time)."""
    observed = pc.cast(table["observed_at"], pa.timestamp("s"))
    return pa.table(
        {
            "reading_id": pc.binary_join_element_wise(table["station"], pc.strftime(observed, format="%Y-%m-%dT%H:%M:%S"), "@"),
            "station": table["station"],
            "observed_at": observed,
            "hour": pc.cast(pc.hour(observed), pa.int8()),
            "temperature_c": pc.cast(table["temperature_c"], pa.float32()),
            "humidity_pct": pc.cast(table["humidity_pct"], pa.float32()),
            "pressure_hpa": pc.cast(table["pressure_hpa"], pa.float32()),
        }
    )


class Builder(lds.DatasetBuilder):
    """Hourly readings of the lab's field stations (temperature, humidity, pressure)."""

    VERSION = "1.0.0"
    PIN_INSTRUCTIONS = (
        "the field team pins it with AWS credentials that can read the stations bucket and "
        "LABDATASETS_SNAPSHOT_STORE set to the lab's store, then commits snapshots/station_readings/<version>.json."
    )
    RELEASE_NOTES = {
        "1.0.0": "October 2026 exports of all stations; train/test 80/20 by a hash of reading_id.",
    }

    def _info(self) -> lds.DatasetInfo:
        return lds.DatasetInfo(
            features=F.Features(
                {
                    "reading_id": F.Text(doc="station@time, unique", nullable=False),
                    "station": F.Text(doc="Station name"),
                    "observed_at": F.Value("timestamp[s]", doc="Start of the hour (station local time)"),
                    "hour": F.Value("int8", doc="Hour of the day (0-23)"),
                    "temperature_c": F.Value("float32", doc="Air temperature (degrees C)"),
                    "humidity_pct": F.Value("float32", doc="Relative humidity (%), null when the sensor was down"),
                    "pressure_hpa": F.Value("float32", doc="Air pressure (hPa)"),
                }
            ),
            key="reading_id",
            supervised_keys=("humidity_pct", "temperature_c"),
            owners=["field-ops@lab.example"],
            license="Internal",
        )

    def _sources(self):
        return {
            "readings": loaders.S3Source(
                f"s3://{BUCKET}/stations/2026-10/", glob="*.csv", format="csv", column_types=COLUMN_TYPES
            )
        }

    def _process(self, sources):
        rows = sources["readings"] | "Tidy" >> P.MapBatches(tidy)
        return P.split_by_hash(rows, key="reading_id", ratios={"train": 0.8, "test": 0.2})
