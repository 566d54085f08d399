"""What this machine holds for each dataset version, and pruning it.

Four kinds of things, per version:

* **pinned**: the version has a pin record (committed in ``snapshots/`` or kept
  on this machine under ``<home>/pins``). Pin records are never deleted here.
* **fetched**: the snapshot objects its pin names that sit in this machine's
  local store. When the snapshot store is remote, the local store is a cache in
  front of it and those copies can be pruned (they are fetched again, verified,
  when needed). When the snapshot store *is* the local store (the embedded
  default), they are the primary copy and are never pruned.
* **prepared**: the built splits in ``<data_dir>/<name>[/<config>]/<version>``.
  They can be pruned: a later load downloads them from the shared cache or
  rebuilds them from the pins.
* **published**: whether the shared cache (``LABDATASETS_SHARED_CACHE``) holds a
  release of the version. Nothing in the shared cache is ever deleted here.

Example::

    >>> from labdatasets.workflow import cache
    >>> report = cache.cache_report()
    >>> [(e.full_name, e.prepared_bytes) for e in report.entries]
    >>> cache.prune(older_than=cache.parse_age("30d"), dry_run=True).freed_bytes
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator

from labdatasets.errors import ConfigError, LabDatasetsError
from labdatasets.naming import DatasetReference
from labdatasets.prepared.folder import last_used

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.config import Settings

__all__ = ["CacheEntry", "CacheReport", "PruneItem", "PruneReport", "cache_report", "prune", "parse_age", "parse_size"]

logger = logging.getLogger(__name__)

INFO_FILENAME = "dataset_info.json"

_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$", re.IGNORECASE)
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)


def parse_age(text: str) -> float:
    """``"30d"`` -> seconds. Units: s, m, h, d (default), w."""
    match = _AGE_RE.match(str(text))
    if not match:
        raise ConfigError(f"Cannot read the age {text!r}: write a number and a unit, e.g. 30d, 12h, 2w")
    return float(match.group(1)) * _AGE_UNITS[(match.group(2) or "d").lower()]


def parse_size(text: str) -> int:
    """``"10GB"`` -> bytes. ``KB/MB/GB/TB`` are powers of 1000, ``KiB/MiB/GiB/TiB`` of 1024; a bare number is bytes."""
    match = _SIZE_RE.match(str(text))
    if not match:
        raise ConfigError(f"Cannot read the size {text!r}: write a number and a unit, e.g. 10GB, 500MiB, 2TB")
    unit = (match.group(2) or "b").lower()
    prefix = unit[:1] if unit[:1] in "kmgt" else ""
    base = 1024 if "i" in unit else 1000
    power = " kmgt".index(prefix) if prefix else 0
    return int(float(match.group(1)) * base**power)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return _dt.datetime.fromtimestamp(timestamp, tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def folder_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


@dataclasses.dataclass
class CacheEntry:
    """What this machine holds for one dataset version."""

    dataset: str
    config: str | None
    version: str
    pinned: bool = False
    pin_record: str | None = None
    objects: int = 0
    fetched_objects: int = 0
    fetched_bytes: int = 0
    objects_are_primary: bool = False
    prepared: bool = False
    prepared_dir: str | None = None
    prepared_bytes: int = 0
    last_used: str | None = None
    published: bool | None = None  # None: no shared cache configured, or it could not be read
    partial_bytes: int = 0  # shards of a published version fetched one by one (a slice or a stream)

    @property
    def full_name(self) -> str:
        return str(DatasetReference(self.dataset, self.config, self.version))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.full_name, **dataclasses.asdict(self)}


@dataclasses.dataclass
class CacheReport:
    """Every version this machine knows about, plus the local store's other objects."""

    data_dir: str
    local_store: str
    snapshot_store: str
    shared_cache: str | None
    entries: list[CacheEntry]
    other_objects: int = 0
    other_bytes: int = 0

    @property
    def store_is_primary(self) -> bool:
        return self.local_store == self.snapshot_store

    def to_json(self) -> dict[str, Any]:
        from labdatasets.present.redact import redact

        return {
            "data_dir": self.data_dir,
            "local_store": self.local_store,
            "snapshot_store": redact(self.snapshot_store),
            "shared_cache": redact(self.shared_cache) if self.shared_cache else None,
            "local_store_is_primary": self.store_is_primary,
            "versions": [e.to_json() for e in self.entries],
            "other_objects": self.other_objects,
            "other_bytes": self.other_bytes,
            "prepared_bytes": sum(e.prepared_bytes + e.partial_bytes for e in self.entries),
            "fetched_bytes": sum(e.fetched_bytes for e in self.entries) + self.other_bytes,
        }


def _prepared_folders(data_dir: Path) -> Iterator[tuple[str, str | None, str, Path]]:
    """``(dataset, config, version, folder)`` for each complete prepared folder under ``data_dir``."""
    if not data_dir.is_dir():
        return
    version_re = re.compile(r"^\d+\.\d+\.\d+\Z")
    for dataset in sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        for child in sorted(p for p in dataset.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if version_re.match(child.name):
                if (child / INFO_FILENAME).is_file():
                    yield dataset.name, None, child.name, child
            else:
                for version in sorted(p for p in child.iterdir() if p.is_dir() and version_re.match(p.name)):
                    if (version / INFO_FILENAME).is_file():
                        yield dataset.name, child.name, version.name, version


def _versions(settings: "Settings") -> Iterator[Any]:
    """A builder per (dataset, config, version) the registry knows."""
    from labdatasets import registry

    for name in registry.list_datasets():
        try:
            cls = registry.builder_cls(name)
        except LabDatasetsError as exc:
            logger.warning("skipping %s: %s", name, exc)
            continue
        configs: list[str | None] = [c.name for c in cls.BUILDER_CONFIGS] or [None]
        for config in configs:
            for version in cls.versions(config):
                yield cls(config=config, version=str(version), settings=settings)


def cache_report(settings: "Settings | None" = None, *, check_published: bool = True) -> CacheReport:
    """What is pinned, fetched, prepared and published, per version (see the module doc)."""
    from labdatasets.config import settings as resolve_settings
    from labdatasets.stores import open_store

    settings = settings or resolve_settings()
    local = open_store(settings.local_store)
    local_root = Path(local.uri[len("file://") :])
    primary = settings.local_store == settings.snapshot_store
    shared = None
    if settings.shared_cache and check_published:
        try:
            shared = open_store(settings.shared_cache)
        except LabDatasetsError as exc:
            logger.warning("cannot open the shared cache to see what is published: %s", exc)

    entries: dict[str, CacheEntry] = {}
    claimed: set[str] = set()
    for b in _versions(settings):
        entry = CacheEntry(b.name, b.config_name, str(b.version), objects_are_primary=primary)
        try:
            record = b.pin_record()
        except LabDatasetsError as exc:
            logger.warning("cannot read the pin record of %s: %s", b.full_name, exc)
            record = None
        if record is not None:
            entry.pinned = True
            entry.pin_record = str(record.path) if record.path else None
            oids = {o.oid: o.size for pin in record.sources.values() for o in pin.objects}
            oids.update({o.oid: o.size for o in record.code_files})
            entry.objects = len(oids)
            for oid, size in oids.items():
                if (local_root / _object_rel(oid)).is_file():
                    entry.fetched_objects += 1
                    entry.fetched_bytes += size
            claimed.update(oids)
        if shared is not None:
            from labdatasets.prepared.shared_cache import _ref_name

            try:
                entry.published = shared.get_ref(_ref_name(b)) is not None
            except LabDatasetsError as exc:
                logger.warning("cannot read the shared cache for %s: %s", b.full_name, exc)
        entries[entry.full_name] = entry
    for dataset, config, version, folder in _prepared_folders(settings.data_dir):
        entry = CacheEntry(dataset, config, version, objects_are_primary=primary)
        entry = entries.setdefault(entry.full_name, entry)
        entry.prepared = True
        entry.prepared_dir = str(folder)
        entry.prepared_bytes = folder_bytes(folder)
        entry.last_used = _iso(last_used(folder))
    from labdatasets.prepared.streaming import PARTIAL_DIR

    for dataset, config, version, folder in _prepared_folders(settings.data_dir / PARTIAL_DIR):
        entry = CacheEntry(dataset, config, version, objects_are_primary=primary)
        entry = entries.setdefault(entry.full_name, entry)
        entry.partial_bytes = folder_bytes(folder)
        entry.last_used = entry.last_used or _iso(last_used(folder))
    other = other_bytes = 0
    for oid in local.iter_oids() if hasattr(local, "iter_oids") else ():
        if oid not in claimed:
            other += 1
            try:
                other_bytes += (local_root / _object_rel(oid)).stat().st_size
            except OSError:
                pass
    listed = [e for e in entries.values() if e.pinned or e.prepared or e.published or e.partial_bytes]
    listed.sort(key=lambda e: (e.dataset, e.config or "", [int(x) for x in e.version.split(".")]))
    return CacheReport(
        data_dir=str(settings.data_dir),
        local_store=settings.local_store,
        snapshot_store=settings.snapshot_store,
        shared_cache=settings.shared_cache,
        entries=listed,
        other_objects=other,
        other_bytes=other_bytes,
    )


def _object_rel(oid: str) -> str:
    from labdatasets.stores.base import object_key

    return object_key(oid)


@dataclasses.dataclass
class PruneItem:
    """One thing ``prune`` removed (or would remove with ``dry_run``)."""

    kind: str  # "prepared", "partial" (shards fetched one by one) or "object"
    name: str  # a version's full name, or an object id
    path: str
    size: int
    last_used: str | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class PruneReport:
    removed: list[PruneItem]
    kept: list[str]
    dry_run: bool
    remaining_bytes: int

    @property
    def freed_bytes(self) -> int:
        return sum(i.size for i in self.removed)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "removed": [i.to_json() for i in self.removed],
            "freed_bytes": self.freed_bytes,
            "remaining_bytes": self.remaining_bytes,
            "kept": list(self.kept),
        }


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _protected_roots(settings: "Settings") -> list[Path]:
    """Folders nothing may be deleted from: a file:// snapshot store and a file:// shared cache."""
    roots = [Path(settings.snapshot_store[len("file://") :])] if settings.snapshot_store.startswith("file://") else []
    if settings.shared_cache and settings.shared_cache.startswith("file://"):
        roots.append(Path(settings.shared_cache[len("file://") :]))
    return roots


def _busy(settings: "Settings", folder: Path) -> bool:
    """Whether a build or download holds the version's lock right now."""
    from filelock import FileLock, Timeout

    rel = folder.relative_to(settings.data_dir)
    lock_path = settings.data_dir / ".locks" / ("--".join(rel.parts) + ".lock")
    if not lock_path.exists():
        return False
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def prune(
    settings: "Settings | None" = None,
    *,
    older_than: float | None = None,
    max_size: int | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneReport:
    """Remove prepared versions and fetched snapshot objects by age and/or total size.

    Args:
        older_than: seconds; remove what was not used for longer than this
            (a prepared folder's last load, an object's fetch time).
        max_size: bytes; then remove the least recently used until prepared data
            plus fetched objects take at most this much.
        dry_run: report what would be removed and remove nothing.

    Never removed: pin records, the snapshot store's own objects (the local store
    when it is the configured snapshot store), anything in the shared cache, and a
    version a build or download is writing at this moment.
    """
    from labdatasets.config import settings as resolve_settings

    if older_than is None and max_size is None:
        raise ConfigError("cache prune needs --older-than AGE and/or --max-size SIZE (e.g. --older-than 30d --max-size 10GB)")
    settings = settings or resolve_settings()
    now = time.time() if now is None else now
    protected = _protected_roots(settings)
    candidates: list[tuple[float, PruneItem]] = []
    kept: list[str] = []
    for dataset, config, version, folder in _prepared_folders(settings.data_dir):
        full = str(DatasetReference(dataset, config, version))
        if any(_inside(folder, root) for root in protected):
            kept.append(f"{full}: inside the snapshot store or shared cache")
            continue
        if _busy(settings, folder):
            kept.append(f"{full}: being built or downloaded now")
            continue
        used = last_used(folder)
        candidates.append((used, PruneItem("prepared", full, str(folder), folder_bytes(folder), _iso(used))))
    from labdatasets.prepared.streaming import PARTIAL_DIR

    for dataset, config, version, folder in _prepared_folders(settings.data_dir / PARTIAL_DIR):
        full = str(DatasetReference(dataset, config, version))
        if not any(_inside(folder, root) for root in protected):
            used = last_used(folder)
            candidates.append((used, PruneItem("partial", full, str(folder), folder_bytes(folder), _iso(used))))
    if settings.local_store != settings.snapshot_store:
        local_root = Path(settings.local_store[len("file://") :])
        if not any(_inside(local_root, root) for root in protected):
            objects = local_root / "objects"
            for prefix in sorted(objects.iterdir()) if objects.is_dir() else ():
                for path in sorted(prefix.iterdir()) if prefix.is_dir() else ():
                    st = path.stat()
                    candidates.append((st.st_mtime, PruneItem("object", prefix.name + path.name, str(path), st.st_size, _iso(st.st_mtime))))
    candidates.sort(key=lambda c: c[0])  # least recently used first
    chosen: list[PruneItem] = []
    remaining = sum(item.size for _, item in candidates)
    for used, item in candidates:
        too_old = older_than is not None and now - used > older_than
        too_big = max_size is not None and remaining > max_size
        if too_old or too_big:
            chosen.append(item)
            remaining -= item.size
    removed: list[PruneItem] = []
    primary = None
    for item in chosen:
        if item.kind == "object":
            if primary is None:
                from labdatasets.stores import open_store

                primary = open_store(settings.snapshot_store)
            try:
                in_primary = primary.has(item.name)
            except LabDatasetsError as exc:
                in_primary = False
                logger.warning("cannot reach the snapshot store to check %s: %s", item.name[:12], exc)
            if not in_primary:
                kept.append(f"object {item.name[:12]}: not found in the snapshot store, so this is its only copy")
                remaining += item.size
                continue
        removed.append(item)
        if dry_run:
            continue
        path = Path(item.path)
        if item.kind in ("prepared", "partial"):
            # Move aside first: a reader never sees a half-deleted version.
            trash = path.parent / f".pruning.{path.name}.{os.getpid()}"
            os.replace(path, trash)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            path.chmod(0o644)
            path.unlink(missing_ok=True)
    return PruneReport(removed=removed, kept=kept, dry_run=dry_run, remaining_bytes=remaining)
