"""The notebook entry points: ``load``, ``builder``, ``info``, ``list_datasets``."""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from labdatasets import registry
from labdatasets.builder import DatasetBuilder, DatasetInfo
from labdatasets.naming import parse_name

__all__ = ["load", "builder", "info", "list_datasets"]


def builder(
    name: str, *, data_dir: str | os.PathLike[str] | None = None, **kwargs: Any
) -> DatasetBuilder:
    """The builder of ``name`` (``dataset[/config][:version]``) at the version it names.

    Example::

        >>> b = labdatasets.builder("product_a:1.0.0")
        >>> b.version, b.prepared_dir
    """
    ref = parse_name(name)
    cls = registry.builder_cls(ref.name)
    return cls(config=ref.config, version=ref.version, data_dir=data_dir, **kwargs)


def info(name: str, *, data_dir: str | os.PathLike[str] | None = None) -> DatasetInfo:
    """The :class:`DatasetInfo` of a version (with split sizes once it is prepared)."""
    return builder(name, data_dir=data_dir).info


def list_datasets() -> list[str]:
    """Names of every registered dataset, sorted."""
    return registry.list_datasets()


def load(
    name: str,
    split: str | None = None,
    format: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    with_info: bool = False,
    *,
    download: bool = True,
    beam_options: Mapping[str, Any] | Sequence[str] | None = None,
    progress: bool = True,
) -> Any:
    """Load a dataset version as it was pinned and processed.

    Args:
        name: ``dataset[/config][:version]``; ``1.2.*`` picks the newest match and no
            version means the latest.
        split: ``"train"``, ``"train[:10%]"``, ``"train+test"``...; None returns
            ``{split: ...}`` for every split.
        format: None for :class:`~labdatasets.dataset.Dataset` objects, or
            ``"pandas"``, ``"arrow"``, ``"numpy"``, ``"tf"``, ``"torch"``.
        data_dir: where prepared data lives (default ``LABDATASETS_DATA_DIR``).
        with_info: also return the :class:`DatasetInfo`.
        download: pin and build what is missing (otherwise raise if not prepared).
        beam_options: Beam pipeline options for a build, e.g. ``{"direct_num_workers": 2}``.

    Example::

        >>> df = labdatasets.load("product_a:1.2.0", split="train", format="pandas")
    """
    b = builder(name, data_dir=data_dir)
    if download:
        b.build(beam_options=beam_options, progress=progress)
    data = b.as_dataset(split=split, format=format)
    return (data, b.info) if with_info else data
