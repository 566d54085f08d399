"""Streaming reads: row groups read lazily, a pyarrow.dataset for lazy engines, and a slice of a
published version fetching only the shards it needs."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

import labdatasets
from labdatasets.prepared.dataset import DatasetDict
from labdatasets.prepared.shared_cache import publish
from labdatasets.prepared.streaming import PARTIAL_DIR, IterableDataset
from labdatasets.processing import build, pipeline_io

pytestmark = pytest.mark.slow


@pytest.fixture
def sharded(make_builder, monkeypatch):
    """300 rows in 3 shards per split, row groups of 7 rows."""
    monkeypatch.setattr(pipeline_io, "ROW_GROUP_ROWS", 7)
    cls = make_builder.tabular("toy_stream", rows=[{"id": i, "value": i / 2, "label": "neg", "text": f"t{i}"} for i in range(300)])
    cls.NUM_SHARDS = 3
    labdatasets.builder("toy_stream").build(progress=False)
    return "toy_stream"


def test_iter_batches_is_exact_and_lazy(sharded):
    full = labdatasets.load(sharded, split="train", format="arrow")
    stream = labdatasets.load(sharded, split="train", streaming=True)
    assert isinstance(stream, IterableDataset) and len(stream) == full.num_rows
    batches = list(stream.iter_batches(batch_size=10))
    assert [b.num_rows for b in batches[:-1]] == [10] * (len(batches) - 1) and 0 < batches[-1].num_rows <= 10
    assert pa.Table.from_batches(batches).equals(full)
    for spec in ("train[13:171]", "train[-40:]", "train[:1%]+test[5:9]"):
        got = pa.Table.from_batches(list(labdatasets.load(sharded, split=spec, streaming=True).iter_batches(16)))
        assert got.equals(labdatasets.load(sharded, split=spec, format="arrow")), spec
    assert [r["id"] for r in stream.take(3)] == full.column("id").to_pylist()[:3]
    assert [r["id"] for r in stream][:5] == full.column("id").to_pylist()[:5]
    whole = labdatasets.load(sharded, streaming=True)
    assert isinstance(whole, DatasetDict) and all(isinstance(v, IterableDataset) for v in whole.values())
    with pytest.raises(labdatasets.errors.SplitError, match="nosuch"):
        labdatasets.load(sharded, split="nosuch", streaming=True)


def test_iterating_holds_about_one_row_group(make_builder, monkeypatch):
    """Arrow memory while iterating a split 40 row groups long stays a few row groups, not the split."""
    monkeypatch.setattr(pipeline_io, "ROW_GROUP_ROWS", 2_000)
    rows = [{"id": i, "value": i * 0.25, "label": "pos" if i % 2 else "neg", "text": f"some text for row {i:08d}"} for i in range(100_000)]
    make_builder.tabular("toy_big_stream", rows=rows, ratios={"train": 1.0})
    labdatasets.builder("toy_big_stream").build(progress=False)
    stream = labdatasets.load("toy_big_stream", split="train", streaming=True)
    row_group_bytes = labdatasets.load("toy_big_stream", split="train[:2000]", format="arrow").nbytes
    start = pa.total_allocated_bytes()
    peak, seen = 0, 0
    for batch in stream.iter_batches(batch_size=1_000):
        seen += batch.num_rows
        peak = max(peak, pa.total_allocated_bytes() - start)
        del batch
    assert seen == 100_000
    assert peak < 4 * row_group_bytes, (peak, row_group_bytes)  # the whole split is 50 row groups


def test_to_arrow_dataset_scans_lazily_in_polars(sharded):
    pl = pytest.importorskip("polars")
    ds = labdatasets.load(sharded, split="train")
    arrow_ds = ds.to_arrow_dataset()
    assert len(arrow_ds.files) == 3 and all(Path(f).is_file() for f in arrow_ds.files)
    expected = sorted(i for i in ds["id"] if i % 5 == 0)
    lazy = pl.scan_pyarrow_dataset(arrow_ds).filter(pl.col("id") % 5 == 0).select("id").collect()
    assert sorted(lazy["id"].to_list()) == expected
    scanned = pl.scan_parquet(arrow_ds.files).filter(pl.col("id") % 5 == 0).select("id").collect()
    assert sorted(scanned["id"].to_list()) == expected
    part = labdatasets.load(sharded, split="train[10:20]").to_arrow_dataset()
    assert part.to_table().column("id").to_pylist() == ds["id"][10:20]
    stream_ds = labdatasets.load(sharded, split="train+test", streaming=True).to_arrow_dataset()
    assert stream_ds.count_rows() == 300


def _parquet_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.parquet"))


def test_a_slice_of_a_published_version_fetches_only_its_shards(sharded, tmp_path, monkeypatch, lab_home):
    shared = tmp_path / "shared"
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{shared}")
    b = labdatasets.builder(sharded)
    publish(b, progress=False)
    full = labdatasets.load(sharded, split="train", format="arrow")
    # another machine: nothing prepared, the same pins
    monkeypatch.setenv("LABDATASETS_HOME", str(tmp_path / "machine-b"))
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(lab_home / "pins"))

    def refuse(*args, **kwargs):
        raise AssertionError("this load must not build")

    monkeypatch.setattr(build, "_build_locked", refuse)
    other = labdatasets.builder(sharded)
    partial = other.data_dir / PARTIAL_DIR
    head = labdatasets.load(sharded, split="train[:5]", format="arrow")
    assert head.equals(full.slice(0, 5))
    assert _parquet_files(partial) == ["toy_stream-train-00000-of-00003.parquet"]  # 1 of 6 shards
    assert not other.prepared_dir.exists()
    stream = labdatasets.load(sharded, split="train[-3:]", streaming=True)
    assert _parquet_files(partial) == ["toy_stream-train-00000-of-00003.parquet"]  # nothing read yet
    assert [r["id"] for r in stream] == full.column("id").to_pylist()[-3:]
    assert _parquet_files(partial) == ["toy_stream-train-00000-of-00003.parquet", "toy_stream-train-00002-of-00003.parquet"]
    assert labdatasets.load(sharded, split="train", format="arrow").equals(full)
    assert len(_parquet_files(partial)) == 3  # every train shard, no test shard
    # a shard damaged in the shared cache is refused on arrival, never read
    from labdatasets.stores.local import LocalStore

    store = LocalStore(f"file://{shared}")
    test_oids = [s.sha256 for s in labdatasets.load(sharded, split="test[:1]").info.splits["test"].shards]
    path = store.path(test_oids[1])
    os.chmod(path, 0o644)
    path.write_bytes(b"not the shard")
    with pytest.raises(labdatasets.errors.SnapshotCorruptedError):
        labdatasets.load(sharded, split="test", format="arrow")
    assert not any("test-00001" in name for name in _parquet_files(partial))
    # the cache lists and prunes the partial folder like a prepared one
    from labdatasets.workflow.cache import cache_report, prune

    entry = next(e for e in cache_report().entries if e.full_name == "toy_stream:1.0.0")
    assert entry.partial_bytes > 0 and not entry.prepared and entry.published is True
    removed = prune(max_size=0).removed
    assert [(i.kind, i.name) for i in removed] == [("partial", "toy_stream:1.0.0")] and not partial.joinpath("toy_stream", "1.0.0").exists()


def test_to_arrow_dataset_checks_the_shards_it_hands_out(sharded):
    """A shard with rows dropped, or other columns, is refused before any engine scans it (as every
    other read refuses it); a flipped byte in a page fails the scan instead of giving other values."""
    import pyarrow.parquet as pq

    from labdatasets.errors import PreparedDataError
    from tests.faults._tamper import flip

    ds = labdatasets.load(sharded, split="train")
    files = [Path(f) for f in ds.to_arrow_dataset().files]
    original = files[1].read_bytes()
    whole = pq.read_table(files[1])

    os.chmod(files[1], 0o644)
    pq.write_table(whole.slice(0, whole.num_rows - 1), files[1])  # a valid Parquet file, one row short
    with pytest.raises(PreparedDataError, match=rf"{files[1].name}.*holds {whole.num_rows - 1} rows.*records {whole.num_rows}"):
        ds.to_arrow_dataset()
    with pytest.raises(PreparedDataError, match=files[1].name):
        labdatasets.load(sharded, split="train", streaming=True).to_arrow_dataset()

    pq.write_table(whole.rename_columns(["key" if n == "id" else n for n in whole.column_names]), files[1])
    with pytest.raises(PreparedDataError, match=rf"{files[1].name}.*columns"):
        ds.to_arrow_dataset()

    files[1].write_bytes(original)
    column = pq.ParquetFile(files[1]).metadata.row_group(0).column(0)
    flip(files[1], column.data_page_offset + column.total_compressed_size - 2)  # in the page's values
    arrow_ds = ds.to_arrow_dataset()  # the footer is intact
    with pytest.raises((OSError, pa.ArrowException), match="(?i)checksum|corrupt"):
        arrow_ds.to_table()
