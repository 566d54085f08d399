"""Reading pinned sources into a pipeline and writing its splits out (Beam transforms).

Nothing here depends on the machine that submitted the pipeline:

* :class:`ReadPinnedSource` reads objects from the snapshot store by URI; on a
  remote runner each worker keeps its own temporary cache (``cache_uri=None``);
* :class:`WriteSplit` writes Parquet shards through Beam's ``FileSystems``, so
  ``out_dir`` may be a local folder, ``gs://...`` or ``s3://...``. Next to the
  shards it writes one small JSON manifest per shard (rows, bytes, sha256), which
  is how the submitting machine learns what a remote worker wrote and checks the
  bytes it then copies.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import tempfile
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable, Iterator, Mapping, Sequence

import pyarrow as pa

from labdatasets.processing._beam_import import import_beam
from labdatasets.processing.fingerprint import HashingSink, fingerprint_tables
from labdatasets.processing.tables import as_table, bucket_slices, sort_rows, sortable_columns

if TYPE_CHECKING:  # the type checker reads Beam's own names
    import apache_beam as beam

    from labdatasets.present.progress import CounterFile
    from labdatasets.stores import Snapshots
else:
    beam = import_beam()

__all__ = ["ReadPinnedSource", "WriteSplits", "WriteSplit", "shard_filename", "MANIFEST_DIR", "ROW_GROUP_ROWS"]

logger = logging.getLogger(__name__)

ROW_GROUP_ROWS = 131_072
MANIFEST_DIR = "_manifests"


class ArrowTableCoder(beam.coders.Coder):
    """Encode tables crossing a shuffle as an Arrow IPC stream.

    Beam's fallback (pickle) copies the whole parent buffers of a sliced table,
    so 32 buckets sliced from one batch would cost 32 copies of the batch; the
    IPC writer writes just the rows of the slice, and reading it back is zero-copy.
    """

    def encode(self, table: pa.Table) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()

    def decode(self, encoded: bytes) -> pa.Table:
        return pa.ipc.open_stream(encoded).read_all()

    def estimate_size(self, table: pa.Table) -> int:
        return table.nbytes  # Beam samples element sizes; encoding a table to measure it costs a copy

    def is_deterministic(self) -> bool:
        return True

    def to_type_hint(self) -> Any:
        return pa.Table


beam.coders.registry.register_coder(pa.Table, ArrowTableCoder)


def shard_filename(dataset: str, split: str, index: int, count: int) -> str:
    return f"{dataset}-{split}-{index:05d}-of-{count:05d}.parquet"


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
    def __init__(self, pin: Any, store_uris: tuple[str, str | None], label: str, batch_rows: int, progress_dir: str | None):
        self.pin = pin
        self.store_uris = store_uris
        self.label = label
        self.batch_rows = batch_rows
        self.progress_dir = progress_dir
        self._store: Snapshots | None = None
        self._progress: CounterFile | None = None

    def setup(self) -> None:
        from labdatasets.present.progress import CounterFile
        from labdatasets.stores import Snapshots

        primary, cache = self.store_uris
        if cache is None:  # a remote worker: a cache of its own, never the submitting machine's folders
            cache = "file://" + tempfile.mkdtemp(prefix="labdatasets-worker-cache-")
        self._store = Snapshots(primary, cache)
        self._progress = CounterFile(self.progress_dir) if self.progress_dir else None

    def process(self, objects: list[Any]) -> Iterator[pa.Table]:
        from labdatasets.pinning.tabular import files_schema, iter_batches

        assert self._store is not None
        if self.pin.format == "files":
            rows: dict[str, list[Any]] = {"path": [], "data": []}
            for obj in objects:
                path = self._store.local_path(obj.oid, context=f"{self.label} object {obj.path!r}")
                rows["path"].append(obj.path)
                rows["data"].append(path.read_bytes())
            yield pa.table(rows, schema=files_schema())
            self._advance(sum(o.size for o in objects))
            return
        schema = self.pin.arrow()
        for obj in objects:
            path = self._store.local_path(obj.oid, context=f"{self.label} object {obj.path!r}")
            yield from iter_batches(path, self.pin.format, self.pin.read_options, schema, relpath=obj.path, batch_rows=self.batch_rows)
            self._advance(obj.size)

    def finish_bundle(self) -> None:
        if self._progress is not None:
            self._progress.flush()

    def _advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.add(n)


class ReadPinnedSource(beam.PTransform):
    """Read one pinned source from the snapshot store as Arrow tables (verified on read).

    ``files`` sources give tables with columns ``path`` and ``data`` (bytes).
    ``store_uris`` is ``(snapshot store, local cache)``; a cache of ``None``
    means each worker uses a temporary cache of its own (remote runners).
    """

    def __init__(
        self,
        pin: Any,
        store_uris: tuple[str, str | None],
        *,
        label: str,
        batch_rows: int = 65_536,
        progress_dir: str | None = None,
    ):
        super().__init__()
        self.pin = pin
        self.store_uris = store_uris
        self.source_label = label
        self.batch_rows = batch_rows
        self.progress_dir = progress_dir

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        max_count = 256 if self.pin.format == "files" else 1
        chunks = _chunk_objects(list(self.pin.objects), max_bytes=64 << 20, max_count=max_count)
        created = pbegin | "Objects" >> beam.Create(chunks, reshuffle=len(chunks) > 1)
        return created | "Read" >> beam.ParDo(
            _ReadObjects(self.pin, self.store_uris, self.source_label, self.batch_rows, self.progress_dir)
        )


class _ConformAndShard(beam.DoFn):
    """Rows of one split -> ``((split, shard), rows conformed to the features)``.

    One step rather than three (tag, conform, shard): every Beam step has a cost
    on the DirectRunner, and these always go together.
    """

    def __init__(self, split: str, features: Any, where: str, key: Sequence[str], num_shards: int, sort_columns: Sequence[str]):
        self.split = split
        self.features = features
        self.where = f"{where} split {split!r}"
        self.key = tuple(key)
        self.num_shards = num_shards
        self.sort_columns = list(sort_columns)

    def process(self, element: Any) -> Iterator[tuple[tuple[str, int], pa.Table]]:
        table = as_table(element)
        if not table.num_rows:
            return
        table = self.features.conform(table, where=self.where, key=self.key)
        if self.num_shards == 1:
            yield (self.split, 0), table
            return
        for index, part in bucket_slices(table, self.sort_columns, self.num_shards, salt="shard"):
            if part.num_rows:
                yield (self.split, index), part


def parquet_dictionary_columns(table: pa.Table, sample_rows: int = 16_384) -> list[str]:
    """Columns worth dictionary encoding: few distinct values in a sample of the first rows.

    Arrow's default tries a dictionary for every column and gives up on
    high-cardinality ones after paying for it (3x slower writes of text ids and
    floats, and larger files). The choice depends on the data only, so the same
    rows always give the same bytes.
    """
    import pyarrow.compute as pc

    chosen = []
    for field in table.schema:
        if pa.types.is_nested(field.type) or pa.types.is_floating(field.type) or pa.types.is_boolean(field.type):
            continue
        sample = table.column(field.name).slice(0, sample_rows)
        if pc.count_distinct(sample, mode="all").as_py() * 8 <= len(sample):
            chosen.append(field.name)
    return chosen


class _WriteShard(beam.DoFn):
    def __init__(self, out_dir: str, dataset: str, num_shards: int, sort_columns: Sequence[str]):
        self.out_dir = out_dir
        self.dataset = dataset
        self.num_shards = num_shards
        self.sort_columns = list(sort_columns)

    def process(self, keyed: tuple[tuple[str, int], Iterable[pa.Table]]) -> Iterator[dict[str, Any]]:
        import pyarrow.parquet as pq
        from apache_beam.io.filesystems import FileSystems

        (split, index), tables = keyed
        table = sort_rows(pa.concat_tables(list(tables)), self.sort_columns)
        filename = shard_filename(self.dataset, split, index, self.num_shards)
        with concurrent.futures.ThreadPoolExecutor(1, "labdatasets-fingerprint") as pool:
            # The whole split is here: fingerprint it now (rather than read it back later), in a
            # thread while this one writes the Parquet file; both mostly run without the GIL.
            fingerprint = pool.submit(fingerprint_tables, table.schema, [table]) if self.num_shards == 1 else None
            with FileSystems.create(FileSystems.join(self.out_dir, filename), mime_type="application/octet-stream") as fh:
                sink = HashingSink(fh)
                pq.write_table(
                    table,
                    sink,
                    row_group_size=ROW_GROUP_ROWS,
                    compression="snappy",
                    use_dictionary=parquet_dictionary_columns(table),
                    write_page_checksum=True,  # every read verifies them: a flipped byte is an error, not a value
                )
            manifest = {
                "split": split,
                "index": index,
                "filename": filename,
                "num_rows": table.num_rows,
                "num_bytes": sink.size,
                "sha256": sink.digest.hexdigest(),
            }
            if fingerprint is not None:
                manifest["fingerprint"] = fingerprint.result()
        manifest_path = FileSystems.join(self.out_dir, MANIFEST_DIR, filename + ".json")
        if "://" not in self.out_dir:  # local folders need the subfolder; object stores do not
            os.makedirs(os.path.dirname(manifest_path), exist_ok=True)
        with FileSystems.create(manifest_path, mime_type="application/json") as fh:
            fh.write(json.dumps(manifest).encode("utf-8"))
        yield manifest


class WriteSplits(beam.PTransform):
    """Write ``{split: PCollection of tables}``: check every batch against the features, order rows
    deterministically and write Parquet shards (one shuffle for all splits).

    Rows are sorted by ``key`` (ties broken by the other columns, see
    :func:`labdatasets.processing.transforms.sort_rows`), so the written splits
    do not depend on the runner or on how rows were batched. Outputs the shard
    manifests.
    """

    def __init__(
        self,
        *,
        out_dir: str,
        dataset: str,
        features: Any,
        key: Sequence[str] = (),
        num_shards: int = 1,
        where: str = "",
    ):
        super().__init__()
        self.out_dir = out_dir
        self.dataset = dataset
        self.features = features
        self.key = list(key)
        self.num_shards = num_shards
        self.where = where
        self.sort_columns = list(key) or sortable_columns(features.arrow_schema())

    def expand(self, splits: Mapping[str, beam.PCollection]) -> beam.PCollection:
        shard_key = beam.typehints.Tuple[beam.typehints.Tuple[str, int], pa.Table]
        keyed = [
            pcoll
            | f"Conform {name}"
            >> beam.ParDo(
                _ConformAndShard(name, self.features, self.where, self.key, self.num_shards, self.sort_columns)
            ).with_output_types(shard_key)
            for name, pcoll in splits.items()
        ]
        return (
            keyed
            | "Splits" >> beam.Flatten()
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShards" >> beam.ParDo(_WriteShard(self.out_dir, self.dataset, self.num_shards, self.sort_columns))
        )


class WriteSplit(beam.PTransform):
    """:class:`WriteSplits` for one split: ``pcoll | WriteSplit(split="train", ...)``."""

    def __init__(self, *, split: str, **kwargs: Any):
        super().__init__()
        self.split = split
        self.kwargs = kwargs

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return {self.split: pcoll} | WriteSplits(**self.kwargs)
