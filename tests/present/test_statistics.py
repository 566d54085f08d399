"""Showing statistics: text rows, sparklines, inline SVG, and comparing two versions' statistics."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pyarrow as pa

from labdatasets import features as F
from labdatasets.processing.statistics import SplitStatistics
from labdatasets.present.statistics import (
    class_bars_svg,
    column_svg,
    compare_statistics,
    histogram_svg,
    sparkline,
    statistics_rows,
)

FEATURES = F.Features({"x": F.Value("float64"), "label": F.ClassLabel(names=["a", "b", "c"]), "t": F.Text()})


def stats(x, labels, texts):
    table = pa.table({"x": pa.array(x, pa.float64()), "label": pa.array(labels, pa.int64()), "t": pa.array(texts, pa.string())})
    return SplitStatistics(FEATURES).add_table(table).to_json()


def test_rows_and_sparklines():
    s = stats(list(np.linspace(0, 10, 101)) + [None], [0] * 60 + [1] * 42, ["p"] * 70 + ["q"] * 31 + [None])
    rows = {r[0]: r for r in statistics_rows(s)}
    assert rows["x"][1] == "1 (1.0%)"
    assert rows["x"][2].startswith("0 .. 10, mean 5 ± ")
    assert rows["label"][2] == "a 59%, b 41%; no rows of c"
    assert rows["t"][2].startswith("2 distinct; top 'p' 69%, 'q' 31%")
    assert set(rows["x"][3]) <= set("▁▂▃▄▅▆▇█ ") and len(rows["x"][3]) > 5
    assert sparkline(s["columns"]["label"]) == "█▆ "


def test_svg_is_well_formed_and_needs_no_library():
    s = stats(list(range(30)), [0, 1, 2] * 10, ["<b>&"] * 30)
    for svg in (histogram_svg(s["columns"]["x"]["histogram"]), class_bars_svg(s["columns"]["label"]["classes"]),
                column_svg(s["columns"]["t"])):
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg") and root.findall(".//{http://www.w3.org/2000/svg}rect")
    assert "&lt;b&gt;&amp;" in column_svg(s["columns"]["t"])


def test_compare_statistics_reports_what_moved():
    old = {"train": stats(list(np.linspace(0, 10, 100)), [0] * 50 + [1] * 50, ["p"] * 100)}
    new = {"train": stats(list(np.linspace(3, 13, 80)) + [None] * 20, [0] * 50 + [2] * 50, ["p"] * 90 + ["r"] * 10)}
    changes = {(c.column, c.what): c for c in compare_statistics(old, new)}
    assert changes[("x", "mean")].detail.startswith("+1.0")
    assert changes[("x", "null share")].new == "20.0%"
    assert changes[("label", "new classes")].new == ["c"] and changes[("label", "vanished classes")].old == ["b"]
    assert changes[("t", "new values")].new == ["r"]
    assert compare_statistics(old, old) == []
    assert compare_statistics({"train": None}, new) == []  # a version built before statistics
