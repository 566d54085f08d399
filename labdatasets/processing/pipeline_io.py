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

__all__ = [
    "ReadPinnedSource",
    "WriteSplits",
    "WriteSplit",
    "SplitChecksFn",
    "shard_filename",
    "MANIFEST_DIR",
    "ROW_GROUP_ROWS",
]

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

    def __init__(
        self,
        split: str,
        features: Any,
        where: str,
        key: Sequence[str],
        num_shards: int,
        sort_columns: Sequence[str],
        check_nulls: bool = True,
    ):
        self.split = split
        self.features = features
        self.where = f"{where} split {split!r}"
        self.key = tuple(key)
        self.num_shards = num_shards
        self.sort_columns = list(sort_columns)
        self.check_nulls = check_nulls

    def process(self, element: Any) -> Iterator[tuple[tuple[str, int], pa.Table]]:
        table = as_table(element)
        if not table.num_rows:
            return
        table = self.features.conform(table, where=self.where, key=self.key, check_nulls=self.check_nulls)
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
    """Sort one shard, write it as Parquet with its manifest; with a checker, also check it.

    The checks (statistics, row rules, repeated keys) run in a thread while the
    Parquet file is written, and go out as ``checks``: ``(split, ShardResult)``;
    the key columns for the checks across splits go out as ``keys``. A shard
    with a null in a non-nullable column is checked but not written (the build
    fails on the ``NotNull`` break, naming the rows).
    """

    def __init__(
        self,
        out_dir: str,
        dataset: str,
        num_shards: int,
        sort_columns: Sequence[str],
        checker: Any = None,
        across: bool = True,
    ):
        self.out_dir = out_dir
        self.dataset = dataset
        self.num_shards = num_shards
        self.sort_columns = list(sort_columns)
        self.checker = checker
        self.across = across  # more than one split: key and group values go to the checks across splits

    def process(self, keyed: tuple[tuple[str, int], Iterable[pa.Table]]) -> Iterator[Any]:
        import pyarrow.parquet as pq
        from apache_beam.io.filesystems import FileSystems

        (split, index), tables = keyed
        table = sort_rows(pa.concat_tables(list(tables)), self.sort_columns)
        filename = shard_filename(self.dataset, split, index, self.num_shards)
        checker = self.checker
        if checker is not None:
            required = [f.name for f in table.schema if not f.nullable]
            if any(table.column(name).null_count for name in required):
                yield "checks", (split, checker.check_shard(table))
                return
        with concurrent.futures.ThreadPoolExecutor(2, "labdatasets-fingerprint") as pool:
            # The whole split is here: fingerprint it now (rather than read it back later), in a
            # thread while this one writes the Parquet file; both mostly run without the GIL.
            fingerprint = pool.submit(fingerprint_tables, table.schema, [table]) if self.num_shards == 1 else None
            checked = pool.submit(_check_shard, checker, table, self.across) if checker is not None else None
            with FileSystems.create(FileSystems.join(self.out_dir, filename), mime_type="application/octet-stream") as fh:
                sink = HashingSink(fh)
                pq.write_table(
                    table,
                    sink,
                    row_group_size=ROW_GROUP_ROWS,
                    compression="snappy",
                    use_dictionary=parquet_dictionary_columns(table),
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
        if checked is None:
            yield manifest
            return
        result, parts = checked.result()
        yield "manifest", manifest
        yield "checks", (split, result)
        for rule, bucket, part in parts:
            yield "keys", ((rule, bucket), (split, part))


def _select(element: tuple[str, Any], kind: str) -> Iterator[Any]:
    """One kind of a step's outputs (rather than tagged outputs, which Beam's DaskRunner mixes up)."""
    if element[0] == kind:
        yield element[1]


def _check_shard(checker: Any, table: pa.Table, across: bool) -> tuple[Any, list[tuple[int, int, pa.Table]]]:
    return checker.check_shard(table), list(checker.key_parts(table)) if across else []


def _write_json(out_dir: str, name: str, data: Any) -> None:
    from apache_beam.io.filesystems import FileSystems

    from labdatasets.processing.validation import VALIDATION_DIR

    path = FileSystems.join(out_dir, VALIDATION_DIR, name)
    if "://" not in out_dir:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with FileSystems.create(path, mime_type="application/json") as fh:
        fh.write(json.dumps(data, sort_keys=True).encode("utf-8"))


class SplitChecksFn(beam.CombineFn):
    """Statistics and expectation tallies of a split, over Arrow tables (a Beam ``CombineFn``).

    Each input is a table of rows sorted by the key, holding every copy of its
    keys (as a shard of the build), or a :class:`~labdatasets.processing.validation.ShardResult`
    computed already (the build computes them beside the Parquet writer). The
    accumulator is of fixed size (counts, sketches, a few example keys); the
    output is its JSON (:meth:`ShardResult.to_json`).
    """

    def __init__(self, checker: Any):
        self.checker = checker

    def create_accumulator(self) -> Any:
        return self.checker.empty()

    def add_input(self, accumulator: Any, element: Any) -> Any:
        from labdatasets.processing.validation import ShardResult

        if isinstance(element, ShardResult):
            return accumulator.merge(element)
        from labdatasets.processing.tables import as_table

        return accumulator.merge(self.checker.check_shard(as_table(element)))

    def merge_accumulators(self, accumulators: Iterable[Any]) -> Any:
        accumulators = iter(accumulators)
        first = next(accumulators)
        for other in accumulators:
            first.merge(other)
        return first

    def extract_output(self, accumulator: Any) -> dict[str, Any]:
        return accumulator.to_json()


class _Checks:
    """The accumulator of :class:`_BuildChecksFn`: a split's merged checks, or one bucket's key values."""

    def __init__(self) -> None:
        self.split: str | None = None
        self.result: Any = None
        self.rule: int | None = None
        self.bucket: int | None = None
        self.parts: list[tuple[str, pa.Table]] = []


class _BuildChecksFn(beam.CombineFn):
    """Everything the build's checks gather, in one combine (one shuffle, few steps on any runner).

    Keyed by ``("split", name)``: merges the split's shard results (statistics and rule
    tallies, fixed-size, as :class:`SplitChecksFn`). Keyed by ``("keys", rule, bucket)``:
    gathers one bucket of key or group values from every split and checks which are in
    more than one. Outputs one report dict per key (``stage`` ``checks`` or ``across``).
    """

    def __init__(self, checker: Any):
        self.checker = checker

    def create_accumulator(self) -> _Checks:
        return _Checks()

    def add_input(self, accumulator: _Checks, element: tuple[Any, ...]) -> _Checks:
        if element[0] == "checks":
            _, split, result = element
            accumulator.split = split
            accumulator.result = result if accumulator.result is None else accumulator.result.merge(result)
        else:
            _, rule, bucket, split, part = element
            accumulator.rule, accumulator.bucket = rule, bucket
            accumulator.parts.append((split, part))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[_Checks]) -> _Checks:
        out = _Checks()
        for acc in accumulators:
            if acc.result is not None:
                out.split = acc.split
                out.result = acc.result if out.result is None else out.result.merge(acc.result)
            if acc.parts:
                out.rule, out.bucket = acc.rule, acc.bucket
                out.parts.extend(acc.parts)
        return out

    def extract_output(self, accumulator: _Checks) -> dict[str, Any] | None:
        from labdatasets.processing.validation import tally_json

        if accumulator.result is not None:
            return {"stage": "checks", "split": accumulator.split, **accumulator.result.to_json()}
        if accumulator.rule is None:
            return None
        tally = self.checker.check_bucket(accumulator.rule, accumulator.parts)
        return {"stage": "across", "rule": accumulator.rule, "bucket": accumulator.bucket, **tally_json(tally)}


def _check_inputs(element: tuple[str, Any]) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    kind, value = element
    if kind == "checks":
        split, result = value
        yield ("split", split), ("checks", split, result)
    elif kind == "keys":
        (rule, bucket), (split, part) = value
        yield ("keys", rule, bucket), ("keys", rule, bucket, split, part)


def _report(element: tuple[Any, dict[str, Any] | None]) -> Iterator[dict[str, Any]]:
    report = element[1]
    if report is not None and (report["stage"] == "checks" or report["count"]):
        yield report


class _WriteReport(beam.DoFn):
    """What the checks found, one small JSON file each under ``_validation/`` (read and removed by the build)."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir

    def process(self, report: dict[str, Any]) -> Iterator[str]:
        name = f"split-{report['split']}.json" if report["stage"] == "checks" else f"across-{report['rule']}-{report['bucket']}.json"
        _write_json(self.out_dir, name, report)
        yield name


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
        checker: Any = None,
    ):
        super().__init__()
        self.out_dir = out_dir
        self.dataset = dataset
        self.features = features
        self.key = list(key)
        self.num_shards = num_shards
        self.where = where
        self.sort_columns = list(key) or sortable_columns(features.arrow_schema())
        self.checker = checker

    def expand(self, splits: Mapping[str, beam.PCollection]) -> beam.PCollection:
        shard_key = beam.typehints.Tuple[beam.typehints.Tuple[str, int], pa.Table]
        keyed = [
            pcoll
            | f"Conform {name}"
            >> beam.ParDo(
                _ConformAndShard(
                    name, self.features, self.where, self.key, self.num_shards, self.sort_columns,
                    check_nulls=self.checker is None,
                )
            ).with_output_types(shard_key)
            for name, pcoll in splits.items()
        ]
        write = _WriteShard(self.out_dir, self.dataset, self.num_shards, self.sort_columns, self.checker, len(splits) > 1)
        grouped = keyed | "Splits" >> beam.Flatten() | "GroupShards" >> beam.GroupByKey()
        if self.checker is None:
            return grouped | "WriteShards" >> beam.ParDo(write)
        written = grouped | "WriteShards" >> beam.ParDo(write)
        (
            written
            | "Check inputs" >> beam.FlatMap(_check_inputs)
            | "Checks" >> beam.CombinePerKey(_BuildChecksFn(self.checker))
            | "Check reports" >> beam.FlatMap(_report)
            | "Write check reports" >> beam.ParDo(_WriteReport(self.out_dir))
        )
        return written | "Manifests" >> beam.FlatMap(_select, "manifest")


class WriteSplit(beam.PTransform):
    """:class:`WriteSplits` for one split: ``pcoll | WriteSplit(split="train", ...)``."""

    def __init__(self, *, split: str, **kwargs: Any):
        super().__init__()
        self.split = split
        self.kwargs = kwargs

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return {self.split: pcoll} | WriteSplits(**self.kwargs)
