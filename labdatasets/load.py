"""The notebook entry points: ``load``, ``builder``, ``info``, ``list_datasets``."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any
from collections.abc import Mapping, Sequence

from labdatasets import registry
from labdatasets.builder import DatasetBuilder
from labdatasets.info import DatasetInfo
from labdatasets.errors import PreparedDataError
from labdatasets.naming import parse_name

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.processing.options import BuildOptions

__all__ = ["load", "builder", "info", "list_datasets", "check_split_before_build"]


def check_split_before_build(b: DatasetBuilder, split: str) -> None:
    """Raise :class:`~labdatasets.errors.SplitError` for a malformed split or one the version will not have.

    Runs before a build (which can take minutes), from what is cheaply known of
    the version's split names (see :mod:`labdatasets.processing.split_names`).
    """
    from labdatasets.errors import SplitError
    from labdatasets.processing.split_names import split_names
    from labdatasets.splits import check_splits, parse_split

    if not isinstance(split, str):
        raise SplitError(f"split must be a string such as 'train' or 'train[:10%]', got {split!r}")
    instructions = parse_split(split)
    names = split_names(b)
    if names is not None:
        check_splits(instructions, names, b.full_name)


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
    options: BuildOptions | None = None,
    progress: bool = True,
    decode: bool = True,
    as_supervised: bool = False,
    class_labels: str = "int",
    streaming: bool = False,
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
        options: both of them as one :class:`~labdatasets.processing.options.BuildOptions`.
        decode: decode ``Image`` features (numpy arrays, PIL images in pandas); False keeps
            the encoded bytes (tfds ``decoders``, Hugging Face ``Image(decode=False)``).
        as_supervised: ``(input, target)`` pairs by the dataset's ``supervised_keys`` (tfds).
        class_labels: for ``format="pandas"``/``"polars"``: ``"int"`` codes (default),
            ``"str"`` names or ``"categorical"``.
        streaming: return :class:`~labdatasets.prepared.streaming.IterableDataset` objects
            that read a row group at a time (a split bigger than memory).

    A split of a version that is published in the shared cache but not prepared here
    downloads only the shards that split needs.

    Example::

        >>> df = labdatasets.load("product_a:1.2.0", split="train", format="pandas")
    """
    from labdatasets.prepared.dataset import check_class_labels, check_format, read_prepared
    from labdatasets.processing.options import BuildOptions

    check_format(format)
    check_class_labels(class_labels)
    build_options = BuildOptions.of(beam_options, workers, options=options)  # checked before anything is fetched or built
    b = builder(name, data_dir=data_dir)
    read_options = dict(decode=decode, as_supervised=as_supervised, class_labels=class_labels, streaming=streaming)
    if download and not b.is_prepared():
        if split is not None:
            check_split_before_build(b, split)
            partial = _published_shards(b)
            if partial is not None:  # read from the shared cache, fetching only the shards the split needs
                info, shards = partial
                data = read_prepared(info, split=split, format=format, shards=shards, **read_options)  # type: ignore[arg-type]
                return (data, info) if with_info else data
    if download:
        b.download_and_prepare(options=build_options, progress=progress)
    info = b.prepared_info()
    if info is None:
        data = b.as_dataset(split=split, format=format)  # raises: not prepared
    else:
        try:
            data = read_prepared(info, split=split, format=format, **read_options)  # type: ignore[arg-type]
        except PreparedDataError as exc:
            if not download:
                raise
            # A shard failed its checks as it was read (a flipped byte, an edited count): never
            # served. Fetch it again or rebuild it, once, then read the good copy.
            from labdatasets.prepared.verify import repair_prepared

            logging.getLogger(__name__).warning("%s; repairing %s", exc, b.full_name)
            repair_prepared(b, build_options, progress=progress)
            b.__dict__.pop("info", None)
            info = b.prepared_info() or info
            data = read_prepared(info, split=split, format=format, **read_options)  # type: ignore[arg-type]
    return (data, b.info) if with_info else data


def _published_shards(b: DatasetBuilder) -> Any:
    """``(info, shards)`` of ``b``'s version in the shared cache, or None (see :mod:`labdatasets.prepared.streaming`)."""
    if not b.settings.shared_cache:
        return None
    import logging

    from labdatasets.errors import LabDatasetsError
    from labdatasets.prepared.streaming import open_partial

    try:
        return open_partial(b, b.pin_record())
    except LabDatasetsError as exc:
        logging.getLogger(__name__).warning(
            "Could not use the shared cache for %s (%s); building it from the pins", b.full_name, exc
        )
        return None
