"""labdatasets: the lab's private datasets, pinned, processed and loadable in one line.

Example::

    import labdatasets
    df = labdatasets.load("product_a:1.2.0", split="train", format="pandas")
    labdatasets.list_datasets()
    labdatasets.info("product_a")

Importing this package is cheap: no Apache Beam, TensorFlow, PyTorch, cloud SDK
or database driver is imported until a call needs it. ``labdatasets.diff`` and
``labdatasets.status`` are imported on first use::

    labdatasets.diff.diff_versions("product_a:1.0.0", "product_a:1.2.0")
    labdatasets.status.status(labdatasets.builder("product_a:1.2.0"))
"""

from __future__ import annotations

import importlib
from typing import Any

from labdatasets import errors, features
from labdatasets._version import __version__
from labdatasets.builder import BuilderConfig, DatasetBuilder
from labdatasets.info import DatasetInfo, SplitInfo
from labdatasets.prepared.dataset import Dataset
# after labdatasets.info (the module of DatasetInfo): the name ``labdatasets.info`` is the function
from labdatasets.load import builder, info, list_datasets, load
from labdatasets.naming import Version

__all__ = [
    "__version__",
    "load",
    "builder",
    "info",
    "list_datasets",
    "DatasetBuilder",
    "DatasetInfo",
    "BuilderConfig",
    "SplitInfo",
    "Dataset",
    "Version",
    "errors",
    "features",
]

# Modules reachable as attributes of the package, imported on first access (they pull in pyarrow or
# the connectors, which ``import labdatasets`` must not).
_LAZY_MODULES = {
    "diff": "labdatasets.prepared.diff",  # diff_versions(old, new) -> DatasetDiff
    "status": "labdatasets.pinning.status",  # status(builder) -> StatusReport
}


def __getattr__(name: str) -> Any:
    target = _LAZY_MODULES.get(name)
    if target is None:
        raise AttributeError(f"module 'labdatasets' has no attribute {name!r}")
    module = importlib.import_module(target)
    globals()[name] = module
    return module


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_MODULES))
