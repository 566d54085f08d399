"""The shared prepared cache: build a version once, load it everywhere.

``labdatasets publish product_a:1.2.0`` uploads the prepared splits and
``dataset_info.json`` of a version to ``LABDATASETS_SHARED_CACHE`` (any store
URI: ``s3://...``, ``gs://...`` or ``file://...``). ``load`` on another machine
then downloads them, verified, instead of rebuilding, and builds from the pins
when the version was not published (or its published data cannot be used).

Layout (a snapshot store, so the same guarantees hold: content-addressed,
write-once, re-hashed on every read)::

    objects/ab/cdef...                          each shard and dataset_info.json, by sha256
    refs/prepared/<name>[/<config>]/<version>.json
                                                the release record of a version, written once

The release record names the version's snapshot id, its processing code
fingerprint, the oid of its ``dataset_info.json`` and the oid of every shard.
A download is used only if the snapshot id is the one in the version's pin
record and the processing fingerprint is the one that version is built with
(:func:`labdatasets.processing.code.expected_fingerprint`), and every byte hashes
to its oid. Nothing published is ever overwritten: publishing again changes
nothing, and publishing different content for a published version is refused.

Example::

    >>> labdatasets.builder("product_a:1.2.0").build()
    >>> publish(labdatasets.builder("product_a:1.2.0"))          # or: labdatasets publish product_a:1.2.0
    PublishResult(product_a:1.2.0 -> file:///shared/prepared, 3 files, 41,230 bytes uploaded)
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload
from collections.abc import Mapping

from labdatasets._version import __version__
from labdatasets.info import INFO_FILENAME, DatasetInfo
from labdatasets import safe_names
from labdatasets.prepared import folder
from labdatasets.errors import ConfigError, LabDatasetsError, LocalWriteError, PreparedDataError, SnapshotError
from labdatasets.naming import DatasetReference
from labdatasets.stores.hashing import canonical_json
from labdatasets.pinning.outputs import compare_info, read_lock
from labdatasets.pinning.record import utc_now
from labdatasets.present.progress import Stage, byte_progress
from labdatasets.present.redact import redact

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.processing.options import BuildOptions
    from labdatasets.builder import DatasetBuilder
    from labdatasets.pinning.outputs import OutputRecord
    from labdatasets.pinning.record import PinRecord
    from labdatasets.stores import SnapshotStore

__all__ = ["PublishResult", "Release", "publish", "published", "fetch", "fetch_if_published", "shared_store"]

logger = logging.getLogger(__name__)

RELEASE_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class Release:
    """The release record of a published version (``refs/prepared/...``)."""

    dataset: str
    config: str | None
    version: str
    snapshot_id: str
    code_fingerprint: str
    dataset_info: str
    files: tuple[tuple[str, str, int], ...]  # (filename, oid, size)
    fingerprints: Mapping[str, str]
    published_at: str = ""
    labdatasets_version: str = ""

    @property
    def full_name(self) -> str:
        return str(DatasetReference(self.dataset, self.config, self.version))

    @property
    def num_bytes(self) -> int:
        return sum(size for _, _, size in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "release_format": RELEASE_FORMAT,
            "dataset": self.dataset,
            "config": self.config,
            "version": self.version,
            "snapshot_id": self.snapshot_id,
            "code_fingerprint": self.code_fingerprint,
            "dataset_info": self.dataset_info,
            "files": [{"path": p, "oid": o, "size": n} for p, o, n in self.files],
            "fingerprints": dict(self.fingerprints),
            "published_at": self.published_at,
            "labdatasets_version": self.labdatasets_version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, where: str | None = None) -> "Release":
        """The release read from its record; ``where`` names the record in errors (default: by its own names).

        Every field is checked before it is shown, compared or reaches a filesystem: the cache is not trusted.
        Names, oids, the snapshot id and processing fingerprint (sha256), sizes (byte counts), the publication
        time and the labdatasets version must have the shape ``publish`` writes (or be empty where older
        records are).
        """
        if data.get("release_format") != RELEASE_FORMAT:
            raise SnapshotError(f"release record format {data.get('release_format')!r} is not {RELEASE_FORMAT}; upgrade labdatasets")
        hint = "Nothing was downloaded; the version is built from its pins instead. Tell whoever publishes it."
        said = where or "A release record in the shared cache"
        dataset = safe_names.dataset_name(data.get("dataset"), where=said, hint=hint)
        config = data.get("config")
        if config is not None:
            safe_names.config_name(config, where=said, hint=hint)
        version = safe_names.exact_version(data.get("version"), where=said, hint=hint)
        said = where or f"The release record of {DatasetReference(dataset, config, version)} in the shared cache"
        files = []
        for f in data["files"]:
            path = safe_names.shard_filename(f["path"], where=said, hint=hint)
            oid = safe_names.check_oid(f["oid"], where=said, hint=hint)
            files.append((path, oid, safe_names.byte_count(f.get("size"), where=said, what=f"size of file {path}", hint=hint)))
        safe_names.check_oid(data["dataset_info"], where=said, hint=hint)
        snapshot_id = safe_names.sha256_digest(data.get("snapshot_id"), where=said, what="snapshot id", hint=hint)
        code_fingerprint = data.get("code_fingerprint")
        if code_fingerprint != "":  # "" is what publish writes for a build that names no processing (never used)
            code_fingerprint = safe_names.sha256_digest(code_fingerprint, where=said, what="processing fingerprint", hint=hint)
        fingerprints = dict(data.get("fingerprints", {}))
        for split in fingerprints:
            safe_names.split_name(split, where=said, hint=hint)
        published_at = data.get("published_at", "")
        if published_at != "":  # "" in a record of before the field was filled in
            safe_names.utc_time(published_at, where=said, what="publication time", hint=hint)
        labdatasets_version = data.get("labdatasets_version", "")
        if labdatasets_version != "":  # "" in a record of before the field
            safe_names.package_version(labdatasets_version, where=said, hint=hint)
        return cls(
            dataset=dataset,
            config=config,
            version=version,
            snapshot_id=snapshot_id,
            code_fingerprint=code_fingerprint,
            dataset_info=data["dataset_info"],
            files=tuple(files),
            fingerprints=fingerprints,
            published_at=published_at,
            labdatasets_version=labdatasets_version,
        )

    def same_content(self, other: "Release") -> bool:
        return (self.snapshot_id, self.code_fingerprint, dict(self.fingerprints)) == (
            other.snapshot_id,
            other.code_fingerprint,
            dict(other.fingerprints),
        )


@dataclasses.dataclass(frozen=True)
class PublishResult:
    """What ``publish`` did: ``created`` is False when the identical release was already there."""

    release: Release
    cache_uri: str
    created: bool
    uploaded_bytes: int

    def __repr__(self) -> str:
        what = f"{len(self.release.files) + 1} files, {self.uploaded_bytes:,} bytes uploaded" if self.created else "already published"
        return f"PublishResult({self.release.full_name} -> {redact(self.cache_uri)}, {what})"


@overload
def shared_store(builder: "DatasetBuilder", *, required: Literal[True]) -> "SnapshotStore": ...
@overload
def shared_store(builder: "DatasetBuilder", *, required: bool = False) -> "SnapshotStore | None": ...
def shared_store(builder: "DatasetBuilder", *, required: bool = False) -> "SnapshotStore | None":
    """The shared cache's store (``LABDATASETS_SHARED_CACHE``), or None when none is configured."""
    from labdatasets.stores import open_store

    uri = builder.settings.shared_cache
    if uri is None:
        if required:
            raise ConfigError(
                "No shared cache is configured: set LABDATASETS_SHARED_CACHE (or shared_cache in the config "
                "file) to s3://bucket/prefix, gs://bucket/prefix or file:///path."
            )
        return None
    return open_store(uri)


def _ref_name(builder: "DatasetBuilder") -> str:
    parts = ["prepared", builder.name] + ([builder.config_name] if builder.config_name else [])
    return "/".join(parts) + f"/{builder.version}.json"


def published(builder: "DatasetBuilder") -> Release | None:
    """The release record of ``builder``'s version in the shared cache, or None."""
    store = shared_store(builder)
    if store is None:
        return None
    raw = store.get_ref(_ref_name(builder))
    if raw is None:
        return None
    try:
        release = Release.from_json(json.loads(raw), where=f"The release record of {builder.full_name} in {redact(store.uri)}")
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"The release record of {builder.full_name} in {redact(store.uri)} is unreadable: {exc}") from exc
    if release.full_name != builder.full_name:
        raise SnapshotError(f"The release record at {_ref_name(builder)} in {redact(store.uri)} is for {release.full_name}")
    return release


def _check_local_files(builder: "DatasetBuilder", info: DatasetInfo, lock: "OutputRecord | None") -> None:
    from labdatasets.prepared.folder import full_problems

    damaged, _ = full_problems(builder.prepared_dir, info, lock)
    if damaged:
        raise PreparedDataError(
            f"Prepared data of {builder.full_name} in {builder.prepared_dir} is missing or damaged "
            f"({'; '.join(damaged)}); nothing was published. Run 'labdatasets verify --repair {builder.full_name}' first."
        )


def publish(
    builder: "DatasetBuilder",
    options: "BuildOptions | None" = None,
    *,
    progress: bool = True,
) -> PublishResult:
    """Upload ``builder``'s prepared version to the shared cache (building it first if needed).

    Only a build of the version's pinned snapshot with the processing code it
    was pinned with is published. Raises :class:`PreparedDataError` if the
    version is already published with different content.
    """
    from labdatasets.processing.code import expected_fingerprint

    store = shared_store(builder, required=True)
    builder.build(options=options, progress=progress)
    record = builder.require_pin_record()
    info = folder.built_info(builder)
    if info.snapshot_id != record.snapshot_id or info.code_fingerprint != record.code_fingerprint:
        raise PreparedDataError(
            f"{builder.full_name} here was built by processing code {(info.code_fingerprint or '?')[:12]}, but the "
            f"version was pinned with {(record.code_fingerprint or '?')[:12]}: its processing changed without a new "
            "VERSION, so it is not published. Run 'labdatasets check' to see which version to bump."
        )
    wanted = expected_fingerprint(builder, record)
    if wanted != info.code_fingerprint:  # the processing code changed between the build and now
        raise PreparedDataError(
            f"{builder.full_name} here was built by processing code {(info.code_fingerprint or '?')[:12]}, but this "
            f"checkout builds it with {wanted[:12]}: its processing changed since the build, so it is not published. "
            f"Build it again ('labdatasets build {builder.full_name}') and publish, or run 'labdatasets check' to "
            "see whether the version needs a bump."
        )
    lock = read_lock(builder, record)
    _check_local_files(builder, info, lock)
    files = [(s.filename, s.sha256, s.num_bytes) for split in info.splits.values() for s in split.shards]
    info_path = builder.prepared_dir / INFO_FILENAME
    total = sum(size for _, _, size in files) + info_path.stat().st_size
    bar = byte_progress(total, f"publish {builder.full_name}", enabled=progress)
    uploaded = 0
    for filename, _, _ in files:
        added = store.add_file(builder.prepared_dir / filename, progress=bar)
        uploaded += added.size if added.written else 0
    info_obj = store.add_file(info_path, progress=bar)
    uploaded += info_obj.size if info_obj.written else 0
    release = Release(
        dataset=builder.name,
        config=builder.config_name,
        version=str(builder.version),
        snapshot_id=record.snapshot_id,
        code_fingerprint=info.code_fingerprint or "",
        dataset_info=info_obj.oid,
        files=tuple(files),
        fingerprints={name: s.fingerprint for name, s in info.splits.items()},
        published_at=utc_now(),
        labdatasets_version=__version__,
    )
    if store.put_ref(_ref_name(builder), canonical_json(release.to_json())):
        _record_outputs(builder, info, record, lock)
        return PublishResult(release, store.uri, True, uploaded)
    existing = published(builder)
    if existing is None:  # the release was there a moment ago (put_ref refused to replace it)
        raise PreparedDataError(
            f"The release of {builder.full_name} in {redact(store.uri)} was removed while this one was being "
            "published; nothing was changed. Publish again."
        )
    if not existing.same_content(release):
        differing = sorted(
            name
            for name in set(existing.fingerprints) | set(release.fingerprints)
            if existing.fingerprints.get(name) != release.fingerprints.get(name)
        )
        raise PreparedDataError(
            f"{builder.full_name} is already published in {redact(store.uri)} ({existing.published_at}) with other "
            f"content (splits {', '.join(differing) or 'none'} differ, or its snapshot or processing). The published "
            "data stays as it is. The same pins and code built different rows here: compare the environments in "
            "the two dataset_info.json files, and run 'labdatasets verify --rebuild' on both machines."
        )
    _record_outputs(builder, info, record, lock)
    return PublishResult(existing, store.uri, False, 0)


def _record_outputs(builder: "DatasetBuilder", info: DatasetInfo, record: "PinRecord", lock: "OutputRecord | None") -> None:
    """A version published without an output record gets one (to be committed) from the build it published."""
    if lock is None:
        from labdatasets.pinning.outputs import write_output_record

        write_output_record(builder, info, record)


def fetch(builder: "DatasetBuilder", record: "PinRecord", *, progress: bool = True, force: bool = False) -> Path | None:
    """Download the published data of ``builder``'s version into its prepared folder, verified.

    Returns the folder, or None when nothing usable is published (no shared
    cache, no release, a release of another snapshot or processing, or no
    committed output record to check it against). The release must be what
    the committed output record says: the same files and bytes, or (built
    with another pyarrow) the same rows, by content fingerprint. ``force``
    downloads again even if a prepared folder is there (a repair).
    """
    from labdatasets.prepared.folder import info_problems
    from labdatasets.processing.code import expected_fingerprint

    release = published(builder)
    if release is None:
        store = shared_store(builder)
        logger.warning(
            "%s is not published in the shared cache %s; building it from the pins (afterwards 'labdatasets publish "
            "%s' lets the next machine download it instead)",
            builder.full_name, redact(store.uri) if store is not None else "(none configured)", builder.full_name,
        )
        return None
    wanted = expected_fingerprint(builder, record)
    if release.snapshot_id != record.snapshot_id or release.code_fingerprint != wanted:
        logger.warning(
            "The shared cache holds %s built from snapshot %s with processing %s, but this version here means "
            "snapshot %s with processing %s; building it from the pins instead",
            builder.full_name, release.snapshot_id[:12], release.code_fingerprint[:12], record.snapshot_id[:12], wanted[:12],
        )
        return None
    lock = read_lock(builder, record)
    if lock is None or not lock.applies_to(release.snapshot_id, release.code_fingerprint):
        from labdatasets.pinning.outputs import lock_path

        logger.warning(
            "The shared cache holds %s, but %s has no output record of that build (%s) to check it against, and the "
            "cache's own records do not vouch for themselves; building it from the pins instead. Once it is built, "
            "run 'labdatasets lock %s' and commit the record.",
            builder.full_name, builder.full_name, lock_path(builder), builder.full_name,
        )
        return None
    committed = {s.filename: s for s in lock.shards.values()}
    if sorted(name for name, _, _ in release.files) != sorted(committed):
        raise SnapshotError(
            f"The release of {builder.full_name} in {redact(shared_cache_uri(builder))} lists other files than its "
            f"output record {lock.where}; it was not used."
        )
    store = shared_store(builder, required=True)
    final = builder.prepared_dir
    with folder.locked(builder, "downloading"):
        if not force:
            try:
                info = folder.read_info(final)
            except PreparedDataError:
                info = None
            if (
                info is not None
                and (info.snapshot_id, info.code_fingerprint) == (release.snapshot_id, release.code_fingerprint)
                and not folder.committed_problems(builder, info, record)
            ):
                return final  # another process fetched it meanwhile
        with folder.incomplete_dir(final) as tmp:
            with Stage(progress)(f"download {builder.full_name} from {redact(store.uri)}"):
                bar = byte_progress(release.num_bytes, f"download {builder.full_name}", enabled=progress)
                context = f"{builder.full_name} (shared cache)"
                store.fetch(release.dataset_info, tmp / INFO_FILENAME, context=context)
                info = DatasetInfo.read(tmp)
                problems = info_problems(info) + compare_info(info, lock)
                listed = sorted((s.filename, s.sha256) for split in info.splits.values() for s in split.shards)
                if listed != sorted((name, oid) for name, oid, _ in release.files):
                    problems.append("its dataset_info.json lists other files than its release record")
                if problems:
                    raise SnapshotError(
                        f"The release of {builder.full_name} in {redact(store.uri)} is not what its output record "
                        f"{lock.where} says ({'; '.join(problems[:5])}); it was not used."
                    )
                for filename, oid, _ in release.files:
                    # the name was checked against the strict pattern and is one the committed record lists
                    store.fetch(oid, tmp / committed[filename].filename, progress=bar, context=f"{context} file {filename}")
                _check_other_bytes(builder, release, lock, info, tmp, store.uri)
            folder.move_into_place(tmp, final, overwrite=True)
    logger.info("downloaded %s from the shared cache %s", builder.full_name, redact(store.uri))
    return final


def shared_cache_uri(builder: "DatasetBuilder") -> str:
    return builder.settings.shared_cache or ""


def _check_other_bytes(
    builder: "DatasetBuilder", release: Release, lock: "OutputRecord", info: DatasetInfo, directory: Path, uri: str
) -> None:
    """Splits published with other bytes than the committed ones must hold the committed rows."""
    from labdatasets.processing.fingerprint import content_fingerprint

    committed = lock.shards
    other = {name for name, oid, size in release.files if (committed[name].sha256, committed[name].num_bytes) != (oid, size)}
    for split_name, split in sorted(info.splits.items()):
        if not any(s.filename in other for s in split.shards):
            continue
        try:
            got = content_fingerprint([directory / s.filename for s in split.shards])
        except Exception as exc:  # noqa: BLE001 - any unreadable download is refused
            found = f"unreadable: {type(exc).__name__}"
        else:
            if got == lock.splits[split_name].fingerprint:
                continue
            found = f"fingerprint {got[:16]}"
        raise SnapshotError(
            f"The release of {builder.full_name} in {redact(uri)} holds other rows in split {split_name!r} than "
            f"its output record {lock.where} says ({found}, committed "
            f"{lock.splits[split_name].fingerprint[:16]}); it was not used."
        )


def fetch_if_published(
    builder: "DatasetBuilder", record: "PinRecord | None", *, progress: bool = True, force: bool = False
) -> Path | None:
    """Download ``builder``'s version from the shared cache when one is configured and holds it; else None.

    A shared cache that cannot be used (unreachable, damaged, another build) is
    logged and skipped: the caller then builds the version from its pins. A full
    local disk is raised: the build would fail on it too.
    """
    if record is None or not builder.settings.shared_cache:
        return None
    try:
        return fetch(builder, record, progress=progress, force=force)
    except LocalWriteError:
        raise
    except LabDatasetsError as exc:
        logger.warning("Could not use the shared cache for %s (%s); building it from the pins", builder.full_name, exc)
        return None
