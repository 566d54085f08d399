"""Product A field observations: size measurements of adult penguins near Palmer Station.

Product A exports one CSV per field campaign. Each row is one observed adult
(Adelie, Chinstrap or Gentoo) with its bill, flipper and body-mass measurements.
The example uses the Palmer penguins data (Gorman, Williams and Fraser 2014,
Palmer Station LTER, CC0) as the product's export.
"""

from __future__ import annotations

import functools

import pyarrow as pa
import pyarrow.compute as pc

import labdatasets as lds
from labdatasets import features as F
from labdatasets import loaders
from labdatasets import processing as P

SPECIES = ["Adelie", "Chinstrap", "Gentoo"]
ISLANDS = ["Biscoe", "Dream", "Torgersen"]


def tidy(table: pa.Table, *, with_isotopes: bool) -> pa.Table:
    """Raw export columns -> the published features (one batch at a time)."""
    sex = pc.utf8_lower(table["Sex"])
    sex = pc.if_else(pc.is_in(sex, pa.array(["na", "."])), pa.scalar(None, pa.string()), sex)  # unknown sex
    columns = {
        "sample_id": pc.binary_join_element_wise(table["studyName"], table["Individual ID"], "-"),
        "species": pc.list_element(pc.split_pattern(table["Species"], " "), 0),
        "island": table["Island"],
        "season": pc.cast(pc.year(table["Date Egg"]), pa.int16()),
        "bill_length_mm": table["Culmen Length (mm)"],
        "bill_depth_mm": table["Culmen Depth (mm)"],
        "flipper_length_mm": table["Flipper Length (mm)"],
        "body_mass_g": table["Body Mass (g)"],
        "sex": sex,
    }
    if with_isotopes:
        columns["body_mass_kg"] = pc.divide(pc.cast(table["Body Mass (g)"], pa.float64()), 1000.0)
        columns["delta_15n"] = table["Delta 15 N (o/oo)"]
        columns["delta_13c"] = table["Delta 13 C (o/oo)"]
    return pa.table(columns)


class Builder(lds.DatasetBuilder):
    """Product A field observations: size measurements of adult penguins near Palmer Station."""

    VERSION = "1.2.0"
    SUPPORTED_VERSIONS = ["1.0.0"]
    RELEASE_NOTES = {
        "1.0.0": "First export: the 2007 and 2008 campaigns (studies PAL0708 and PAL0809), 224 rows; "
        "train/test 80/20 by a hash of sample_id.",
        "1.2.0": "New export pinned with the 2009 campaign (PAL0910), 344 rows; adds body_mass_kg and the "
        "blood isotope ratios delta_15n and delta_13c. Same split rule, so every 1.0.0 row keeps its split.",
    }

    def _info(self) -> lds.DatasetInfo:
        features = {
            "sample_id": F.Text(doc="Study and bird, e.g. PAL0708-N1A1 (unique)", nullable=False),
            "species": F.ClassLabel(names=SPECIES, doc="Penguin species"),
            "island": F.ClassLabel(names=ISLANDS, doc="Island of the nest"),
            "season": F.Value("int16", doc="Year the clutch was observed"),
            "bill_length_mm": F.Value("float32", doc="Culmen length (mm)"),
            "bill_depth_mm": F.Value("float32", doc="Culmen depth (mm)"),
            "flipper_length_mm": F.Value("float32", doc="Flipper length (mm)"),
            "body_mass_g": F.Value("float32", doc="Body mass (g)"),
            "sex": F.Text(doc="female, male, or null when unknown"),
        }
        if self.version >= "1.2.0":
            features["body_mass_kg"] = F.Value("float32", doc="Body mass (kg)")
            features["delta_15n"] = F.Value("float32", doc="Blood delta 15N (o/oo)")
            features["delta_13c"] = F.Value("float32", doc="Blood delta 13C (o/oo)")
        return lds.DatasetInfo(
            features=F.Features(features),
            key="sample_id",
            supervised_keys=("bill_length_mm", "species"),
            owners=["product-a-data@lab.example"],
            homepage="https://pal.lternet.edu/",
            license="CC0-1.0",
            citation=(
                "Gorman KB, Williams TD, Fraser WR (2014). Ecological sexual dimorphism and environmental "
                "variability within a community of Antarctic penguins (genus Pygoscelis). PLoS ONE 9(3): e90081."
            ),
        )

    def _sources(self):
        if self.version < "1.2.0":
            return {"observations": loaders.LocalSource("data/penguins_raw_2007_2008.csv")}
        return {"observations": loaders.LocalSource("data/penguins_raw_2007_2009.csv")}

    def _process(self, sources):
        rows = sources["observations"] | "Tidy" >> P.MapBatches(
            functools.partial(tidy, with_isotopes=self.version >= "1.2.0")
        )
        return P.split_by_hash(rows, key="sample_id", ratios={"train": 0.8, "test": 0.2})
