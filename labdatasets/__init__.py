"""labdatasets: the lab's private datasets, pinned, processed and loadable in one line.

Example::

    import labdatasets
    df = labdatasets.load("product_a:1.2.0", split="train", format="pandas")
    labdatasets.list_datasets()
    labdatasets.info("product_a")

Importing this package is cheap: no Apache Beam, TensorFlow, PyTorch, cloud SDK
or database driver is imported until a call needs it.
"""

from __future__ import annotations

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
