"""Pin and build an 11-column CSV dataset of 1M, 4M, 16M rows: time and peak memory, each beside its anchor.

    python benchmarks/bench_scale.py --rows 1000000 4000000          # pin + DirectRunner build + anchors
    python benchmarks/bench_scale.py --rows 1000000 --dask           # also a build on a loopback Dask cluster
    python benchmarks/bench_scale.py --rows 16000000 --json out.json --work /var/tmp/bench-scale

The data: ``id`` (int64, the key), ``f0``..``f7`` (float64), ``text`` (a short
string) and ``label`` (3 classes), as CSV. The builder reads it with
``LocalSource`` and splits it 80/10/10 by a hash of ``id``.

Every figure is one child process (``python bench_scale.py --child ...``):
the time is measured inside it around the operation (imports excluded), the
peak memory is the largest sum of the resident set sizes of its whole
process tree (sampled every 50 ms from /proc; for Dask, the cluster's
scheduler and worker processes are added). The anchors, run alternately
with the measured paths:

* pin: ``sha256`` of the file read in 1 MiB chunks, and ``pyarrow.csv.read_csv`` of it;
* build: bare Beam on the DirectRunner over Arrow batches read with
  ``pyarrow.csv.open_csv``, split by the same hash and written straight to
  Parquet files (nothing sorted, checked or recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
from _data import LABELS, WORDS, load_builder_class  # noqa: E402 - benchmarks/ is this script's folder
RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}

BUILDER_TEMPLATE = '''
import labdatasets as lds
from labdatasets import features as F, loaders, processing as P


class Builder(lds.DatasetBuilder):
    """Synthetic rows for the scale benchmark."""

    name = "bench_scale"
    VERSION = "1.0.0"
    NUM_SHARDS = %(shards)d
    RELEASE_NOTES = {"1.0.0": "benchmark data"}

    def _info(self):
        columns = {"id": F.Value("int64", nullable=False)}
        columns.update({f"f{i}": F.Value("float64") for i in range(8)})
        columns.update({"text": F.Text(), "label": F.ClassLabel(names=%(labels)r)})
        return lds.DatasetInfo(features=F.Features(columns), key="id")

    def _sources(self):
        return {"rows": loaders.LocalSource("data/rows.csv")}

    def _process(self, sources):
        return P.split_by_hash(sources["rows"], key="id", ratios=%(ratios)r)
'''


def builder_source(shards: int = 1) -> str:
    return BUILDER_TEMPLATE % {"labels": LABELS, "ratios": RATIOS, "shards": shards}  # noqa: UP031 - Python code full of braces


# ------------------------------------------------------------------------------------------------ data
def make_csv(path: Path, rows: int) -> None:
    """``rows`` rows written in pieces of 1M (the generator itself stays small)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(0)
    words = np.array(WORDS)
    tmp = path.with_suffix(".partial")
    with pcsv.CSVWriter(str(tmp), _schema()) as writer:
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            columns: dict[str, Any] = {"id": np.arange(start, start + n, dtype=np.int64)}
            for i in range(8):
                columns[f"f{i}"] = rng.random(n).round(6)
            columns["text"] = pc.binary_join_element_wise(
                pa.array(rng.choice(words, n)), pa.array(rng.choice(words, n)), " "
            )
            columns["label"] = pa.array(rng.choice(LABELS, n))
            writer.write_table(pa.table(columns, schema=_schema()))
    os.replace(tmp, path)


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [("id", pa.int64())] + [(f"f{i}", pa.float64()) for i in range(8)] + [("text", pa.string()), ("label", pa.string())]
    )


def builder_folder(work: Path, csv: Path, shards: int = 1) -> Path:
    folder = work / "builders" / "bench_scale"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "bench_scale_dataset_builder.py").write_text(textwrap.dedent(builder_source(shards)))
    link = folder / "data" / "rows.csv"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(csv)
    return folder


# ------------------------------------------------------------------------------------------------ children
def child(args: argparse.Namespace) -> dict[str, Any]:
    """One measured operation, in this process; prints its result as JSON."""
    os.environ["LABDATASETS_PROGRESS"] = "0"
    what = args.child
    if what == "sha256":
        import hashlib

        start = time.perf_counter()
        digest = hashlib.sha256()
        with open(args.csv, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        return {"seconds": time.perf_counter() - start}
    if what == "read_csv":
        import pyarrow.csv as pcsv

        start = time.perf_counter()
        rows = pcsv.read_csv(args.csv).num_rows
        return {"seconds": time.perf_counter() - start, "rows": rows}
    from labdatasets.processing._beam_import import import_beam

    import_beam()
    if what == "bare":
        return bare_beam(Path(args.csv), Path(args.out))
    builder = load_builder_class(Path(args.folder) / "bench_scale_dataset_builder.py")()
    if what == "pin":
        start = time.perf_counter()
        builder.pin(progress=False)
        return {"seconds": time.perf_counter() - start}
    options: dict[str, Any] = {}
    if what == "build_dask":
        options = {"runner": "DaskRunner", "dask_client_address": Path(args.address_file).read_text().strip()}
    start = time.perf_counter()
    builder.build(beam_options=options or None, overwrite=True, progress=False)
    seconds = time.perf_counter() - start
    info = builder.info
    return {
        "seconds": seconds,
        "rows": info.num_rows,
        "fingerprints": {name: split.fingerprint for name, split in info.splits.items()},
    }


def _read_batches(path: str) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    for batch in pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=16 << 20)):
        yield pa.Table.from_batches([batch])


def _split(table: Any) -> Any:
    import pyarrow as pa

    from labdatasets.processing.splitting import assign

    index = assign(table, "id", RATIOS)
    for i, name in enumerate(RATIOS):
        yield name, table.filter(pa.array(index == i))


def _write(item: Any, out_dir: str) -> int:
    import uuid

    import pyarrow.parquet as pq

    name, table = item
    pq.write_table(table, os.path.join(out_dir, f"{name}-{uuid.uuid4().hex}.parquet"), compression="snappy")
    return table.num_rows


def bare_beam(csv: Path, out_dir: Path) -> dict[str, Any]:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    start = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as p:
        (
            p
            | beam.Create([str(csv)])
            | beam.FlatMap(_read_batches)
            | beam.FlatMap(_split)
            | beam.Map(_write, str(out_dir))
        )
    seconds = time.perf_counter() - start
    import pyarrow.parquet as pq

    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in out_dir.glob("*.parquet"))
    shutil.rmtree(out_dir, ignore_errors=True)
    return {"seconds": seconds, "rows": rows}


def run_cluster(address_file: Path, worker_memory: str = "auto") -> None:
    """A scheduler and two worker processes on 127.0.0.1 until this process is terminated.

    ``worker_memory`` is each worker's ``memory_limit`` (dask's default, "auto", is the
    machine's memory shared between the workers).
    """
    import signal

    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
        memory_limit=worker_memory,
    )
    address_file.write_text(cluster.scheduler_address)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    cluster.close()


# ------------------------------------------------------------------------------------------------ measuring
def _tree_rss(root: int) -> int:
    """The resident set size of ``root`` and all its descendants, in bytes."""
    total = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def measure(
    argv: list[str], *, env: dict[str, str], also: list[int] = (), keep_going: bool = False  # type: ignore[assignment]
) -> dict[str, Any]:
    """Run a child; its JSON result plus ``peak_rss`` (its tree, plus the trees of ``also``).

    With ``keep_going`` a failed child gives ``{"failed": its stderr, "seconds", "peak_rss"}``
    (how long it ran and how much memory it had taken) instead of ending the benchmark.
    """
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid) + sum(_tree_rss(p) for p in also))
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode:
        if not keep_going:
            raise SystemExit(f"{' '.join(argv)} failed:\n{err[-3000:]}")
        print(f"{' '.join(argv[:2])} failed after {time.perf_counter() - start:.0f} s (peak {peak / (1 << 30):.2f} GB):\n"
              f"{err[-3000:]}", file=sys.stderr, flush=True)
        return {"failed": err[-3000:], "seconds": time.perf_counter() - start, "peak_rss": peak}
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss"] = peak
    print(f"  {argv[1]}: {result['seconds']:.1f} s, peak {peak / (1 << 30):.2f} GB", file=sys.stderr, flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--dask", action="store_true", help="also build on a loopback Dask cluster (scheduler + 2 workers)")
    parser.add_argument("--repeat", type=int, default=1, help="alternating runs per figure; the best counts")
    parser.add_argument("--work", type=Path, help="keep the generated CSV files here (default: a temporary folder)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker-memory", default="auto", help="each Dask worker's memory_limit (e.g. 6GB; default auto)")
    parser.add_argument("--shards", type=int, default=1, help="the builder's NUM_SHARDS (files per split)")
    parser.add_argument("--skip-pin", action="store_true", help="builds only (the pin and its anchors are not run)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--address-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "cluster":
        run_cluster(Path(args.address_file), args.worker_memory)
        return 0
    if args.child:
        print(json.dumps(child(args)))
        return 0

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    cluster = None
    address_file = work / "dask-address"
    try:
        if args.dask:
            address_file.unlink(missing_ok=True)
            cluster = subprocess.Popen([
                sys.executable, __file__, "--child", "cluster", "--address-file", str(address_file),
                "--worker-memory", args.worker_memory,
            ])
            while not address_file.exists():
                time.sleep(0.2)
        for rows in args.rows:
            csv = work / f"rows-{rows}.csv"
            if not csv.exists():
                make_csv(csv, rows)
            folder = builder_folder(work, csv, args.shards)
            home = work / f"home-{rows}"
            shutil.rmtree(home, ignore_errors=True)
            env = dict(os.environ, LABDATASETS_HOME=str(home), LABDATASETS_PINS_DIR=str(home / "pins"), PYTHONPATH=str(ROOT))
            common = ["--csv", str(csv), "--folder", str(folder), "--out", str(work / "bare-out")]
            best: dict[str, dict[str, Any]] = {}

            def keep(name: str, result: dict[str, Any], best: dict[str, dict[str, Any]] = best) -> None:
                old = best.get(name)
                best[name] = result if old is None else {
                    **result, "seconds": min(old["seconds"], result["seconds"]), "peak_rss": max(old["peak_rss"], result["peak_rss"])
                }

            for _ in range(0 if args.skip_pin else args.repeat):
                keep("sha256", measure(["--child", "sha256", *common], env=env))
                keep("read_csv", measure(["--child", "read_csv", *common], env=env))
                shutil.rmtree(home, ignore_errors=True)
                keep("pin", measure(["--child", "pin", *common], env=env))
            for _ in range(args.repeat):
                keep("bare", measure(["--child", "bare", *common], env=env))
                keep("build", measure(["--child", "build", *common], env=env))
                if cluster is not None:
                    keep("build_dask", measure(
                        ["--child", "build_dask", *common, "--address-file", str(address_file)], env=env,
                        also=[cluster.pid], keep_going=True,
                    ))
            if "build_dask" in best and "failed" not in best["build_dask"]:
                assert best["build_dask"]["fingerprints"] == best["build"]["fingerprints"], "Dask and DirectRunner differ"
            assert best["build"]["rows"] == best["bare"]["rows"] == rows, (best["build"]["rows"], best["bare"]["rows"])
            results.append({"rows": rows, "csv_bytes": csv.stat().st_size, **best})
            _report(results[-1])
            shutil.rmtree(home, ignore_errors=True)
    finally:
        if cluster is not None:
            cluster.terminate()
            cluster.wait(60)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _report(r: dict[str, Any]) -> None:
    gb = 1 << 30
    print(f"\n{r['rows']:,} rows, CSV {r['csv_bytes'] / 1e6:,.0f} MB")
    print(f"{'what':<34} {'seconds':>8} {'peak GB':>8}   {'anchor':<28} {'seconds':>8} {'peak GB':>8} {'time ratio':>10}")
    pairs = [
        ("pin", "sha256"), ("pin", "read_csv"), ("build (DirectRunner)", "bare"),
    ]
    if "build_dask" in r:
        pairs.append(("build (Dask, 2 workers)", "bare"))
    names = {"pin": "pin", "build (DirectRunner)": "build", "build (Dask, 2 workers)": "build_dask",
             "sha256": "sha256 of the file", "read_csv": "pyarrow read_csv", "bare": "bare Beam -> Parquet"}
    for label, anchor in pairs:
        if names[label] not in r or anchor not in r:
            continue
        a, b = r[names[label]], r[anchor]
        if "failed" in a:
            print(f"{label:<34} FAILED after {a['seconds']:.0f} s at {a['peak_rss'] / gb:.2f} GB: {a['failed'][-300:]}")
            continue
        print(
            f"{label:<34} {a['seconds']:>8.2f} {a['peak_rss'] / gb:>8.2f}   {names[anchor]:<28} "
            f"{b['seconds']:>8.2f} {b['peak_rss'] / gb:>8.2f} {a['seconds'] / b['seconds']:>9.2f}x"
        )


if __name__ == "__main__":
    sys.exit(main())
