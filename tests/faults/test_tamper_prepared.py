"""Tampering with a real prepared folder: an edited row count, a flipped byte at six places of a shard.

Whatever the damage, a read serves the committed rows or raises a PreparedDataError naming the
file and the repair; ``verify`` notices every same-length corruption; ``verify --repair`` and
``load`` repair it (by rebuilding from the pins here).
"""

from __future__ import annotations

import json

import pytest

import labdatasets
from labdatasets.cli import main
from labdatasets.errors import LabDatasetsError, PreparedDataError
from labdatasets.stores import open_store
from tests.faults._tamper import POSITIONS, flip, offset_of
from tests.helpers import sample_rows

pytestmark = pytest.mark.slow


def _shard(b, split: str = "train"):
    return next(b.prepared_dir.glob(f"*-{split}-*.parquet"))


def _rows(name: str, split: str = "train") -> dict:
    return labdatasets.builder(name).as_dataset(split=split).to_arrow().to_pydict()


@pytest.mark.parametrize("position", POSITIONS)
def test_a_flipped_byte_in_a_shard_is_never_served(position, make_builder, capsys):
    make_builder.tabular("toy_flip", rows=sample_rows(3000))
    assert main(["lock", "toy_flip", "--quiet"]) == 0
    b = labdatasets.builder("toy_flip")
    good = _rows("toy_flip")
    shard = _shard(b)
    size = shard.stat().st_size
    flip(shard, offset_of(shard, position))
    assert shard.stat().st_size == size  # same-length corruption

    try:
        got = _rows("toy_flip")
    except PreparedDataError as exc:  # never a raw OSError / ArrowInvalid
        assert shard.name in str(exc) and "labdatasets verify --repair toy_flip:1.0.0" in str(exc)
    else:
        assert got == good  # a harmless byte (statistics): the committed rows, nothing else

    capsys.readouterr()
    assert main(["verify", "toy_flip", "--quiet"]) == 1
    assert f"{shard.name}: corrupted" in capsys.readouterr().out

    assert main(["verify", "toy_flip", "--repair", "--quiet"]) == 0
    assert main(["verify", "toy_flip", "--quiet"]) == 0
    assert _rows("toy_flip") == good


def test_load_repairs_a_damaged_shard_by_itself(make_builder, caplog):
    make_builder.tabular("toy_flip_load", rows=sample_rows(3000))
    assert main(["lock", "toy_flip_load", "--quiet"]) == 0
    good = _rows("toy_flip_load")
    shard = _shard(labdatasets.builder("toy_flip_load"))
    flip(shard, offset_of(shard, "data_page"))
    got = labdatasets.load("toy_flip_load", split="train", format="arrow").to_pydict()
    assert got == good
    assert shard.name in caplog.text  # it says what it repaired


def test_a_flipped_byte_without_an_output_record_is_still_never_served(make_builder):
    make_builder.tabular("toy_flip_unlocked", rows=sample_rows(3000))
    b = labdatasets.builder("toy_flip_unlocked")
    b.build(progress=False)
    good = _rows("toy_flip_unlocked")
    shard = _shard(b)
    flip(shard, offset_of(shard, "data_page"))
    with pytest.raises(PreparedDataError, match=shard.name):
        _rows("toy_flip_unlocked")
    assert labdatasets.load("toy_flip_unlocked", split="train", format="arrow").to_pydict() == good


@pytest.mark.parametrize("locked", [True, False], ids=["locked", "unlocked"])
@pytest.mark.parametrize("edit", ["split", "split_and_shard"])
def test_an_edited_row_count_never_drops_rows(edit, locked, make_builder, tmp_path, monkeypatch, capsys):
    make_builder.tabular("toy_rows", rows=sample_rows(500))
    if locked:
        assert main(["lock", "toy_rows", "--quiet"]) == 0
    b = labdatasets.builder("toy_rows")
    b.build(progress=False)
    full = _rows("toy_rows")
    info_path = b.prepared_dir / "dataset_info.json"
    data = json.loads(info_path.read_text())
    data["splits"]["train"]["num_rows"] = 10
    if edit == "split_and_shard":
        data["splits"]["train"]["shards"][0]["num_rows"] = 10
    info_path.write_text(json.dumps(data, indent=2))

    with pytest.raises(PreparedDataError, match="dataset_info.json|rows"):
        _rows("toy_rows")  # never 10 rows

    capsys.readouterr()
    assert main(["verify", "toy_rows", "--quiet"]) == 1
    assert "dataset_info.json" in capsys.readouterr().out

    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'shared'}")
    # publish either refuses the damaged folder or (when the cheap check caught it) rebuilds it first
    code = main(["publish", "toy_rows", "--quiet"])
    store = open_store(f"file://{tmp_path / 'shared'}")
    raw = store.get_ref("prepared/toy_rows/1.0.0.json")
    if code != 0:
        assert raw is None and "nothing was published" in capsys.readouterr().err
    else:
        published_info = json.loads(store.get_bytes(json.loads(raw)["dataset_info"]))
        assert published_info["splits"]["train"]["num_rows"] == len(full["id"])

    assert labdatasets.load("toy_rows", split="train", format="arrow").to_pydict() == full  # rebuilt

    info_path.write_text(json.dumps(data, indent=2))
    assert main(["verify", "toy_rows", "--repair", "--quiet"]) == 0
    assert main(["verify", "toy_rows", "--quiet"]) == 0
    assert _rows("toy_rows") == full


def test_a_garbage_dataset_info_is_a_clear_error(make_builder):
    make_builder.tabular("toy_garbage_info")
    b = labdatasets.builder("toy_garbage_info")
    b.build(progress=False)
    (b.prepared_dir / "dataset_info.json").write_text('{"splits": {"../x": {}}}')
    with pytest.raises(LabDatasetsError, match="dataset_info.json"):
        labdatasets.builder("toy_garbage_info").as_dataset(split="train")
