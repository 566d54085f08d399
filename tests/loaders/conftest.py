"""Fixtures shared by every connector's contract tests."""

import pytest

from labdatasets.loaders.base import PinContext
from labdatasets.stores import Snapshots


@pytest.fixture
def snapshots(tmp_path):
    return Snapshots(f"file://{tmp_path / 'contract-store'}")


@pytest.fixture
def ctx(snapshots, tmp_path):
    return PinContext(
        store=snapshots,
        base_dir=tmp_path,
        label="contract:1.0.0 source 'data'",
        progress=lambda total, desc: (lambda n: None),
    )
