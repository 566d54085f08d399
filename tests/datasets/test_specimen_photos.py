"""specimen_photos from live sources: its dummy data seeded into MariaDB (two tables), the Sheets test
server and a moto bucket, pinned in one pin, built with Beam, loaded, and checked against rows joined
here, by hand, from the same dummy data."""

from __future__ import annotations

import csv
import datetime as dt

import pytest

import labdatasets
from labdatasets.datasets.image_classification.specimen_photos import specimen_photos_dataset_builder as module
from tests.servers import filled_bucket

sqlalchemy = pytest.importorskip("sqlalchemy")
pytest.importorskip("boto3")
pytest.importorskip("gspread")
pytestmark = pytest.mark.slow

DUMMY = module.Builder.module_dir() / "dummy_data"
BUCKET, _, PREFIX = module.PHOTOS.removeprefix("s3://").partition("/")
SEASON = ("2026-04-01", "2026-10-01")  # the query's WHERE, as the release notes state it

# The warehouse's tables as the collection's MySQL defines them.
WAREHOUSE_TABLES = (
    "CREATE TABLE sites (site_id INT UNSIGNED NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, "
    "habitat ENUM('forest', 'meadow', 'wetland') NOT NULL, elevation_m SMALLINT NOT NULL)",
    "CREATE TABLE specimens (specimen_id VARCHAR(16) NOT NULL PRIMARY KEY, site_id INT UNSIGNED NOT NULL, "
    "collected_at DATETIME NOT NULL, length_mm DECIMAL(5,1) NULL, KEY (site_id))",
)
# Collected the season before: in the table, with a label and a photo, but not selected by the query.
LAST_SEASON = {"specimen_id": "SP-0090", "site_id": "2", "collected_at": "2025-09-20 10:00:00", "length_mm": "17.0"}
LAST_SEASON_LABEL = {"specimen_id": "SP-0090", "species": "Carabus nemoralis", "confidence": "0.9", "labeller": "AK", "comment": ""}


def dummy_rows(name: str) -> list[dict[str, str]]:
    with (DUMMY / f"{name}.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def execute(url: str, statement: str, rows: list[dict[str, str]] | None = None) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        if rows:
            conn.execute(sqlalchemy.text(statement), [{k: (v if v != "" else None) for k, v in r.items()} for r in rows])
        else:
            conn.exec_driver_sql(statement)
    engine.dispose()


@pytest.fixture
def warehouse(mysql_database, mysql_reader, monkeypatch, tmp_path):
    """The dummy tables on MariaDB behind the 'warehouse' connection, read by a SELECT-only user."""
    for statement in WAREHOUSE_TABLES:
        execute(mysql_database, statement)
    execute(mysql_database, "INSERT INTO sites VALUES (:site_id, :name, :habitat, :elevation_m)", dummy_rows("sites"))
    specimens = "INSERT INTO specimens VALUES (:specimen_id, :site_id, :collected_at, :length_mm)"
    execute(mysql_database, specimens, [*dummy_rows("specimens"), LAST_SEASON])
    monkeypatch.setenv("LABDATASETS_CONNECTION_WAREHOUSE", mysql_reader[1])
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))  # never into the repository's snapshots/
    return mysql_database


@pytest.fixture
def labels_sheet(sheets_env):
    """The labelling sheet on the Sheets test server, confidences as numbers, as the sheet holds them."""
    rows = [*dummy_rows("labels"), LAST_SEASON_LABEL]
    header = list(rows[0])
    cells = [header] + [[float(r[c]) if c == "confidence" and r[c] else r[c] for c in header] for r in rows]
    sheets_env.add(module.LABELS_SHEET, "Specimen labels 2026", {"Read me": [["One row per specimen."]], "Labels": cells})
    return sheets_env


@pytest.fixture
def photo_bucket(s3_env):
    """The camera's uploads, manifest included, under the builder's real bucket and prefix on moto."""
    uploads = {PREFIX + path.name: path.read_bytes() for path in sorted((DUMMY / "photos").iterdir())}
    uploads[PREFIX + "SP-0090.png"] = (DUMMY / "photos" / "SP-0101.png").read_bytes()
    with filled_bucket(s3_env, BUCKET, uploads) as client:
        yield client


def expected_rows() -> dict[str, dict]:
    """The dataset by hand: in-season specimens with their site, a usable label and a photo."""
    sites = {r["site_id"]: r for r in dummy_rows("sites")}
    labels = {}
    for r in dummy_rows("labels"):
        if r["species"].strip() and r["confidence"] and float(r["confidence"]) >= module.MIN_CONFIDENCE:
            labels.setdefault(r["specimen_id"].strip(), r)
    photos = {p.stem: p.read_bytes() for p in (DUMMY / "photos").glob("*.png")}
    out = {}
    for s in dummy_rows("specimens"):
        sid = s["specimen_id"]
        if not SEASON[0] <= s["collected_at"] < SEASON[1] or sid not in labels or sid not in photos:
            continue
        site, label = sites[s["site_id"]], labels[sid]
        out[sid] = {
            "specimen_id": sid,
            "image": photos[sid],
            "species": module.SPECIES.index(label["species"].strip()),
            "confidence": pytest.approx(float(label["confidence"]), rel=1e-6),
            "labeller": label["labeller"] or None,
            "site": site["name"],
            "habitat": module.HABITATS.index(site["habitat"]),
            "elevation_m": int(site["elevation_m"]),
            "length_mm": pytest.approx(float(s["length_mm"]), rel=1e-6) if s["length_mm"] else None,
            "collected_at": dt.datetime.fromisoformat(s["collected_at"]),
        }
    return out


def test_pin_build_load_from_mysql_sheets_and_s3(warehouse, labels_sheet, photo_bucket, monkeypatch):
    # A writer commits a new site and a specimen there right after 'sites' is pinned, before 'specimens'
    # (sources pin in name order). Read in one snapshot, the two pins still agree: neither sees the write.
    from labdatasets.loaders.sql import SQLSource

    pin_sql = SQLSource.pin

    def pin_then_write(source, ctx):
        pin = pin_sql(source, ctx)
        if source.table == "sites":
            execute(warehouse, "INSERT INTO sites VALUES (5, 'Elm Hollow', 'forest', 410)")
            execute(warehouse, "INSERT INTO specimens VALUES ('SP-0128', 5, '2026-09-30 17:30:00', 20.0)")
        return pin

    builder = labdatasets.builder("specimen_photos:1.0.0")
    with monkeypatch.context() as patch:
        patch.setattr(SQLSource, "pin", pin_then_write)
        record = builder.pin(progress=False)

    pins = record.sources
    assert {name: pin.kind for name, pin in pins.items()} == {"labels": "sheets", "photos": "s3", "sites": "sql", "specimens": "sql"}
    sites, specimens = pins["sites"], pins["specimens"]
    assert sites.metadata["transaction"] == specimens.metadata["transaction"] == "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"
    assert sites.metadata["snapshot"] == specimens.metadata["snapshot"]
    assert sites.num_rows == len(dummy_rows("sites"))
    in_season = [r for r in dummy_rows("specimens") if SEASON[0] <= r["collected_at"] < SEASON[1]]
    assert specimens.num_rows == len(in_season)  # not SP-0090 (last season), not SP-0128 (after the snapshot)
    assert pins["labels"].num_rows == len(dummy_rows("labels")) + 1 and pins["labels"].metadata["worksheet"] == "Labels"
    photos = sorted(p.name for p in (DUMMY / "photos").glob("*.png")) + ["SP-0090.png"]
    assert sorted(o.path for o in pins["photos"].objects) == sorted(photos)  # manifest.json is not a photo

    builder.build(workers=2, progress=False)  # Beam's DirectRunner in two processes: everything pickles
    data = labdatasets.load("specimen_photos:1.0.0")
    expected = expected_rows()
    left_out = {r["specimen_id"] for r in dummy_rows("specimens")} - set(expected)
    # no photo (0104, 0114), no species yet (0105), below the confidence rule (0109), never labelled (0117)
    assert left_out == {"SP-0104", "SP-0105", "SP-0109", "SP-0114", "SP-0117"}
    by_split = {split: ds.to_arrow().to_pylist() for split, ds in data.items()}
    assert set(by_split) == {"train", "validation", "test"}
    ids = [row["specimen_id"] for rows in by_split.values() for row in rows]
    assert len(ids) == len(set(ids))  # splits are disjoint, one row per specimen (SP-0107's pasted row too)
    assert {row["specimen_id"]: row for rows in by_split.values() for row in rows} == expected

    from labdatasets.pinning.status import status

    # status reads the live sources again: the write shows in both tables; labels and photos are unchanged.
    states = {s.name: s.state for s in status(builder).sources}
    assert states == {"labels": "unchanged", "photos": "unchanged", "sites": "changed", "specimens": "changed"}
