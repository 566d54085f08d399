"""The Dataset object and load()'s formats and split slicing."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import labdatasets
from labdatasets.prepared.dataset import Dataset

pytestmark = pytest.mark.slow


@pytest.fixture
def toy(make_builder):
    make_builder.tabular("toy_formats", rows=[{"id": i, "value": i / 4, "label": "pos" if i % 2 else "neg", "text": f"t{i}"} for i in range(400)])
    labdatasets.builder("toy_formats").build()
    return "toy_formats"


def test_formats(toy):
    ds = labdatasets.load(toy, split="train")
    assert isinstance(ds, Dataset) and len(ds) == ds.num_rows > 0
    df = labdatasets.load(toy, split="train", format="pandas")
    assert isinstance(df, pd.DataFrame) and len(df) == len(ds)
    table = labdatasets.load(toy, split="train", format="arrow")
    assert isinstance(table, pa.Table) and table.schema == ds.schema
    arrays = labdatasets.load(toy, split="train", format="numpy")
    assert arrays["id"].dtype == np.int64 and arrays["value"].dtype == np.float32 and len(arrays["text"]) == len(ds)
    assert ds[0] == df.iloc[0].to_dict() | {"value": pytest.approx(df.iloc[0]["value"])}
    assert [r["id"] for r in ds][:3] == df["id"].tolist()[:3]
    assert ds["id"] == df["id"].tolist()
    assert len(ds[:5]) == 5 and ds[:5].to_pandas()["id"].tolist() == df["id"].tolist()[:5]
    assert "toy_formats:1.0.0" in repr(ds) and "<table" in ds._repr_html_()


def test_split_slicing_and_sums(toy):
    full = labdatasets.load(toy, split="train", format="pandas")
    n = len(full)
    first_tenth = labdatasets.load(toy, split="train[:10%]", format="pandas")
    assert first_tenth["id"].tolist() == full["id"].tolist()[: round(n / 10)]
    window = labdatasets.load(toy, split="train[10:20]", format="pandas")
    assert window["id"].tolist() == full["id"].tolist()[10:20]
    tail = labdatasets.load(toy, split="train[-5:]", format="pandas")
    assert tail["id"].tolist() == full["id"].tolist()[-5:]
    both = labdatasets.load(toy, split="train+test", format="pandas")
    test = labdatasets.load(toy, split="test", format="pandas")
    assert len(both) == n + len(test) == 400
    empty = labdatasets.load(toy, split="train[5:5]", format="pandas")
    assert len(empty) == 0 and list(empty.columns) == list(full.columns)


def test_slices_across_row_groups_and_shards(make_builder, monkeypatch):
    from labdatasets.processing import pipeline_io

    monkeypatch.setattr(pipeline_io, "ROW_GROUP_ROWS", 7)
    cls = make_builder.tabular("toy_shards", rows=[{"id": i, "value": 1.0, "label": "neg", "text": "x"} for i in range(300)])
    cls.NUM_SHARDS = 3
    b = labdatasets.builder("toy_shards")
    b.build()
    info = b.info
    assert len(info.splits["train"].shards) == 3
    full = labdatasets.load("toy_shards", split="train", format="pandas")
    assert sorted(full["id"]) == sorted(set(full["id"]))
    for spec, lo, hi in [("train[13:171]", 13, 171), ("train[:1%]", 0, round(len(full) / 100)), ("train[-40:]", len(full) - 40, len(full))]:
        part = labdatasets.load("toy_shards", split=spec, format="pandas")
        assert part["id"].tolist() == full["id"].tolist()[lo:hi], spec


def test_to_torch(toy):
    torch = pytest.importorskip("torch")
    ds = labdatasets.load(toy, split="train", format="torch")
    row = ds[0]
    assert isinstance(row["id"], torch.Tensor) and isinstance(row["text"], str)
    loader = torch.utils.data.DataLoader(ds, batch_size=16)
    batch = next(iter(loader))
    assert batch["value"].shape == (16,) and batch["value"].dtype == torch.float32


def test_to_tf(toy):
    tf = pytest.importorskip("tensorflow")
    ds = labdatasets.load(toy, split="test", format="tf")
    rows = list(ds.as_numpy_iterator())
    expected = labdatasets.load(toy, split="test", format="pandas")
    assert len(rows) == len(expected)
    assert rows[0]["text"] == expected["text"][0].encode() and rows[0]["id"] == expected["id"][0]
    assert ds.element_spec["value"].dtype == tf.float32


def test_images_and_tensors_to_numpy(lab_home):
    digits = labdatasets.load("digits", split="train")
    arrays = digits.to_numpy()
    assert arrays["image"].dtype == "uint8" and arrays["image"].shape == (len(digits), 8, 8, 1)
    raw = digits.to_numpy(decode=False)
    assert raw["image"].dtype == object and raw["image"][0].startswith(b"\x89PNG")
    assert set(arrays["label"]) <= set(range(10))
    assert len(labdatasets.load("digits", split="train+test")) == 500
