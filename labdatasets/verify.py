"""``verify``: re-hash a version's snapshot objects and prepared files; optionally repair.

Repair never trusts a damaged byte: a corrupted object is moved to the store's
``quarantine/`` and fetched again (from the configured store, or from the
pinned local file when it still hashes to the pinned oid); damaged prepared
files are rebuilt from the pins.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from labdatasets.errors import SnapshotCorruptedError, SnapshotNotFoundError
from labdatasets.hashing import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.builder import DatasetBuilder

__all__ = ["VerifyReport", "verify"]


@dataclasses.dataclass
class VerifyReport:
    """What ``verify`` found. ``ok`` is True when nothing is left broken."""

    name: str
    objects_checked: int = 0
    files_checked: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)
    repaired: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(builder: "DatasetBuilder", *, repair: bool = False, progress: bool = True) -> VerifyReport:
    """Check every pinned object in this machine's store and every prepared file of ``builder``'s version."""
    from labdatasets.pinning import pin_context, snapshots_for

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
            context = f"{builder.full_name} {label}"
            report.objects_checked += 1
            try:
                if store.cache.has(obj.oid):
                    store.cache.verify(obj.oid, context=context)
                elif not store.same and store.primary.has(obj.oid):
                    report.notes.append(f"{label}: not cached on this machine; it is in {store.primary.uri}")
                    continue
                else:
                    raise store.cache.not_found(obj.oid, context=context)
            except (SnapshotCorruptedError, SnapshotNotFoundError) as exc:
                kind = "corrupted" if isinstance(exc, SnapshotCorruptedError) else "missing"
                if not repair:
                    report.problems.append(f"{label}: {kind}")
                    continue
                if kind == "corrupted":
                    store.cache.quarantine(obj.oid)
                try:
                    store.local_path(obj.oid, context=context, mirror=mirror)
                    report.repaired.append(f"{label}: {kind}, fetched a verified copy")
                except (SnapshotCorruptedError, SnapshotNotFoundError) as again:
                    report.problems.append(f"{label}: {kind} and could not be repaired: {again}")

    info = builder.prepared_info()
    if info is None:
        report.notes.append(f"not prepared in {builder.data_dir}")
        return report
    damaged = []
    for split in info.splits.values():
        for shard in split.shards:
            report.files_checked += 1
            path = builder.prepared_dir / shard.filename
            if not path.is_file():
                damaged.append(f"prepared file {shard.filename}: missing")
            elif sha256_file(path) != shard.sha256:
                damaged.append(f"prepared file {shard.filename}: corrupted")
    if damaged and repair:
        builder.build(overwrite=True, progress=progress)
        report.repaired.extend(f"{d}; rebuilt from the pins" for d in damaged)
    else:
        report.problems.extend(damaged)
    return report
