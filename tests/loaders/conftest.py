"""Fixtures shared by every connector's contract tests."""

import pytest

from labdatasets.loaders.base import PinContext
from labdatasets.stores import Snapshots, open_store


@pytest.fixture
def snapshots(tmp_path):
    return Snapshots(f"file://{tmp_path / 'contract-store'}")


@pytest.fixture
def local_store(snapshots):
    """The local store under ``snapshots``, opened by its URI, to look at what a pin left there."""
    _, cache_uri = snapshots.to_uris()
    return open_store(cache_uri)


@pytest.fixture
def ctx(snapshots, tmp_path):
    return PinContext(
        store=snapshots,
        base_dir=tmp_path,
        label="contract:1.0.0 source 'data'",
        progress=lambda total, desc: (lambda n: None),
    )
