"""``labdatasets lock NAME:VERSION``: build a version and commit what it produced (its output record).

The output record (:mod:`labdatasets.pinning.outputs`) is written next to the
pin record, ``snapshots/<name>/<version>.lock.json``, after a build whose
files were re-hashed. It is written once per version: locking again changes
nothing when the build gives the same rows, and is refused when it gives other
rows (a released version never changes; an unreleased one is locked again by
deleting its record first). ``publish`` writes it too when the version has none.
A record written before statistics existed gets them when its version is locked
again and gives the same rows: the statistics are added, nothing else changes.

Example::

    >>> result = lock_version(labdatasets.builder("product_a:1.2.0"))
    >>> result.path, result.written
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labdatasets.errors import PreparedDataError
from labdatasets.pinning.outputs import LockResult, write_output_record

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.processing.options import BuildOptions
    from labdatasets.builder import DatasetBuilder

__all__ = ["LockResult", "lock_version"]

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
