"""Faults on the data path that once passed every test (issue 13's bug classes), as fault scenarios.

* **out-of-order input**: a source whose rows arrive shuffled is still written sorted by key,
  in every split and every shard, whichever way the rows are shuffled;
* **fail at the last step of a build**: writing ``dataset_info.json`` or moving the finished
  folder into place fails; nothing half-built is served, the previous prepared data is intact
  and the next build succeeds;
* **same-length corruption**: bytes of a snapshot object or of a shard are changed without
  changing the file's length; ``verify`` and ``load`` notice (they compare hashes, not sizes).
"""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import labdatasets
from labdatasets.cli import main
from labdatasets.errors import LabDatasetsError, SnapshotCorruptedError
from labdatasets.info import INFO_FILENAME
from labdatasets.prepared import folder
from labdatasets.splits import ReadInstruction
from labdatasets.stores import open_store
from tests.faults._tamper import files_under, flip, offset_of
from tests.helpers import sample_rows

pytestmark = pytest.mark.slow


def _clear(message: str, *needles: str) -> bool:
    """A message a user can act on: it names the dataset (or file) and says what to do."""
    return all(n in message for n in needles) and any(
        w in message for w in ("run ", "Run ", "labdatasets ", "free ", "Free ", "again", "rebuild", "repair")
    )


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {rel: (directory / rel).read_bytes() for rel in sorted(files_under(directory))}


def _ids(path: Path) -> list[int]:
    return pq.read_table(path, columns=["id"]).column("id").to_pylist()


# ---------------------------------------------------------------- out-of-order input


@pytest.mark.parametrize("num_shards", [1, 3])
def test_out_of_order_input_is_written_sorted_by_key(make_builder, fault_outcome, num_shards):
    tries = wrong = 0
    for seed in range(2):  # two shufflings of a split size that is not a multiple of ten
        rows = sample_rows(2003)
        random.Random(seed).shuffle(rows)
        name = f"toy_shuffled_{num_shards}_{seed}"
        cls = make_builder.tabular(name, rows=rows, ratios={"train": 0.7, "validation": 0.2, "test": 0.1})
        cls.NUM_SHARDS = num_shards
        b = labdatasets.builder(name)
        b.build(progress=False)
        tries += 1
        seen: set[int] = set()
        unsorted = []
        for split_name, split in b.info.splits.items():
            assert len(split.shards) == num_shards
            for shard in split.shards:
                ids = _ids(b.prepared_dir / shard.filename)
                if ids != sorted(ids):  # each shard is sorted by key
                    unsorted.append(shard.filename)
                seen.update(ids)
            read = labdatasets.load(name, split=split_name, format="arrow").column("id").to_pylist()
            if num_shards == 1 and read != sorted(read):  # the split as read, in key order
                unsorted.append(split_name)
        wrong += bool(unsorted) or seen != set(range(2003))
    fault_outcome(f"out-of-order input, {num_shards} shard(s) per split", tries=tries, survived=tries - wrong, wrong_data=wrong)


def test_slices_of_a_split_that_is_not_a_multiple_of_ten_rows(make_builder):
    """``train[:33%]`` and friends on a split of an odd size: tfds' rounding, no row lost or read twice."""
    rows = sample_rows(1001)
    random.Random(7).shuffle(rows)
    make_builder.tabular("toy_odd", rows=rows, ratios={"train": 1.0})
    full = labdatasets.load("toy_odd", split="train", format="arrow").column("id").to_pylist()
    assert full == list(range(1001))
    for cut in (1, 33, 50, 67, 99):
        lo, hi = ReadInstruction("train", None, cut, "%").to_absolute(1001)
        assert (lo, hi) == (0, round(cut * 1001 / 100))
        head = labdatasets.load("toy_odd", split=f"train[:{cut}%]", format="arrow").column("id").to_pylist()
        tail = labdatasets.load("toy_odd", split=f"train[{cut}%:]", format="arrow").column("id").to_pylist()
        assert head == full[:hi] and tail == full[hi:]
    assert labdatasets.load("toy_odd", split="train[-7:]", format="arrow").column("id").to_pylist() == full[-7:]
    assert labdatasets.load("toy_odd", split="train[995:1000]", format="arrow").column("id").to_pylist() == full[995:1000]


# ---------------------------------------------------------------- fail at the last step of a build


class _FailAt:
    """Patches ``Path.write_text`` / ``os.replace`` to fail once at the chosen last step of a build."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, step: str, data_dir: Path):
        self.step, self.failed = step, 0
        real_write, real_replace = Path.write_text, os.replace

        def write_text(path: Path, *args, **kwargs):
            if step == "write dataset_info.json" and path.name == INFO_FILENAME and data_dir in path.parents:
                self.failed += 1
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            return real_write(path, *args, **kwargs)

        def replace(src, dst, *args, **kwargs):
            if step == "move into place" and Path(src).name.startswith(".incomplete.") and not Path(dst).name.startswith("."):
                self.failed += 1
                raise OSError(errno.EIO, "Input/output error", str(dst))
            return real_replace(src, dst, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", write_text)
        monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("step", ["write dataset_info.json", "move into place"])
def test_a_build_failing_at_its_last_step_leaves_nothing_half_built(make_builder, fault_outcome, monkeypatch, step):
    name = "toy_last_" + step.split()[0]
    make_builder.tabular(name, rows=sample_rows(600))
    b = labdatasets.builder(name)
    final = b.prepared_dir
    survived = unclear = lost = wrong = 0

    # 1. a first build fails: no prepared folder, no incomplete folder left, nothing served
    with monkeypatch.context() as m:
        fail = _FailAt(m, step, b.data_dir)
        with pytest.raises((LabDatasetsError, OSError)) as exc:
            b.build(progress=False)
    assert fail.failed == 1
    unclear += not isinstance(exc.value, LabDatasetsError) or not _clear(str(exc.value), name)
    wrong += final.exists() or folder.is_prepared(final) or b.prepared_info() is not None
    leftovers = [p.name for p in final.parent.iterdir() if p.name.startswith((".incomplete.", ".replaced."))]
    wrong += bool(leftovers)
    survived += not wrong

    # 2. a good build, then a rebuild that fails: the previous prepared data is intact and served
    b.build(progress=False)
    before = _snapshot(final)
    good = labdatasets.load(name, split="train", format="arrow")
    with monkeypatch.context() as m:
        fail = _FailAt(m, step, b.data_dir)
        with pytest.raises((LabDatasetsError, OSError)) as exc:
            b.build(overwrite=True, progress=False)
    assert fail.failed == 1
    unclear += not isinstance(exc.value, LabDatasetsError) or not _clear(str(exc.value), name)
    lost += _snapshot(final) != before
    leftovers = [p.name for p in final.parent.iterdir() if p.name.startswith((".incomplete.", ".replaced."))]
    lost += bool(leftovers)
    served = labdatasets.load(name, split="train", format="arrow")
    wrong += not served.equals(good)
    survived += _snapshot(final) == before and served.equals(good)

    # 3. the next build succeeds and verifies
    b.build(overwrite=True, progress=False)
    assert main(["verify", name, "--quiet"]) == 0
    survived += labdatasets.load(name, split="train", format="arrow").equals(good)
    fault_outcome(f"fail at the last step of a build: {step}", tries=3, survived=survived, wrong_data=wrong, data_lost=lost, unclear=unclear)


# ---------------------------------------------------------------- same-length corruption


def test_same_length_corruption_of_a_snapshot_object_is_detected(make_builder, fault_outcome, capsys):
    make_builder.tabular("toy_same_len", rows=sample_rows(500))
    b = labdatasets.builder("toy_same_len")
    record = b.pin()
    good = labdatasets.load("toy_same_len", split="train", format="arrow")
    (obj,) = record.sources["rows"].objects
    store = open_store(b.settings.snapshot_store)
    path = store.path(obj.oid)
    size = path.stat().st_size
    flip(path, size // 2)
    assert path.stat().st_size == size
    (b.module_dir() / "data" / "rows.csv").unlink()  # no good copy to repair from: the damage must be reported
    survived = unclear = wrong = 0

    capsys.readouterr()
    verified = main(["verify", "toy_same_len", "--quiet"])
    out = capsys.readouterr().out
    detected = verified == 1 and f"object 'rows.csv' ({obj.oid[:12]}): corrupted" in out
    survived += detected
    wrong += not detected

    for folder_name in ("prepared",):  # a machine that has to build from the damaged object
        import shutil

        shutil.rmtree(b.settings.home / folder_name)
    b = labdatasets.builder("toy_same_len")
    try:
        got = labdatasets.load("toy_same_len", split="train", format="arrow")
    except SnapshotCorruptedError as exc:
        survived += 1
        unclear += not (obj.oid[:12] in str(exc) and "toy_same_len" in str(exc))
    except LabDatasetsError as exc:  # some other error: it must still say what is damaged
        survived += obj.oid[:12] in str(exc)
        unclear += obj.oid[:12] not in str(exc)
    else:
        wrong += not got.equals(good)
        survived += got.equals(good)
    fault_outcome("same-length corruption of a snapshot object", tries=2, survived=survived, wrong_data=wrong, unclear=unclear)


def test_same_length_corruption_of_a_shard_is_detected(make_builder, fault_outcome, capsys):
    make_builder.tabular("toy_same_len_shard", rows=sample_rows(3000))
    assert main(["lock", "toy_same_len_shard", "--quiet"]) == 0
    b = labdatasets.builder("toy_same_len_shard")
    good = labdatasets.load("toy_same_len_shard", split="train", format="arrow")
    shard = next(b.prepared_dir.glob("*-train-*.parquet"))
    size = shard.stat().st_size
    flip(shard, offset_of(shard, "footer"))  # a byte the page checksums do not cover
    assert shard.stat().st_size == size
    survived = wrong = 0

    capsys.readouterr()
    detected = main(["verify", "toy_same_len_shard", "--quiet"]) == 1 and f"{shard.name}: corrupted" in capsys.readouterr().out
    survived += detected
    wrong += not detected
    got = labdatasets.load("toy_same_len_shard", split="train", format="arrow")  # repaired or refused, never served damaged
    wrong += not got.equals(good)
    survived += got.equals(good) and main(["verify", "toy_same_len_shard", "--quiet"]) == 0
    fault_outcome("same-length corruption of a shard", tries=2, survived=survived, wrong_data=wrong)
