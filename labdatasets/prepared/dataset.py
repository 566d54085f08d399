"""``Dataset``: one prepared split, backed by a memory-mapped Arrow table.

Example::

    ds = labdatasets.load("product_a:1.2.0", split="train")
    len(ds), ds.features
    ds.to_pandas()          # pandas.DataFrame
    ds.to_arrow()           # pyarrow.Table (zero copy)
    ds.to_numpy()           # {column: numpy array}
    ds.to_tf()              # tf.data.Dataset (needs labdatasets[tf])
    ds.to_torch()           # torch.utils.data.Dataset (needs labdatasets[torch])
    ds[0], ds[:5]           # a row as a dict, a Dataset of the first 5 rows
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator

from labdatasets.errors import MissingDependencyError, SplitError
from labdatasets.info import INFO_FILENAME
from labdatasets.splits import check_splits, parse_split

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from labdatasets.info import DatasetInfo, SplitInfo
    from labdatasets.features import Features

__all__ = ["Dataset", "read_prepared", "FORMATS"]

FORMATS = ("pandas", "arrow", "numpy", "tf", "torch")


class Dataset:
    """A split (or slice of splits) of a prepared dataset version."""

    def __init__(self, table: "pa.Table", *, info: "DatasetInfo | None" = None, split: str = ""):
        self._table = table
        self.info = info
        self.split = split

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

    def __getitem__(self, item: int | slice | str) -> Any:
        if isinstance(item, str):
            return self._table.column(item).to_pylist()
        if isinstance(item, slice):
            start, stop, step = item.indices(len(self))
            if step != 1:
                raise IndexError("Dataset slices must have step 1")
            return Dataset(self._table.slice(start, stop - start), info=self.info, split=self.split)
        index = item + len(self) if item < 0 else item
        if not 0 <= index < len(self):
            raise IndexError(f"row {item} out of range for {len(self)} rows")
        return self._table.slice(index, 1).to_pylist()[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self._table.to_batches(max_chunksize=4096):
            yield from batch.to_pylist()

    def iter_batches(self, batch_size: int = 65_536) -> Iterator["pa.RecordBatch"]:
        """Arrow record batches of at most ``batch_size`` rows."""
        return iter(self._table.to_batches(max_chunksize=batch_size))

    def __repr__(self) -> str:
        name = self.info.full_name if self.info else "dataset"
        return f"Dataset({name}, split={self.split!r}, num_rows={self.num_rows:,}, columns={self.column_names})"

    def _repr_html_(self) -> str:
        from labdatasets.present.display import dataset_html

        return dataset_html(self)

    def head(self, n: int = 5) -> Any:
        """The first ``n`` rows as a pandas DataFrame."""
        return Dataset(self._table.slice(0, n), info=self.info, split=self.split).to_pandas()

    # ------------------------------------------------------------------ conversions
    def to_arrow(self) -> "pa.Table":
        """The rows as a ``pyarrow.Table`` (zero copy, memory-mapped)."""
        return self._table

    def to_pandas(self, **kwargs: Any) -> Any:
        """The rows as a ``pandas.DataFrame`` (keyword arguments go to ``Table.to_pandas``)."""
        return self._table.to_pandas(**kwargs)

    def to_numpy(self) -> dict[str, Any]:
        """``{column: numpy array}``; fixed-shape tensors get their declared shape."""
        import numpy as np
        import pyarrow as pa

        out = {}
        for name in self._table.column_names:
            column = self._table.column(name)
            feature = self.features.get(name) if self.features else None
            shape = getattr(feature, "shape", None) if getattr(feature, "kind", "") == "tensor" else None
            if shape is not None:
                flat = pa.concat_arrays([c.flatten() for c in column.chunks]) if column.num_chunks else pa.array([])
                out[name] = flat.to_numpy(zero_copy_only=False).reshape((len(column), *shape))
            elif pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
                ragged = np.empty(len(column), dtype=object)  # one numpy array per row
                ragged[:] = [None if v is None else np.asarray(v) for v in column.to_pylist()]
                out[name] = ragged
            else:
                out[name] = column.to_numpy()
        return out

    def to_tf(self) -> Any:
        """A ``tf.data.Dataset`` of row dicts (needs ``pip install 'labdatasets[tf]'``)."""
        try:
            import tensorflow as tf
        except ImportError as exc:
            raise MissingDependencyError.for_extra("tensorflow", "tf", "Dataset.to_tf()") from exc
        arrays = {}
        for name, values in self.to_numpy().items():
            if values.dtype == object:
                arrays[name] = tf.constant([b"" if v is None else v for v in values.tolist()])
            else:
                arrays[name] = values
        return tf.data.Dataset.from_tensor_slices(arrays)

    def to_torch(self) -> Any:
        """A map-style ``torch.utils.data.Dataset`` of row dicts (needs ``labdatasets[torch]``).

        Numeric columns become tensors; text and bytes stay Python objects.
        """
        try:
            import torch
        except ImportError as exc:
            raise MissingDependencyError.for_extra("torch", "torch", "Dataset.to_torch()") from exc
        from labdatasets.prepared.torch_support import TorchDataset

        return TorchDataset(self.to_numpy(), torch)


def _read_split(info: "DatasetInfo", split_info: "SplitInfo", start: int, stop: int) -> "pa.Table":
    """Read rows [start, stop) of a split, touching only the row groups they live in (checked reads)."""
    import pyarrow as pa

    from labdatasets.prepared.integrity import damaged, read_shard

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
        whole = lo == shard_start and hi == shard_stop
        rows = None if whole else (lo - shard_start, hi - shard_start)
        pieces.append(read_shard(directory / shard.filename, shard, full_name=info.full_name, schema=schema, rows=rows))
    if not pieces:  # an empty slice still has the split's schema
        if not split_info.shards:
            raise damaged(info.full_name, directory / INFO_FILENAME, f"split {split_info.name!r} lists no files")
        first = split_info.shards[0]
        return read_shard(directory / first.filename, first, full_name=info.full_name, schema=schema, rows=(0, 0))
    return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)


def read_split(info: "DatasetInfo", spec: str) -> Dataset:
    """A :class:`Dataset` for one split string (``train[:10%]+test``)."""
    import pyarrow as pa

    from labdatasets.prepared.integrity import damaged, info_problems

    instructions = parse_split(spec)
    check_splits(instructions, info.splits, info.full_name)
    problems = info_problems(info)  # an edited count must never decide how many rows are served
    if problems:
        raise damaged(info.full_name, info.data_dir / INFO_FILENAME, "; ".join(problems))  # type: ignore[operator]
    tables = []
    for instruction in instructions:
        split_info = info.splits[instruction.split]
        start, stop = instruction.to_absolute(split_info.num_rows)
        tables.append(_read_split(info, split_info, start, stop))
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return Dataset(table, info=info, split=spec)


def convert(dataset: Dataset, format: str | None) -> Any:
    if format is None:
        return dataset
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)} (or None for a Dataset), got {format!r}")
    return getattr(dataset, f"to_{format}")()


def read_prepared(info: "DatasetInfo", *, split: str | None = None, format: str | None = None) -> Any:
    """Read a prepared version: one split (or expression), or ``{split: ...}`` for all."""
    if split is None:
        return {name: convert(read_split(info, name), format) for name in info.splits}
    if not isinstance(split, str):
        raise SplitError(f"split must be a string such as 'train' or 'train[:10%]', got {split!r}")
    return convert(read_split(info, split), format)

