"""``labdatasets lock NAME:VERSION``: build a version and commit what it produced (its output record).

The output record (:mod:`labdatasets.pinning.outputs`) is written next to the
pin record, ``snapshots/<name>/<version>.lock.json``, after a build whose
files were re-hashed. It is written once per version: locking again changes
nothing when the build gives the same rows, and is refused when it gives other
rows (a released version never changes; an unreleased one is locked again by
deleting its record first). ``publish`` writes it too when the version has none.

Example::

    >>> result = lock_version(labdatasets.builder("product_a:1.2.0"))
    >>> result.path, result.written
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from labdatasets.errors import PreparedDataError
from labdatasets.pinning.outputs import OutputRecord, OutputRecordError, compare_info, lock_path, read_lock
from labdatasets.pinning.record import utc_now

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.processing.options import BuildOptions
    from labdatasets.builder import DatasetBuilder
    from labdatasets.info import DatasetInfo
    from labdatasets.pinning.record import PinRecord

__all__ = ["LockResult", "lock_version", "write_output_record"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LockResult:
    """What ``lock`` did: ``written`` is False when the same record was there already."""

    record: OutputRecord
    path: Path
    written: bool


def write_output_record(builder: "DatasetBuilder", info: "DatasetInfo", record: "PinRecord") -> LockResult:
    """Write the output record of a prepared version whose files were just checked (see the module docstring)."""
    path = lock_path(builder)
    new = OutputRecord.of_info(info, record, locked_at=utc_now())
    try:
        existing = read_lock(builder, record)
    except OutputRecordError as exc:
        raise PreparedDataError(
            f"{exc} (If {builder.full_name} is not released yet, delete {path} and lock it again.)"
        ) from exc
    if existing is not None:
        problems = compare_info(info, existing)
        if problems:
            raise PreparedDataError(
                f"{builder.full_name} already has an output record ({path}) and this build is not what it says "
                f"({'; '.join(problems[:5])}). A released version's outputs never change: if this build is wrong, "
                f"compare the environment in dataset_info.json with the record's built_with; if {builder.full_name} "
                "is not released yet, delete the record and lock it again."
            )
        return LockResult(existing, path, False)
    new.write(path)
    logger.warning(
        "Output record written to %s: commit it with the pin record, so that every machine checks %s against it.",
        path, builder.full_name,
    )
    return LockResult(dataclasses.replace(new, path=path), path, True)


def lock_version(
    builder: "DatasetBuilder",
    options: "BuildOptions | None" = None,
    *,
    progress: bool = True,
) -> LockResult:
    """Build ``builder``'s version (or reuse its prepared folder), re-hash it and write its output record."""
    from labdatasets.prepared.folder import built_info, full_problems

    builder.build(options=options, progress=progress)
    record = builder.require_pin_record()
    info = built_info(builder)
    if (info.snapshot_id, info.code_fingerprint) != (record.snapshot_id, record.code_fingerprint):
        raise PreparedDataError(
            f"{builder.full_name} here was built by processing code {(info.code_fingerprint or '?')[:12]}, but the "
            f"version was pinned with {(record.code_fingerprint or '?')[:12]}: its processing changed without a new "
            "VERSION, so its outputs are not recorded. Run 'labdatasets check' to see which version to bump."
        )
    problems, _ = full_problems(builder.prepared_dir, info, None)
    if problems:
        raise PreparedDataError(
            f"Prepared data of {builder.full_name} in {builder.prepared_dir} is damaged ({'; '.join(problems[:5])}); "
            f"nothing was recorded. Run 'labdatasets verify --repair {builder.full_name}' first."
        )
    return write_output_record(builder, info, record)
