"""kill -9 during pin, build, publish and fetch.

A child process runs the operation and SIGKILLs itself at a chosen point (the n-th call of a
function, patched in the child only). Afterwards, in this process: nothing half-written is
served (no pin record without its objects, no prepared version without all its files, no
release without its objects, no object that does not hash to its name), and the same
operation run again succeeds and gives the right rows.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import labdatasets
from tests.helpers import REPO, sample_rows

pytestmark = pytest.mark.slow  # subprocesses and Beam builds

CHILD = r'''
import importlib, importlib.util, os, signal, sys

module_path, op, point, nth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
spec = importlib.util.spec_from_file_location("killed_builder", module_path)
module = importlib.util.module_from_spec(spec)
sys.modules["killed_builder"] = module
spec.loader.exec_module(module)

import labdatasets

owner_path, _, attr_path = point.partition(":")
owner = importlib.import_module(owner_path)
*classes, name = attr_path.split(".")
for cls in classes:
    owner = getattr(owner, cls)
original = getattr(owner, name)
calls = [0]

def killing(*args, **kwargs):
    calls[0] += 1
    if calls[0] >= nth:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)

setattr(owner, name, staticmethod(killing) if isinstance(owner, type) and isinstance(owner.__dict__.get(name), staticmethod) else killing)
builder = labdatasets.builder(module.Builder.name + ":1.0.0")
if op == "pin":
    builder.pin(progress=False)
elif op == "build":
    builder.build(progress=False, beam_options={"direct_num_workers": 1})
elif op == "publish":
    from labdatasets.prepared.shared_cache import publish
    publish(builder, progress=False)
elif op == "load":
    labdatasets.load(module.Builder.name + ":1.0.0", split="train", progress=False)
print("NOT KILLED")
'''


def run_killed(module_path: Path, op: str, point: str, nth: int = 1) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(module_path), op, point, str(nth)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, f"not killed at {point}: rc={done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"


def whole_objects(store_root: Path) -> list[str]:
    """Objects in a local store whose bytes do not hash to their name (must be none)."""
    bad = []
    for path in (store_root / "objects").glob("*/*") if (store_root / "objects").is_dir() else []:
        if hashlib.sha256(path.read_bytes()).hexdigest() != path.parent.name + path.name:
            bad.append(str(path))
    return bad


def rows_of(name: str) -> list[int]:
    df = labdatasets.load(f"{name}:1.0.0", split="train+test", format="pandas", progress=False)
    return sorted(df["id"].tolist())


@pytest.fixture
def killable(make_builder, monkeypatch, tmp_path):
    """A builder module on disk (the child imports it too) with its own pins folder; returns (name, module path)."""
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    counter = [0]

    def make(name: str) -> tuple[str, Path]:
        counter[0] += 1
        make_builder.tabular(name, rows=sample_rows(200))
        return name, make_builder.root / name / f"{name}_dataset_builder.py"

    return make


EXPECTED = list(range(200))


def test_kill_during_pin(killable, lab_home, tmp_path, fault_outcome):
    tries = survived = wrong = lost = 0
    for point in ("labdatasets.stores.local:LocalStore._link_into_place", "labdatasets.pinning.record:PinRecord.write_new"):
        name, module = killable(f"kill_pin_{len(point) % 7}{tries}")
        tries += 1
        run_killed(module, "pin", point)
        assert not (tmp_path / "pins" / name / "1.0.0.json").exists()  # no record without its objects
        bad = whole_objects(lab_home / "store")
        wrong += len(bad)
        record = labdatasets.builder(f"{name}:1.0.0").pin(progress=False)  # the rerun
        if record.sources["rows"].num_rows == 200 and rows_of(name) == EXPECTED:
            survived += 1
    fault_outcome("kill -9 during pin (mid-store, before the record)", tries=tries, survived=survived, wrong_data=wrong, data_lost=lost)


def test_kill_during_build(killable, lab_home, fault_outcome):
    name, module = killable("kill_build")
    labdatasets.builder(f"{name}:1.0.0").pin(progress=False)
    tries = survived = wrong = 0
    for point in ("labdatasets.prepared.folder:move_into_place", "pyarrow.parquet:ParquetWriter.close"):
        tries += 1
        run_killed(module, "build", point)
        builder = labdatasets.builder(f"{name}:1.0.0")
        info = builder.prepared_info()
        if info is not None:  # whatever is there must be whole: every shard present and hashing right
            from labdatasets.prepared.folder import full_problems

            wrong += len(full_problems(builder.prepared_dir, info, None)[0])
        if rows_of(name) == EXPECTED:
            survived += 1
        else:
            wrong += 1
        import shutil

        shutil.rmtree(builder.prepared_dir, ignore_errors=True)  # the next kill starts from nothing prepared
    fault_outcome("kill -9 during build (Beam writing, before the move into place)", tries=tries, survived=survived, wrong_data=wrong)


def test_kill_during_publish_and_shared_cache_download(killable, lab_home, tmp_path, monkeypatch, fault_outcome):
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'shared'}")
    name, module = killable("kill_publish")
    builder = labdatasets.builder(f"{name}:1.0.0")
    builder.pin(progress=False)
    builder.build(progress=False)
    from labdatasets.prepared.shared_cache import publish, published

    tries = survived = wrong = 0
    # Publish killed after its objects, before the release record (the ref) is written.
    tries += 1
    run_killed(module, "publish", "labdatasets.stores.base:SnapshotStore.put_ref")
    if published(labdatasets.builder(f"{name}:1.0.0")) is None:  # no release without all of its objects
        publish(labdatasets.builder(f"{name}:1.0.0"), progress=False)
        survived += published(labdatasets.builder(f"{name}:1.0.0")) is not None
    else:
        wrong += 1
    # A fresh machine's download killed after its first file.
    monkeypatch.setenv("LABDATASETS_HOME", str(tmp_path / "machine-b"))
    tries += 1
    run_killed(module, "load", "labdatasets.stores.base:SnapshotStore.fetch", nth=2)
    fresh = labdatasets.builder(f"{name}:1.0.0")
    info = fresh.prepared_info()
    if info is not None:
        from labdatasets.prepared.folder import full_problems

        wrong += len(full_problems(fresh.prepared_dir, info, None)[0])
    if rows_of(name) == EXPECTED:
        survived += 1
    fault_outcome("kill -9 during publish (before the ref) and during a shared-cache download", tries=tries,
                  survived=survived, wrong_data=wrong)


def test_kill_during_a_fetch_from_the_snapshot_store(killable, lab_home, tmp_path, monkeypatch, fault_outcome):
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"file://{tmp_path / 'team-store'}")
    name, module = killable("kill_fetch")
    labdatasets.builder(f"{name}:1.0.0").pin(progress=False)
    for csv in (tmp_path / "builders").rglob("rows.csv"):
        csv.unlink()  # the pinned bytes now exist only in the store
    monkeypatch.setenv("LABDATASETS_HOME", str(tmp_path / "machine-b"))
    run_killed(module, "build", "labdatasets.stores.local:LocalStore.put_verified_file")
    bad = whole_objects(tmp_path / "machine-b" / "store")
    ok = rows_of(name) == EXPECTED
    fault_outcome("kill -9 during a fetch into the local cache", tries=1, survived=int(ok), wrong_data=len(bad))
