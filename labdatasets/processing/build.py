"""``build``: run a builder's Beam processing from its pinned snapshots into Parquet splits.

The prepared folder's layout, its lock and the incomplete folder a build writes
into are :mod:`labdatasets.prepared.folder`'s: a build writes into an incomplete
folder and renames it only when every split and ``dataset_info.json`` are
written, so a reader never sees half a dataset, and a lock per version makes a
second process wait and then reuse the first one's result instead of building again.

The version is built with its own processing code (see
:mod:`labdatasets.processing.code`); prepared data built by other code is rebuilt.
On a remote runner (or with ``temp_location``) the workers write the shards and
their manifests through Beam's filesystems under ``temp_location``; this
machine copies them, checks their sha256 and finalizes (docs/runners.md).
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
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Mapping, Sequence

from labdatasets._version import __version__
from labdatasets.info import INFO_FILENAME, DatasetInfo, ShardInfo, SplitInfo
from labdatasets.errors import ConfigError, LabDatasetsError, PreparedDataError, ProcessingError, local_writes
from labdatasets.stores.hashing import CHUNK, sha256_file
from labdatasets.pinning.record import utc_now
from labdatasets.processing.fingerprint import content_fingerprint
from labdatasets.processing.options import BuildOptions
from labdatasets.processing.ledger import LEDGER_FILENAME, check_ledger
from labdatasets.present.progress import BuildBar, Stage
from labdatasets.prepared import folder
from labdatasets.processing.validation import checker_for, read_reports, with_checks
from labdatasets.processing.runners import flag_value

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.builder import DatasetBuilder
    from labdatasets.pinning.record import PinRecord

__all__ = ["build", "content_fingerprint", "shard_paths", "LOCAL_RUNNERS"]

logger = logging.getLogger(__name__)

#: Statistics and expectations run in every build; benchmarks/bench_validation.py alone switches them
#: off, to measure what they cost.
RUN_CHECKS = True

LOCAL_RUNNERS = {"directrunner", "direct", "prismrunner", "prism", "fnapirunner", "interactiverunner", "swappingrunner"}
_SPLIT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z")


def is_local_runner(runner: str, flags: Sequence[str] = ()) -> bool:
    """Whether the runner's workers share this machine's disk (a local runner, Dask on loopback)."""
    from labdatasets.processing.runners import runs_on_this_machine

    return runs_on_this_machine(runner, flags, LOCAL_RUNNERS)


def build(
    builder: "DatasetBuilder",
    options: BuildOptions | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Prepare ``builder``'s version (pinning it first if needed); see the module docstring."""
    options = options or BuildOptions()
    final = builder.prepared_dir
    if not overwrite and folder.is_prepared(final):
        if folder.reuse(builder, builder.pin_record()) is not None:
            return final
        overwrite = True
    with folder.locked(builder, "building"):
        if not overwrite and folder.is_prepared(final):
            if folder.reuse(builder, builder.pin_record()) is not None:
                logger.info("%s was prepared by another process; reusing %s", builder.full_name, final)
                return final
            overwrite = True
        return _build_locked(builder, options, overwrite=overwrite, progress=progress)


def _build_locked(
    builder: "DatasetBuilder",
    options: BuildOptions,
    *,
    overwrite: bool,
    progress: bool,
) -> Path:
    from labdatasets.pinning.pin import ensure_objects, snapshots_for
    from labdatasets.processing.code import processing_builder

    stage = Stage(progress)
    final = builder.prepared_dir
    folder.remove_stale(final)  # left by a process that died; we hold the lock

    flags, runner = options.pipeline_flags()
    local = is_local_runner(runner, flags)
    staging = _staging_dir(builder, flags, local)
    record = builder.pin_record()
    if record is None:
        with stage(f"pin {builder.full_name}"):
            record = builder.pin(progress=progress)
        written = Path(record.path or builder.pin_record_path())
        if (builder.settings.home / "pins") not in written.parents:  # pin itself says where a machine-only record went
            logger.warning(
                "%s had no pin record, so it was pinned now: the record was written to %s. Commit that file (with "
                "the builder): it is what names this version's data for everyone else; until then only this "
                "machine can build it.",
                builder.full_name, written,
            )
    store = snapshots_for(builder)
    if not local and store.primary_is_local:
        logger.warning(
            "%s runs on other machines, but the snapshot store is %s on this machine; its workers can read it "
            "only if that folder is mounted there too (set LABDATASETS_SNAPSHOT_STORE to s3:// or gs://)",
            runner, store.primary_location,
        )
    ensure_objects(builder, record, store, local=local, progress=progress)
    processing = processing_builder(builder, record, store)

    with folder.incomplete_dir(final) as tmp:
        declared = dataclasses.replace(
            processing.declared_info(), release_notes=builder.release_notes_for(builder.config_name)
        )
        job = _Job(
            builder=processing,
            record=record,
            declared=declared,
            out_dir=staging or str(tmp),
            flags=flags,
            store_uris=store.to_uris(share_cache=local),
            progress_dir=tmp / ".progress" if local else None,
            # a local Beam runner sorts on this machine's disk rather than shuffling rows in memory
            spill_dir=tmp / ".spill" if runner.lower() in LOCAL_RUNNERS else None,
            checker=checker_for(declared, builder.full_name) if RUN_CHECKS else None,
        )
        with BuildBar(job.progress_dir, record_bytes(record), f"build {builder.full_name}", enabled=progress) as bar:
            with stage(f"build {builder.full_name} on {runner}"):
                splits = _run_pipeline_here_or_isolated(job, builder)
            bar.stage("fingerprint")
            manifests, ledger = _collect(job, tmp, staged=staging is not None, progress=progress)
            check_ledger(ledger, splits=splits, runner=runner, where=builder.full_name)
            with stage(f"fingerprint {builder.full_name}"):
                info = _finalize(processing, record, declared, tmp, splits, manifests)
            if job.checker is not None:  # what the checks found travelled in the ledger
                info = with_checks(info, job.checker, read_reports(ledger), builder.full_name)
            _check_against_output_record(builder, record, info)
            with local_writes(f"writing the prepared data of {builder.full_name}", final.parent):
                (tmp / INFO_FILENAME).write_text(json.dumps(info.to_json(), indent=2) + "\n", "utf-8")
            folder.move_into_place(tmp, final, overwrite=overwrite)
    logger.info("prepared %s in %s", builder.full_name, final)
    return final


def _check_against_output_record(builder: "DatasetBuilder", record: "PinRecord", info: DatasetInfo) -> None:
    """A build of a version's pinned snapshot and code must give the rows its committed output record names.

    That is what checks a build on another machine or runner against git
    alone. A build that differs is never kept (its incomplete folder is removed).
    """
    from labdatasets.pinning.outputs import compare_info, read_lock

    lock = read_lock(builder, record)
    if lock is None or not lock.applies_to(info.snapshot_id, info.code_fingerprint):
        return
    problems = compare_info(info, lock)
    if problems:
        raise PreparedDataError(
            f"Building {builder.full_name} here gave other data than its output record {lock.where} says "
            f"({'; '.join(problems[:5])}). It was not kept. The same pins and processing must give the committed "
            f"rows: compare this machine's libraries with the record's built_with {dict(lock.built_with)}, run "
            f"'labdatasets verify --rebuild {builder.full_name}', or load the version from the shared cache."
        )


def record_bytes(record: "PinRecord") -> int:
    return sum(pin.num_bytes for pin in record.sources.values())


def _staging_dir(builder: "DatasetBuilder", flags: Sequence[str], local: bool) -> str | None:
    """Where the pipeline writes when it is not this machine's incomplete folder.

    A remote runner's workers cannot write to this machine, so they write under
    ``temp_location`` (an option Dataflow requires anyway) through Beam's
    filesystems; this machine then copies and verifies the shards. The same
    happens on a local runner when ``temp_location`` is given.
    """
    temp_location = flag_value(flags, "temp_location")
    if temp_location is None:
        if local:
            return None
        raise ConfigError(
            f"Building {builder.full_name} on a remote runner needs a place its workers can write to: pass "
            "--beam-option temp_location=gs://BUCKET/tmp (or s3://BUCKET/tmp); the splits are written there "
            "and then copied to this machine."
        )
    from apache_beam.io.filesystems import FileSystems

    name = f"{builder.full_name.replace('/', '--').replace(':', '-')}-{uuid.uuid4().hex[:12]}"
    return FileSystems.join(temp_location.rstrip("/"), "labdatasets", name)


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


@dataclasses.dataclass
class _Job:
    """One pipeline run: what to run, where it writes, and how workers reach the store."""

    builder: "DatasetBuilder"
    record: "PinRecord"
    declared: DatasetInfo
    out_dir: str
    flags: list[str]
    store_uris: tuple[str, str | None]
    progress_dir: Path | None
    spill_dir: Path | None = None
    checker: Any = None


def _by_value_modules(builder: "DatasetBuilder") -> list[Any]:
    """The builder's own modules: workers get their code with the pipeline, not by importing them.

    That is what makes a builder run unchanged where it cannot be imported (a
    worker process of the DirectRunner, a Dataflow VM, an older version's
    archived code) and run the code that was submitted, not whatever is installed.
    """
    root = str(type(builder).module_dir()) + os.sep
    return [
        module
        for module in list(sys.modules.values())
        if getattr(module, "__name__", "__main__") != "__main__"
        and os.path.abspath(getattr(module, "__file__", None) or os.sep).startswith(root)
    ]


def _run_pipeline_here_or_isolated(job: _Job, builder: "DatasetBuilder") -> list[str]:
    from labdatasets.processing.isolated import in_ipython, run_pipeline_in_child

    # in IPython (a notebook), Beam turns interactive: the pipeline runs in a child process there
    if in_ipython():
        return run_pipeline_in_child(job, builder, _run_pipeline, _by_value_modules(builder))
    return _run_pipeline(job)


def _run_pipeline(job: _Job) -> list[str]:
    from labdatasets.processing._beam_import import import_beam

    beam = import_beam()
    from apache_beam.internal.cloudpickle import cloudpickle
    from apache_beam.options.pipeline_options import PipelineOptions

    from labdatasets.processing.pipeline_io import WriteSplits
    from labdatasets.processing.runners import check_pipeline, close_runner
    from labdatasets.processing.sources import PinnedSources

    builder = job.builder
    flags = list(job.flags)
    if job.progress_dir is not None and not logger.isEnabledFor(logging.DEBUG) and not flag_value(flags, "default_sdk_harness_log_level"):
        flags.append("--default_sdk_harness_log_level=ERROR")  # worker subprocesses log to our stderr otherwise
    options = PipelineOptions(flags)
    runner = None
    if (flag_value(flags, "runner") or "").lower() in ("directrunner", "direct"):
        from labdatasets.processing.direct import direct_runner

        runner = direct_runner(options)
    pipeline = beam.Pipeline(runner=runner, options=options)
    if job.progress_dir is not None:
        job.progress_dir.mkdir(parents=True, exist_ok=True)
    sources = PinnedSources(
        pipeline, job.record, job.store_uris, progress_dir=str(job.progress_dir) if job.progress_dir else None
    )
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
    dict(outputs) | "Write splits" >> WriteSplits(
        out_dir=job.out_dir,
        dataset=builder.name,
        features=job.declared.features,
        key=job.declared.key_columns,
        num_shards=builder.NUM_SHARDS,
        where=builder.full_name,
        spill_dir=str(job.spill_dir) if job.spill_dir is not None else None,
        progress_dir=str(job.progress_dir) if job.progress_dir else None,
        checker=job.checker,
    )
    beam_logger = logging.getLogger("apache_beam")
    level = beam_logger.level
    if not logger.isEnabledFor(logging.DEBUG):
        beam_logger.setLevel(logging.CRITICAL)  # the error is re-raised below, once and readable
    check_pipeline(pipeline, flag_value(flags, "runner") or "DirectRunner", where=builder.full_name, last_label="Write ledger")
    by_value = _by_value_modules(builder)
    for module in by_value:
        cloudpickle.register_pickle_by_value(module)
    result = None
    try:
        result = pipeline.run()
        result.wait_until_finish()
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
        close_runner(result)
        for module in by_value:
            cloudpickle.unregister_pickle_by_value(module)
        beam_logger.setLevel(level)
    return list(outputs)


def _collect(job: _Job, local_dir: Path, *, staged: bool, progress: bool) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Read the shard manifests and the ledger the workers wrote; copy staged shards here, verified; clean up.

    Returns ``{shard filename: manifest}`` and the ledger's records (empty if it is missing).
    """
    from labdatasets.processing.pipeline_io import MANIFEST_DIR

    if job.spill_dir is not None:
        shutil.rmtree(job.spill_dir, ignore_errors=True)
    if not staged:
        manifest_dir = local_dir / MANIFEST_DIR
        manifests = {}
        for path in sorted(manifest_dir.glob("*.json")) if manifest_dir.is_dir() else []:
            data = json.loads(path.read_text("utf-8"))
            manifests[data["filename"]] = data
        shutil.rmtree(manifest_dir, ignore_errors=True)
        ledger_path = local_dir / LEDGER_FILENAME
        ledger = json.loads(ledger_path.read_text("utf-8"))["records"] if ledger_path.is_file() else []
        ledger_path.unlink(missing_ok=True)
        if job.progress_dir is not None:
            shutil.rmtree(job.progress_dir, ignore_errors=True)
        return manifests, ledger

    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    from labdatasets.present.progress import byte_progress

    FileSystems.set_options(PipelineOptions(job.flags))  # this machine reads the staging area with the job's options
    pattern = FileSystems.join(job.out_dir, MANIFEST_DIR, "*.json")
    found = [m.path for result in FileSystems.match([pattern]) for m in result.metadata_list]
    records: list[dict[str, Any]] = []
    ledger_uri = FileSystems.join(job.out_dir, LEDGER_FILENAME)
    has_ledger = FileSystems.exists(ledger_uri)
    if has_ledger:
        with FileSystems.open(ledger_uri, mime_type="application/json") as fh:
            records = json.loads(fh.read().decode("utf-8"))["records"]
    manifests = {}
    for path in sorted(found):
        with FileSystems.open(path, mime_type="application/json") as fh:
            data = json.loads(fh.read().decode("utf-8"))
        manifests[data["filename"]] = data
    bar = byte_progress(sum(m["num_bytes"] for m in manifests.values()), f"collect {job.builder.full_name}", enabled=progress)
    for name, manifest in sorted(manifests.items()):
        digest = hashlib.sha256()
        with FileSystems.open(FileSystems.join(job.out_dir, name), mime_type="application/octet-stream") as src, open(
            local_dir / name, "wb"
        ) as dst:
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                dst.write(chunk)
                bar(len(chunk))
        if digest.hexdigest() != manifest["sha256"]:
            raise PreparedDataError(
                f"Shard {name} of {job.builder.full_name} changed between the worker that wrote it to {job.out_dir} "
                f"and this machine (sha256 {manifest['sha256'][:12]} written, {digest.hexdigest()[:12]} read); "
                "build again."
            )
    # the ledger goes even when it holds no records: nothing of the build stays in the staging area
    written = [FileSystems.join(job.out_dir, name) for name in manifests] + found + ([ledger_uri] if has_ledger else [])
    if written:
        FileSystems.delete(written)
    return manifests, records


def shard_paths(directory: Path, dataset: str, split: str, num_shards: int) -> list[Path]:
    from labdatasets.processing.pipeline_io import shard_filename

    return [directory / shard_filename(dataset, split, i, num_shards) for i in range(num_shards)]


def _finalize(
    builder: "DatasetBuilder",
    record: "PinRecord",
    declared: DatasetInfo,
    directory: Path,
    splits: list[str],
    manifests: Mapping[str, Mapping[str, Any]],
) -> DatasetInfo:
    """Hash and fingerprint the written shards (checked against what the workers wrote); the info to save."""
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
                pq.write_table(pa.Table.from_pylist([], schema=schema), path, write_page_checksum=True)
            written = manifests.get(path.name)
            # the worker hashed the bytes as it wrote them (and a staged copy was checked against that hash)
            digest = written["sha256"] if written is not None and written["num_bytes"] == path.stat().st_size else sha256_file(path)
            try:
                num_rows = pq.ParquetFile(path).metadata.num_rows
            except (OSError, pa.ArrowException):  # cut short or not Parquet: named below, not pyarrow's error
                num_rows = None
            if num_rows is None or written is not None and (written["sha256"], written["num_rows"]) != (digest, num_rows):
                reported = f"{written['num_rows']} rows, sha256 {written['sha256'][:12]}" if written is not None else "no report"
                found = "an unreadable file" if num_rows is None else f"{num_rows} rows, {digest[:12]}"
                raise PreparedDataError(
                    f"Shard {path.name} of {builder.full_name} is not what the pipeline wrote ({reported}; found {found}); build again."
                )
            shard = ShardInfo(path.name, num_rows, path.stat().st_size, digest)
            shards.append(shard)
        computed = [manifests.get(p.name, {}).get("fingerprint") for p in paths]
        split_infos[split] = SplitInfo(
            name=split,
            num_rows=sum(s.num_rows for s in shards),
            num_bytes=sum(s.num_bytes for s in shards),
            shards=tuple(shards),
            # a one-shard split was fingerprinted by the worker that wrote it, from the same rows
            fingerprint=computed[0] if len(paths) == 1 and computed[0] else content_fingerprint(paths),
        )
    return dataclasses.replace(
        declared,
        splits=split_infos,
        snapshot_id=record.snapshot_id,
        code_fingerprint=type(builder).code_fingerprint(),
        prepared_at=utc_now(),
        environment={
            "labdatasets": __version__,
            "pyarrow": pa.__version__,
            "apache_beam": apache_beam.__version__,
            "python": platform.python_version(),
        },
        data_dir=None,
    )
