"""What statistics and expectations cost a build: the same build with and without them, in one run.

    python benchmarks/bench_validation.py                     # 1M rows, 3 rounds of fresh-process builds
    python benchmarks/bench_validation.py --rows 1000000 4000000 --repeat 3 --json out.json
    python benchmarks/bench_validation.py --repeat 20 --compare-inline   # also the checks in the writer's thread
    python benchmarks/bench_validation.py --setup DIR --rows 1000000   # pin once, print the two build commands

The data: ``--rows`` rows of {id int64, customer int64, count int64, x float64,
y float32, z float64, w float64, label (3 classes), text (short string, mostly
unique), code (text of 20 values)} in one Parquet file, pinned once; the builder
adds ``x2`` (11 columns). It declares a rule of every kind (``nullable=False``,
a key, ``group_key``, ``Range``, ``AllowedValues``, ``Pattern``,
``MaxNullShare``) and splits 80/10/10 by customer.

``--setup DIR`` prepares the data and the pin in ``DIR`` and prints the
commands that build it once each (with and without the checks, and with the checks
in the writer's own thread: ``--inline-checks``, as before they had a thread beside
it), for a harness that times whole processes in pairs (``/usr/bin/time -v`` gives
the peak).

Each build runs in a fresh child process (so that its peak resident memory is its
own) on the DirectRunner: "with" is a normal build (statistics of every column,
every rule, the key and group checks across splits); "without" switches them off
(``labdatasets.processing.build.RUN_CHECKS = False``, which exists for this
script only); ``--compare-inline`` adds "inline", the checks in the writer's own
thread (as before they had one beside it). Each round builds every variant once, in
an order that rotates from round to round. Reported per variant: the median and the
best ``build()`` time, the ratio of the medians and the median of the round-by-round
ratios to "without" (on a shared machine the two estimators bracket the cost), the
ratio of CPU time, and the peak memory of the child (``ru_maxrss``). Target: the
checks cost at most 10% of the build time, and their memory does not grow with the
rows (compare the extra peak at two sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _data import LABELS, load_builder_class, tabular_builder, write_tabular_parquet  # noqa: E402 - benchmarks/ is this script's folder

BUILDER = tabular_builder(
    "bench_checks",
    "Synthetic rows for the validation benchmark.",
    customer=True,
    extra=True,
    split_key="customer",
    info='''
key="id",
group_key="customer",
expectations=[
    E.Range("x", min=0.0, max=1.0),
    E.Range("count", min=0, max=999),
    E.AllowedValues("label", LABELS),
    E.Pattern("text", r"[a-z]+ [a-z]+ [0-9]+"),
    E.MaxNullShare("text", 0.01),
    E.Range("z", min=-10.0, max=10.0),
    E.Pattern("code", r"[A-Z][0-9]+"),
],
'''.replace("LABELS", repr(LABELS)),
)


def _env(work: Path, data_dir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDATASETS_")}
    env["LABDATASETS_HOME"] = str(work / "home")
    env["LABDATASETS_PINS_DIR"] = str(work / "pins")
    if data_dir is not None:
        env["LABDATASETS_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def child(folder: Path, checks: bool, action: str, inline: bool = False) -> None:
    """Run in a fresh process: pin, or build once; print a JSON line.

    A build goes to ``$LABDATASETS_DATA_DIR`` when set, else to a new folder beside
    ``folder`` that is removed afterwards (so that repeated builds start alike).
    """
    work = folder.parent.parent
    for name, value in _env(work).items():
        if name.startswith("LABDATASETS_"):
            os.environ.setdefault(name, value)
    scratch = None
    if "LABDATASETS_DATA_DIR" not in os.environ:
        scratch = Path(tempfile.mkdtemp(prefix="prepared-", dir=work))
        os.environ["LABDATASETS_DATA_DIR"] = str(scratch)
    try:
        _child(folder, checks, action, inline)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _child(folder: Path, checks: bool, action: str, inline: bool = False) -> None:
    from labdatasets.processing._beam_import import import_beam

    import_beam()  # imported before anything is timed, in both variants
    import labdatasets.processing.build as build_module

    cls = load_builder_class(folder / "bench_checks_dataset_builder.py")
    b = cls()
    if action == "pin":
        b.pin(progress=False)
        print(json.dumps({"pinned": True}))
        return
    build_module.RUN_CHECKS = checks
    if inline:  # the checks in the writer's own thread, as before they had one beside it (to compare)
        import labdatasets.processing.pipeline_io as pipeline_io

        pipeline_io.BACKGROUND_CHECKS = False
    start, start_cpu = time.perf_counter(), time.process_time()
    b.build(progress=False)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    info = b.info
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    has_stats = all(getattr(s, "statistics", None) for s in info.splits.values())
    print(json.dumps({
        "build_s": seconds,
        "build_cpu_s": cpu_seconds,  # the build() call's CPU time, all threads of this process
        "peak_mb": peak_kb / 1024,
        "rows": info.num_rows,
        "statistics": has_stats,
        "fingerprints": {n: s.fingerprint for n, s in info.splits.items()},
    }))


def _run_child(
    work: Path, folder: Path, checks: bool, action: str, data_dir: Path | None = None, inline: bool = False
) -> dict[str, Any]:
    extra = ["--inline-checks"] if inline else []
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(folder), "--checks" if checks else "--no-checks", "--action", action, *extra],
        env=_env(work, data_dir),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"child failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def setup(work: Path, rows: int) -> Path:
    """The builder, its data and its pin under ``work``; returns the builder's folder."""
    folder = work / "builders" / "bench_checks"
    (folder / "data").mkdir(parents=True)
    (folder / "bench_checks_dataset_builder.py").write_text(textwrap.dedent(BUILDER))
    write_tabular_parquet(folder / "data" / "rows.parquet", rows, customer=True, extra=True)
    _run_child(work, folder, True, "pin")
    return folder


VARIANTS = {"without": (False, False), "with": (True, False), "inline": (True, True)}


def bench(rows: int, repeat: int, inline: bool = False) -> dict[str, Any]:
    """``repeat`` rounds of fresh-process builds of each variant, in a rotating order (without checks, with
    them in the thread beside the writer, and with ``inline`` also in the writer's own thread)."""
    import statistics

    work = Path(tempfile.mkdtemp(prefix="bench-validation-"))
    names = ["without", "with"] + (["inline"] if inline else [])
    try:
        folder = setup(work, rows)
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for i in range(repeat):
            for name in names[i % len(names):] + names[: i % len(names)]:
                checks, in_writer = VARIANTS[name]
                data_dir = work / f"prepared-{name}-{i}"
                results[name].append(_run_child(work, folder, checks, "build", data_dir, in_writer))
                shutil.rmtree(data_dir, ignore_errors=True)
        without = results["without"]
        base = statistics.median(r["build_s"] for r in without)
        base_cpu = statistics.median(r["build_cpu_s"] for r in without)
        out: dict[str, Any] = {"rows": rows, "rounds": repeat, "variants": {}}
        for name in names:
            runs = results[name]
            if name != "without":
                assert all(r["statistics"] for r in runs), f"a build ({name}) recorded no statistics"
                assert runs[0]["fingerprints"] == without[0]["fingerprints"], "the checks changed the written rows"
            median = statistics.median(r["build_s"] for r in runs)
            out["variants"][name] = {
                "median_s": median,
                "best_s": min(r["build_s"] for r in runs),
                "ratio_of_medians": median / base,
                "median_pair_ratio": statistics.median(r["build_s"] / w["build_s"] for r, w in zip(runs, without, strict=True)),
                "cpu_ratio": statistics.median(r["build_cpu_s"] for r in runs) / base_cpu,
                "peak_mb": max(r["peak_mb"] for r in runs),
                "all_s": [r["build_s"] for r in runs],
            }
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--setup", help="prepare the data and pin in this (new) folder; print the two build commands")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--checks", dest="checks", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-checks", dest="checks", action="store_false", help=argparse.SUPPRESS)
    parser.add_argument("--action", default="build", help=argparse.SUPPRESS)
    parser.add_argument("--inline-checks", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--compare-inline", action="store_true", help="also build with the checks in the writer's own thread (as before)"
    )
    args = parser.parse_args()
    if args.child:
        child(Path(args.child), args.checks, args.action, args.inline_checks)
        return
    if args.setup:
        work = Path(args.setup).resolve()
        folder = setup(work, args.rows[0])
        for flag in ("--checks", "--no-checks", "--checks --inline-checks"):
            print(f"{sys.executable} {Path(__file__).resolve()} --child {folder} {flag}")
        return
    results = [bench(rows, args.repeat, args.compare_inline) for rows in args.rows]
    print(f"\nbuild() with and without statistics and expectations ({args.repeat} rounds in a rotating order, each"
          " build a fresh process; DirectRunner)\n")
    print("| rows | variant | median | best | ratio of medians | median of round ratios | CPU ratio | peak |")
    print("|---|---|---|---|---|---|---|---|")
    labels = {"without": "without checks", "with": "with checks (thread)", "inline": "with checks (in the writer's thread)"}
    for r in results:
        for name, v in r["variants"].items():
            ratios = "" if name == "without" else f"{v['ratio_of_medians']:.3f}x | {v['median_pair_ratio']:.3f}x | {v['cpu_ratio']:.3f}x"
            print(f"| {r['rows']:,} | {labels[name]} | {v['median_s']:.2f} s | {v['best_s']:.2f} s | {ratios or '| |'} | {v['peak_mb']:.0f} MiB |")
    print("\ntarget: with checks <= 1.10x of without, and a peak that does not grow with the rows")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
