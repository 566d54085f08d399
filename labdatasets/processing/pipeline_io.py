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
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from labdatasets.processing._beam_import import import_beam
from labdatasets.processing.fingerprint import HashingSink
from labdatasets.processing.spill import RUN_ROWS
from labdatasets.processing.tables import as_table, bucket_slices, sort_rows, sortable_columns

if TYPE_CHECKING:  # the type checker reads Beam's own names
    import apache_beam as beam

    from labdatasets.present.progress import CounterFile
    from labdatasets.stores import Snapshots
else:
    beam = import_beam()

__all__ = ["ReadPinnedSource", "WriteSplits", "WriteSplit", "SplitChecksFn", "shard_filename", "MANIFEST_DIR", "ROW_GROUP_ROWS"]

logger = logging.getLogger(__name__)

ROW_GROUP_ROWS = 131_072
#: Check each shard's rows in a thread beside its writer (:class:`~labdatasets.processing.validation.ShardCheck`).
BACKGROUND_CHECKS = True
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

        self._open_store()
        self._progress = CounterFile(self.progress_dir) if self.progress_dir else None

    def _open_store(self) -> "Snapshots":
        from labdatasets.stores import Snapshots

        # a cache of None (a remote worker): a cache of its own, never the submitting machine's folders
        self._store = Snapshots.from_uris(self.store_uris)
        return self._store

    def process(self, objects: list[Any]) -> Iterator[pa.Table]:
        from labdatasets.pinning.tabular import files_schema, iter_batches

        store = self._store if self._store is not None else self._open_store()  # Beam calls setup() first
        if self.pin.format == "files":
            rows: dict[str, list[Any]] = {"path": [], "data": []}
            for obj in objects:
                path = store.local_path(obj.oid, context=f"{self.label} object {obj.path!r}")
                rows["path"].append(obj.path)
                rows["data"].append(path.read_bytes())
            yield pa.table(rows, schema=files_schema())
            self._advance(sum(o.size for o in objects))
            return
        schema = self.pin.arrow()
        for obj in objects:
            path = store.local_path(obj.oid, context=f"{self.label} object {obj.path!r}")
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
    """Rows of one split -> ``((split, shard), rows conformed to the features)``, and ``((split, -1), tally)``.

    One step rather than three (tag, conform, shard): every Beam step has a cost
    on the DirectRunner, and these always go together. The tally reports what
    entered the write path (see :mod:`labdatasets.processing.ledger`).
    """

    def __init__(
        self,
        split: str,
        features: Any,
        where: str,
        key: Sequence[str],
        num_shards: int,
        sort_columns: Sequence[str],
        origin: tuple[Any, str] | None = None,
        progress_dir: str | None = None,
    ):
        self.split = split
        self.features = features
        self.where = f"{where} split {split!r}".lstrip()  # "split 'train'" when WriteSplits is given no where
        self.key = tuple(key)
        self.num_shards = num_shards
        self.sort_columns = list(sort_columns)
        self.origin = origin  # (split key, salt) of split_by_hash when the rows come straight from it
        self.progress_dir = progress_dir  # rows leaving the processing are counted there (a local build's bar)
        self._progress: Any = None

    def setup(self) -> None:
        self._progress = _counter(self.progress_dir, "CONFORMED_DIR")

    def finish_bundle(self) -> None:
        if self._progress is not None:
            self._progress.flush()

    def process(self, element: Any) -> Iterator[tuple[tuple[str, int], pa.Table]]:
        from labdatasets.processing.ledger import key_digest, tally_table
        from labdatasets.processing.splitting import key_hash

        table = as_table(element)
        if not table.num_rows:
            return
        split_digest = None
        if self.origin is not None:
            split_key, salt = self.origin
            split_digest = int(key_hash(table, split_key, salt).sum(dtype=np.uint64))
        table = self.features.conform(table, where=self.where, key=self.key)
        if self._progress is not None:
            self._progress.add(table.num_rows)
        yield (self.split, -1), tally_table(
            "entry", [self.split], [table.num_rows], [key_digest(table, self.sort_columns)], split_digests=[split_digest]
        )
        if self.num_shards == 1:
            yield (self.split, 0), table
            return
        for index, part in bucket_slices(table, self.sort_columns, self.num_shards, salt="shard"):
            if part.num_rows:
                yield (self.split, index), part


def _rows_only(element: tuple[tuple[str, int], pa.Table]) -> Iterator[tuple[tuple[str, int], pa.Table]]:
    if element[0][1] >= 0:
        yield element


def _tallies_only(element: tuple[tuple[str, int], pa.Table]) -> Iterator[dict[str, Any]]:
    from labdatasets.processing.ledger import tally_records

    if element[0][1] < 0:
        yield from tally_records(element[1])


def _written(output: Any) -> Iterator[Any]:
    """A shard writer's output as the ledger gets it: its manifest as a ``written`` report; with checks, the
    ``("checks", split, index, result)`` and ``("runs", rule, split, path)`` tuples as they are."""
    if isinstance(output, dict):  # a shard written without checks
        yield {"stage": "written", **output}
    elif output[0] == "manifest":
        yield {"stage": "written", **output[1]}
    else:
        yield (output[0], *output[1])


def _check_reports(checker: Any, items: Iterable[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The checks' reports (``stage`` ``checks`` per split, ``across`` per rule that found values in two splits)
    from the shards' results and runs. A split's shard results are merged in shard order, whatever order
    they came in: the same floats on every runner."""
    from labdatasets.processing.validation import check_runs, tally_json

    shards: dict[str, dict[int, Any]] = {}
    runs: dict[int, list[tuple[str, str]]] = {}
    for item in items:
        if item[0] == "checks":
            _, split, index, result = item
            shards.setdefault(split, {})[index] = result
        else:
            _, rule, split, path = item
            runs.setdefault(rule, []).append((split, path))
    reports = []
    for split, results in sorted(shards.items()):
        merged = checker.empty()
        for _, result in sorted(results.items()):
            merged.merge(result)
        reports.append({"stage": "checks", "split": split, **merged.to_json()})
    for rule, paths in sorted(runs.items()):
        tally = check_runs(checker, rule, paths)
        if tally.count:
            reports.append({"stage": "across", "rule": rule, **tally_json(tally)})
    return reports


def _keyed_by_none(record: Any) -> tuple[None, Any]:
    return None, record


class _WriteLedger(beam.DoFn):
    """All reports of the build in one ``_ledger.json`` (one element: the last step of the pipeline).

    With a ``checker``, the shards' check results and runs (tuples, see :func:`_written`) come along and
    become the checks' reports (:func:`_check_reports`) here: no step or shuffle of their own.
    """

    def __init__(self, out_dir: str, checker: Any = None):
        self.out_dir = out_dir
        self.checker = checker

    def process(self, grouped: tuple[None, Iterable[Any]]) -> Iterator[str]:
        from apache_beam.io.filesystems import FileSystems

        from labdatasets.processing.ledger import LEDGER_FILENAME

        records: list[dict[str, Any]] = []
        checks: list[tuple[Any, ...]] = []
        for item in grouped[1]:
            (records if isinstance(item, dict) else checks).append(item)
        if checks:
            records.extend(_check_reports(self.checker, checks))
        records = sorted(records, key=lambda r: json.dumps(r, sort_keys=True))
        path = FileSystems.join(self.out_dir, LEDGER_FILENAME)
        with FileSystems.create(path, mime_type="application/json") as fh:
            fh.write(json.dumps({"records": records}).encode("utf-8"))
        yield path


def parquet_dictionary_columns(table: pa.Table, sample_rows: int = 16_384) -> list[str]:
    """Columns worth dictionary encoding: few distinct values in a sample of the first rows.

    Arrow's default tries a dictionary for every column and gives up on
    high-cardinality ones after paying for it (much slower writes of text ids and
    floats, and larger files: benchmarks/README.md). The choice depends on the data only, so the same
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


def parquet_options(table: pa.Table) -> dict[str, Any]:
    """How every shard is written (the same options on every path, so the same rows give the same bytes)."""
    # page checksums: every read verifies them, so a flipped byte is an error, never other values
    return {"compression": "snappy", "use_dictionary": parquet_dictionary_columns(table), "write_page_checksum": True}


class ShardWriter:
    """Write one shard from its rows in order, as they come: Parquet row groups of :data:`ROW_GROUP_ROWS`
    rows, the sha256 of the file, the rows' key digest and (for a one-shard split) the content fingerprint.

    Memory is one row group plus what is handed to :meth:`write`, whatever the shard's size. The bytes are
    those of ``pq.write_table(whole_shard, row_group_size=ROW_GROUP_ROWS, **parquet_options(...))``.
    """

    def __init__(self, out_dir: str, filename: str, *, split: str, index: int, sort_columns: Sequence[str], fingerprint: bool):
        from labdatasets.processing.fingerprint import FINGERPRINT_BATCH

        self.path = _join(out_dir, filename)
        self.manifest: dict[str, Any] = {"split": split, "index": index, "filename": filename}
        self.sort_columns = list(sort_columns)
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._rows = 0
        self._digest = 0
        self._fh: Any = None
        self._sink: HashingSink | None = None
        self._writer: Any = None
        self._fingerprint = fingerprint
        self._fp_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._fp_sink = HashingSink()
        self._fp_writer: Any = None
        self._fp_futures: list[concurrent.futures.Future[Any]] = []
        self._fp_rows = FINGERPRINT_BATCH
        self._fp_pending: pa.Table | None = None

    def write(self, table: pa.Table) -> None:
        from labdatasets.processing.ledger import key_digest

        if not table.num_rows:
            return
        self._rows += table.num_rows
        self._digest = (self._digest + key_digest(table, self.sort_columns)) % (1 << 64)
        self._feed_fingerprint(table)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= ROW_GROUP_ROWS:
            merged = pa.concat_tables(self._pending)
            self._write_group(merged.slice(0, ROW_GROUP_ROWS))
            rest = merged.slice(ROW_GROUP_ROWS)
            self._pending, self._pending_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def _write_group(self, group: pa.Table) -> None:
        import pyarrow.parquet as pq
        from apache_beam.io.filesystems import FileSystems

        if self._writer is None:
            self._fh = FileSystems.create(self.path, mime_type="application/octet-stream")
            self._sink = HashingSink(self._fh)
            self._writer = pq.ParquetWriter(self._sink, group.schema, **parquet_options(group))
        self._writer.write_table(group, row_group_size=ROW_GROUP_ROWS)

    def _feed_fingerprint(self, table: pa.Table) -> None:
        if not self._fingerprint:
            return
        pool = self._fp_pool
        if pool is None:
            pool = self._fp_pool = concurrent.futures.ThreadPoolExecutor(1, "labdatasets-fingerprint")
            self._fp_writer = pa.ipc.new_stream(self._fp_sink, table.schema)
        merged = table if self._fp_pending is None else pa.concat_tables([self._fp_pending, table])
        full = merged.num_rows - merged.num_rows % self._fp_rows
        for offset in range(0, full, self._fp_rows):
            self._submit_batches(pool, merged.slice(offset, self._fp_rows))
        self._fp_pending = merged.slice(full) if full < merged.num_rows else None

    def _submit_batches(self, pool: concurrent.futures.ThreadPoolExecutor, table: pa.Table) -> None:
        # in a thread, in order, while this one writes Parquet (both mostly without the GIL); at most a few queued
        while len(self._fp_futures) >= 4:
            self._fp_futures.pop(0).result()
        self._fp_futures.append(pool.submit(_write_batches, self._fp_writer, table))

    def close(self) -> dict[str, Any]:
        """Finish the file; the shard's manifest (rows, bytes, sha256, key digest, fingerprint)."""
        if self._pending_rows or self._writer is None:
            rest = pa.concat_tables(self._pending) if self._pending else None
            if rest is not None:
                self._write_group(rest)
        if self._writer is not None:
            self._writer.close()
            self._fh.close()
        self.manifest.update(
            num_rows=self._rows,
            key_digest=self._digest,
            num_bytes=self._sink.size if self._sink else 0,
            sha256=self._sink.digest.hexdigest() if self._sink else "",
        )
        if self._fp_pool is not None:
            if self._fp_pending is not None and self._fp_pending.num_rows:
                self._submit_batches(self._fp_pool, self._fp_pending)
            for future in self._fp_futures:
                future.result()
            self._fp_pool.shutdown()
            self._fp_writer.close()
            self.manifest["fingerprint"] = self._fp_sink.digest.hexdigest()
        return self.manifest

    def abort(self) -> None:
        """Stop after an error: no footer is written (a partial shard never reads as a whole one) and the
        partial file is removed; after :meth:`close` (its checks failed), the whole file is removed."""
        from apache_beam.io.filesystems import FileSystems

        if self._fp_pool is not None:
            self._fp_pool.shutdown(wait=True, cancel_futures=True)
        if self._writer is not None:
            self._writer.is_open = False  # its finalizer would write the footer (to a closed file: an error on stderr)
        if self._fh is not None:
            try:
                self._fh.close()
                FileSystems.delete([self.path])
            except Exception:  # noqa: BLE001 - the error that made us abort matters, not this one
                pass


def _write_batches(writer: Any, table: pa.Table) -> None:
    from labdatasets.processing.fingerprint import compact_batches

    for batch in compact_batches(table):
        writer.write_batch(batch)


def _join(out_dir: str, name: str) -> str:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(out_dir, name)


def _write_manifest(out_dir: str, manifest: dict[str, Any]) -> None:
    from apache_beam.io.filesystems import FileSystems

    manifest_path = FileSystems.join(out_dir, MANIFEST_DIR, manifest["filename"] + ".json")
    if "://" not in out_dir:  # local folders need the subfolder; object stores do not
        os.makedirs(os.path.dirname(manifest_path), exist_ok=True)
    with FileSystems.create(manifest_path, mime_type="application/json") as fh:
        fh.write(json.dumps(manifest).encode("utf-8"))


def _counter(progress_dir: str | None, which: str) -> Any:
    """A :class:`~labdatasets.present.progress.CounterFile` in one subfolder of the build's progress folder."""
    if not progress_dir:
        return None
    from labdatasets.present import progress

    return progress.CounterFile(os.path.join(progress_dir, getattr(progress, which)))


def _write_shard(
    out_dir: str,
    dataset: str,
    num_shards: int,
    sort_columns: Sequence[str],
    split: str,
    index: int,
    tables: Iterable[pa.Table],
    progress: Any = None,
    checker: Any = None,
    runs_dir: str | None = None,
) -> Iterator[Any]:
    """Write one shard from its rows in key order; yields its manifest.

    With a ``checker`` it also checks the rows as they pass (statistics, row rules,
    repeated keys, as the Parquet writer gets them) and yields
    ``("manifest", manifest)``, ``("checks", (split, index, ShardResult))`` and, with a
    ``runs_dir``, ``("runs", (rule, split, path))`` for each run of key or group values
    written there for the checks across splits (:mod:`labdatasets.processing.key_runs`).
    """
    filename = shard_filename(dataset, split, index, num_shards)
    writer = ShardWriter(out_dir, filename, split=split, index=index, sort_columns=sort_columns, fingerprint=num_shards == 1)
    check = None
    if checker is not None:
        from labdatasets.processing.validation import ShardCheck

        # slices of 64k rows checked in a thread beside the writer: a spare core takes them (benchmarks/README.md)
        check = ShardCheck(checker, split, runs_dir, background=BACKGROUND_CHECKS)
    try:
        for table in tables:
            if check is not None:
                check.add(table)
            writer.write(table)
            if progress is not None:
                progress.add(table.num_rows)
        if check is not None:
            check.flush()  # the last rows are checked while the writer encodes its last row group
        manifest = writer.close()
        checked = check.finish() if check is not None else None  # an error there removes the shard (abort below)
    except BaseException:
        writer.abort()
        if check is not None:
            check.close()
        raise
    _write_manifest(out_dir, manifest)
    if progress is not None:
        progress.flush()
    if checked is None:
        yield manifest
        return
    result, runs = checked
    yield "manifest", manifest
    yield "checks", (split, index, result)
    for run in runs:
        yield "runs", run


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
        return accumulator.merge(self.checker.check_shard(as_table(element)))

    def merge_accumulators(self, accumulators: Iterable[Any]) -> Any:
        accumulators = iter(accumulators)
        first = next(accumulators)
        for other in accumulators:
            first.merge(other)
        return first

    def extract_output(self, accumulator: Any) -> dict[str, Any]:
        return accumulator.to_json()


class _ShardWriterFn(beam.DoFn):
    """What both shard writers share: where they write, how rows are sorted and checked, the bar."""

    def __init__(
        self,
        out_dir: str,
        dataset: str,
        num_shards: int,
        sort_columns: Sequence[str],
        progress_dir: str | None = None,
        checker: Any = None,
        runs_dir: str | None = None,
    ):
        self.out_dir = out_dir
        self.dataset = dataset
        self.num_shards = num_shards
        self.sort_columns = list(sort_columns)
        self.progress_dir = progress_dir  # rows written are counted there (a local build's bar)
        self.checker = checker
        self.runs_dir = runs_dir  # where the checks across splits write their runs (none with a single split)
        self._progress: Any = None

    def setup(self) -> None:
        self._progress = _counter(self.progress_dir, "WRITTEN_DIR")


class _WriteShard(_ShardWriterFn):
    """``((split, shard), tables)`` after a shuffle -> the shard sorted in memory and written."""

    def process(self, keyed: tuple[tuple[str, int], Iterable[pa.Table]]) -> Iterator[Any]:
        (split, index), tables = keyed
        table = sort_rows(pa.concat_tables(list(tables)), self.sort_columns)
        yield from _write_shard(
            self.out_dir, self.dataset, self.num_shards, self.sort_columns, split, index, [table], self._progress,
            self.checker, self.runs_dir,
        )


class _SpillRuns(beam.DoFn):
    """``((split, shard), rows)`` -> sorted runs on this machine's disk, ``((split, shard), (path, rows))``.

    Rows are gathered up to :data:`~labdatasets.processing.spill.RUN_ROWS` (over all shards together, so
    memory does not grow with ``NUM_SHARDS``) before the biggest group is sorted and written.
    """

    def __init__(self, spill_dir: str, sort_columns: Sequence[str], run_rows: int):
        self.spill_dir = spill_dir
        self.sort_columns = list(sort_columns)
        self.run_rows = run_rows
        self._groups: dict[tuple[str, int], list[pa.Table]] = {}
        self._rows = 0

    def start_bundle(self) -> None:
        self._groups, self._rows = {}, 0

    def process(self, element: tuple[tuple[str, int], pa.Table]) -> Iterator[tuple[tuple[str, int], tuple[str, int]]]:
        shard, table = element
        self._groups.setdefault(shard, []).append(table)
        self._rows += table.num_rows
        while self._rows >= self.run_rows:
            biggest = max(self._groups, key=lambda k: sum(t.num_rows for t in self._groups[k]))
            yield self._spill(biggest)

    def finish_bundle(self) -> Iterator[Any]:
        from apache_beam.transforms.window import GlobalWindow
        from apache_beam.utils.windowed_value import WindowedValue

        for shard in list(self._groups):
            yield WindowedValue(self._spill(shard), -1, [GlobalWindow()])

    def _spill(self, shard: tuple[str, int]) -> tuple[tuple[str, int], tuple[str, int]]:
        from labdatasets.processing.spill import sort_spec, write_run

        tables = self._groups.pop(shard)
        table = pa.concat_tables(tables)
        self._rows -= table.num_rows
        split, index = shard
        path, rows = write_run(table, os.path.join(self.spill_dir, split, str(index)), sort_spec(table.schema, self.sort_columns))
        return shard, (path, rows)


class _MergeShard(_ShardWriterFn):
    """``((split, shard), runs)`` -> the runs merged by key, written as the shard (see spill)."""

    def process(self, keyed: tuple[tuple[str, int], Iterable[tuple[str, int]]]) -> Iterator[Any]:
        from labdatasets.processing.spill import merge_runs, sort_spec

        (split, index), runs = keyed
        paths = sorted(path for path, _ in runs)  # a fixed order: ties between equal rows never depend on arrival
        schema = pa.ipc.open_file(paths[0]).schema if paths else None
        spec = sort_spec(schema, self.sort_columns) if schema is not None else []
        yield from _write_shard(
            self.out_dir, self.dataset, self.num_shards, self.sort_columns, split, index, merge_runs(paths, spec),
            self._progress, self.checker, self.runs_dir,
        )


class WriteSplits(beam.PTransform):
    """Write ``{split: PCollection of tables}``: check every batch against the features, order rows
    deterministically and write Parquet shards (one shuffle for all splits).

    Rows are sorted by ``key`` (ties broken by the other columns, see
    :func:`labdatasets.processing.transforms.sort_rows`), so the written splits
    do not depend on the runner or on how rows were batched. Every report of
    rows in and out goes into ``_ledger.json`` (:mod:`labdatasets.processing.ledger`),
    written by the last step; outputs its path.
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
        spill_dir: str | None = None,
        progress_dir: str | None = None,
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
        self.spill_dir = spill_dir
        self.progress_dir = progress_dir  # rows processed and written are counted there (a local build's bar)
        self.checker = checker  # statistics and expectations (labdatasets.processing.validation.Checker)

    # splits: {split name: PCollection}. Typed Any: Beam (2.78) logs a WARNING on the root logger for an input
    # hint that is not a PCollection or PBegin, which reached the user's terminal and notebook on every build
    def expand(self, splits: Any) -> beam.PCollection:
        shard_key = beam.typehints.Tuple[beam.typehints.Tuple[str, int], pa.Table]
        pipeline = next(iter(splits.values())).pipeline
        keyed = []
        origins: dict[str, str] = {}
        split_tallies: list[Any] = []
        for name, pcoll in splits.items():
            origin = getattr(pcoll, "_labdatasets_split", None)
            if origin is not None and origin.split == name:
                origins[name] = origin.origin
                if all(t is not origin.tallies for t in split_tallies):
                    split_tallies.append(origin.tallies)
            keyed.append(
                pcoll
                | f"Conform {name}"
                >> beam.ParDo(
                    _ConformAndShard(
                        name,
                        self.features,
                        self.where,
                        self.key,
                        self.num_shards,
                        self.sort_columns,
                        (origin.key, origin.salt) if origin is not None and origin.split == name else None,
                        self.progress_dir,
                    )
                ).with_output_types(shard_key)
            )
        # No Flatten of rows on this machine: the DirectRunner materializes a Flatten's inputs in memory.
        names = list(splits)
        rows = [
            pcoll | f"Rows {name}" >> beam.FlatMap(_rows_only).with_output_types(shard_key)
            for name, pcoll in zip(names, keyed, strict=True)
        ]
        entry = [pcoll | f"Entry tallies {name}" >> beam.FlatMap(_tallies_only) for name, pcoll in zip(names, keyed, strict=True)]
        checker, runs_dir = self.checker, None
        if checker is not None and len(names) > 1:  # runs of key and group values for the checks across splits
            runs_dir = os.path.join(self.spill_dir, "checks") if self.spill_dir is not None else _join(self.out_dir, "_checks")
        if self.spill_dir is None:  # a shuffle of the rows: the runner's own (Dask, Dataflow, Flink, Spark)
            written = (
                rows
                | "Splits" >> beam.Flatten()
                | "GroupShards" >> beam.GroupByKey()
                | "WriteShards"
                >> beam.ParDo(
                    _WriteShard(self.out_dir, self.dataset, self.num_shards, self.sort_columns, self.progress_dir, checker, runs_dir)
                )
            )
        else:  # on this machine: sorted runs on disk, a shuffle of their names only, a merge per shard
            runs = [
                pcoll | f"SpillRuns {name}" >> beam.ParDo(_SpillRuns(self.spill_dir, self.sort_columns, RUN_ROWS))
                for name, pcoll in zip(names, rows, strict=True)
            ]
            written = (
                runs
                | "Runs" >> beam.Flatten()
                | "GroupRuns" >> beam.GroupByKey()
                | "MergeShards"
                >> beam.ParDo(
                    _MergeShard(self.out_dir, self.dataset, self.num_shards, self.sort_columns, self.progress_dir, checker, runs_dir)
                )
            )
        reports = [
            pipeline | "Ledger seed" >> beam.Create([{"stage": "seed", "origins": origins}]),
            *entry,
            # with checks, the shards' results ride along to the ledger's step, which merges them (no step of their own)
            written | "Written" >> beam.FlatMap(_written),
        ]
        for i, tallies in enumerate(split_tallies):
            reports.append(tallies | f"Split tallies {i}" >> beam.FlatMap(_tally_dicts))
        return (
            reports
            | "Reports" >> beam.Flatten()
            | "One ledger" >> beam.Map(_keyed_by_none)
            | "Gather" >> beam.GroupByKey()
            | "Write ledger" >> beam.ParDo(_WriteLedger(self.out_dir, checker))
        )


def _tally_dicts(table: pa.Table) -> Iterator[dict[str, Any]]:
    from labdatasets.processing.ledger import tally_records

    yield from tally_records(table)


class WriteSplit(beam.PTransform):
    """:class:`WriteSplits` for one split: ``pcoll | WriteSplit(split="train", ...)``."""

    def __init__(self, *, split: str, **kwargs: Any):
        super().__init__()
        self.split = split
        self.kwargs = kwargs

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return {self.split: pcoll} | WriteSplits(**self.kwargs)
