"""Mutation testing of chosen labdatasets modules with mutmut (3.x); prints the score and the survivors.

Too slow for every CI run; run it by hand (``pip install -e .[dev]``)::

    python tools/mutation.py labdatasets/naming.py=tests/test_naming.py,tests/properties/test_naming_properties.py
    python tools/mutation.py --default            # the data-path sample below

Each argument is ``module.py=test_file[,test_file...]``. The run happens in a
temporary copy of the repository (mutmut writes a ``mutants/`` folder and
reads its settings from ``setup.cfg``), so the working tree is never changed.
Mutants listed in ``tools/mutation_equivalents.txt`` (one per line:
``mutant_name  reason``; ``#`` starts a comment) are equivalent to the
original and are neither counted nor reported again.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KILLED = ("killed", "timeout", "caught by type check")
EQUIVALENTS = ROOT / "tools" / "mutation_equivalents.txt"
COPY = ("labdatasets", "loaders", "datasets", "snapshots", "tests", "setup.cfg", "setup.py", "pyproject.toml")
DEFAULT = {
    "labdatasets/naming.py": ["tests/test_naming.py", "tests/properties/test_naming_properties.py"],
    "labdatasets/splits.py": ["tests/test_splits.py", "tests/properties/test_splits_properties.py"],
    "labdatasets/processing/splitting.py": ["tests/properties/test_splitting_properties.py"],
    "labdatasets/processing/fingerprint.py": ["tests/properties/test_fingerprint_properties.py"],
}


def read_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """``{mutant name: reason}`` from the equivalents file (missing file: none)."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, reason = line.partition(" ")
            out[name] = reason.strip()
    return out


def parse_targets(specs: list[str]) -> dict[str, list[str]]:
    targets: dict[str, list[str]] = {}
    for spec in specs:
        module, sep, tests = spec.partition("=")
        if not sep or not module.endswith(".py") or not tests:
            raise SystemExit(f"mutation: expected module.py=test_file[,test_file], got {spec!r}")
        targets[module] = [t for t in tests.split(",") if t]
    return targets


def _in_package(module: str) -> str:
    """Where ``module`` sits in the workspace's import package: ``loaders/x.py`` is ``labdatasets/loaders/x.py``."""
    return "labdatasets/" + module if module.startswith("loaders/") else module


def _workspace(targets: dict[str, list[str]], timeout_multiplier: float = 4.0) -> Path:
    work = Path(tempfile.mkdtemp(prefix="labdatasets-mutation-"))
    ignore = shutil.ignore_patterns(".venv", "__pycache__", ".hypothesis", "mutants", "*.egg-info")
    for name in COPY:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, work / name)
    if any(m.startswith("loaders/") for m in targets):
        # labdatasets.loaders is the top-level loaders/ folder (package_dir); mutmut mutates one
        # source tree, so the workspace holds it inside the package, where the mutants are imported from
        shutil.copytree(ROOT / "loaders", work / "labdatasets" / "loaders", ignore=ignore)
    tests = sorted({t for files in targets.values() for t in files})
    section = (
        "\n[mutmut]\nsource_paths = labdatasets\n"
        + "only_mutate =\n" + "".join(f"    {_in_package(m)}\n" for m in targets)
        + "pytest_add_cli_args_test_selection =\n" + "".join(f"    {t}\n" for t in tests)
        + "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -q\n"
        + "also_copy =\n    tests\n    loaders\n    datasets\n    snapshots\n"
        # a mutant that hangs (a loop that never ends, a reader waiting for bytes) is killed after
        # 4x the clean run's time, not mutmut's 15x: it is counted as killed either way
        + f"timeout_multiplier = {timeout_multiplier:g}\n"
    )
    with open(work / "setup.cfg", "a", encoding="utf-8") as cfg:
        cfg.write(section)
    return work


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help="module.py=test_file[,test_file...]")
    parser.add_argument("--default", action="store_true", help="run the default sample of data-path modules")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy (to run 'mutmut show NAME' in it)")
    parser.add_argument("--only", nargs="+", default=[], help="mutant names (globs) to run, e.g. 'labdatasets.prepared.folder.x_move*'")
    parser.add_argument("--results", help="also write every mutant's state to this file")
    parser.add_argument("--no-diffs", action="store_true", help="list the survivors without their diffs (faster)")
    parser.add_argument(
        "--timeout-multiplier", type=float, default=4.0,
        help="a mutant times out (counted as killed) after this many times its tests' clean run time, plus a second "
        "each; raise it on a busy machine, where slow is not hanging",
    )
    args = parser.parse_args(argv)
    targets = dict(DEFAULT) if args.default else {}
    targets.update(parse_targets(args.targets))
    if not targets:
        parser.error("name at least one module.py=test_file, or pass --default")
    work = _workspace(targets, args.timeout_multiplier)
    mutmut = [sys.executable, "-m", "mutmut"]
    try:
        subprocess.run([*mutmut, "run", "--max-children", str(args.max_children), *args.only], cwd=work, check=False)
        listed = subprocess.run([*mutmut, "results", "--all", "true"], cwd=work, check=True, capture_output=True, text=True)
        status: dict[str, str] = {}
        for line in listed.stdout.splitlines():
            name, sep, state = line.strip().rpartition(": ")
            if sep:
                status[name] = state
        equivalents = read_equivalents()
        counted = {n: s for n, s in status.items() if n not in equivalents and s not in ("skipped", "not checked")}
        killed = sum(s in KILLED for s in counted.values())
        survivors = sorted(n for n, s in counted.items() if s not in KILLED)
        score = 100.0 * killed / len(counted) if counted else 0.0
        print(f"\nmodules: {', '.join(targets)}")
        listed = sum(n in equivalents for n in status)
        print(f"mutants: {len(status)}, equivalent (listed): {listed}, not run: {len(status) - len(counted) - listed}, "
              f"killed: {killed}/{len(counted)}, score: {score:.1f}%")
        states = sorted({*counted.values()})
        print("by state: " + ", ".join(f"{s}: {sum(v == s for v in counted.values())}" for s in states))
        if args.results:
            Path(args.results).write_text(
                "".join(f"{n}: {s}{'  (equivalent)' if n in equivalents else ''}\n" for n, s in sorted(status.items())),
                encoding="utf-8",
            )
        for name in survivors:
            print(f"  {counted[name]:<12} {name}")
            if args.no_diffs:
                continue
            shown = subprocess.run([*mutmut, "show", name], cwd=work, capture_output=True, text=True)
            print("    " + "\n    ".join(shown.stdout.strip().splitlines()[1:]))
        return 0 if not survivors else 1
    finally:
        if args.keep:
            print(f"workspace kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
