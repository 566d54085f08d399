"""Build one tabular dataset three ways on the same data, and load it cold from the shared cache.

    python benchmarks/bench_build.py                 # 1M rows (tfds on 100k rows, reported per row)
    python benchmarks/bench_build.py --rows 200000 --tfds-rows 20000 --json results.json

The data: ``--rows`` rows of {id int64, count int64, x float64, y float32,
label (3 classes), text (short string)} in one Parquet file. The processing,
identical in spirit in all three: add a column (x * 2), split 80/10/10 by a
hash of ``id``, write the splits.

1. **labdatasets**: a builder with ``LocalSource`` + ``MapBatches`` +
   ``split_by_hash``, built from its pin on the DirectRunner (the time of
   ``build()``: pipeline, feature checks, sorted Parquet shards, sha256 and
   content fingerprints, ``dataset_info.json``). Pinning is timed apart.
2. **tfds + Beam**: a ``tfds.core.GeneratorBasedBuilder`` whose
   ``_generate_examples`` returns a Beam transform yielding one dict per row,
   written as ArrayRecord by tfds (no TensorFlow needed) on the DirectRunner.
   Slow, so it runs on ``--tfds-rows`` rows and is compared in rows/s.
3. **bare Beam over Arrow**: the floor; Arrow batches through a DirectRunner
   pipeline, written straight to Parquet files, nothing checked or recorded.

Then: ``publish`` the labdatasets version to a ``file://`` shared cache and
compare a cold ``load`` on a fresh home (download, verify, read) with a
rebuild of the same version on a fresh home. Apache Beam is imported once
before anything is timed, so no path pays for it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any
from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _data import BATCH_ROWS, LABELS, load_builder_class, tabular_builder, write_tabular_parquet  # noqa: E402 - benchmarks/ is this script's folder

RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}

BUILDER = tabular_builder("bench_tabular", "1M synthetic rows for the build benchmark.", ratios=RATIOS)


@contextlib.contextmanager
def home(path: Path, **extra: str) -> Iterator[None]:
    """Point labdatasets at its own home (and settings) for the block."""
    keys = ["LABDATASETS_HOME", "LABDATASETS_PINS_DIR", "LABDATASETS_SHARED_CACHE", "LABDATASETS_DATA_DIR"]
    saved = {k: os.environ.get(k) for k in keys}
    os.environ["LABDATASETS_HOME"] = str(path)
    for key in keys[1:]:
        os.environ.pop(key, None)
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# --------------------------------------------------------------------------------------------- 1. labdatasets
def bench_labdatasets(work: Path, data: Path, workers: int | None, repeat: int, between: Any) -> dict[str, Any]:
    folder = work / "builders" / "bench_tabular"
    (folder / "data").mkdir(parents=True)
    (folder / "bench_tabular_dataset_builder.py").write_text(textwrap.dedent(BUILDER))
    shutil.copyfile(data, folder / "data" / "rows.parquet")
    cls = load_builder_class(folder / "bench_tabular_dataset_builder.py")
    pins = work / "pins"
    shared = work / "shared-cache"
    out: dict[str, Any] = {}
    with home(work / "home-a", LABDATASETS_PINS_DIR=str(pins), LABDATASETS_SHARED_CACHE=f"file://{shared}"):
        b = cls()
        out["pin_s"], _ = timed(lambda: b.pin(progress=False))
        out["build_s"], _ = timed(lambda: b.build(workers=workers, progress=False))
        between()
        for _ in range(repeat - 1):
            shutil.rmtree(b.prepared_dir)  # as on the first build: nothing to replace
            out["build_s"] = min(out["build_s"], timed(lambda: b.build(workers=workers, progress=False))[0])
            between()
        info = b.info
        out["rows"] = info.num_rows
        out["fingerprints"] = {n: s.fingerprint for n, s in info.splits.items()}
        out["prepared_bytes"] = sum(s.num_bytes for s in info.splits.values())
        from labdatasets.prepared.shared_cache import publish

        out["publish_s"], _ = timed(lambda: publish(b, progress=False))
        store = work / "home-a" / "store"

    import labdatasets

    # a second machine: the same pins and shared cache, nothing prepared
    with home(work / "home-b", LABDATASETS_PINS_DIR=str(pins), LABDATASETS_SHARED_CACHE=f"file://{shared}"):
        def cold_load() -> int:
            data = labdatasets.load("bench_tabular:1.0.0", format="arrow", progress=False)
            return sum(t.num_rows for t in data.values())

        out["cache_load_s"], loaded = timed(cold_load)
        assert loaded == out["rows"], (loaded, out["rows"])
        assert {n: s.fingerprint for n, s in cls().info.splits.items()} == out["fingerprints"]

    # a third machine rebuilds the same version instead (its store already holds the pinned bytes)
    shutil.copytree(store, work / "home-c" / "store")
    with home(work / "home-c", LABDATASETS_PINS_DIR=str(pins)):
        rebuilt = cls()
        out["rebuild_s"], _ = timed(lambda: rebuilt.build(workers=workers, progress=False))
        assert {n: s.fingerprint for n, s in rebuilt.info.splits.items()} == out["fingerprints"], "not reproducible"
    return out


# --------------------------------------------------------------------------------------------- 2. tfds + Beam
def _row_dicts(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            for row in batch.to_pylist():
                yield row["id"], {**row, "x2": row["x"] * 2.0}


def bench_tfds(work: Path, data: Path) -> dict[str, Any]:
    import apache_beam as beam
    import numpy as np
    import tensorflow_datasets as tfds

    def in_split(item: tuple[int, dict[str, Any]], split: int) -> bool:
        # a per-row rule as cheap as possible (not our hash), so that tfds is not slowed down by it
        return (0 if item[0] % 10 < 8 else 1 if item[0] % 10 == 8 else 2) == split

    class BenchTfds(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        name = "bench_tfds"
        VERSION = tfds.core.Version("1.0.0")

        def _info(self) -> Any:
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict(
                    {
                        "id": tfds.features.Scalar(np.int64),
                        "count": tfds.features.Scalar(np.int64),
                        "x": tfds.features.Scalar(np.float64),
                        "y": tfds.features.Scalar(np.float32),
                        "label": tfds.features.ClassLabel(names=LABELS),
                        "text": tfds.features.Text(),
                        "x2": tfds.features.Scalar(np.float64),
                    }
                ),
            )

        def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
            return {name: self._beam_split(i) for i, name in enumerate(RATIOS)}

        def _beam_split(self, index: int) -> Any:  # a helper without `yield`, so tfds sees a PTransform
            return (
                beam.Create([str(data)])
                | beam.FlatMap(_row_dicts)
                | beam.Filter(in_split, index)
            )

        def _generate_examples(self) -> Any:
            raise NotImplementedError

    tfds.disable_progress_bar()
    builder = BenchTfds(data_dir=str(work / "tfds"), file_format="array_record")
    config = tfds.download.DownloadConfig(
        beam_options=beam.options.pipeline_options.PipelineOptions(["--runner=DirectRunner"]),
        compute_stats=tfds.download.ComputeStatsMode.SKIP,
    )
    seconds, _ = timed(lambda: builder.download_and_prepare(download_dir=str(work / "tfds-downloads"), download_config=config))
    rows = sum(s.num_examples for s in builder.info.splits.values())
    return {"rows": rows, "build_s": seconds}


# --------------------------------------------------------------------------------------------- 3. bare Beam
def _read_batches(path: str) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            yield pa.Table.from_batches([batch])


def _derive_and_split(table: Any) -> Iterator[tuple[str, Any]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    from labdatasets.processing.splitting import assign

    table = table.append_column("x2", pc.multiply(table["x"], 2.0))
    index = assign(table, "id", RATIOS)
    for i, name in enumerate(RATIOS):
        yield name, table.filter(pa.array(index == i))


def _write(item: tuple[str, Any], out_dir: str) -> int:
    import uuid

    import pyarrow.parquet as pq

    name, table = item
    pq.write_table(table, os.path.join(out_dir, f"{name}-{uuid.uuid4().hex}.parquet"))
    return table.num_rows


class BareBeam:
    """The bare pipeline, run whenever asked; keeps its best time."""

    def __init__(self, work: Path, data: Path, rows: int):
        self.work, self.data, self.rows = work, data, rows
        self.times: list[float] = []

    def __call__(self) -> None:
        result = bench_bare_beam(self.work, self.data, 1)
        assert result["rows"] == self.rows, result
        self.times.append(result["build_s"])


def bench_bare_beam(work: Path, data: Path, repeat: int) -> dict[str, Any]:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    out_dir = work / "bare"

    def run() -> None:
        with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as p:
            (
                p
                | beam.Create([str(data)])
                | beam.FlatMap(_read_batches)
                | beam.FlatMap(_derive_and_split)
                | beam.Map(_write, str(out_dir))
            )

    seconds = float("inf")
    for _ in range(repeat):
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir()
        seconds = min(seconds, timed(run)[0])
    import pyarrow.parquet as pq

    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in out_dir.glob("*.parquet"))
    return {"rows": rows, "build_s": seconds}


# --------------------------------------------------------------------------------------------- report
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tfds-rows", type=int, default=100_000, help="rows for the (slow) tfds + Beam build")
    parser.add_argument("--skip-tfds", action="store_true")
    parser.add_argument("--workers", type=int, default=None, help="DirectRunner worker processes for labdatasets")
    parser.add_argument("--repeat", type=int, default=5, help="builds per path; the best time counts (shared machines are noisy)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    os.environ.setdefault("LABDATASETS_PROGRESS", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from labdatasets.processing._beam_import import import_beam

    beam = import_beam()  # paid once, outside every timing
    with beam.Pipeline() as p:  # and Beam's first-run set-up too
        p | beam.Create([(1, 1)]) | beam.GroupByKey()
    results: dict[str, Any] = {"rows": args.rows, "machine": f"{platform.python_version()}, {os.cpu_count()} cpus"}
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        work = Path(tmp)
        data = work / "rows.parquet"
        write_tabular_parquet(data, args.rows)
        bare = BareBeam(work, data, args.rows)  # runs alternate with the labdatasets builds: same machine load for both
        results["labdatasets"] = bench_labdatasets(work, data, args.workers, args.repeat, bare)
        results["bare_beam"] = {"rows": args.rows, "build_s": min(bare.times)}
        if not args.skip_tfds:
            small = work / "rows-small.parquet"
            write_tabular_parquet(small, args.tfds_rows)
            results["tfds_beam"] = bench_tfds(work, small)

    lab, bare = results["labdatasets"], results["bare_beam"]
    rate = lambda r: r["rows"] / r["build_s"]  # noqa: E731
    print(f"\nBuild of a {args.rows:,}-row tabular dataset ({results['machine']}; best of {args.repeat} alternating runs for the first two)\n")
    print(f"{'path':<42} {'rows':>10} {'seconds':>9} {'rows/s':>11}")
    lines = [("labdatasets (DirectRunner)", lab), ("bare Beam over Arrow batches -> Parquet", bare)]
    if "tfds_beam" in results:
        lines.append(("tfds GeneratorBasedBuilder + Beam", results["tfds_beam"]))
    for label, r in lines:
        print(f"{label:<42} {r['rows']:>10,} {r['build_s']:>9.2f} {rate(r):>11,.0f}")
    print()
    print(f"labdatasets time / bare Beam time:  {lab['build_s'] / bare['build_s']:.2f}x   (target <= 1.5x)")
    if "tfds_beam" in results:
        speedup = rate(lab) / rate(results["tfds_beam"])
        results["speedup_vs_tfds"] = speedup
        print(f"labdatasets rows/s / tfds rows/s:   {speedup:.0f}x   (target >= 50x)")
    results["ratio_vs_bare"] = lab["build_s"] / bare["build_s"]
    print()
    print(f"pin (hash and store the 1 source file):      {lab['pin_s']:.2f} s")
    print(f"publish to a file:// shared cache:           {lab['publish_s']:.2f} s")
    print(f"cold load from the shared cache (new home):  {lab['cache_load_s']:.2f} s")
    print(f"rebuild of the same version (new home):      {lab['rebuild_s']:.2f} s  (same fingerprints)")
    print(f"rebuild time / cold cache load time:         {lab['rebuild_s'] / lab['cache_load_s']:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
