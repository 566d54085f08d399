"""Shared fixtures: every test runs against its own empty labdatasets home."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import BuilderFactory
from tests.servers import (  # noqa: F401 - fixtures
    gcs_bucket,
    gcs_env,
    gcs_server,
    mysql_database,
    mysql_reader,
    mysql_url,
    s3_bucket,
    s3_env,
    s3_server,
    sheets_env,
    sheets_server,
)

@pytest.fixture(autouse=True)
def fresh_logging():
    """Each test starts with logging as a new process has it.

    ``labdatasets.cli.main`` calls ``configure_logging``, which adds a root handler on the
    ``sys.stderr`` of that moment (a test's capture, closed when the test ends) and sets our
    loggers' levels (``--debug``). Left in place, a later test's log record reaches that closed
    stream and logging prints "--- Logging error ---" into whatever stderr that test watches.
    """
    from labdatasets.present.redact import OWN_LOGGERS

    root = logging.getLogger()
    level = root.level
    levels = {name: logging.getLogger(name).level for name in OWN_LOGGERS}
    yield
    for handler in [h for h in root.handlers if getattr(h, "_labdatasets", False)]:
        root.removeHandler(handler)
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


@pytest.fixture
def tmpfs(tmp_path: Path):
    """Factory: ``tmpfs(options)`` mounts a tmpfs (``size=64k``, ``ro``, ``nr_inodes=2``...) and returns its path.

    For the full-disk and read-only tests; mounting needs root, so elsewhere they skip and say so.
    Every mount is undone after the test.
    """
    mounts: list[Path] = []

    def mount(options: str) -> Path:
        path = tmp_path / f"disk-{len(mounts)}"
        path.mkdir()
        if os.geteuid() != 0:
            pytest.skip("a full or read-only filesystem needs root (mount -t tmpfs); not root here")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounts.append(path)
        return path

    yield mount
    for path in mounts:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


_ENV = (
    "LABDATASETS_HOME",
    "LABDATASETS_DATA_DIR",
    "LABDATASETS_SNAPSHOT_STORE",
    "LABDATASETS_SHARED_CACHE",
    "LABDATASETS_PINS_DIR",
    "LABDATASETS_CONFIG",
    "LABDATASETS_DEBUG",
)


@pytest.fixture(autouse=True)
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home (store, prepared data, local pins) and no user config for each test."""
    for var in _ENV:
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "labhome"
    monkeypatch.setenv("LABDATASETS_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("LABDATASETS_PROGRESS", "0")
    return home


@pytest.fixture
def make_builder(tmp_path: Path):
    """Factory: write a builder module and its source files under tmp_path, import and register it."""
    factory = BuilderFactory(tmp_path / "builders")
    yield factory
    factory.cleanup()


@pytest.fixture
def subprocess_env(lab_home: Path) -> dict[str, str]:
    """Environment for a child process that sees the same isolated home."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def restore_product_a():
    """Put the repository's product_a builder back after a test replaced it."""
    from labdatasets import registry

    original = registry.builder_cls("product_a")
    yield
    registry.unregister("product_a")
    registry.register(original)


@pytest.fixture
def pins_copy(tmp_path, monkeypatch) -> Path:
    """The repository's pin records, copied, so that a test can pin new versions without touching snapshots/."""
    pins = tmp_path / "pins"
    shutil.copytree(Path(__file__).resolve().parent.parent / "snapshots", pins)
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(pins))
    return pins
