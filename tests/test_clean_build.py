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
    cls = make_builder.tabular("toy_unpinned")
    record_path = cls().pin_record_path()
    assert not record_path.exists()
    with caplog.at_level(logging.WARNING, logger="labdatasets"):
        data = labdatasets.load("toy_unpinned:1.0.0", split="train")
    assert len(data) > 0
    assert record_path.is_file()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(record_path) in w and "Commit that file" in w for w in warnings), warnings
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="labdatasets"):
        labdatasets.load("toy_unpinned:1.0.0", split="train")  # pinned now: nothing to say
    assert not [r for r in caplog.records if "pin record" in r.getMessage()]


def test_the_pin_warning_reaches_stderr_of_a_plain_script(make_builder, subprocess_env):
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
    assert str(record_path) in proc.stderr and "Commit that file" in proc.stderr, proc.stderr
