"""The notebook entry points: ``load``, ``builder``, ``info``, ``list_datasets``."""

from __future__ import annotations

import logging
import os
from typing import Any
from collections.abc import Mapping, Sequence

from labdatasets import registry
from labdatasets.builder import DatasetBuilder
from labdatasets.info import DatasetInfo
from labdatasets.errors import PreparedDataError
from labdatasets.naming import parse_name

__all__ = ["load", "builder", "info", "list_datasets"]

logger = logging.getLogger(__name__)


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
    workers: int | None = None,
    progress: bool = True,
) -> Any:
    """Load a dataset version as it was pinned and processed.

    Args:
        name: ``dataset[/config][:version]``; ``1.2.*`` picks the newest match and no
            version means the latest.
        split: ``"train"``, ``"train[:10%]"``, ``"train+test"``...; None returns
            ``{split: ...}`` for every split.
        format: None for :class:`~labdatasets.prepared.dataset.Dataset` objects, or
            ``"pandas"``, ``"arrow"``, ``"numpy"``, ``"tf"``, ``"torch"``.
        data_dir: where prepared data lives (default ``LABDATASETS_DATA_DIR``).
        with_info: also return the :class:`DatasetInfo`.
        download: make the version available when it is not prepared here: download it
            from the shared cache (``LABDATASETS_SHARED_CACHE``) if it was published
            there, else pin and build it (otherwise raise if not prepared).
        beam_options: Beam pipeline options for a build, e.g. ``{"runner": "FlinkRunner", ...}``.
        workers: build on the DirectRunner with this many worker processes.

    Example::

        >>> df = labdatasets.load("product_a:1.2.0", split="train", format="pandas")
    """
    b = builder(name, data_dir=data_dir)
    if download:
        b.download_and_prepare(beam_options=beam_options, workers=workers, progress=progress)
    try:
        data = b.as_dataset(split=split, format=format)
    except PreparedDataError as exc:
        if not download:
            raise
        # A shard failed its checks as it was read (a flipped byte, an edited count): never
        # served. Fetch it again or rebuild it, once, then read the good copy.
        from labdatasets.prepared.integrity import repair

        logger.warning("%s; repairing %s", exc, b.full_name)
        repair(b, beam_options=beam_options, workers=workers, progress=progress)
        data = b.as_dataset(split=split, format=format)
    return (data, b.info) if with_info else data
