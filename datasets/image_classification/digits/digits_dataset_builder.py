"""Handwritten digits: 8x8 grayscale images of the digits 0-9 (UCI optdigits, CC BY 4.0).

The source is a folder in the ImageFolder layout (``images/<label>/<file>.png``),
pinned file by file; the label is the folder name.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

import labdatasets as lds
from labdatasets import features as F
from labdatasets import loaders
from labdatasets import processing as P

LABELS = [str(d) for d in range(10)]


def from_image_folder(table: pa.Table) -> pa.Table:
    """``path`` = ``<label>/<file>.png`` and ``data`` = PNG bytes -> features."""
    parts = pc.split_pattern(table["path"], "/")
    return pa.table(
        {
            "image_id": table["path"],
            "image": table["data"],
            "label": pc.list_element(parts, 0),
        }
    )


class Builder(lds.DatasetBuilder):
    """Handwritten digits: 8x8 grayscale images of the digits 0-9."""

    VERSION = "1.0.0"
    RELEASE_NOTES = {"1.0.0": "500 images, 50 per digit, from the UCI optdigits test set; train/test 80/20."}

    def _info(self) -> lds.DatasetInfo:
        return lds.DatasetInfo(
            features=F.Features(
                {
                    "image_id": F.Text(doc="Path of the image in the pinned folder", nullable=False),
                    "image": F.Image(encoding="png", shape=(8, 8, 1), doc="8x8 grayscale PNG"),
                    "label": F.ClassLabel(names=LABELS, doc="The digit"),
                }
            ),
            key="image_id",
            supervised_keys=("image", "label"),
            owners=["vision@lab.example"],
            homepage="https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits",
            license="CC-BY-4.0",
            citation="Alpaydin E, Kaynak C (1998). Optical Recognition of Handwritten Digits. UCI ML Repository.",
        )

    def _sources(self):
        return {"images": loaders.LocalSource("data/images", glob="*.png")}

    def _process(self, sources):
        examples = sources["images"] | "FromImageFolder" >> P.MapBatches(from_image_folder)
        return P.split_by_hash(examples, key="image_id", ratios={"train": 0.8, "test": 0.2})
