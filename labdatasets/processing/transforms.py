"""Beam transforms over Arrow tables (imported on first use; see the package docstring).

Everything here pickles by reference to module-level functions and plain
attributes, so the same transforms run on the DirectRunner (in memory or
multi-processing), Dataflow, Flink and Spark.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from labdatasets.errors import ProcessingError
from labdatasets.processing._beam_import import import_beam
from labdatasets.processing.splitting import assign, normalize_ratios

beam = import_beam()

__all__ = ["MapBatches", "MapRows", "Filter", "split_by_hash", "ReadPinnedSource", "WriteSplit", "as_table"]

logger = logging.getLogger(__name__)

ROW_GROUP_ROWS = 131_072


def as_table(element: Any) -> pa.Table:
    """Accept a Table, a RecordBatch, a dict of columns or a list of row dicts."""
    if isinstance(element, pa.Table):
        return element
    if isinstance(element, pa.RecordBatch):
        return pa.Table.from_batches([element])
    if isinstance(element, Mapping):
        return pa.table(dict(element))
    if isinstance(element, list):
        return pa.Table.from_pylist(element)
    raise ProcessingError(
        f"expected a pyarrow.Table (or RecordBatch / dict of columns / list of rows) in the pipeline, got "
        f"{type(element).__name__}; use P.MapRows for per-row Python code"
    )


def _apply_map(table: Any, fn: Callable[[pa.Table], Any]) -> Iterator[pa.Table]:
    out = as_table(fn(as_table(table)))
    if out.num_rows:
        yield out


class MapBatches(beam.PTransform):
    """Apply ``fn(table) -> table`` to every batch (the fast path; use Arrow compute or pandas inside)."""

    def __init__(self, fn: Callable[[pa.Table], Any], label: str | None = None):
        super().__init__(label)
        self.fn = fn

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | beam.FlatMap(_apply_map, self.fn)


def _apply_rows(table: Any, fn: Callable[[dict], dict | None], schema: pa.Schema | None) -> Iterator[pa.Table]:
    rows = [r for r in (fn(row) for row in as_table(table).to_pylist()) if r is not None]
    if rows:
        yield pa.Table.from_pylist(rows, schema=schema)


class MapRows(beam.PTransform):
    """Per-row escape hatch: ``fn(row_dict) -> row_dict`` (return None to drop the row).

    Rows stay grouped in their batch, so Beam still moves batches. Pass
    ``schema`` when ``fn`` can produce columns whose type inference may vary by batch.
    """

    def __init__(self, fn: Callable[[dict], dict | None], *, schema: pa.Schema | None = None, label: str | None = None):
        super().__init__(label)
        self.fn = fn
        self.schema = schema

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | beam.FlatMap(_apply_rows, self.fn, self.schema)


def _apply_filter(table: Any, predicate: Any) -> Iterator[pa.Table]:
    table = as_table(table)
    if isinstance(predicate, pc.Expression):
        out = table.filter(predicate)
    else:
        mask = predicate(table)
        out = table.filter(mask if isinstance(mask, (pa.Array, pa.ChunkedArray)) else pa.array(mask, pa.bool_()))
    if out.num_rows:
        yield out


class Filter(beam.PTransform):
    """Keep the rows where ``predicate`` holds: a function ``table -> boolean mask`` or an Arrow expression."""

    def __init__(self, predicate: Any, label: str | None = None):
        super().__init__(label)
        self.predicate = predicate

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | beam.FlatMap(_apply_filter, self.predicate)


class _SplitDoFn(beam.DoFn):
    def __init__(self, key: str | Sequence[str], ratios: Mapping[str, float], salt: str):
        self.key = key
        self.ratios = dict(ratios)
        self.salt = salt

    def process(self, element: Any) -> Iterable[Any]:
        table = as_table(element)
        if not table.num_rows:
            return
        try:
            index = assign(table, self.key, self.ratios, self.salt)
        except KeyError as exc:
            raise ProcessingError(f"split_by_hash: {exc.args[0]}") from exc
        for i, name in enumerate(self.ratios):
            part = table.filter(pa.array(index == i))
            if part.num_rows:
                yield beam.pvalue.TaggedOutput(name, part)


def split_by_hash(
    pcoll: beam.PCollection,
    *,
    key: str | Sequence[str],
    ratios: Mapping[str, float],
    salt: str = "",
    label: str = "SplitByHash",
) -> dict[str, beam.PCollection]:
    """Split rows by a hash of ``key`` into ``{split: PCollection}`` with the given ratios.

    The same key value always goes to the same split (across runs, runners and
    machines); change ``salt`` to draw a different, equally stable split.
    """
    normalize_ratios(ratios)
    outputs = pcoll | label >> beam.ParDo(_SplitDoFn(key, ratios, salt)).with_outputs(*ratios)
    return {name: outputs[name] for name in ratios}


def _chunk_objects(objects: Sequence[Any], *, max_bytes: int, max_count: int) -> list[list[Any]]:
    chunks: list[list[Any]] = []
    current: list[Any] = []
    size = 0
    for obj in objects:
        if current and (size + obj.size > max_bytes or len(current) >= max_count):
            chunks.append(current)
            current, size = [], 0
        current.append(obj)
        size += obj.size
    if current:
        chunks.append(current)
    return chunks


class _ReadObjects(beam.DoFn):
    def __init__(self, pin: Any, store_uris: tuple[str, str], label: str, batch_rows: int):
        self.pin = pin
        self.store_uris = store_uris
        self.label = label
        self.batch_rows = batch_rows
        self._store = None

    def setup(self) -> None:
        from labdatasets.stores import Snapshots

        self._store = Snapshots.from_uris(self.store_uris)

    def process(self, objects: list[Any]) -> Iterator[pa.Table]:
        from labdatasets.tabular import files_schema, iter_batches

        assert self._store is not None
        if self.pin.format == "files":
            rows = {"path": [], "data": []}
            for obj in objects:
                path = self._store.local_path(obj.oid, context=f"{self.label} object {obj.path!r}")
                rows["path"].append(obj.path)
                rows["data"].append(path.read_bytes())
            yield pa.table(rows, schema=files_schema())
            return
        schema = self.pin.arrow()
        for obj in objects:
            path = self._store.local_path(obj.oid, context=f"{self.label} object {obj.path!r}")
            yield from iter_batches(path, self.pin.format, self.pin.read_options, schema, relpath=obj.path, batch_rows=self.batch_rows)


class ReadPinnedSource(beam.PTransform):
    """Read one pinned source from the snapshot store as Arrow tables (verified on read).

    ``files`` sources give tables with columns ``path`` and ``data`` (bytes).
    """

    def __init__(self, pin: Any, store_uris: tuple[str, str], *, label: str, batch_rows: int = 65_536):
        super().__init__()
        self.pin = pin
        self.store_uris = store_uris
        self.source_label = label
        self.batch_rows = batch_rows

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        max_count = 256 if self.pin.format == "files" else 1
        chunks = _chunk_objects(list(self.pin.objects), max_bytes=64 << 20, max_count=max_count)
        created = pbegin | "Objects" >> beam.Create(chunks, reshuffle=len(chunks) > 1)
        return created | "Read" >> beam.ParDo(_ReadObjects(self.pin, self.store_uris, self.source_label, self.batch_rows))


class _Conform(beam.DoFn):
    def __init__(self, features: Any, where: str):
        self.features = features
        self.where = where

    def process(self, element: Any) -> Iterator[pa.Table]:
        table = as_table(element)
        if table.num_rows:
            yield self.features.conform(table, where=self.where)


class _KeyByShard(beam.DoFn):
    def __init__(self, num_shards: int, sort_columns: Sequence[str]):
        self.num_shards = num_shards
        self.sort_columns = list(sort_columns)

    def process(self, table: pa.Table) -> Iterator[tuple[int, pa.Table]]:
        if self.num_shards == 1:
            yield 0, table
            return
        from labdatasets.processing.splitting import key_hash

        shard = key_hash(table, self.sort_columns, salt="shard") % self.num_shards
        for i in range(self.num_shards):
            part = table.filter(pa.array(shard == i))
            if part.num_rows:
                yield i, part


def sortable_columns(schema: pa.Schema) -> list[str]:
    """Columns Arrow can sort by (not lists, structs or maps)."""
    return [f.name for f in schema if not pa.types.is_nested(f.type) and not pa.types.is_dictionary(f.type)]


def shard_filename(dataset: str, split: str, index: int, count: int) -> str:
    return f"{dataset}-{split}-{index:05d}-of-{count:05d}.parquet"


class _WriteShard(beam.DoFn):
    def __init__(self, out_dir: str, dataset: str, split: str, num_shards: int, sort_columns: Sequence[str], where: str):
        self.out_dir = out_dir
        self.dataset = dataset
        self.split = split
        self.num_shards = num_shards
        self.sort_columns = list(sort_columns)
        self.where = where

    def process(self, keyed: tuple[int, Iterable[pa.Table]]) -> Iterator[tuple[str, int, int]]:
        import pyarrow.parquet as pq
        from apache_beam.io.filesystems import FileSystems

        index, tables = keyed
        table = pa.concat_tables(list(tables))
        if self.sort_columns:
            table = table.sort_by([(c, "ascending") for c in self.sort_columns])
        path = FileSystems.join(self.out_dir, shard_filename(self.dataset, self.split, index, self.num_shards))
        with FileSystems.create(path, mime_type="application/octet-stream") as fh:
            pq.write_table(table, fh, row_group_size=ROW_GROUP_ROWS, compression="snappy")
        yield self.split, index, table.num_rows


class WriteSplit(beam.PTransform):
    """Check batches against the features, order rows deterministically and write Parquet shards."""

    def __init__(
        self,
        *,
        out_dir: str,
        dataset: str,
        split: str,
        features: Any,
        key: Sequence[str] = (),
        num_shards: int = 1,
        where: str = "",
    ):
        super().__init__()
        self.out_dir = out_dir
        self.dataset = dataset
        self.split = split
        self.features = features
        self.num_shards = num_shards
        self.where = where
        schema = features.arrow_schema()
        self.sort_columns = list(key) or sortable_columns(schema)

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return (
            pcoll
            | "Conform" >> beam.ParDo(_Conform(self.features, self.where))
            | "KeyByShard" >> beam.ParDo(_KeyByShard(self.num_shards, self.sort_columns))
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShards"
            >> beam.ParDo(_WriteShard(self.out_dir, self.dataset, self.split, self.num_shards, self.sort_columns, self.where))
        )
