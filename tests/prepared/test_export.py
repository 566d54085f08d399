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
