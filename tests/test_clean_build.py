"""A cold build leaves nothing behind and says only what the user needs to know."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

import labdatasets

pytestmark = pytest.mark.slow

BEAM_NOISE = ("apitools", "WARNING:root", "Logging handler created", "INFO:", "prism")


@pytest.mark.parametrize("workers", [1, 2])
def test_cold_build_leaves_tmpdir_empty_and_prints_no_beam_noise(subprocess_env, lab_home, tmp_path, workers):
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = dict(subprocess_env, TMPDIR=str(tmpdir))
    proc = subprocess.run(
        [sys.executable, "-m", "labdatasets", "build", "product_a:1.2.0", "--workers", str(workers)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "train  270" in proc.stdout and "test   74" in proc.stdout, proc.stdout
    for noise in BEAM_NOISE:
        assert noise.lower() not in proc.stderr.lower(), proc.stderr
    assert sorted(p.name for p in tmpdir.iterdir()) == []  # no beam-temp*, beam-pipeline-temp*, tmp*
    assert (lab_home / "prepared" / "product_a" / "1.2.0" / "dataset_info.json").is_file()


def test_loading_an_unpinned_version_says_it_wrote_a_pin_record_to_commit(make_builder, caplog):
    # PINS_DIR: the records live next to the builder, as snapshots/ does in a checkout
    cls = make_builder.tabular("toy_unpinned", edits={"    RELEASE_NOTES =": "    PINS_DIR = 'snapshots'\n    RELEASE_NOTES ="})
    record_path = cls().pin_record_path()
    assert make_builder.root in record_path.parents
    assert not record_path.exists()
    with caplog.at_level(logging.WARNING, logger="labdatasets"):
        data = labdatasets.load("toy_unpinned:1.0.0", split="train")
    assert len(data) > 0
    assert record_path.is_file()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    naming = [w for w in warnings if str(record_path) in w]
    assert len(naming) == 1 and "Commit that file" in naming[0], warnings
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="labdatasets"):
        labdatasets.load("toy_unpinned:1.0.0", split="train")  # pinned now: nothing to say
    assert not [r for r in caplog.records if "pin record" in r.getMessage()]


def test_the_pin_warning_reaches_stderr_of_a_plain_script(make_builder, subprocess_env):
    """A builder outside a checkout: its record goes under <home>/pins, and pinning says to copy it to snapshots/."""
    cls = make_builder.tabular("toy_unpinned_script")
    record_path = cls().pin_record_path()
    module_file = Path(sys.modules[cls.__module__].__file__)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('toy_script_builder', {str(module_file)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules[spec.name] = module\n"
        "spec.loader.exec_module(module)  # defining the class registers it\n"
        "import labdatasets\n"
        "print(len(labdatasets.load('toy_unpinned_script:1.0.0', split='train')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert record_path.is_file()
    assert proc.stderr.count(str(record_path)) == 1, proc.stderr  # said once, by pin
    assert "Copy it to the repository's snapshots/" in proc.stderr, proc.stderr


def test_a_build_in_a_pipe_prints_one_line_per_stage_and_no_bars(subprocess_env, lab_home):
    env = dict(subprocess_env)
    env.pop("LABDATASETS_PROGRESS")  # as users have it: stderr is a pipe here, not a terminal
    proc = subprocess.run(
        [sys.executable, "-m", "labdatasets", "build", "product_a:1.2.0"], env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert "\r" not in proc.stderr and "%|" not in proc.stderr, proc.stderr  # no bars
    assert any(line.startswith("  build product_a:1.2.0 on DirectRunner: done in ") for line in lines), lines
    assert any(line.startswith("  fingerprint product_a:1.2.0: done in ") for line in lines), lines
    assert not [line for line in lines if line.endswith(" ...")], lines  # one line per stage, when it ends


def test_labdatasets_progress_still_overrides(subprocess_env, lab_home):
    env = dict(subprocess_env, LABDATASETS_PROGRESS="1")  # bars even in a pipe
    proc = subprocess.run(
        [sys.executable, "-m", "labdatasets", "build", "product_a:1.2.0"], env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "build product_a:1.2.0:" in proc.stderr and "%|" in proc.stderr, proc.stderr  # the build's one bar
    assert "wrote 344 of 344 rows" in proc.stderr, proc.stderr  # it counts rows written, not only bytes read
