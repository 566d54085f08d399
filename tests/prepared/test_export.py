"""Prepared versions read by the real tensorflow-datasets package."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import labdatasets
from labdatasets.cli import main
from labdatasets.errors import ProcessingError
from labdatasets.prepared.export import export_tfds

pytestmark = pytest.mark.slow

tfds = pytest.importorskip("tensorflow_datasets")


def our_rows(name: str, split: str) -> list[dict]:
    return labdatasets.load(name, split=split, format="arrow").to_pylist()


def test_array_record_export_reads_back_row_for_row_without_tensorflow(subprocess_env, tmp_path):
    """Exporting and reading ArrayRecord through tfds.data_source needs no TensorFlow import."""
    code = textwrap.dedent(
        """
        import json, math, sys
        import labdatasets
        from labdatasets.prepared.export import export_tfds
        import tensorflow_datasets as tfds

        b = labdatasets.builder("product_a:1.2.0")
        b.download_and_prepare(progress=False)
        path = export_tfds(b, progress=False)
        source = tfds.builder_from_directory(str(path)).as_data_source(split="train")
        ours = labdatasets.load("product_a:1.2.0", split="train", format="arrow").to_pylist()
        rows = [source[i] for i in range(len(source))]
        same = all(
            r["sample_id"].decode() == o["sample_id"] and r["species"] == o["species"]
            and (r["sex"].decode() == (o["sex"] or ""))
            and ((math.isnan(r["body_mass_g"]) and o["body_mass_g"] is None) or r["body_mass_g"] == o["body_mass_g"])
            for r, o in zip(rows, ours)
        )
        print(json.dumps({"n": len(rows), "ours": len(ours), "same": same, "tf": "tensorflow" in sys.modules,
                          "path": str(path)}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["n"] == result["ours"] > 200 and result["same"] is True
    assert result["tf"] is False
    assert result["path"].endswith("prepared/_tfds/product_a/1.2.0")


def test_tfds_sees_features_splits_and_release_notes():
    b = labdatasets.builder("product_a:1.2.0")
    b.download_and_prepare(progress=False)
    path = export_tfds(b, progress=False)
    reader = tfds.builder_from_directory(str(path))
    assert reader.info.features["species"].names == ["Adelie", "Chinstrap", "Gentoo"]
    assert {s: reader.info.splits[s].num_examples for s in ("train", "test")} == {
        s: b.info.splits[s].num_rows for s in ("train", "test")
    }
    assert reader.info.supervised_keys == ("bill_length_mm", "species")
    assert "2009 campaign" in reader.info.release_notes["1.2.0"]
    # slicing is tfds's own: the first 10 rows of our train split
    sliced = tfds.data_source("product_a:1.2.0", data_dir=str(path.parents[1]), split="train[:10]")
    assert [sliced[i]["sample_id"].decode() for i in range(len(sliced))] == [r["sample_id"] for r in our_rows("product_a:1.2.0", "train[:10]")]
    stamp = (path / "dataset_info.json").stat().st_mtime_ns
    assert export_tfds(b, progress=False) == path and (path / "dataset_info.json").stat().st_mtime_ns == stamp


def test_tfrecord_export_gives_tf_data_through_tfds_load_and_to_tf_agrees(capsys):
    tf = pytest.importorskip("tensorflow")
    assert main(["export", "iris:1.0.0", "--format", "tfrecord", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "tfds.load('iris:1.0.0', data_dir=" in out
    data_dir = out.split("data_dir='")[1].split("'")[0]
    ds = tfds.load("iris:1.0.0", data_dir=data_dir, split="test")
    assert isinstance(ds, tf.data.Dataset)
    from_tfds = [{k: v.numpy() for k, v in row.items()} for row in ds]
    ours = labdatasets.load("iris:1.0.0", split="test")
    from_to_tf = [{k: v.numpy() for k, v in row.items()} for row in ours.to_tf()]
    assert len(from_tfds) == len(from_to_tf) == len(ours) > 10
    for a, b in zip(from_tfds, from_to_tf, strict=True):
        assert a["sample"] == b["sample"] and a["species"] == b["species"]
        assert np.isclose(a["petal_length_cm"], b["petal_length_cm"])


def test_images_export_as_tfds_images():
    from PIL import Image

    b = labdatasets.builder("digits:1.0.0")
    b.download_and_prepare(progress=False)
    source = tfds.builder_from_directory(str(export_tfds(b, progress=False))).as_data_source(split="test")
    ours = our_rows("digits:1.0.0", "test")
    for i in (0, len(ours) - 1):
        decoded = np.asarray(Image.open(io.BytesIO(ours[i]["image"])))
        assert source[i]["image"].shape == (8, 8, 1)
        assert (source[i]["image"][..., 0] == decoded).all() and source[i]["label"] == ours[i]["label"]


NULLABLE_INT_BUILDER = """
import labdatasets as lds
from labdatasets import features as F, loaders, processing as P


class Builder(lds.DatasetBuilder):
    name = "toy_tfds_null"
    VERSION = "1.0.0"
    RELEASE_NOTES = {"1.0.0": "rows with an optional count"}

    def _info(self):
        return lds.DatasetInfo(
            features=F.Features({"id": F.Value("int64", nullable=False), "count": F.Value("int64")}), key="id"
        )

    def _sources(self):
        return {"rows": loaders.LocalSource("data/rows.csv")}

    def _process(self, sources):
        return {"train": sources["rows"]}
"""


def test_what_tfds_cannot_hold_is_named(make_builder):
    make_builder.write("toy_tfds_null", NULLABLE_INT_BUILDER, {"data/rows.csv": "id,count\n1,10\n2,\n3,30\n"})
    b = labdatasets.builder("toy_tfds_null")
    b.build()
    with pytest.raises(ProcessingError, match=r"column 'count', row with id=2: null, which a tfds int64 cannot hold"):
        export_tfds(b, progress=False)

    from labdatasets import features as F
    from labdatasets.prepared.export import tfds_features

    with pytest.raises(ProcessingError, match=r"column 'when' \(timestamp\[us\]\) has no tensorflow-datasets feature"):
        tfds_features(F.Features({"when": F.Value("timestamp[us]")}))


ALL_TYPES_BUILDER = '''
import labdatasets as lds
from labdatasets import features as F, loaders, processing as P


class Builder(lds.DatasetBuilder):
    """One column of every feature type, for the tfds round trip."""

    name = "toy_all_types"
    VERSION = "1.0.0"
    RELEASE_NOTES = {"1.0.0": "every type"}

    def _info(self):
        return lds.DatasetInfo(
            features=F.Features({
                "id": F.Value("int64", nullable=False),
                "i8": F.Value("int8"), "i16": F.Value("int16"), "i32": F.Value("int32"), "i64": F.Value("int64"),
                "u8": F.Value("uint8"), "u16": F.Value("uint16"), "u32": F.Value("uint32"), "u64": F.Value("uint64"),
                "f16": F.Value("float16"), "f32": F.Value("float32"), "f64": F.Value("float64"),
                "flag": F.Value("bool"),
                "text": F.Text(),
                "raw": F.Value("binary"),
                "label": F.ClassLabel(names=["cat", "dog", "bird"]),
                "image": F.Image(encoding="png", shape=(3, 4, 3)),
                "seq_f64": F.Sequence(F.Value("float64")),
                "seq_i32": F.Sequence(F.Value("int32")),
                "seq_text": F.Sequence(F.Text()),
                "tensor_f64": F.Tensor(shape=(2, 3), dtype="float64"),
                "tensor_u8": F.Tensor(shape=(2, 2), dtype="uint8"),
            }),
            key="id",
        )

    def _sources(self):
        return {"rows": loaders.LocalSource("data/rows.parquet")}

    def _process(self, sources):
        return P.split_by_hash(sources["rows"], key="id", ratios={"train": 0.5, "test": 0.5})
'''


def _all_types_table():
    """Values at the edges of every type: what float32 or int64 storage would change."""
    import io as _io

    import pyarrow as pa
    from PIL import Image

    def png(seed: int) -> bytes:
        pixels = np.random.default_rng(seed).integers(0, 256, size=(3, 4, 3), dtype=np.uint8)
        buf = _io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG")
        return buf.getvalue()

    n = 40
    rng = np.random.default_rng(7)
    f64 = rng.standard_normal(n) * 1e3
    f64[:4] = [0.1, 1 / 3, 1e300, -2.2250738585072014e-308]  # none of these survive float32
    u64 = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2)
    u64[:2] = [2**64 - 1, 2**63 + 1]  # beyond int64
    columns = {
        "id": pa.array(np.arange(n, dtype=np.int64)),
        "i8": pa.array(rng.integers(-128, 128, n, dtype=np.int8)),
        "i16": pa.array(rng.integers(-(2**15), 2**15, n, dtype=np.int16)),
        "i32": pa.array(rng.integers(-(2**31), 2**31, n, dtype=np.int32)),
        "i64": pa.array(np.r_[[-(2**63), 2**63 - 1], rng.integers(-(2**62), 2**62, n - 2)].astype(np.int64)),
        "u8": pa.array(rng.integers(0, 256, n, dtype=np.uint8)),
        "u16": pa.array(rng.integers(0, 2**16, n, dtype=np.uint16)),
        "u32": pa.array(rng.integers(0, 2**32, n, dtype=np.uint32)),
        "u64": pa.array(u64),
        "f16": pa.array(rng.standard_normal(n).astype(np.float16)),
        "f32": pa.array((rng.standard_normal(n) * 1e5).astype(np.float32)),
        "f64": pa.array(f64),
        "flag": pa.array(rng.integers(0, 2, n).astype(bool)),
        "text": pa.array([f"row {i} \u00e9\u6f22" for i in range(n)]),
        "raw": pa.array([bytes([i, 0, 255 - i]) for i in range(n)], pa.binary()),
        "label": pa.array(rng.integers(0, 3, n), pa.int64()),
        "image": pa.array([png(i) for i in range(n)], pa.binary()),
        "seq_f64": pa.array([list(rng.standard_normal(i % 4) / 3) for i in range(n)], pa.list_(pa.float64())),
        "seq_i32": pa.array([list(range(i % 3)) for i in range(n)], pa.list_(pa.int32())),
        "seq_text": pa.array([[f"t{j}" for j in range(i % 3)] for i in range(n)], pa.list_(pa.string())),
        "tensor_f64": pa.array([list(rng.standard_normal(6) / 7) for _ in range(n)], pa.list_(pa.float64(), 6)),
        "tensor_u8": pa.array([list(rng.integers(0, 256, 4)) for _ in range(n)], pa.list_(pa.uint8(), 4)),
    }
    return pa.table(columns)


def _assert_same(name: str, feature, theirs, ours) -> None:
    """tfds's value equals ours exactly (text comes back as UTF-8 bytes, images as pixels)."""
    import io as _io

    from PIL import Image

    if feature.kind == "image":
        assert np.array_equal(np.asarray(theirs), np.asarray(Image.open(_io.BytesIO(ours)))), name
    elif feature.kind == "text" or getattr(feature, "dtype", "") == "string":
        assert theirs == ours.encode(), (name, theirs, ours)
    elif feature.kind == "sequence" and feature.feature.kind == "text":
        assert [bytes(t) for t in theirs] == [t.encode() for t in ours], (name, theirs, ours)
    elif getattr(feature, "dtype", "") == "binary":
        assert theirs == ours, (name, theirs, ours)
    elif feature.kind == "tensor":
        got = np.asarray(theirs)
        assert got.dtype == np.dtype(feature.dtype) and got.shape == feature.shape, (name, got.dtype, got.shape)
        assert got.ravel().tolist() == list(ours), (name, got, ours)
    elif feature.kind == "sequence":
        assert np.asarray(theirs).tolist() == list(ours), (name, theirs, ours)
    else:
        assert np.asarray(theirs).tolist() == ours, (name, theirs, ours)  # bool, ints, floats, class labels


def test_every_feature_type_round_trips_exactly_through_tfds(make_builder, lab_home):
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(_all_types_table(), buf)
    cls = make_builder.write("toy_all_types", ALL_TYPES_BUILDER, {"data/rows.parquet": buf.getvalue()})
    b = cls()
    b.download_and_prepare(progress=False)
    path = export_tfds(b, progress=False)

    written = json.loads((path / "features.json").read_text())
    assert "float64" in json.dumps(written) and "uint64" in json.dumps(written)
    reader = tfds.builder_from_directory(str(path))
    features = b.info.features
    checked = 0
    for split in ("train", "test"):
        source = reader.as_data_source(split=split)
        ours = our_rows("toy_all_types:1.0.0", split)
        assert len(source) == len(ours) > 0
        for i, row in enumerate(ours):
            theirs = source[i]
            assert set(theirs) == set(features)
            for name, feature in features.items():
                _assert_same(name, feature, theirs[name], row[name])
                checked += 1
    assert checked == 40 * len(features)
    # the float64 and uint64 values that float32/int64 storage would change are among them
    all_rows = {r["id"]: r for s in ("train", "test") for r in our_rows("toy_all_types:1.0.0", s)}
    assert {all_rows[0]["f64"], all_rows[2]["f64"], all_rows[0]["u64"]} == {0.1, 1e300, 2**64 - 1}

