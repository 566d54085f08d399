"""Writing splits: shard manifests, the Arrow coder used in shuffles, fingerprints that ignore sharding."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import labdatasets
from labdatasets.processing.fingerprint import content_fingerprint, fingerprint_tables
from tests.helpers import sample_rows

pytestmark = pytest.mark.slow

pytest.importorskip("apache_beam")
from labdatasets.processing.pipeline_io import ArrowTableCoder, parquet_dictionary_columns  # noqa: E402


def test_the_shuffle_coder_sends_only_the_rows_of_a_slice():
    big = pa.table({"x": np.arange(1_000_000), "s": [f"row {i}" for i in range(1_000_000)]})
    coder = ArrowTableCoder()
    encoded = coder.encode(big.slice(500_000, 10))
    assert len(encoded) < 2_000
    assert coder.decode(encoded).equals(big.slice(500_000, 10))


def test_dictionary_encoding_only_where_values_repeat():
    table = pa.table({
        "id": np.arange(10_000),
        "label": np.arange(10_000) % 3,
        "city": [["Oslo", "Lima"][i % 2] for i in range(10_000)],
        "text": [f"unique {i}" for i in range(10_000)],
        "x": np.random.default_rng(0).random(10_000),
    })
    assert parquet_dictionary_columns(table) == ["label", "city"]


def test_a_worker_fingerprint_equals_one_read_back_from_parquet(tmp_path):
    table = pa.table({"id": np.arange(200_000), "t": [f"v{i % 7}" for i in range(200_000)], "f": np.arange(200_000) / 3})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=30_000)
    assert fingerprint_tables(table.schema, [table]) == content_fingerprint([path])
    halves = [table.slice(0, 77_777), table.slice(77_777)]
    assert fingerprint_tables(table.schema, halves) == content_fingerprint([path])


def test_worker_fingerprints_match_the_written_files_and_sharding_keeps_the_rows(make_builder):
    cls = make_builder.tabular("toy_reshard", rows=sample_rows(5000))
    b = labdatasets.builder("toy_reshard")
    b.build()
    info = b.info
    for split in info.splits.values():  # fingerprinted by the worker, from the rows it wrote
        assert split.fingerprint == content_fingerprint([b.prepared_dir / s.filename for s in split.shards])
    rows = {n: sorted(labdatasets.load("toy_reshard", split=n, format="pandas")["id"]) for n in info.splits}

    cls.NUM_SHARDS = 3  # a processing change: rows are ordered by shard, then key
    b = labdatasets.builder("toy_reshard")
    b.build(overwrite=True)
    assert all(len(s.shards) == 3 for s in b.info.splits.values())
    assert {n: sorted(labdatasets.load("toy_reshard", split=n, format="pandas")["id"]) for n in info.splits} == rows
    assert list(b.prepared_dir.glob("_manifests*")) == []  # manifests are read and removed
