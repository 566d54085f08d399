"""``Dataset``: one prepared split, backed by a memory-mapped Arrow table.

Example::

    ds = labdatasets.load("product_a:1.2.0", split="train")
    len(ds), ds.features
    ds.to_pandas()          # pandas.DataFrame (images as PIL images, labels as codes)
    ds.to_pandas(class_labels="categorical")   # labels as a pandas Categorical of their names
    ds.to_arrow()           # pyarrow.Table (zero copy)
    ds.to_numpy()           # {column: numpy array}; images as uint8 arrays
    ds.to_polars()          # polars.DataFrame (needs labdatasets[polars])
    ds.to_tf()              # tf.data.Dataset (needs labdatasets[tf])
    ds.to_torch()           # torch.utils.data.Dataset (needs labdatasets[torch])
    ds.as_supervised()      # (input, target) pairs, as tfds' as_supervised=True
    ds.to_arrow_dataset()   # pyarrow.dataset over the shard files, for lazy engines
    ds[0], ds[:5]           # a row as a dict, a Dataset of the first 5 rows

``load()`` without a split returns a :class:`DatasetDict` (a dict of split ->
Dataset with a short repr and a notebook view). Images are decoded and class
labels named as described in :mod:`labdatasets.prepared.decode`; ``decode=False``
keeps encoded image bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator

from labdatasets.errors import ConfigError, MissingDependencyError, RowIndexError, SplitError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    import pyarrow.dataset as pads

    from labdatasets.features import Features
    from labdatasets.info import DatasetInfo, SplitInfo
    from labdatasets.prepared.streaming import ShardFiles

__all__ = ["Dataset", "DatasetDict", "SupervisedDataset", "read_prepared", "FORMATS", "CLASS_LABEL_MODES"]

FORMATS = ("pandas", "arrow", "numpy", "polars", "tf", "torch")
#: How pandas and polars show a ClassLabel column: its int codes, its names, or a categorical.
CLASS_LABEL_MODES = ("int", "str", "categorical")


def _kind(features: "Features | None", name: str) -> str:
    feature = features.get(name) if features else None
    return getattr(feature, "kind", "")


class Dataset:
    """A split (or slice of splits) of a prepared dataset version.

    Args:
        decode: decode ``Image`` columns in ``to_numpy``/``to_pandas``/``to_torch``/``to_tf``
            (False keeps the encoded bytes, as tfds ``decoders`` / HF ``Image(decode=False)``).
    """

    def __init__(
        self,
        table: "pa.Table",
        *,
        info: "DatasetInfo | None" = None,
        split: str = "",
        decode: bool = True,
        shards: "ShardFiles | None" = None,
    ):
        self._table = table
        self.info = info
        self.split = split
        self.decode = decode
        self._shards = shards

    def _where(self) -> str:
        """``product_a:1.2.0 split 'train'``, for messages."""
        name = self.info.full_name if self.info else "dataset"
        return f"{name} split {self.split!r}" if self.split else name

    def _derive(self, table: "pa.Table") -> "Dataset":
        return Dataset(table, info=self.info, split=self.split, decode=self.decode, shards=self._shards)

    # ------------------------------------------------------------------ basics
    @property
    def features(self) -> "Features | None":
        return self.info.features if self.info else None

    @property
    def num_rows(self) -> int:
        return self._table.num_rows

    @property
    def column_names(self) -> list[str]:
        return list(self._table.column_names)

    @property
    def schema(self) -> "pa.Schema":
        return self._table.schema

    def __len__(self) -> int:
        return self._table.num_rows

    def _image_columns(self) -> list[str]:
        if not self.decode or self.features is None:
            return []
        return [n for n in self._table.column_names if _kind(self.features, n) == "image"]

    def _rows(self, rows: list[dict[str, Any]], images: list[str]) -> list[dict[str, Any]]:
        """Rows with their images decoded to numpy arrays (what ``ds[i]`` and iteration give)."""
        if images:
            from labdatasets.prepared.decode import decode_image

            for row in rows:
                for name in images:
                    if row[name] is not None:
                        row[name] = decode_image(row[name])
        return rows

    def __getitem__(self, item: int | slice | str) -> Any:
        if isinstance(item, str):
            return self._table.column(item).to_pylist()
        if isinstance(item, slice):
            start, stop, step = item.indices(len(self))
            if step != 1:
                raise RowIndexError(
                    f"{self._where()}: slices of a Dataset have step 1, got {item}; take ds[a:b] and pick every "
                    "n-th row of its to_numpy() or to_pandas()"
                )
            return self._derive(self._table.slice(start, stop - start))
        index = item + len(self) if item < 0 else item
        if not 0 <= index < len(self):
            raise RowIndexError(f"{self._where()}: row {item} is out of range; it has {len(self):,} rows")
        return self._rows(self._table.slice(index, 1).to_pylist(), self._image_columns())[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        images = self._image_columns()
        for batch in self._table.to_batches(max_chunksize=4096):
            yield from self._rows(batch.to_pylist(), images)

    def iter_batches(self, batch_size: int = 65_536) -> Iterator["pa.RecordBatch"]:
        """Arrow record batches of at most ``batch_size`` rows.

        This split is already in memory; for one bigger than memory use
        ``load(..., streaming=True)``, whose ``iter_batches`` reads a row group at a time.
        """
        return iter(self._table.to_batches(max_chunksize=batch_size))

    def to_arrow_dataset(self) -> "pads.Dataset":
        """A ``pyarrow.dataset.Dataset`` over this split's shard files, which DuckDB and polars scan lazily.

        Example::

            >>> import polars as pl
            >>> pl.scan_pyarrow_dataset(ds.to_arrow_dataset()).filter(pl.col("id") < 10).collect()
        """
        if self.info is None or self.info.data_dir is None or not self.split:
            import pyarrow.dataset as pads

            return pads.dataset(self._table)
        from labdatasets.prepared.streaming import arrow_dataset

        return arrow_dataset(self.info, self.split, self._shards)

    def __repr__(self) -> str:
        name = self.info.full_name if self.info else "dataset"
        return f"Dataset({name}, split={self.split!r}, num_rows={self.num_rows:,}, columns={self.column_names})"

    def _repr_html_(self) -> str:
        from labdatasets.present.display import dataset_html

        return dataset_html(self)

    def head(self, n: int = 5, **kwargs: Any) -> Any:
        """The first ``n`` rows as a pandas DataFrame (keyword arguments as :meth:`to_pandas`)."""
        return self._derive(self._table.slice(0, n)).to_pandas(**kwargs)

    # ------------------------------------------------------------------ conversions
    def to_arrow(self) -> "pa.Table":
        """The rows as a ``pyarrow.Table`` (zero copy, memory-mapped); images stay encoded bytes."""
        return self._table

    def _decoding(self, decode: bool | None) -> bool:
        return self.decode if decode is None else decode

    def to_pandas(self, class_labels: str = "int", *, decode: bool | None = None, **kwargs: Any) -> Any:
        """The rows as a ``pandas.DataFrame``.

        Args:
            class_labels: ``"int"`` (codes, the default), ``"str"`` (names) or
                ``"categorical"`` (a ``Categorical`` over the names, in class order).
            decode: images as PIL images (numpy arrays without Pillow); False keeps bytes.
            kwargs: passed to ``pyarrow.Table.to_pandas``.
        """
        from labdatasets.prepared import decode as dec

        check_class_labels(class_labels)
        df = self._table.to_pandas(**kwargs)
        features = self.features
        if features is None:
            return df
        for name in self._table.column_names:
            feature = features.get(name)
            kind = getattr(feature, "kind", "")
            if kind == "image" and self._decoding(decode):
                df[name] = dec.pandas_images(self._table.column(name))
            elif kind == "class_label" and class_labels != "int":
                df[name] = dec.class_label_values(self._table.column(name), feature.names, class_labels)  # type: ignore[union-attr]
        return df

    def to_numpy(self, *, decode: bool | None = None) -> dict[str, Any]:
        """``{column: numpy array}``; fixed-shape tensors get their declared shape, images are uint8 arrays."""
        import numpy as np
        import pyarrow as pa

        from labdatasets.prepared.decode import decode_images

        out = {}
        for name in self._table.column_names:
            column = self._table.column(name)
            feature = self.features.get(name) if self.features else None
            kind = getattr(feature, "kind", "")
            shape = getattr(feature, "shape", None) if kind == "tensor" else None
            if kind == "image" and self._decoding(decode):
                out[name] = decode_images(column, feature)
            elif shape is not None:
                flat = pa.concat_arrays([c.flatten() for c in column.chunks]) if column.num_chunks else pa.array([])
                out[name] = flat.to_numpy(zero_copy_only=False).reshape((len(column), *shape))
            elif pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
                ragged = np.empty(len(column), dtype=object)  # one numpy array per row
                ragged[:] = [None if v is None else np.asarray(v) for v in column.to_pylist()]
                out[name] = ragged
            else:
                out[name] = column.to_numpy()
        return out

    def to_polars(self, class_labels: str = "int") -> Any:
        """The rows as a ``polars.DataFrame`` (needs ``pip install 'labdatasets[polars]'``).

        Images stay encoded bytes (polars has no image type); ``class_labels`` as in
        :meth:`to_pandas` (``"categorical"`` gives a polars ``Enum`` of the names).
        """
        try:
            import polars as pl
        except ImportError as exc:
            raise MissingDependencyError.for_extra("polars", "polars", "Dataset.to_polars()") from exc
        check_class_labels(class_labels)
        df = pl.DataFrame(self._table)
        features = self.features
        if features is not None and class_labels != "int":
            for name in self._table.column_names:
                feature = features.get(name)
                if getattr(feature, "kind", "") == "class_label":
                    names = pl.Series(feature.names)  # type: ignore[union-attr]
                    labels = df[name].replace_strict(list(range(len(names))), names.to_list(), return_dtype=pl.String, default=None)
                    df = df.with_columns(labels.cast(pl.Enum(names.to_list())) if class_labels == "categorical" else labels)
        return df

    def to_tf(self, *, decode: bool | None = None) -> Any:
        """A ``tf.data.Dataset`` of row dicts (needs ``pip install 'labdatasets[tf]'``).

        Images are uint8 tensors when they all share one shape; otherwise (and with
        ``decode=False``) the encoded bytes, for ``tf.io.decode_image``.
        """
        try:
            import tensorflow as tf
        except ImportError as exc:
            raise MissingDependencyError.for_extra("tensorflow", "tf", "Dataset.to_tf()") from exc
        arrays = {}
        numpy = self.to_numpy(decode=decode)
        for name, values in numpy.items():
            if values.dtype == object and _kind(self.features, name) == "image":
                values = self._table.column(name).to_numpy(zero_copy_only=False)
            if values.dtype == object:
                arrays[name] = tf.constant([b"" if v is None else v for v in values.tolist()])
            else:
                arrays[name] = values
        return tf.data.Dataset.from_tensor_slices(arrays)

    def to_torch(self, *, decode: bool | None = None) -> Any:
        """A map-style ``torch.utils.data.Dataset`` of row dicts (needs ``labdatasets[torch]``).

        Numeric columns and images (uint8, ``H x W [x C]``) become tensors; text stays Python objects.
        """
        try:
            import torch
        except ImportError as exc:
            raise MissingDependencyError.for_extra("torch", "torch", "Dataset.to_torch()") from exc
        from labdatasets.prepared.torch_support import TorchDataset

        return TorchDataset(self.to_numpy(decode=decode), torch)

    def as_supervised(self) -> "SupervisedDataset":
        """``(input, target)`` pairs by the dataset's ``supervised_keys``, as tfds' ``as_supervised=True``."""
        keys = self.info.supervised_keys if self.info else None
        if not keys:
            name = self.info.full_name if self.info else "this dataset"
            raise ConfigError(
                f"{name} declares no supervised_keys, so it has no (input, target) form; load it without "
                "as_supervised and pick the columns, or add supervised_keys=(input, target) to its DatasetInfo."
            )
        return SupervisedDataset(self, keys[0], keys[1])


class SupervisedDataset:
    """A split as ``(input, target)`` pairs (tfds ``as_supervised=True``).

    ``ds[i]`` and iteration give tuples; ``to_numpy()`` gives ``(X, y)`` arrays,
    ``to_pandas()`` ``(Series, Series)``, ``to_arrow()`` two columns, ``to_torch()``
    a dataset of ``(x, y)`` tensors and ``to_tf()`` a ``tf.data`` of pairs.
    """

    def __init__(self, dataset: Dataset, input_key: str, target_key: str):
        self.dataset = dataset
        self.keys = (input_key, target_key)

    def __len__(self) -> int:
        return len(self.dataset)

    def __repr__(self) -> str:
        return f"SupervisedDataset({self.keys[0]} -> {self.keys[1]}, {self.dataset!r})"

    def _pair(self, columns: dict[str, Any], index: int) -> tuple[Any, Any]:
        return columns[self.keys[0]][index], columns[self.keys[1]][index]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        row = self.dataset[index]
        return row[self.keys[0]], row[self.keys[1]]

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        for row in self.dataset:
            yield row[self.keys[0]], row[self.keys[1]]

    def to_numpy(self, *, decode: bool | None = None) -> tuple[Any, Any]:
        arrays = self.dataset._derive(self.dataset._table.select(list(self.keys))).to_numpy(decode=decode)
        return arrays[self.keys[0]], arrays[self.keys[1]]

    def to_pandas(self, class_labels: str = "int", *, decode: bool | None = None) -> tuple[Any, Any]:
        df = self.dataset._derive(self.dataset._table.select(list(self.keys))).to_pandas(class_labels, decode=decode)
        return df[self.keys[0]], df[self.keys[1]]

    def to_arrow(self) -> tuple[Any, Any]:
        return self.dataset._table.column(self.keys[0]), self.dataset._table.column(self.keys[1])

    def to_polars(self, class_labels: str = "int") -> tuple[Any, Any]:
        df = self.dataset._derive(self.dataset._table.select(list(self.keys))).to_polars(class_labels)
        return df[self.keys[0]], df[self.keys[1]]

    def to_torch(self, *, decode: bool | None = None) -> Any:
        torch_ds = self.dataset._derive(self.dataset._table.select(list(self.keys))).to_torch(decode=decode)
        torch_ds.pair = self.keys
        return torch_ds

    def to_tf(self, *, decode: bool | None = None) -> Any:
        inputs, target = self.keys
        return self.dataset._derive(self.dataset._table.select([inputs, target])).to_tf(decode=decode).map(
            lambda row: (row[inputs], row[target])
        )


class DatasetDict(dict):
    """``{split: Dataset}`` for a whole version (what ``load()`` without a split returns).

    A plain ``dict`` (``ds["train"]`` and ``for name, split in ds.items()`` work)
    with a short repr in Hugging Face's ``DatasetDict`` style and a notebook view.
    """

    def __init__(self, splits: dict[str, Any], *, info: "DatasetInfo | None" = None):
        super().__init__(splits)
        self.info = info

    @property
    def num_rows(self) -> dict[str, int]:
        return {name: len(value) for name, value in self.items()}

    @property
    def column_names(self) -> dict[str, list[str]]:
        return {name: list(getattr(value, "column_names", getattr(value, "columns", []))) for name, value in self.items()}

    def __repr__(self) -> str:
        name = self.info.full_name if self.info else ""
        lines = [f"DatasetDict({name!r}, {{" if name else "DatasetDict({"]
        for split, value in self.items():
            kind = type(value).__name__
            lines.append(f"    {split}: {kind}(num_rows={len(value):,})")
        features = list(self.info.features) if self.info else []
        lines.append("}" + (f", features={features})" if features else ")"))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from labdatasets.present.display import dataset_dict_html

        return dataset_dict_html(self)


def _read_split(info: "DatasetInfo", split_info: "SplitInfo", start: int, stop: int, shards: "ShardFiles | None" = None) -> "pa.Table":
    """Read rows [start, stop) of a split, touching only the row groups (and shard files) they live in.

    Every read is checked (page checksums, row counts, columns): see :mod:`labdatasets.prepared.folder`.
    """
    import pyarrow as pa

    from labdatasets.prepared.folder import read_shard

    directory: Path = info.data_dir  # type: ignore[assignment]
    schema = info.features.arrow_schema()
    pieces = []
    offset = 0
    for shard in split_info.shards:
        shard_start, shard_stop = offset, offset + shard.num_rows
        offset = shard_stop
        lo, hi = max(start, shard_start), min(stop, shard_stop)
        if lo >= hi:
            continue
        path = directory / shard.filename if shards is None else shards.path(shard)
        whole = lo == shard_start and hi == shard_stop
        rows = None if whole else (lo - shard_start, hi - shard_start)
        pieces.append(read_shard(path, shard, full_name=info.full_name, schema=schema, rows=rows))
    if not pieces:  # an empty slice still has the split's schema
        return schema.empty_table()
    return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)


def read_split(info: "DatasetInfo", spec: str, *, decode: bool = True, shards: "ShardFiles | None" = None) -> Dataset:
    """A :class:`Dataset` for one split string (``train[:10%]+test``)."""
    import pyarrow as pa

    from labdatasets.splits import check_splits, parse_split

    from labdatasets.info import INFO_FILENAME
    from labdatasets.prepared.folder import damaged, info_problems

    instructions = parse_split(spec)
    check_splits(instructions, info.splits, info.full_name)
    problems = info_problems(info)  # an edited count must never decide how many rows are served
    if problems:
        raise damaged(info.full_name, Path(info.data_dir or ".") / INFO_FILENAME, "; ".join(problems))
    tables = []
    for instruction in instructions:
        split_info = info.splits[instruction.split]
        start, stop = instruction.to_absolute(split_info.num_rows)
        tables.append(_read_split(info, split_info, start, stop, shards))
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return Dataset(table, info=info, split=spec, decode=decode, shards=shards)


def check_format(format: str | None) -> None:
    if format is not None and format not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)} (or None for a Dataset), got {str(format)[:40]!r}")


def check_class_labels(mode: str) -> str:
    if mode not in CLASS_LABEL_MODES:
        raise ConfigError(f"class_labels must be one of {', '.join(CLASS_LABEL_MODES)}, got {mode!r}")
    return mode


def convert(dataset: Dataset, format: str | None, *, as_supervised: bool = False, class_labels: str = "int") -> Any:
    check_format(format)
    target: Any = dataset.as_supervised() if as_supervised else dataset
    if format is None:
        return target
    if format in ("pandas", "polars"):
        return getattr(target, f"to_{format}")(class_labels)
    return getattr(target, f"to_{format}")()


def read_prepared(
    info: "DatasetInfo",
    *,
    split: str | None = None,
    format: str | None = None,
    decode: bool = True,
    as_supervised: bool = False,
    class_labels: str = "int",
    streaming: bool = False,
    shards: "ShardFiles | None" = None,
) -> Any:
    """Read a prepared version: one split (or expression), or a :class:`DatasetDict` of every split.

    ``streaming=True`` gives :class:`~labdatasets.prepared.streaming.IterableDataset`
    objects that read lazily; ``shards`` reads files from elsewhere than
    ``info.data_dir`` (a version fetched shard by shard from the shared cache).
    """
    check_format(format)
    check_class_labels(class_labels)
    if info.data_dir is not None and shards is None:
        from labdatasets.prepared.folder import mark_used

        mark_used(Path(info.data_dir))  # `labdatasets cache prune --older-than` keeps what is in use
    if split is not None and not isinstance(split, str):
        raise SplitError(f"split must be a string such as 'train' or 'train[:10%]', got {split!r}")
    if streaming:
        if format is not None or as_supervised:
            raise ConfigError("streaming=True returns IterableDataset objects; it does not combine with format= or as_supervised=")
        from labdatasets.prepared.streaming import IterableDataset

        if split is None:
            return DatasetDict({name: IterableDataset(info, name, shards) for name in info.splits}, info=info)
        return IterableDataset(info, split, shards)
    if as_supervised and not info.supervised_keys:
        Dataset(_empty(info), info=info).as_supervised()  # raises, naming the dataset

    def one(spec: str) -> Any:
        return convert(read_split(info, spec, decode=decode, shards=shards), format, as_supervised=as_supervised, class_labels=class_labels)

    if split is None:
        return DatasetDict({name: one(name) for name in info.splits}, info=info)
    return one(split)


def _empty(info: "DatasetInfo") -> "pa.Table":
    return info.features.arrow_schema().empty_table()

