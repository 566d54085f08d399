"""Split statistics equal pandas' on the same data, merge in any order, and stay fixed-size."""

from __future__ import annotations

import io
import math
import pickle
import struct
import warnings
import zlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from labdatasets import features as F
from labdatasets.processing.statistics import (
    DISTINCT_SKETCH,
    HISTOGRAM_BINS,
    SplitStatistics,
    hash_column,
    image_size,
)

FEATURES = F.Features(
    {
        "id": F.Value("int64", nullable=False),
        "count": F.Value("int32"),
        "x": F.Value("float64"),
        "y": F.Value("float32"),
        "label": F.ClassLabel(names=["cat", "dog", "bird"]),
        "word": F.Text(),
        "day": F.Value("date32"),
        "tags": F.Sequence(F.Text()),
    }
)


def sample(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    count = rng.integers(-50, 1000, rows)
    x = rng.normal(10.0, 3.0, rows)
    words = np.array(["alpha", "beta", "gamma", "delta", "épsilon", ""])
    word = rng.choice(words, rows, p=[0.4, 0.3, 0.1, 0.1, 0.05, 0.05]).astype(object)
    word[rng.random(rows) < 0.1] = None
    x_mask = rng.random(rows) < 0.05
    return pa.table(
        {
            "id": np.arange(rows, dtype=np.int64),
            "count": pa.array(count.astype(np.int32), mask=rng.random(rows) < 0.2),
            "x": pa.array(x, mask=x_mask),
            "y": rng.random(rows).astype(np.float32),
            "label": rng.integers(0, 3, rows),
            "word": pa.array(word, pa.string()),
            "day": pa.array(rng.integers(18000, 19000, rows).astype(np.int32)).cast(pa.date32()),
            "tags": pa.array([["a"] * (i % 3) if i % 7 else None for i in range(rows)], pa.list_(pa.string())),
        }
    )


def stats_of(table: pa.Table, pieces: int = 1) -> dict:
    bounds = np.array_split(np.arange(table.num_rows), pieces)
    parts = [SplitStatistics(FEATURES).add_table(table.slice(int(b[0]), len(b))) for b in bounds]
    return SplitStatistics.merged(FEATURES, parts).to_json()


@pytest.mark.parametrize("pieces", [1, 7])
def test_statistics_equal_pandas(pieces):
    table = sample(20_000)
    df = table.to_pandas()
    stats = stats_of(table, pieces)
    assert stats["num_rows"] == len(df)
    columns = stats["columns"]
    for name in ["id", "count", "x", "y", "word", "day", "tags", "label"]:
        assert columns[name]["nulls"] == int(df[name].isna().sum()), name
    for name in ["id", "count", "x", "y"]:
        got, series = columns[name], df[name].dropna().astype("float64")  # pandas sums float32 in float32
        assert got["count"] == len(series)
        assert got["min"] == pytest.approx(series.min())
        assert got["max"] == pytest.approx(series.max())
        assert got["mean"] == pytest.approx(series.mean(), rel=1e-9)
        assert got["std"] == pytest.approx(series.std(), rel=1e-9)  # pandas: ddof=1
        hist = got["histogram"]
        assert sum(hist["counts"]) == len(series) and len(hist["counts"]) <= HISTOGRAM_BINS
        edges = hist["start"] + hist["width"] * np.arange(len(hist["counts"]) + 1)
        assert list(np.histogram(series.astype(float), bins=edges)[0]) == hist["counts"]
    assert isinstance(columns["count"]["min"], int) and columns["count"]["min"] == df["count"].min()
    words = df["word"].dropna()
    assert columns["word"]["distinct"] == words.nunique() and columns["word"]["distinct_exact"]
    expected_top = words.value_counts()
    assert columns["word"]["top"] == [[v, int(c)] for v, c in expected_top.items()]
    assert columns["word"]["top_exact"]
    assert columns["word"]["length"]["max"] == words.str.len().max()
    assert columns["word"]["length"]["mean"] == pytest.approx(words.str.len().mean())
    assert columns["label"]["classes"] == {
        name: int((df["label"] == i).sum()) for i, name in enumerate(["cat", "dog", "bird"])
    }
    assert columns["day"]["min"] == str(df["day"].min()) and columns["day"]["max"] == str(df["day"].max())


def test_merge_order_does_not_matter_and_accumulators_stay_small():
    table = sample(30_000, seed=3)
    parts = [SplitStatistics(FEATURES).add_table(table.slice(i, 3000)) for i in range(0, 30_000, 3000)]
    forward = SplitStatistics.merged(FEATURES, [pickle.loads(pickle.dumps(p)) for p in parts]).to_json()
    backward = SplitStatistics.merged(FEATURES, [pickle.loads(pickle.dumps(p)) for p in reversed(parts)]).to_json()
    for name in ("id", "count", "x", "y"):
        assert forward["columns"][name]["histogram"] == backward["columns"][name]["histogram"]
        assert forward["columns"][name]["mean"] == pytest.approx(backward["columns"][name]["mean"])
    assert forward["columns"]["word"] == backward["columns"]["word"]
    assert forward["columns"]["label"] == backward["columns"]["label"]
    small = len(pickle.dumps(SplitStatistics(FEATURES).add_table(sample(2_000))))
    big = len(pickle.dumps(SplitStatistics(FEATURES).add_table(sample(200_000, seed=1))))
    assert big < small * 1.5  # fixed-size: 100x the rows, about the same accumulator


def test_distinct_estimate_and_top_values_of_high_cardinality_text():
    rows = 200_000
    rng = np.random.default_rng(7)
    ids = rng.integers(0, 60_000, rows)
    text = pa.array([f"user-{i}" for i in ids])
    text = pa.concat_arrays([text, pa.array(["hot"] * 5000)])
    feats = F.Features({"t": F.Text()})
    acc = SplitStatistics(feats)
    for offset in range(0, len(text), 10_000):
        acc.add_table(pa.table({"t": text.slice(offset, 10_000)}))
    out = acc.to_json()["columns"]["t"]
    truth = len(set(text.to_pylist()))
    assert not out["distinct_exact"] and DISTINCT_SKETCH < truth
    assert abs(out["distinct"] - truth) / truth < 0.08
    assert out["top"][0][0] == "hot" and not out["top_exact"]
    assert out["top"][0][1] <= 5000  # Misra-Gries never over-counts


def test_hash_is_per_value_not_per_batch():
    a = pa.array(["x", "yy", None, "", "x", "zzz"])
    h = hash_column(a)
    assert h[0] == h[4] and h[2] == 0 and len(set(h.tolist())) == 5
    assert list(hash_column(a.slice(4, 2))) == [h[4], h[5]]
    assert list(hash_column(pa.array(["x"], pa.large_string()))) == [h[0]]
    ints = pa.array([1, 2, None, 1])
    hi = hash_column(ints)
    assert hi[0] == hi[3] and hi[2] == 0


def _png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def _jpeg(width: int, height: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (width, height)).save(buf, format="JPEG")
    return buf.getvalue()


def test_image_sizes_from_headers():
    assert image_size(_png(8, 6)) == (8, 6)
    assert image_size(b"not an image") is None
    pytest.importorskip("PIL")
    assert image_size(_jpeg(13, 7)) == (13, 7)
    feats = F.Features({"img": F.Image()})
    column = pa.array([_png(8, 8), _png(8, 8), _png(16, 4), b"junk", None], pa.binary())
    out = SplitStatistics(feats).add_table(pa.table({"img": column})).to_json()["columns"]["img"]
    assert out["nulls"] == 1 and out["unreadable"] == 1 and out["count"] == 4
    assert out["sizes"] == [["8x8", 2], ["16x4", 1]]
    assert out["width"]["max"] == 16 and out["height"]["min"] == 4
    assert math.isclose(out["width"]["mean"], 32 / 3)


def test_empty_and_all_null_columns():
    table = pa.table({"id": pa.array([], pa.int64())})
    out = SplitStatistics(F.Features({"id": F.Value("int64")})).add_table(table).to_json()
    assert out == {"num_rows": 0, "columns": {"id": {"kind": "number", "nulls": 0, "count": 0}}}
    nulls = pa.table({"x": pa.array([None, None], pa.float64())})
    out = SplitStatistics(F.Features({"x": F.Value("float64")})).add_table(nulls).to_json()
    assert out["columns"]["x"] == {"kind": "number", "nulls": 2, "count": 0}
    assert pd.isna(pd.Series([None, None], dtype=float).mean())


def _reference_text_hash(value: bytes) -> int:
    """The text hash, one value at a time in Python integers (what every committed distinct estimate rests on)."""
    mask = (1 << 64) - 1

    def mix(x: int) -> int:
        x = (x * 0xBF58476D1CE4E5B9) & mask
        return x ^ (x >> 31)

    out = mix((len(value) + 0x9E3779B97F4A7C15) & mask)
    for j in range(min(-(-len(value) // 8), 8)):
        out = mix(out ^ int.from_bytes(value[8 * j : 8 * j + 8], "little"))
    if len(value) > 64:
        out = mix(out ^ int.from_bytes(value[-8:], "little"))
    out = (out + 0x9E3779B97F4A7C15) & mask
    out = ((out ^ (out >> 30)) * 0xBF58476D1CE4E5B9) & mask
    out = ((out ^ (out >> 27)) * 0x94D049BB133111EB) & mask
    return out ^ (out >> 31)


def test_text_hash_equals_its_definition_value_by_value():
    rng = np.random.default_rng(5)
    lengths = [0, 1, 5, 7, 8, 9, 15, 16, 17, 23, 24, 31, 63, 64, 65, 71, 130]
    values = ["".join(rng.choice(list("ab\u00e9z09 \u4e2d"), n)) for n in lengths for _ in range(3)]
    column = pa.array(values)
    expected = [_reference_text_hash(v.encode()) for v in values]
    assert hash_column(column).tolist() == expected
    assert hash_column(column.slice(5, 20)).tolist() == expected[5:25]  # a slice reads only its own bytes
    longer = pa.array([v for v in values if len(v.encode()) >= 9])  # every value has a second word
    assert hash_column(longer).tolist() == [_reference_text_hash(v.encode()) for v in values if len(v.encode()) >= 9]


FLOAT_MAX = float(np.finfo(np.float64).max)


@pytest.mark.parametrize(
    "values",
    [
        [FLOAT_MAX, -FLOAT_MAX, 0.0],  # pandas: std inf (its squares overflow); the true std is FLOAT_MAX
        [1.7e308, 1.6e308, 1.5e308],  # pandas: mean and std inf (its sum overflows)
        [-FLOAT_MAX, 5e-324, 1.0],
        [FLOAT_MAX] * 3,
        [1e300, -1e300, 3.0, 2.5e-310],  # above 2**400, scaled too: its squares overflow float64
    ],
)
@pytest.mark.parametrize("pieces", [1, 3])
def test_values_near_the_largest_float_give_finite_mean_and_std_without_a_warning(values, pieces):
    from fractions import Fraction

    feats = F.Features({"x": F.Value("float64")})
    table = pa.table({"x": pa.array(values, pa.float64())})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow RuntimeWarning would fail the test
        out = stats_of_features(feats, table, pieces)["columns"]["x"]
    exact = [Fraction(v) for v in values]
    mean = sum(exact) / len(exact)
    variance = sum((v - mean) ** 2 for v in exact) / (len(exact) - 1)
    assert out["count"] == len(values) and out["min"] == min(values) and out["max"] == max(values)
    assert out["mean"] == pytest.approx(float(mean), rel=1e-12)
    assert math.isfinite(out["std"]) and out["std"] == pytest.approx(math.sqrt(float(variance / Fraction(FLOAT_MAX) ** 2)) * FLOAT_MAX, rel=1e-12)
    hist = out["histogram"]
    assert sum(hist["counts"]) == len(values) and len(hist["counts"]) <= HISTOGRAM_BINS
    assert math.isfinite(hist["start"]) and hist["start"] <= min(values)


def test_a_std_beyond_the_largest_float_is_inf_without_a_warning():
    feats = F.Features({"x": F.Value("float64")})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = SplitStatistics(feats).add_table(pa.table({"x": [FLOAT_MAX, -FLOAT_MAX]})).to_json()["columns"]["x"]
    assert out["mean"] == 0.0 and out["std"] == math.inf  # sqrt(2) * FLOAT_MAX: pandas gives inf too


def test_histogram_bins_at_a_bin_edge_after_a_negative_start():
    """A value just below a bin's upper edge stays in its bin (a float subtraction of the first bin rounded it up)."""
    feats = F.Features({"x": F.Value("float64")})
    below = np.nextafter(1.0, 0.0)
    values = [-0.75, 0.0, below, 1.0]
    out = SplitStatistics(feats).add_table(pa.table({"x": values})).to_json()["columns"]["x"]
    hist = out["histogram"]
    edges = hist["start"] + hist["width"] * np.arange(len(hist["counts"]) + 1)
    assert list(np.histogram(values, bins=edges)[0]) == hist["counts"] and sum(hist["counts"]) == 4


def stats_of_features(feats: F.Features, table: pa.Table, pieces: int) -> dict:
    bounds = np.array_split(np.arange(table.num_rows), pieces)
    parts = [SplitStatistics(feats).add_table(table.slice(int(b[0]), len(b))) for b in bounds if len(b)]
    return SplitStatistics.merged(feats, parts).to_json()
