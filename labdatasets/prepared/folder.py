"""A prepared version's folder: its layout, its lock, the incomplete folder it is written in, and checks.

This module owns a prepared folder's whole life; the build (:mod:`labdatasets.processing.build`),
the shared cache (:mod:`labdatasets.prepared.shared_cache`) and ``verify``
(:mod:`labdatasets.prepared.verify`) all go through it. Layout of a prepared version::

    <data_dir>/<name>[/<config>]/<version>/
        dataset_info.json                          features, splits, row counts, fingerprints,
                                                   snapshot id, processing code fingerprint
        <name>-<split>-00000-of-00001.parquet      one or more shards per split

A writer fills ``.incomplete.<version>.<random>`` next to the final folder
(:func:`incomplete_dir`) and renames it only when every split and
``dataset_info.json`` are written (:func:`move_into_place`), so a reader never
sees half a dataset. A lock per version (:func:`locked`) makes a second process
wait and then reuse the first one's result instead of writing it again.

It also says whether the data in it is good: cheap checks on every read, full ones where bytes
arrive and in ``verify``.

Every read of a prepared shard (:func:`read_shard`)

* verifies the Parquet page checksums (CRC-32 of every data and dictionary
  page, written by the build with ``write_page_checksum=True``), so a flipped
  byte in a page is an error, never other values;
* compares the rows read with the row count recorded for the shard, and the
  Arrow schema with the declared features, so an edited footer or
  ``dataset_info.json`` never drops or renames anything silently;
* turns every reader failure (``OSError: Corrupt snappy compressed data``,
  ``ArrowInvalid``...) into a :class:`PreparedDataError` naming the file and
  the repair.

Those checks cost a CRC over bytes the reader touches anyway and one integer
comparison per shard. The full check (:func:`full_problems`, used by
``verify``, ``publish`` and ``lock``) re-hashes every shard and compares each
file and ``dataset_info.json`` with the committed output record
(:mod:`labdatasets.pinning.outputs`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Iterator

from labdatasets.errors import PreparedDataError
from labdatasets.info import INFO_FILENAME, DatasetInfo
from labdatasets.present.progress import lock_file
from labdatasets.stores.hashing import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from labdatasets.builder import DatasetBuilder
    from labdatasets.info import ShardInfo
    from labdatasets.pinning.outputs import OutputRecord
    from labdatasets.pinning.record import PinRecord

__all__ = [
    "INFO_FILENAME",
    "version_dir",
    "is_prepared",
    "read_info",
    "lock_path",
    "locked",
    "incomplete_dir",
    "remove_stale",
    "move_into_place",
    "reusable",
    "reuse",
    "read_shard",
    "info_problems",
    "full_problems",
    "damaged",
    "repair_hint",
    "same_columns",
    "mark_used",
    "last_used",
]

logger = logging.getLogger(__name__)


def version_dir(data_dir: Path, name: str, config: str | None, version: str) -> Path:
    """``<data_dir>/<name>[/<config>]/<version>``: where a version's prepared data lives."""
    parts = [name] + ([config] if config else []) + [version]
    return data_dir.joinpath(*parts)


def is_prepared(directory: Path) -> bool:
    """Whether ``directory`` holds a complete prepared version (its ``dataset_info.json``)."""
    return (directory / INFO_FILENAME).is_file()


def read_info(directory: Path) -> DatasetInfo | None:
    """The ``dataset_info.json`` of the prepared version in ``directory``, or None."""
    try:
        return DatasetInfo.read(directory)
    except FileNotFoundError:
        return None


def built_info(builder: "DatasetBuilder") -> DatasetInfo:
    """The ``dataset_info.json`` of ``builder``'s prepared folder right after ``builder.build()``.

    Raises :class:`PreparedDataError` if the folder went away meanwhile (another
    process cleaning the data dir), rather than going on without it.
    """
    info = read_info(builder.prepared_dir)
    if info is None:
        raise PreparedDataError(
            f"{builder.full_name} was built, but {builder.prepared_dir} has no {INFO_FILENAME} now (did another "
            f"process remove it?). Run the command again; 'labdatasets build {builder.full_name}' rebuilds it."
        )
    return info


def mark_used(directory: Path) -> None:
    """Record that a prepared folder was just read: its mtime (``cache prune --older-than`` keeps recent ones)."""
    try:
        os.utime(directory)
    except OSError:  # a read-only data dir still loads
        pass


def last_used(directory: Path) -> float:
    """When a prepared folder was last loaded (:func:`mark_used`) or written."""
    return directory.stat().st_mtime


def lock_path(builder: "DatasetBuilder") -> Path:
    """The lock file of ``builder``'s version (under ``<data_dir>/.locks``)."""
    rel = builder.prepared_dir.relative_to(builder.data_dir)
    return builder.data_dir / ".locks" / ("--".join(rel.parts) + ".lock")


def locked(builder: "DatasetBuilder", what: str) -> contextlib.AbstractContextManager[object]:
    """Hold the version's lock (``what`` says why, for the message shown while waiting)."""
    return lock_file(lock_path(builder), f"{what} {builder.full_name}")


@contextlib.contextmanager
def incomplete_dir(final: Path) -> Iterator[Path]:
    """A fresh ``.incomplete.<version>.<random>`` folder next to ``final``; removed if the block fails.

    The block fills it and moves it into place (:func:`move_into_place`), so a
    reader never sees half a version.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".incomplete.{final.name}.{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale(final: Path) -> None:
    """Remove incomplete folders left by a process that died (call it holding the lock)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".incomplete.{final.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)


def move_into_place(tmp: Path, final: Path, *, overwrite: bool) -> None:
    """Rename the filled incomplete folder ``tmp`` to ``final`` (replacing it only with ``overwrite``).

    If the rename fails, the previous folder (if any) is put back: a reader sees the old
    version or the new one, never neither.
    """
    if final.exists():
        if not overwrite:
            raise PreparedDataError(f"{final} appeared while building; it was left as it is.")
        old = final.parent / f".replaced.{final.name}.{uuid.uuid4().hex[:8]}"
        try:
            os.replace(final, old)
        except OSError as exc:
            raise _move_failed(final, exc, kept=True) from exc
        try:
            os.replace(tmp, final)
        except OSError as exc:
            os.replace(old, final)
            raise _move_failed(final, exc, kept=True) from exc
        shutil.rmtree(old, ignore_errors=True)
    else:
        try:
            os.replace(tmp, final)
        except OSError as exc:
            raise _move_failed(final, exc, kept=False) from exc


def _move_failed(final: Path, exc: OSError, *, kept: bool) -> PreparedDataError:
    kept_note = "the previous prepared data there is kept as it was" if kept else "nothing half-built was left there"
    return PreparedDataError(
        f"Could not move a finished build into place at {final}: {exc.strerror or exc}; {kept_note}. "
        "Check that disk, then run the build again."
    )


def reusable(builder: "DatasetBuilder", info: DatasetInfo, record: "PinRecord | None") -> bool:
    """Whether prepared data is this version's: same snapshot (else raise) and same processing."""
    if record is not None and info.snapshot_id and info.snapshot_id != record.snapshot_id:
        raise PreparedDataError(
            f"{builder.full_name} in {builder.prepared_dir} was built from snapshot {info.snapshot_id[:12]}, "
            f"but its pin record ({record.path}) names snapshot {record.snapshot_id[:12]}. The prepared data is "
            "not what this version means: move that folder away (or pass data_dir=) and build again."
        )
    if record is None or not info.code_fingerprint:
        return True
    # imported here: the processing package (numpy) stays out of ``import labdatasets``
    from labdatasets.processing.code import expected_fingerprint

    wanted = expected_fingerprint(builder, record)
    if info.code_fingerprint != wanted:
        logger.warning(
            "%s in %s was built by processing code %s, but this version's processing is now %s; rebuilding it",
            builder.full_name, builder.prepared_dir, info.code_fingerprint[:12], wanted[:12],
        )
        return False
    problems = committed_problems(builder, info, record)
    if problems:
        logger.warning(
            "%s in %s is not what its committed records say (%s); it is not used: fetching or building it again",
            builder.full_name, builder.prepared_dir, "; ".join(problems[:5]),
        )
        return False
    return True


def committed_problems(builder: "DatasetBuilder", info: DatasetInfo, record: "PinRecord") -> list[str]:
    """The cheap check of every load: ``dataset_info.json`` against itself and the committed output record.

    Reads two small JSON files; the shards are checked as they are read
    (:func:`read_shard`). Raises when the
    committed records themselves disagree (an edited pin or output record).
    """
    from labdatasets.pinning.outputs import compare_info, read_lock

    problems = info_problems(info)
    lock = read_lock(builder, record)
    if lock is not None and lock.applies_to(info.snapshot_id, info.code_fingerprint):
        problems += compare_info(info, lock)
    return problems


def reuse(builder: "DatasetBuilder", record: "PinRecord | None") -> Path | None:
    """The prepared folder of ``builder``'s version when it is there and this version's (:func:`reusable`).

    A ``dataset_info.json`` that cannot be read is not reused (the caller fetches or builds again).
    """
    final = builder.prepared_dir
    try:
        info = read_info(final)
    except PreparedDataError as exc:
        logger.warning("%s; fetching or building %s again", exc, builder.full_name)
        return None
    if info is not None and reusable(builder, info, record):
        return final
    return None


def repair_hint(full_name: str) -> str:
    return (
        f"Run 'labdatasets verify --repair {full_name}' (it fetches the version again from the shared cache or "
        "rebuilds it from the pins), or load it again: load repairs it by itself."
    )


def damaged(full_name: str, path: Path, what: str) -> PreparedDataError:
    return PreparedDataError(f"Prepared file {path} of {full_name} is damaged: {what}. It was not served. {repair_hint(full_name)}")


def read_shard(
    path: Path,
    shard: "ShardInfo",
    *,
    full_name: str,
    schema: "pa.Schema | None",
    rows: tuple[int, int] | None = None,
) -> "pa.Table":
    """Read a shard, or its rows ``[lo, hi)`` (touching only their row groups), checked as the module says."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    recorded = f"{INFO_FILENAME} records {shard.num_rows}"
    try:
        if rows is None:
            table = pq.read_table(path, memory_map=True, page_checksum_verification=True)
            if table.num_rows != shard.num_rows:
                raise damaged(full_name, path, f"it holds {table.num_rows} rows, but {recorded}")
        else:
            lo, hi = rows
            pf = pq.ParquetFile(path, memory_map=True, page_checksum_verification=True)
            if pf.metadata.num_rows != shard.num_rows:
                raise damaged(full_name, path, f"it holds {pf.metadata.num_rows} rows, but {recorded}")
            groups: list[int] = []
            first_row = row = 0
            for g in range(pf.num_row_groups):
                n = pf.metadata.row_group(g).num_rows
                if row + n > lo and row < hi:
                    first_row = row if not groups else first_row
                    groups.append(g)
                row += n
            table = pf.read_row_groups(groups).slice(lo - first_row, hi - lo)
        if schema is not None and not same_columns(table.schema, schema):
            raise damaged(
                full_name, path,
                f"its columns {table.schema.names} ({', '.join(map(str, table.schema.types))}) are not the declared "
                f"features {schema.names} ({', '.join(map(str, schema.types))})",
            )
    except FileNotFoundError:
        raise damaged(full_name, path, "it is missing") from None
    except (OSError, ValueError, pa.ArrowException) as exc:  # ValueError: ArrowInvalid, a column name not UTF-8
        raise damaged(full_name, path, f"{type(exc).__name__}: {str(exc)[:300]}") from exc
    return table


def same_columns(got: "pa.Schema", want: "pa.Schema") -> bool:
    """Names exactly, types by kind: Parquet stores some types in another unit (``timestamp[s]`` reads back as ms)."""
    return got.names == want.names and all(_kind(g.type) == _kind(w.type) for g, w in zip(got, want, strict=True))


def _kind(t: "pa.DataType") -> object:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return _kind(t.value_type)
    if pa.types.is_timestamp(t):
        return ("timestamp", t.tz)
    for name, test in (
        ("int", pa.types.is_integer), ("float", pa.types.is_floating), ("bool", pa.types.is_boolean),
        ("str", lambda x: pa.types.is_string(x) or pa.types.is_large_string(x)),
        ("bytes", lambda x: pa.types.is_binary(x) or pa.types.is_large_binary(x) or pa.types.is_fixed_size_binary(x)),
        ("date", pa.types.is_date), ("time", pa.types.is_time), ("duration", pa.types.is_duration),
        ("decimal", pa.types.is_decimal),
    ):
        if test(t):
            return name
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return ("list", _kind(t.value_type))
    if pa.types.is_struct(t):
        return ("struct", tuple((t.field(i).name, _kind(t.field(i).type)) for i in range(t.num_fields)))
    return str(t)


def info_problems(info: "DatasetInfo") -> list[str]:
    """What in a ``dataset_info.json`` contradicts itself (split counts that are not the sum of their shards)."""
    problems = []
    for name, split in info.splits.items():
        total = sum(s.num_rows for s in split.shards)
        if split.num_rows != total:
            problems.append(f"{INFO_FILENAME}: split {name!r} records {split.num_rows} rows, its shards {total}")
        if not split.shards:
            problems.append(f"{INFO_FILENAME}: split {name!r} lists no files")
    return problems


def full_problems(directory: Path, info: "DatasetInfo", lock: "OutputRecord | None") -> tuple[list[str], list[str]]:
    """Re-hash everything of a prepared folder; ``(problems, notes)``.

    Each shard must hash to the sha256 in ``dataset_info.json`` and hold the
    rows it records (footer); ``dataset_info.json`` must agree with itself and
    with the committed output record ``lock`` when that record is of this
    build's snapshot and processing. A shard that holds other bytes than the
    committed ones is accepted only if its split's content fingerprint,
    recomputed from the files, is the committed one (a build here with another
    pyarrow writes other bytes for the same rows). A file or folder that
    ``dataset_info.json`` does not name is a problem too (a hidden one, such as
    an atomic write in progress, is not): whoever reads the folder's files
    rather than its record would take it for data.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from labdatasets.pinning.outputs import compare_info
    from labdatasets.processing.fingerprint import content_fingerprint

    problems = info_problems(info)
    notes: list[str] = []
    locked = lock is not None and lock.applies_to(info.snapshot_id, info.code_fingerprint)
    if lock is not None and locked:
        problems += compare_info(info, lock)
    committed = lock.shards if lock is not None and locked else {}
    for name, split in sorted(info.splits.items()):
        other_bytes = []
        for shard in split.shards:
            path = directory / shard.filename
            if not path.is_file():
                problems.append(f"prepared file {shard.filename}: missing")
                continue
            digest = sha256_file(path)
            if digest != shard.sha256:
                problems.append(f"prepared file {shard.filename}: corrupted")
                continue
            try:
                rows = pq.read_metadata(path).num_rows
            except (OSError, ValueError, pa.ArrowException) as exc:
                problems.append(f"prepared file {shard.filename}: unreadable footer ({exc})")
                continue
            if rows != shard.num_rows:
                problems.append(f"prepared file {shard.filename}: holds {rows} rows, {INFO_FILENAME} records {shard.num_rows}")
            want = committed.get(shard.filename)
            if want is not None and (want.sha256, want.num_bytes) != (digest, path.stat().st_size):
                other_bytes.append(path)
        if other_bytes and lock is not None:
            paths = [directory / s.filename for s in split.shards]
            try:
                fingerprint = content_fingerprint(paths)
            except (OSError, ValueError, pa.ArrowException) as exc:
                problems.append(f"split {name!r}: unreadable ({exc})")
                continue
            if fingerprint != lock.splits[name].fingerprint:
                problems.append(
                    f"split {name!r}: its rows have fingerprint {fingerprint[:16]}, committed "
                    f"{lock.splits[name].fingerprint[:16]}"
                )
            else:
                notes.append(
                    f"split {name!r}: other bytes than the committed ones ({', '.join(p.name for p in other_bytes)}), "
                    "the same rows (content fingerprint matches)"
                )
    # a file no record names: a reader of the folder's files (a glob, a pyarrow dataset) would take it for data
    named = {INFO_FILENAME} | {s.filename for split in info.splits.values() for s in split.shards}
    for entry in sorted(directory.iterdir()) if directory.is_dir() else []:
        if entry.name not in named and not entry.name.startswith("."):
            problems.append(
                f"prepared file {entry.name}: not named in {INFO_FILENAME} (remove it: a reader of the folder's "
                "files would take it for data)"
            )
    return problems, notes

