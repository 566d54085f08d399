"""``labdatasets check``: the pull-request gate on versions, release notes, pins and processing.

A published version must keep meaning the same rows. The gate fails when a
builder's processing or pins changed but its ``VERSION`` and ``RELEASE_NOTES``
did not, and says which version to bump. For every builder, config and version:

* every version has a non-empty ``RELEASE_NOTES`` entry;
* every version has a readable pin record (pin records are never edited: a hand
  edit breaks its hashes and is reported);
* the newest version's pin record names the builder's current processing code
  fingerprint: a changed builder needs a new ``VERSION`` (older versions then
  build from their archived code, see :mod:`labdatasets.processing.code`);
* an older version whose code moved on has its code archived in its pin record
  (otherwise a warning: it stays loadable from the shared cache only);
* with a shared cache configured, what was published for a version was built
  from the same snapshot and processing as its pin record says;
* pin records of versions the builder no longer lists are reported (warning).

Example::

    >>> report = check()
    >>> report.ok, [f.message for f in report.errors]
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING
from collections.abc import Iterable, Sequence

from labdatasets.errors import LabDatasetsError
from labdatasets.naming import DatasetReference, Version

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.builder import DatasetBuilder
    from labdatasets.pinning.outputs import OutputRecord
    from labdatasets.pinning.record import PinRecord

__all__ = ["Finding", "CheckReport", "check", "next_versions"]


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem: ``level`` is ``"error"`` (fails the gate) or ``"warning"``."""

    dataset: str
    level: str
    message: str


@dataclasses.dataclass
class CheckReport:
    """What ``check`` found; ``ok`` when there is no error."""

    checked: list[str] = dataclasses.field(default_factory=list)
    findings: list[Finding] = dataclasses.field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, dataset: str, message: str) -> None:
        self.findings.append(Finding(dataset, "error", message))

    def warning(self, dataset: str, message: str) -> None:
        self.findings.append(Finding(dataset, "warning", message))


def next_versions(version: str | Version) -> tuple[str, str, str]:
    """``(patch, minor, major)`` bumps of ``version``: ``1.2.0`` gives ``1.2.1``, ``1.3.0``, ``2.0.0``."""
    v = Version(version)
    return f"{v.major}.{v.minor}.{v.patch + 1}", f"{v.major}.{v.minor + 1}.0", f"{v.major + 1}.0.0"


def _bump_advice(b: "DatasetBuilder") -> str:
    patch, minor, major = next_versions(b.version)
    where = f"the version of config {b.config_name!r}" if b.builder_config and b.builder_config.version else "VERSION"
    return (
        f"Bump {where} to {minor} ({patch} if every row stays the same, {major} if rows or splits change "
        f"incompatibly), add RELEASE_NOTES['{minor}'] saying what changed, and run "
        f"'labdatasets pin {DatasetReference(b.name, b.config_name, minor)}'. "
        f"{b.version} keeps building from its archived code."
    )


def _configs(cls: type["DatasetBuilder"]) -> list[str | None]:
    return [c.name for c in cls.BUILDER_CONFIGS] or [None]


def _check_version(b: "DatasetBuilder", report: CheckReport, *, newest: bool, current: str) -> None:
    from labdatasets.prepared.shared_cache import published

    name = b.full_name
    report.checked.append(name)
    _check_expectations(b, report)
    notes = type(b).release_notes_for(b.config_name)
    if not notes.get(str(b.version), "").strip():
        report.error(name, f"{name} has no RELEASE_NOTES entry; add RELEASE_NOTES['{b.version}'] saying what this version is.")
    try:
        record = b.pin_record()
    except LabDatasetsError as exc:
        report.error(name, str(exc))
        return
    if record is None and type(b).PIN_INSTRUCTIONS:
        report.warning(name, f"{name} is awaiting its pin record; how it is pinned: {type(b).PIN_INSTRUCTIONS}")
        return
    if record is None:
        report.error(
            name,
            f"{name} is not pinned; run 'labdatasets pin {name}' and commit its pin record "
            f"({b.pin_record_path()}).",
        )
        return
    pinned = record.code_fingerprint
    if newest and pinned and pinned != current:
        report.error(
            name,
            f"The processing code of {b.name} changed since {name} was pinned (pinned {pinned[:12]}, now "
            f"{current[:12]}), but {name} is still the newest version. {_bump_advice(b)}",
        )
    elif not newest and pinned and pinned != current and not record.code_files:
        report.warning(
            name,
            f"{name} was pinned before pin records kept the processing code, and the builder's code has changed "
            "since: it can be loaded from the shared cache, not rebuilt.",
        )
    lock = _check_outputs(b, record, report, current=current)
    try:
        release = published(b)
    except LabDatasetsError as exc:
        report.warning(name, f"could not read the shared cache: {exc}")
        return
    if release is not None and lock is None and not b.is_committed():
        report.error(name, f"{name} is published in the shared cache, so it is released: {_lock_advice(b)}")
    if release is not None and (release.snapshot_id, release.code_fingerprint) != (record.snapshot_id, pinned):
        report.error(
            name,
            f"{name} was published on {release.published_at} from snapshot {release.snapshot_id[:12]} with processing "
            f"{release.code_fingerprint[:12]}, but its pin record now names snapshot {record.snapshot_id[:12]} with "
            f"processing {(pinned or '?')[:12]}: a released version was re-pinned. Restore its pin record from git, "
            f"and pin the change as a new version. {_bump_advice(b)}",
        )


def _lock_advice(b: "DatasetBuilder") -> str:
    from labdatasets.pinning.outputs import lock_path

    return (
        f"it has no output record. Run 'labdatasets lock {b.full_name}' and commit {lock_path(b)} with its pin "
        "record, so that every machine checks the prepared data, the shared cache and other builds against it."
    )


def _check_outputs(b: "DatasetBuilder", record: "PinRecord", report: CheckReport, *, current: str) -> "OutputRecord | None":
    """The committed output record: required for a released version, and consistent with the pin record.

    A version is *built for release* once its pin record is committed with the
    repository (``snapshots/``) or it is published in the shared cache. The
    output record pins the pin record's digest, so an edit of its
    ``code_fingerprint`` or ``code_files`` is reported here.
    """
    from labdatasets.processing.code import code_paths
    from labdatasets.pinning.outputs import read_lock
    from labdatasets.stores.hashing import sha256_file

    name = b.full_name
    if record.code_files and record.code_fingerprint == current:
        root = type(b).module_dir()
        listed = sorted((f.path, f.oid) for f in record.code_files)
        actual = sorted((p, sha256_file(root / p)) for p in code_paths(root))
        if listed != actual:
            report.error(
                name,
                f"The code_files of {record.path} are not the builder's files, though its code_fingerprint is: the "
                "record was edited. Restore it from git.",
            )
    try:
        lock = read_lock(b, record)
    except LabDatasetsError as exc:
        report.error(name, str(exc))
        return None
    if lock is None and b.is_committed():
        report.error(name, f"{name} is pinned in the repository, so it is released: {_lock_advice(b)}")
    return lock


def _check_expectations(b: "DatasetBuilder", report: CheckReport) -> None:
    """Declared expectations must fit the features (error); the rules a prepared or recorded build of
    this version broke as warnings are listed (warning)."""
    from labdatasets.expectations import Violation, resolve
    from labdatasets.processing.split_names import recorded_splits

    name = b.full_name
    try:
        info = b.declared_info()
        resolve(info.features, key=info.key_columns, group_key=info.group_key, declared=info.expectations, where=name)
    except LabDatasetsError as exc:
        report.error(name, str(exc))
        return
    found: list[dict] = []
    prepared = b.prepared_info() if b.is_prepared() else None
    if prepared is not None and prepared.validation:
        found = list(prepared.validation.get("violations", []))
    else:
        found = list(recorded_splits(type(b)).get(name, {}).get("violations", []))
    for data in found:
        violation = Violation.from_json(data)
        report.warning(name, f"{name} {violation.message()} (severity {violation.severity}, as recorded by its last build)")


def _orphan_pins(cls: type["DatasetBuilder"], config: str | None, known: Iterable[str], b: "DatasetBuilder", report: CheckReport) -> None:
    folder = b.pin_record_path().parent
    if not folder.is_dir():
        return
    known = set(known)
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".lock.json"):
            if path.name[: -len(".lock.json")] not in known:
                report.warning(
                    str(DatasetReference(cls.name, version=path.name[: -len(".lock.json")])),
                    f"{path} is the output record of a version the builder no longer lists; delete it on purpose.",
                )
            continue
        if path.stem not in known:
            label = str(DatasetReference(cls.name, config, path.stem))
            report.warning(
                label,
                f"{path} pins {label}, which the builder no longer lists in VERSION or SUPPORTED_VERSIONS; "
                "it cannot be loaded. Keep the version listed, or delete the record on purpose.",
            )


def check(names: Sequence[str] | None = None) -> CheckReport:
    """Run the gate over ``names`` (default: every builder in the repository and installed plugins)."""
    from labdatasets import registry

    report = CheckReport()
    # Discovered builders only: classes registered at run time (notebooks, tests) are not in a pull request.
    for name in names or sorted(registry.locations()):
        try:
            cls = registry.builder_cls(name)
        except LabDatasetsError as exc:
            report.error(name, str(exc))
            continue
        current = cls.code_fingerprint()
        for config in _configs(cls):
            versions = cls.versions(config)
            for version in versions:
                b = cls(config=config, version=str(version))
                _check_version(b, report, newest=version == versions[0], current=current)
            _orphan_pins(cls, config, (str(v) for v in versions), cls(config=config), report)
    return report
