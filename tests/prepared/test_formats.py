"""Images decoded and class labels named as tfds and Hugging Face users expect; polars; as_supervised;
the DatasetDict of a whole version."""

from __future__ import annotations

import io
import sys

import numpy as np
import pandas as pd
import pytest

import labdatasets
from labdatasets.errors import ConfigError, MissingDependencyError
from labdatasets.features import ClassLabel
from labdatasets.prepared import decode
from labdatasets.prepared.dataset import DatasetDict

PIL = pytest.importorskip("PIL.Image")


def png(array: np.ndarray, mode: str | None = None, **save: object) -> bytes:
    buffer = io.BytesIO()
    PIL.fromarray(array, mode=mode).save(buffer, format="PNG", **save) if mode else PIL.fromarray(array).save(buffer, format="PNG", **save)
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "1", "I;16"])
def test_png_decoder_without_pillow_matches_pillow(mode):
    rng = np.random.default_rng(7)
    base = PIL.fromarray(rng.integers(0, 256, (13, 17, 3), dtype=np.uint8), "RGB")
    image = base.convert(mode) if mode != "I;16" else PIL.fromarray(rng.integers(0, 65535, (13, 17), dtype=np.uint16))
    for optimize in (False, True):  # different filter choices
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=optimize)
        data = buffer.getvalue()
        got = decode._decode_png(data)
        with PIL.open(io.BytesIO(data)) as img:
            if img.mode == "P":
                img = img.convert("RGB")
            elif img.mode == "1":
                img = img.convert("L")
            expected = np.asarray(img)
        assert got.shape == expected.shape and got.dtype == expected.dtype and np.array_equal(got, expected), mode


def test_non_png_without_pillow_names_the_extra(monkeypatch):
    buffer = io.BytesIO()
    PIL.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    monkeypatch.setattr(decode, "have_pillow", lambda: False)
    with pytest.raises(MissingDependencyError, match=r"labdatasets\[images\]"):
        decode.decode_image(buffer.getvalue())
    assert decode.decode_image(png(np.full((3, 5), 9, dtype=np.uint8))).tolist() == [[9] * 5] * 3


def test_class_label_int2str_str2int():
    label = ClassLabel(names=["Adelie", "Chinstrap", "Gentoo"])
    assert label.int2str(2) == "Gentoo" and label.int2str(np.int64(0)) == "Adelie"
    assert label.int2str([0, 2]) == ["Adelie", "Gentoo"] and label.int2str(np.array([1])) == ["Chinstrap"]
    assert label.str2int("Chinstrap") == 1 and label.str2int(["Gentoo", "Adelie"]) == [2, 0]
    with pytest.raises(ValueError, match="Adelie"):
        label.str2int("Emperor")
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        label.int2str(3)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """digits built once for this module, in a home of its own."""
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("digits-home")
    mp.setenv("LABDATASETS_HOME", str(home))
    mp.setenv("LABDATASETS_PROGRESS", "0")
    mp.delenv("LABDATASETS_SHARED_CACHE", raising=False)
    mp.delenv("LABDATASETS_PINS_DIR", raising=False)
    labdatasets.builder("digits").build(progress=False)
    yield home
    mp.undo()


@pytest.mark.slow
class TestImagesAndLabels:
    @pytest.fixture(autouse=True)
    def home(self, digits, monkeypatch):
        monkeypatch.setenv("LABDATASETS_HOME", str(digits))

    def test_numpy_torch_and_rows_get_uint8_arrays(self):
        ds = labdatasets.load("digits", split="train")
        images = ds.to_numpy()["image"]
        assert images.dtype == np.uint8 and images.shape == (len(ds), 8, 8, 1)
        raw = ds.to_arrow().column("image")[0].as_py()
        assert np.array_equal(images[0][:, :, 0], np.asarray(PIL.open(io.BytesIO(raw))))
        assert ds[0]["image"].shape == (8, 8) and ds[0]["image"].dtype == np.uint8
        assert next(iter(ds))["image"].shape == (8, 8)
        torch = pytest.importorskip("torch")
        t = labdatasets.load("digits", split="train", format="torch")
        assert t[0]["image"].dtype == torch.uint8 and tuple(t[0]["image"].shape) == (8, 8, 1)
        batch = next(iter(torch.utils.data.DataLoader(t, batch_size=4)))
        assert tuple(batch["image"].shape) == (4, 8, 8, 1)

    def test_pandas_gets_pil_images_or_numpy_without_pillow(self, monkeypatch):
        df = labdatasets.load("digits", split="train[:3]", format="pandas")
        assert isinstance(df["image"][0], PIL.Image) and df["image"][0].size == (8, 8)
        monkeypatch.setattr(decode, "have_pillow", lambda: False)
        df = labdatasets.load("digits", split="train[:3]", format="pandas")
        assert isinstance(df["image"][0], np.ndarray) and df["image"][0].shape == (8, 8)

    def test_decode_false_keeps_the_bytes(self):
        arrays = labdatasets.load("digits", split="train[:2]", format="numpy", decode=False)
        assert isinstance(arrays["image"][0], bytes) and arrays["image"][0].startswith(b"\x89PNG")
        df = labdatasets.load("digits", split="train[:2]", decode=False).to_pandas()
        assert isinstance(df["image"][0], bytes)
        ds = labdatasets.load("digits", split="train[:2]")
        assert isinstance(ds.to_numpy(decode=False)["image"][0], bytes)

    def test_class_labels_in_pandas_polars_html_and_info(self, capsys):
        ds = labdatasets.load("digits", split="train")
        codes = ds.to_pandas()["label"]
        assert codes.dtype == np.int64
        categorical = ds.to_pandas(class_labels="categorical")["label"]
        assert isinstance(categorical.dtype, pd.CategoricalDtype) and list(categorical.cat.categories) == [str(d) for d in range(10)]
        assert categorical.cat.codes.tolist() == codes.tolist()
        names = ds.to_pandas(class_labels="str")["label"]
        assert names.tolist() == [str(c) for c in codes]
        with pytest.raises(ConfigError, match="categorical"):
            ds.to_pandas(class_labels="names")
        pl = pytest.importorskip("polars")
        frame = labdatasets.load("digits", split="train", format="polars", class_labels="categorical")
        assert isinstance(frame, pl.DataFrame) and isinstance(frame.schema["label"], pl.Enum)
        assert frame["label"].cast(pl.String).to_list() == names.tolist()
        html = ds[:3]._repr_html_()
        assert html.count("<img src='data:image/png;base64,") == 3 and "\\x89PNG" not in html and "b&#x27;" not in html
        first = int(codes[0])
        assert f"{first} ({first})" in html
        info_html = labdatasets.info("digits")._repr_html_()
        assert "0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in info_html
        from labdatasets.cli import main

        assert main(["info", "digits"]) == 0
        out = capsys.readouterr().out
        assert "class label (10 classes)" in out and "0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in out

    def test_as_supervised(self):
        X, y = labdatasets.load("digits", split="train", format="numpy", as_supervised=True)
        assert X.shape[1:] == (8, 8, 1) and X.dtype == np.uint8 and y.shape == (len(X),)
        pair = labdatasets.load("digits", split="train", as_supervised=True)
        image, label = pair[0]
        assert image.shape == (8, 8) and isinstance(label, int)
        features, target = labdatasets.load("digits", split="train", format="pandas", as_supervised=True)
        assert isinstance(features, pd.Series) and len(features) == len(target)
        torch = pytest.importorskip("torch")
        loader = torch.utils.data.DataLoader(labdatasets.load("digits", split="train", format="torch", as_supervised=True), batch_size=8)
        xb, yb = next(iter(loader))
        assert tuple(xb.shape) == (8, 8, 8, 1) and tuple(yb.shape) == (8,)

    def test_whole_version_is_a_dataset_dict(self):
        ds = labdatasets.load("digits")
        assert isinstance(ds, DatasetDict) and isinstance(ds, dict) and set(ds) == {"train", "test"}
        assert len(ds["train"]) + len(ds["test"]) == 500
        text = repr(ds)
        assert text.startswith("DatasetDict('digits:1.0.0', {") and "    train: Dataset(num_rows=" in text
        assert "features=['image_id', 'image', 'label']" in text and len(text.splitlines()) == 4
        html = ds._repr_html_()
        assert "<img src='data:image/png;base64," in html and "train" in html and "class label" in html
        frames = labdatasets.load("digits", format="pandas")
        assert isinstance(frames, DatasetDict) and "test: DataFrame(num_rows=" in repr(frames)


@pytest.mark.slow
def test_as_supervised_needs_supervised_keys(make_builder):
    make_builder.tabular("toy_unsupervised")
    labdatasets.builder("toy_unsupervised").build(progress=False)
    with pytest.raises(ConfigError, match="toy_unsupervised:1.0.0 declares no supervised_keys"):
        labdatasets.load("toy_unsupervised", split="train", as_supervised=True)


@pytest.mark.slow
def test_polars_missing_names_the_extra(make_builder, monkeypatch):
    make_builder.tabular("toy_nopolars")
    labdatasets.builder("toy_nopolars").build(progress=False)
    ds = labdatasets.load("toy_nopolars", split="train")
    frame = ds.to_polars(class_labels="str")
    assert set(frame["label"].to_list()) <= {"neg", "pos"} and len(frame) == len(ds)
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(MissingDependencyError, match=r"labdatasets\[polars\]"):
        ds.to_polars()
    html = ds[:5]._repr_html_()
    assert "(neg)" in html or "(pos)" in html
