"""``verify``: re-hash a version's snapshot objects and prepared files; optionally repair or rebuild.

Repair never trusts a damaged byte: a corrupted object is moved to the store's
``quarantine/`` and fetched again (from the configured store, or from the
pinned local file when it still hashes to the pinned oid); damaged prepared
files are rebuilt from the pins.

``rebuild=True`` (``labdatasets verify --rebuild NAME:VERSION``) builds the
version again from its pins, in a temporary folder, with the processing code
that version is built with, and compares each split's content fingerprint with
the recorded one (the prepared ``dataset_info.json`` here, else the release in
the shared cache). It proves that the version is reproducible.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labdatasets.errors import LabDatasetsError, PreparedDataError, SnapshotCorruptedError, SnapshotNotFoundError
from labdatasets.prepared.folder import built_info
from labdatasets.prepared.shared_cache import fetch_if_published, published

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.processing.options import BuildOptions
    from labdatasets.builder import DatasetBuilder

__all__ = ["VerifyReport", "verify", "rebuild_and_compare", "repair_prepared"]


@dataclasses.dataclass
class VerifyReport:
    """What ``verify`` found. ``ok`` is True when nothing is left broken."""

    name: str
    objects_checked: int = 0
    files_checked: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)
    repaired: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    #: split -> content fingerprint of the rebuild (``rebuild=True`` only)
    rebuilt: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    builder: "DatasetBuilder",
    *,
    repair: bool = False,
    rebuild: bool = False,
    options: "BuildOptions | None" = None,
    progress: bool = True,
) -> VerifyReport:
    """Check every pinned object in this machine's store and every prepared file of ``builder``'s version.

    With ``rebuild``, also rebuild the version from its pins and compare content
    fingerprints with the recorded ones (see the module docstring).
    """
    report = _verify_files(builder, repair=repair, progress=progress)
    if rebuild:
        rebuild_and_compare(builder, report, options=options, progress=progress)
    return report


def _recorded_fingerprints(builder: "DatasetBuilder") -> tuple[dict[str, str], str] | None:
    info = builder.prepared_info()
    if info is not None:
        return {name: s.fingerprint for name, s in info.splits.items()}, f"the prepared data in {builder.prepared_dir}"
    release = published(builder)
    if release is not None:
        return dict(release.fingerprints), f"the shared cache ({release.published_at})"
    return None


def rebuild_and_compare(
    builder: "DatasetBuilder",
    report: VerifyReport | None = None,
    *,
    options: "BuildOptions | None" = None,
    progress: bool = True,
) -> VerifyReport:
    """Rebuild ``builder``'s version from its pins in a temporary folder; compare split fingerprints."""
    report = report or VerifyReport(builder.full_name)
    recorded = _recorded_fingerprints(builder)
    if recorded is None:
        report.problems.append(
            f"nothing recorded to compare a rebuild with: {builder.full_name} is neither prepared here nor published "
            "in the shared cache (build or load it first)"
        )
        return report
    expected, where = recorded
    builder.settings.home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rebuild-", dir=builder.settings.home) as tmp:
        settings = dataclasses.replace(builder.settings, data_dir=Path(tmp))
        fresh = type(builder)(config=builder.config_name, version=str(builder.version), settings=settings)
        fresh.build(options=options, progress=progress)
        info = built_info(fresh)
        got = {name: s.fingerprint for name, s in info.splits.items()}
    report.rebuilt = got
    for split in sorted(set(expected) | set(got)):
        want, have = expected.get(split), got.get(split)
        if want == have:
            report.notes.append(f"rebuilt split {split!r}: fingerprint {have[:16]} matches {where}")  # type: ignore[index]
        else:
            report.problems.append(
                f"rebuilt split {split!r}: fingerprint {(have or 'missing')[:16]} differs from {(want or 'missing')[:16]} "
                f"recorded in {where}; the version is not reproducible here (compare the environment in its "
                "dataset_info.json with this machine's)"
            )
    return report


def _check_object(
    report: VerifyReport, store: Any, oid: str, label: str, context: str, *, repair: bool, mirror: Any
) -> None:
    """Re-hash one snapshot object in this machine's store; quarantine and re-fetch it with ``repair``."""
    report.objects_checked += 1
    try:
        if store.verify_local(oid, context=context):
            return
        if not store.same and store.primary_has(oid):
            report.notes.append(f"{label}: not cached on this machine; it is in {store.primary_location}")
            return
        raise store.not_found(oid, context=context)
    except (SnapshotCorruptedError, SnapshotNotFoundError) as exc:
        if _store_missing(report, exc):
            return
        kind = "corrupted" if isinstance(exc, SnapshotCorruptedError) else "missing"
        if not repair:
            report.problems.append(f"{label}: {kind}")
            return
        if kind == "corrupted":
            store.quarantine_local(oid)
        try:
            store.local_path(oid, context=context, mirror=mirror)
            report.repaired.append(f"{label}: {kind}, fetched a verified copy")
        except (SnapshotCorruptedError, SnapshotNotFoundError) as again:
            if _store_missing(report, again):
                report.problems.append(f"{label}: {kind} and could not be repaired: the snapshot store's bucket does not exist")
                return
            report.problems.append(f"{label}: {kind} and could not be repaired: {again}")


def _store_missing(report: VerifyReport, exc: Exception) -> bool:
    """A store that is not there (its bucket does not exist): its message once, not each object as missing."""
    if not getattr(exc, "store_missing", False):
        return False
    if str(exc) not in report.problems:
        report.problems.append(str(exc))
    return True


def _verify_code(builder: "DatasetBuilder", record: Any, store: Any, report: VerifyReport, *, repair: bool) -> None:
    """The archived code objects, and this machine's copy of them under ``<home>/code/<fingerprint>/``."""
    import shutil

    from labdatasets.processing.code import _materialize, code_copy_dir, copy_problems

    root = type(builder).module_dir()
    by_oid = {f.oid: root / f.path for f in record.code_files}
    for entry in record.code_files:
        label = f"code file {entry.path!r} ({entry.oid[:12]})"
        _check_object(report, store, entry.oid, label, f"{builder.full_name} {label}", repair=repair, mirror=by_oid.get)
    if not record.code_files or not record.code_fingerprint:
        return
    copy = code_copy_dir(builder, record)
    if not copy.is_dir():
        return
    report.files_checked += len(record.code_files)
    problems = copy_problems(copy, record)
    if problems and repair:
        shutil.rmtree(copy, ignore_errors=True)
        try:
            _materialize(builder, record, store)
            report.repaired.extend(f"{p}; written again from the snapshot store" for p in problems)
        except LabDatasetsError as exc:
            report.problems.extend(f"{p}; could not be written again: {exc}" for p in problems)
    else:
        report.problems.extend(problems)


def _verify_files(builder: "DatasetBuilder", *, repair: bool, progress: bool) -> VerifyReport:
    from labdatasets.pinning.outputs import read_lock
    from labdatasets.pinning.pin import pin_context, snapshots_for
    from labdatasets.prepared.folder import full_problems

    report = VerifyReport(builder.full_name)
    record = builder.require_pin_record()
    store = snapshots_for(builder)
    sources = builder.sources()
    for name, pin in sorted(record.sources.items()):
        ctx = pin_context(builder, name, store, progress=progress)
        source = sources.get(name)
        mirror = source.mirror(pin, ctx) if source is not None and source.kind == pin.kind else None
        for obj in pin.objects:
            label = f"source {name!r} object {obj.path!r} ({obj.oid[:12]})"
            _check_object(report, store, obj.oid, label, f"{builder.full_name} {label}", repair=repair, mirror=mirror)
    _verify_code(builder, record, store, report, repair=repair)

    lock = read_lock(builder, record)  # raises when the committed records disagree: nothing to compare with
    try:
        info = builder.prepared_info()
    except PreparedDataError as exc:
        info, unreadable = None, str(exc)
    else:
        unreadable = ""
    if info is None and not unreadable:
        report.notes.append(f"not prepared in {builder.data_dir}")
        return report
    if info is not None:
        report.files_checked += sum(len(split.shards) for split in info.splits.values()) + 1
        damaged, notes = full_problems(builder.prepared_dir, info, lock)
        report.notes.extend(notes)
    else:
        damaged = [f"dataset_info.json: {unreadable}"]
    if not damaged:
        return report
    if not repair:
        report.problems.extend(damaged)
        return report
    repair_prepared(builder, progress=progress)
    info = builder.prepared_info()
    again, _ = full_problems(builder.prepared_dir, info, lock) if info is not None else (["not prepared"], [])
    if again:
        report.problems.extend(f"{d}; still damaged after a repair" for d in again)
    else:
        how = "fetched again from the shared cache or rebuilt from the pins"
        report.repaired.extend(f"{d}; {how}" for d in damaged)
    return report


def repair_prepared(
    builder: "DatasetBuilder",
    options: "BuildOptions | None" = None,
    *,
    progress: bool = True,
) -> Path:
    """Replace ``builder``'s prepared folder by a good one: downloaded again from the shared cache
    (checked against the committed records), else rebuilt from the pins."""
    record = builder.require_pin_record()
    path = fetch_if_published(builder, record, progress=progress, force=True) if builder.settings.shared_cache else None
    if path is None:
        path = builder.build(options=options, overwrite=True, progress=progress)
    builder.__dict__.pop("info", None)
    return path
