"""Rows arriving out of key order are written sorted by key, on both ways a split is written.

A local build sorts runs on disk and merges them (``spill_dir``); other runners shuffle the rows
and sort each shard in memory (no ``spill_dir``). Sources that are already sorted by their key
hide a missing sort, so every input here is shuffled.
"""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labdatasets import features as F
from tests.helpers import sample_rows

pytestmark = pytest.mark.slow

beam = pytest.importorskip("apache_beam")
from labdatasets.processing import pipeline_io, spill  # noqa: E402
from labdatasets.processing.pipeline_io import WriteSplits  # noqa: E402

FEATURES = F.Features({"id": F.Value("int64", nullable=False), "value": F.Value("float32"), "text": F.Text()})


def _batches(seed: int, n: int) -> list[pa.Table]:
    rows = [{"id": r["id"], "value": r["value"], "text": r["text"]} for r in sample_rows(n)]
    random.Random(seed).shuffle(rows)
    cuts = sorted(random.Random(seed + 1).sample(range(1, n), 6))
    return [
        pa.Table.from_pylist(rows[a:b], schema=FEATURES.arrow_schema())
        for a, b in zip([0, *cuts], [*cuts, n], strict=True)
    ]


@pytest.mark.parametrize("spilled", [True, False], ids=["sorted-on-disk", "sorted-in-memory"])
def test_shuffled_batches_are_written_sorted_by_key(tmp_path, monkeypatch, spilled):
    monkeypatch.setattr(pipeline_io, "RUN_ROWS", 300)  # several runs per shard
    monkeypatch.setattr(spill, "MERGE_SLICE_ROWS", 64)  # many merge rounds
    out = tmp_path / "out"
    n = 1999
    with beam.Pipeline(runner="DirectRunner") as p:
        splits = {
            name: p | f"Create {name}" >> beam.Create(_batches(seed, n), reshuffle=False)
            for name, seed in (("train", 1), ("test", 2))
        }
        _ = splits | WriteSplits(
            out_dir=str(out), dataset="toy", features=FEATURES, key=["id"], num_shards=2,
            spill_dir=str(tmp_path / "spill") if spilled else None,
        )
    for split in ("train", "test"):
        shards = sorted(out.glob(f"toy-{split}-*.parquet"))
        assert len(shards) == 2
        ids: list[int] = []
        for shard in shards:
            got = pq.read_table(shard).column("id").to_pylist()
            assert got == sorted(got), f"{shard.name} is not sorted by key"
            ids += got
        assert sorted(ids) == list(range(n))
