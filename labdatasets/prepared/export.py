"""Read a prepared version with tensorflow-datasets (tfds) itself.

Teams with tfds pipelines keep them: :func:`export_tfds` writes a prepared
version as a tfds dataset folder (tfds's own writer, its ``dataset_info.json``
and ``features.json``), derived from our Parquet splits, which stay the
storage of record::

    path = export_tfds(labdatasets.builder("product_a:1.2.0"))      # or: labdatasets export product_a:1.2.0
    import tensorflow_datasets as tfds
    tfds.builder_from_directory(path).as_data_source(split="train")  # ArrayRecord: random access, no TensorFlow
    tfds.data_source("product_a:1.2.0", data_dir=path.parents[1], split="train[:10%]")

``file_format="tfrecord"`` writes TFRecord instead (needs TensorFlow), for
``tfds.load(..., data_dir=...)`` and ``builder.as_dataset()`` as ``tf.data``
(tfds reads ArrayRecord as a data source only). For ``tf.data`` straight from
labdatasets, :meth:`labdatasets.Dataset.to_tf` needs no export.

Rows keep our order (tfds shuffling is disabled), so row ``i`` is the same in
both, with the same values: tf.Example stores floats as float32 and integers as
int64, so ``float64`` and ``uint64`` columns (and tensors and sequences of them)
are written as tfds ``Tensor`` features with raw-bytes encoding, which tfds
decodes to exactly the values we hold; every other type fits tf.Example as it is.
tf.Example has no nulls: a null float becomes NaN, a null text or bytes
value ``""`` and a null sequence ``[]``; a null integer, boolean or image stops
the export with the column and row named. Dates, timestamps and decimals have no
tfds feature: cast them in the processing.

The export lives in ``<data_dir>/_tfds/<name>[/<config>]/<version>/`` (a tfds
``data_dir``) and is redone only when the prepared data changes.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator

from labdatasets.errors import ConfigError, MissingDependencyError, PreparedDataError, ProcessingError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from labdatasets.builder import DatasetBuilder

    from labdatasets.info import DatasetInfo
    from labdatasets.features import Feature, Features

__all__ = ["export_tfds", "tfds_features", "require_export_dependencies", "FILE_FORMATS", "MARKER"]

logger = logging.getLogger(__name__)

FILE_FORMATS = ("array_record", "tfrecord")
MARKER = "labdatasets_export.json"
_NUMERIC = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64",
}
# what tf.Example cannot hold exactly (its float_list is float32, its int64_list signed): stored as raw bytes
_RAW_BYTES = {"float64", "uint64"}


def _tfds() -> Any:
    try:
        import tensorflow_datasets as tfds
    except ImportError as exc:
        raise MissingDependencyError.for_extra("tensorflow-datasets", "tf", "Exporting to tensorflow-datasets") from exc
    return tfds


def require_export_dependencies(file_format: str = "array_record") -> None:
    """Raise :class:`MissingDependencyError` naming the ``[tf]`` extra if an export could not run here.

    Called before anything is built, so that a missing package is said first.
    """
    _tfds()
    if file_format == "tfrecord":
        import importlib.util

        if importlib.util.find_spec("tensorflow") is None:
            raise MissingDependencyError.for_extra("tensorflow", "tf", "Exporting to tfds as TFRecord")


def _numeric(tfds: Any, dtype: str, shape: tuple[Any, ...]) -> Any:
    """A tfds feature that gives back exactly our values of ``dtype``."""
    import numpy as np

    if dtype in _RAW_BYTES:
        return tfds.features.Tensor(shape=shape, dtype=np.dtype(dtype), encoding=tfds.features.Encoding.BYTES)
    if not shape:
        return tfds.features.Scalar(dtype=np.dtype(dtype))
    return tfds.features.Tensor(shape=shape, dtype=np.dtype(dtype))


def _feature(tfds: Any, name: str, feature: "Feature") -> Any:
    import numpy as np

    kind = feature.kind
    if kind == "class_label":
        return tfds.features.ClassLabel(names=list(feature.names))  # type: ignore[attr-defined]
    if kind == "text":
        return tfds.features.Text()
    if kind == "image":
        encoding = feature.encoding if feature.encoding in ("png", "jpeg") else None  # type: ignore[attr-defined]
        return tfds.features.Image(shape=feature.shape or (None, None, 3), encoding_format=encoding)  # type: ignore[attr-defined]
    if kind == "sequence":
        return tfds.features.Sequence(_feature(tfds, name, feature.feature), length=feature.length)  # type: ignore[attr-defined]
    if kind == "tensor":
        return _numeric(tfds, feature.dtype, feature.shape)  # type: ignore[attr-defined]
    dtype = getattr(feature, "dtype", "")
    if dtype in _NUMERIC:
        return _numeric(tfds, dtype, ())
    if dtype in ("string", "large_string"):
        return tfds.features.Text()
    if dtype in ("binary", "large_binary"):
        return tfds.features.Tensor(shape=(), dtype=np.object_)
    raise ProcessingError(
        f"column {name!r} ({feature.describe()}) has no tensorflow-datasets feature; cast it in the processing "
        "(dates and timestamps to int64 or string, decimals to float64) to export this dataset to tfds."
    )


def tfds_features(features: "Features") -> Any:
    """The ``tfds.features.FeaturesDict`` matching our :class:`~labdatasets.features.Features`."""
    tfds = _tfds()
    return tfds.features.FeaturesDict({name: _feature(tfds, name, f) for name, f in features.items()})


def _fill_nulls(table: "pa.Table", features: "Features", key: tuple[str, ...], where: str) -> "pa.Table":
    """tf.Example has no nulls: NaN for floats, empty for text, bytes and sequences; refuse the rest."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from labdatasets.features import _describe_row

    for index, (name, feature) in enumerate(features.items()):
        column = table.column(name)
        if not column.null_count:
            continue
        type_ = column.type
        if pa.types.is_floating(type_):
            filled = pc.fill_null(column, pa.scalar(float("nan"), type_))
        elif pa.types.is_string(type_) or pa.types.is_large_string(type_):
            filled = pc.fill_null(column, pa.scalar("", type_))
        elif (pa.types.is_binary(type_) or pa.types.is_large_binary(type_)) and feature.kind != "image":
            filled = pc.fill_null(column, pa.scalar(b"", type_))
        elif pa.types.is_list(type_) and feature.kind == "sequence":
            filled = pc.if_else(pc.is_null(column), pa.scalar([], type_), column)
        else:
            row = pc.index(pc.is_null(column), True).as_py()
            raise ProcessingError(
                f"{where}: column {name!r}, {_describe_row(table, row, key)}: null, which a tfds {feature.describe()} "
                "cannot hold; fill it in the processing to export this dataset to tfds."
            )
        table = table.set_column(index, table.schema.field(index), filled)
    return table


def _examples(info: "DatasetInfo", split: str, where: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row index, example)`` of one split in our order, batch by batch."""
    import numpy as np

    from labdatasets.prepared.dataset import read_split

    features = info.features
    tensors = {n: (f.shape, f.dtype) for n, f in features.items() if f.kind == "tensor"}  # type: ignore[attr-defined]
    import pyarrow as pa

    index = 0
    for batch in read_split(info, split).iter_batches(8192):
        table = _fill_nulls(pa.Table.from_batches([batch]), features, info.key_columns, where)
        for row in table.to_pylist():
            for name, (shape, dtype) in tensors.items():
                row[name] = np.asarray(row[name], dtype=dtype).reshape(shape)
            yield index, row
            index += 1


def _make_builder_class(tfds: Any, info: "DatasetInfo", features: Any) -> type:
    """A tfds builder (not registered in tfds) whose examples are our prepared rows."""

    class Export(tfds.core.GeneratorBasedBuilder, skip_registration=True):  # type: ignore[call-arg]  # tfds's own keyword
        name = info.name
        VERSION = tfds.core.Version(info.version)
        RELEASE_NOTES = {v: n for v, n in info.release_notes.items() if n}
        BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=info.config, description=info.config_description)] if info.config else []

        def _info(self) -> Any:
            return tfds.core.DatasetInfo(
                builder=self,
                description=info.description,
                features=features,
                homepage=info.homepage or None,
                citation=info.citation or None,
                supervised_keys=tuple(info.supervised_keys) if info.supervised_keys else None,
                disable_shuffling=True,  # keep our row order: row i is the same row in both
            )

        def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
            return {split: self._generate_examples(split) for split in info.splits}

        def _generate_examples(self, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
            yield from _examples(info, split, f"{info.full_name} split {split!r}")

    return Export


def _marker(info: "DatasetInfo", file_format: str) -> dict[str, Any]:
    return {
        "dataset": info.full_name,
        "file_format": file_format,
        "snapshot_id": info.snapshot_id,
        "code_fingerprint": info.code_fingerprint,
        "fingerprints": {name: s.fingerprint for name, s in info.splits.items()},
    }


def export_tfds(
    builder: "DatasetBuilder",
    *,
    data_dir: str | Path | None = None,
    file_format: str = "array_record",
    progress: bool = True,
) -> Path:
    """Write ``builder``'s prepared version as a tfds dataset; return its version folder.

    Args:
        builder: a prepared version (``labdatasets.builder("name:version")`` after ``load``/``build``).
        data_dir: the tfds ``data_dir`` to write into (default ``<LABDATASETS_DATA_DIR>/_tfds``).
        file_format: ``"array_record"`` (no TensorFlow needed) or ``"tfrecord"`` (tf.data via tfds).

    Example::

        >>> path = export_tfds(labdatasets.builder("product_a:1.2.0"))
        >>> tfds.builder_from_directory(path).as_data_source(split="train")[0]
    """
    if file_format not in FILE_FORMATS:
        raise ConfigError(
            f"Exporting {builder.full_name}: file_format must be one of {', '.join(FILE_FORMATS)}, got {file_format!r}"
        )
    require_export_dependencies(file_format)
    info = builder.prepared_info()
    if info is None:
        raise PreparedDataError(
            f"{builder.full_name} is not prepared in {builder.data_dir}; load or build it first "
            f"('labdatasets build {builder.full_name}')."
        )
    root = Path(data_dir) if data_dir is not None else builder.data_dir / "_tfds"
    parts = [info.name] + ([info.config] if info.config else []) + [info.version]
    target = root.joinpath(*parts)
    marker = _marker(info, file_format)
    if (target / MARKER).is_file() and json.loads((target / MARKER).read_text("utf-8")) == marker:
        return target
    if target.exists():
        shutil.rmtree(target)  # an export of other prepared data; ours is derived, so it is redone

    tfds = _tfds()
    cls = _make_builder_class(tfds, info, tfds_features(info.features))
    export = cls(data_dir=str(root), config=info.config, file_format=file_format)
    with tempfile.TemporaryDirectory(prefix="labdatasets-tfds-") as downloads:  # tfds wants one; nothing is downloaded
        config = tfds.download.DownloadConfig(compute_stats=tfds.download.ComputeStatsMode.SKIP)
        if not progress:
            tfds.disable_progress_bar()
        try:
            export.download_and_prepare(download_dir=downloads, download_config=config)
        finally:
            if not progress:
                tfds.enable_progress_bar()
    (target / MARKER).write_text(json.dumps(marker, indent=2) + "\n", "utf-8")
    logger.info("exported %s as a tfds dataset (%s) in %s", info.full_name, file_format, target)
    return target
