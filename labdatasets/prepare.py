"""``build``: run a builder's Beam processing from its pinned snapshots into Parquet splits.

Layout of a prepared version::

    <data_dir>/<name>[/<config>]/<version>/
        dataset_info.json                          features, splits, row counts, fingerprints,
                                                   snapshot id, processing code fingerprint
        <name>-<split>-00000-of-00001.parquet      one or more shards per split

A build writes into ``.incomplete.<version>.<random>`` next to the final folder
and renames it only when every split and ``dataset_info.json`` are written, so
a reader never sees half a dataset. A lock per version makes a second process
wait and then reuse the first one's result instead of building again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

from labdatasets._version import __version__
from labdatasets.builder import INFO_FILENAME, DatasetInfo, ShardInfo, SplitInfo
from labdatasets.errors import LabDatasetsError, PreparedDataError, ProcessingError
from labdatasets.hashing import sha256_file
from labdatasets.pins import utc_now
from labdatasets.progress import Stage, lock_file

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from labdatasets.builder import DatasetBuilder
    from labdatasets.pins import PinRecord

__all__ = ["build", "pipeline_options", "content_fingerprint", "shard_paths", "LOCAL_RUNNERS"]

logger = logging.getLogger(__name__)

LOCAL_RUNNERS = {"directrunner", "direct", "prismrunner", "prism", "fnapirunner", "interactiverunner", "swappingrunner"}
_SPLIT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_FINGERPRINT_BATCH = 65_536


def pipeline_options(beam_options: Mapping[str, Any] | Sequence[str] | None) -> tuple[list[str], str]:
    """Turn ``{"runner": "DataflowRunner", "project": "x"}`` or ``["--runner=..."]`` into Beam flags.

    Returns the flags and the runner name. The default runner is the DirectRunner.
    """
    if beam_options is None:
        flags: list[str] = []
    elif isinstance(beam_options, Mapping):
        flags = []
        for key, value in beam_options.items():
            key = key.lstrip("-")
            if value is True:
                flags.append(f"--{key}")
            elif value is not False and value is not None:
                flags.append(f"--{key}={value}")
    else:
        flags = [f if f.startswith("--") else f"--{f}" for f in beam_options]
    runner = "DirectRunner"
    for flag in flags:
        if flag.startswith("--runner="):
            runner = flag.split("=", 1)[1]
    if not any(f.startswith("--runner=") for f in flags):
        flags.insert(0, "--runner=DirectRunner")
    return flags, runner


def is_local_runner(runner: str) -> bool:
    return runner.lower() in LOCAL_RUNNERS


def _lock_path(builder: "DatasetBuilder") -> Path:
    rel = builder.prepared_dir.relative_to(builder.data_dir)
    return builder.data_dir / ".locks" / ("--".join(rel.parts) + ".lock")


def _check_consistent(builder: "DatasetBuilder", info: DatasetInfo, record: "PinRecord | None") -> None:
    if record is not None and info.snapshot_id and info.snapshot_id != record.snapshot_id:
        raise PreparedDataError(
            f"{builder.full_name} in {builder.prepared_dir} was built from snapshot {info.snapshot_id[:12]}, "
            f"but its pin record ({record.path}) names snapshot {record.snapshot_id[:12]}. The prepared data is "
            "not what this version means: move that folder away (or pass data_dir=) and build again."
        )


def build(
    builder: "DatasetBuilder",
    *,
    beam_options: Mapping[str, Any] | Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Prepare ``builder``'s version (pinning it first if needed); see the module docstring."""
    final = builder.prepared_dir
    if not overwrite and (final / INFO_FILENAME).is_file():
        _check_consistent(builder, DatasetInfo.read(final), builder.pin_record())
        return final
    with lock_file(_lock_path(builder), f"building {builder.full_name}"):
        if not overwrite and (final / INFO_FILENAME).is_file():
            _check_consistent(builder, DatasetInfo.read(final), builder.pin_record())
            logger.info("%s was prepared by another process; reusing %s", builder.full_name, final)
            return final
        return _build_locked(builder, beam_options=beam_options, overwrite=overwrite, progress=progress)


def _build_locked(
    builder: "DatasetBuilder",
    *,
    beam_options: Mapping[str, Any] | Sequence[str] | None,
    overwrite: bool,
    progress: bool,
) -> Path:
    from labdatasets.pinning import ensure_objects, snapshots_for

    stage = Stage(progress)
    final = builder.prepared_dir
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".incomplete.{final.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a process that died; we hold the lock

    record = builder.pin_record()
    if record is None:
        with stage(f"pin {builder.full_name}"):
            record = builder.pin(progress=progress)
    flags, runner = pipeline_options(beam_options)
    store = snapshots_for(builder)
    ensure_objects(builder, record, store, local=is_local_runner(runner), progress=progress)

    tmp = final.parent / f".incomplete.{final.name}.{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        declared = builder._declared_info()
        with stage(f"build {builder.full_name} on {runner}"):
            splits = _run_pipeline(builder, record, declared, tmp, flags, store.uris)
        with stage(f"fingerprint {builder.full_name}"):
            info = _finalize(builder, record, declared, tmp, splits)
        (tmp / INFO_FILENAME).write_text(json.dumps(info.to_json(), indent=2) + "\n", "utf-8")
        _move_into_place(tmp, final, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("prepared %s in %s", builder.full_name, final)
    return final


def _move_into_place(tmp: Path, final: Path, *, overwrite: bool) -> None:
    if final.exists():
        if not overwrite:
            raise PreparedDataError(f"{final} appeared while building; it was left as it is.")
        old = final.parent / f".replaced.{final.name}.{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def _original_error(exc: BaseException) -> LabDatasetsError | None:
    """The labdatasets error raised inside a transform, if Beam re-raised it in this process."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, LabDatasetsError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _beam_error_message(exc: BaseException) -> str:
    """One line for an error raised inside a transform (Beam wraps it with the step name)."""
    text = str(exc).strip()
    step = re.findall(r"\[while running '([^']+)'\]", text)
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith(("Traceback", "  "))]
    last = re.sub(r"\s*\[while running '[^']+'\]", "", lines[-1] if lines else type(exc).__name__)
    return f"{last} (in step '{step[-1]}')" if step else last


def _run_pipeline(
    builder: "DatasetBuilder",
    record: "PinRecord",
    declared: DatasetInfo,
    out_dir: Path,
    flags: list[str],
    store_uris: tuple[str, str],
) -> list[str]:
    from labdatasets.processing._beam_import import import_beam

    beam = import_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    from labdatasets.processing.sources import PinnedSources
    from labdatasets.processing.transforms import WriteSplit

    options = PipelineOptions(flags)
    pipeline = beam.Pipeline(options=options)
    sources = PinnedSources(pipeline, record, store_uris)
    try:
        outputs = builder._process(sources)
    except LabDatasetsError:
        raise
    except Exception as exc:
        raise ProcessingError(f"{builder.full_name}: _process() failed while building the pipeline: {exc}") from exc
    if not isinstance(outputs, Mapping) or not outputs:
        raise ProcessingError(
            f"{builder.full_name}: _process() must return {{split name: PCollection}}, got {type(outputs).__name__}"
        )
    for split, pcoll in outputs.items():
        if not _SPLIT_RE.match(split):
            raise ProcessingError(f"{builder.full_name}: split name {split!r} must be a word such as 'train'")
        if not isinstance(pcoll, beam.PCollection):
            raise ProcessingError(f"{builder.full_name}: split {split!r} must be a PCollection, got {type(pcoll).__name__}")
        pcoll | f"Write {split}" >> WriteSplit(
            out_dir=str(out_dir),
            dataset=builder.name,
            split=split,
            features=declared.features,
            key=declared.key_columns,
            num_shards=builder.NUM_SHARDS,
            where=f"{builder.full_name} split {split!r}",
        )
    beam_logger = logging.getLogger("apache_beam")
    level = beam_logger.level
    if not logger.isEnabledFor(logging.DEBUG):
        beam_logger.setLevel(logging.CRITICAL)  # the error is re-raised below, once and readable
    try:
        pipeline.run().wait_until_finish()
    except Exception as exc:
        original = _original_error(exc)
        if original is not None:
            original.args = (re.sub(r"\s*\[while running '[^']+'\]", "", str(original)),)
            raise original from exc
        raise ProcessingError(
            f"Building {builder.full_name} failed: {_beam_error_message(exc)}. Run with --debug "
            "(or LABDATASETS_DEBUG=1) for the full traceback."
        ) from exc
    finally:
        beam_logger.setLevel(level)
    return list(outputs)


def shard_paths(directory: Path, dataset: str, split: str, num_shards: int) -> list[Path]:
    from labdatasets.processing.transforms import shard_filename

    return [directory / shard_filename(dataset, split, i, num_shards) for i in range(num_shards)]


class _HashSink:
    """A write-only file object that hashes what is written (for Arrow IPC streams)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        return view.nbytes

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _fixed_batches(tables: Iterable["pa.Table"], rows: int) -> Iterator["pa.RecordBatch"]:
    """Re-chunk a stream of tables into batches of exactly ``rows`` rows (the last may be shorter)."""
    import pyarrow as pa

    pending: list["pa.Table"] = []
    count = 0
    for table in tables:
        pending.append(table)
        count += table.num_rows
        while count >= rows:
            merged = pa.concat_tables(pending).combine_chunks()
            head, rest = merged.slice(0, rows), merged.slice(rows)
            yield from head.combine_chunks().to_batches()
            pending, count = [rest], rest.num_rows
    if count:
        yield from pa.concat_tables(pending).combine_chunks().to_batches()


def content_fingerprint(paths: Sequence[Path]) -> str:
    """sha256 of a split's rows in order, serialized as Arrow IPC in fixed-size batches.

    It depends on the rows and the schema, not on how the Parquet files were
    chunked or compressed, so it survives re-sharding and writer changes.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [pq.ParquetFile(p, memory_map=True) for p in paths]
    schema = files[0].schema_arrow if files else pa.schema([])
    sink = _HashSink()

    def tables() -> Iterator["pa.Table"]:
        for pf in files:
            for i in range(pf.num_row_groups):
                yield pf.read_row_group(i)

    with pa.ipc.new_stream(sink, schema) as writer:
        for batch in _fixed_batches(tables(), _FINGERPRINT_BATCH):
            writer.write_batch(batch)
    for pf in files:
        pf.close()
    return sink.digest.hexdigest()


def _finalize(
    builder: "DatasetBuilder", record: "PinRecord", declared: DatasetInfo, directory: Path, splits: list[str]
) -> DatasetInfo:
    import apache_beam
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = declared.features.arrow_schema()
    split_infos: dict[str, SplitInfo] = {}
    for split in splits:
        paths = shard_paths(directory, builder.name, split, builder.NUM_SHARDS)
        shards = []
        for path in paths:
            if not path.exists():  # an empty split or shard: still a valid, readable file
                pq.write_table(pa.Table.from_pylist([], schema=schema), path)
            meta = pq.ParquetFile(path).metadata
            shards.append(ShardInfo(path.name, meta.num_rows, path.stat().st_size, sha256_file(path)))
        split_infos[split] = SplitInfo(
            name=split,
            num_rows=sum(s.num_rows for s in shards),
            num_bytes=sum(s.num_bytes for s in shards),
            shards=tuple(shards),
            fingerprint=content_fingerprint(paths),
        )
    return dataclasses.replace(
        declared,
        splits=split_infos,
        snapshot_id=record.snapshot_id,
        code_fingerprint=builder.code_fingerprint(),
        prepared_at=utc_now(),
        environment={
            "labdatasets": __version__,
            "pyarrow": pa.__version__,
            "apache_beam": apache_beam.__version__,
            "python": platform.python_version(),
        },
        data_dir=None,
    )
