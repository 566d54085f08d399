"""Iris flowers: sepal and petal measurements of three species (Fisher 1936, UCI, CC BY 4.0)."""

from __future__ import annotations

import labdatasets as lds
from labdatasets import features as F
from labdatasets import loaders
from labdatasets import processing as P


class Builder(lds.DatasetBuilder):
    """Iris flowers: sepal and petal measurements of three species."""

    VERSION = "1.0.0"
    RELEASE_NOTES = {"1.0.0": "The 150 samples of the UCI Iris data; train/test 80/20 by a hash of sample."}

    def _info(self) -> lds.DatasetInfo:
        return lds.DatasetInfo(
            features=F.Features(
                {
                    "sample": F.Value("int64", doc="Row number in the UCI file", nullable=False),
                    "sepal_length_cm": F.Value("float32"),
                    "sepal_width_cm": F.Value("float32"),
                    "petal_length_cm": F.Value("float32"),
                    "petal_width_cm": F.Value("float32"),
                    "species": F.ClassLabel(names=["setosa", "versicolor", "virginica"]),
                }
            ),
            key="sample",
            supervised_keys=("petal_length_cm", "species"),
            owners=["ml-platform@lab.example"],
            homepage="https://archive.ics.uci.edu/dataset/53/iris",
            license="CC-BY-4.0",
            citation="Fisher RA (1936). The use of multiple measurements in taxonomic problems. Annals of Eugenics 7(2).",
        )

    def _sources(self):
        return {"samples": loaders.LocalSource("data/iris.jsonl")}

    def _process(self, sources):
        return P.split_by_hash(sources["samples"], key="sample", ratios={"train": 0.8, "test": 0.2})
