"""Specimen photos: ground beetles photographed on the collection's tray camera, labelled by taxonomists.

The full example of a builder with several kinds of source; copy its shape.

Loading, four sources pinned together:

* ``specimens`` and ``sites``: two SQL sources on the ``warehouse`` connection (the
  collection's MySQL). Sources of one pin on one connection are read inside ONE
  read-only consistent snapshot, so every ``site_id`` a specimen names is in the
  pinned ``sites`` even if someone edits the tables during the pin.
* ``labels``: the taxonomists' labelling sheet (Google Sheets), one row per specimen.
* ``photos``: the tray camera's uploads, ``<specimen_id>.png`` under an S3 prefix.

Processing: labels are cleaned (ids trimmed, unlabelled and low-confidence rows
dropped, rows pasted twice kept once), then specimens are joined with their site,
their label and their photo; a specimen without all three is not in the dataset.
Train/validation/test 70/15/15 by a hash of ``specimen_id``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

import labdatasets as lds
from labdatasets import features as F
from labdatasets import loaders
from labdatasets import processing as P

SPECIES = ["Carabus nemoralis", "Carabus violaceus", "Nebria brevicollis", "Pterostichus niger"]
HABITATS = ["forest", "meadow", "wetland"]
# Below this the labeller was guessing (the labelling protocol's own rule); such rows stay in the sheet.
MIN_CONFIDENCE = 0.5

LABELS_SHEET = "1qZ8sLbl2026kT4vXw9bYc3mNa7LdE0fHjR5uPq6WsGe"  # the key in the sheet's URL
PHOTOS = "s3://lab-specimen-photos/field-2026/"

# This version's season, and only the columns it uses: a column added to the table later is not a change
# that `labdatasets status` reports for this dataset.
SPECIMENS_QUERY = """
SELECT specimen_id, site_id, collected_at, length_mm
FROM specimens
WHERE collected_at >= '2026-04-01' AND collected_at < '2026-10-01'
ORDER BY specimen_id
"""


def clean_labels(table: pa.Table) -> pa.Table:
    """Labelling-sheet rows -> ``specimen_id, species, confidence, labeller`` of usable labels.

    People type into the sheet: ids get stray spaces, and a row without a species
    (not labelled yet) or below ``MIN_CONFIDENCE`` is not a training label. A species
    not in ``SPECIES`` (a typo, or a new one) fails the build naming the specimen:
    fix the sheet, or add the species at the end of ``SPECIES`` in a new version.
    """
    species = pc.utf8_trim_whitespace(table["species"])
    usable = pc.and_(pc.is_valid(species), pc.greater_equal(table["confidence"], MIN_CONFIDENCE))
    return pa.table(
        {
            "specimen_id": pc.utf8_trim_whitespace(table["specimen_id"]),
            "species": species,
            "confidence": table["confidence"],
            "labeller": table["labeller"],
        }
    ).filter(pc.fill_null(usable, False))


def photo_rows(table: pa.Table) -> pa.Table:
    """Pinned objects (``path``, ``data``) -> ``specimen_id``, ``image``: the camera names files ``<specimen_id>.png``."""
    return pa.table(
        {
            "specimen_id": pc.replace_substring_regex(table["path"], pattern=r"\.png$", replacement=""),
            "image": table["data"],
        }
    )


def to_features(table: pa.Table) -> pa.Table:
    """Joined rows -> the published features, in their declared order.

    The casts make MySQL's types (a DECIMAL length, a SMALLINT elevation) and the
    dummy CSVs' inferred ones give the same output; the build checks every value fits.
    """
    return pa.table(
        {
            "specimen_id": table["specimen_id"],
            "image": table["image"],
            "species": table["species"],
            "confidence": pc.cast(table["confidence"], pa.float32()),
            "labeller": table["labeller"],
            "site": table["site"],
            "habitat": table["habitat"],
            "elevation_m": pc.cast(table["elevation_m"], pa.int16()),
            "length_mm": pc.cast(table["length_mm"], pa.float32()),
            "collected_at": pc.cast(table["collected_at"], pa.timestamp("us")),
        }
    )


class Builder(lds.DatasetBuilder):
    """Ground beetle specimens of the 2026 field season: tray-camera photo, species label, site and size."""

    VERSION = "1.0.0"
    PIN_INSTRUCTIONS = (
        "the collections team pins it on a lab machine that has all three: the 'warehouse' connection "
        "(LABDATASETS_CONNECTION_WAREHOUSE or [connections.warehouse]), a Google service account the labelling "
        "sheet is shared with (GOOGLE_APPLICATION_CREDENTIALS), and AWS credentials that can read "
        "s3://lab-specimen-photos; with LABDATASETS_SNAPSHOT_STORE set to the lab's store, "
        "'labdatasets pin specimen_photos' writes snapshots/specimen_photos/<version>.json, to be committed."
    )
    RELEASE_NOTES = {
        "1.0.0": "Specimens collected from 2026-04-01 to 2026-09-30 that have a tray photo and a species label "
        f"with confidence >= {MIN_CONFIDENCE}; train/validation/test 70/15/15 by a hash of specimen_id.",
    }

    def _info(self) -> lds.DatasetInfo:
        return lds.DatasetInfo(
            features=F.Features(
                {
                    "specimen_id": F.Text(doc="Collection number, e.g. SP-0101 (unique)", nullable=False),
                    "image": F.Image(encoding="png", doc="Dorsal photo on the tray camera", nullable=False),
                    "species": F.ClassLabel(names=SPECIES, doc="Species, as labelled by a taxonomist"),
                    "confidence": F.Value("float32", doc=f"The labeller's confidence ({MIN_CONFIDENCE}-1)"),
                    "labeller": F.Text(doc="Initials of the taxonomist who labelled it"),
                    "site": F.Text(doc="Collecting site"),
                    "habitat": F.ClassLabel(names=HABITATS, doc="Habitat of the site"),
                    "elevation_m": F.Value("int16", doc="Elevation of the site (m)"),
                    "length_mm": F.Value("float32", doc="Body length (mm); null when not measured"),
                    "collected_at": F.Value("timestamp[us]", doc="When it was collected (local time)"),
                }
            ),
            key="specimen_id",
            supervised_keys=("image", "species"),
            owners=["collections@lab.example"],
            homepage="https://wiki.lab.example/collections/specimen-photos",
            license="Internal",
        )

    def _sources(self):
        return {
            # Both SQL sources name the same connection: that is what puts them in one consistent snapshot.
            "specimens": loaders.SQLSource(SPECIMENS_QUERY.strip(), connection="warehouse"),
            # The lab's reference table of collecting sites, pinned whole and joined in _process: other
            # datasets pin it too (content-addressed, so stored once), and the join is versioned code.
            "sites": loaders.SQLSource(table="sites", connection="warehouse"),
            # column_types: a column that is empty today (or mixes numbers and text) keeps its type.
            "labels": loaders.SheetsSource(
                LABELS_SHEET,
                worksheet="Labels",
                column_types={
                    "specimen_id": "string",
                    "species": "string",
                    "confidence": "float64",
                    "labeller": "string",
                    "comment": "string",
                },
            ),
            "photos": loaders.S3Source(PHOTOS, glob="*.png"),  # the camera also uploads a manifest.json
        }

    def _process(self, sources):
        sites = sources["sites"] | "Site columns" >> P.SelectColumns(
            {"site_id": "site_id", "site": "name", "habitat": "habitat", "elevation_m": "elevation_m"}
        )
        labels = (
            sources["labels"]
            | "Clean labels" >> P.MapBatches(clean_labels)
            # The protocol is one row per specimen, but rows get pasted twice. Deduplicate keeps one row per key,
            # the first by (specimen_id, other columns): the same on every run, but arbitrary between two rows
            # that disagree, so fix those in the sheet.
            | "One label per specimen" >> P.Deduplicate(key="specimen_id")
        )
        photos = sources["photos"] | "Photo ids" >> P.MapBatches(photo_rows)

        # Inner joins: a specimen without a site (impossible in one snapshot), a label or a photo is left out;
        # so are labels and photos of specimens the query does not select.
        rows = (sources["specimens"], sites) | "With site" >> P.Join(on="site_id")
        rows = (rows, labels) | "With label" >> P.Join(on="specimen_id")
        rows = (rows, photos) | "With photo" >> P.Join(on="specimen_id")
        rows = rows | "To features" >> P.MapBatches(to_features)
        return P.split_by_hash(rows, key="specimen_id", ratios={"train": 0.7, "validation": 0.15, "test": 0.15})
