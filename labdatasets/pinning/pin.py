"""``pin``: read every source of a dataset version once and fix its bytes forever.

The sequence, for ``labdatasets pin product_a:1.2.0``:

1. refuse if the version already has a pin record (a pinned version never changes);
2. take a lock so that two processes pinning the same version do not race;
3. ask each source to store its bytes in the snapshot store (content-addressed,
   so bytes pinned before are not stored again), inside one
   :class:`~labdatasets.loaders.base.PinSession` that sources may share
   resources through (SQL sources on one connection read one consistent snapshot);
4. store each source's manifest and the version's snapshot manifest as objects;
5. store the builder folder's Python files (the version's processing code) as
   objects, so that the version can be rebuilt after the builder moves on;
6. write the pin record, refusing to replace one that appeared meanwhile.

If any source fails, no pin record is written; objects already stored stay in
the store (they are immutable and shared, and a retry reuses them).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from collections.abc import Callable

from labdatasets._version import __version__
from labdatasets.errors import LabDatasetsError, PinExistsError, SnapshotNotFoundError, SourceError
from labdatasets.stores.hashing import canonical_json
from labdatasets.pinning.record import PinRecord, SourcePin, utc_now
from labdatasets.present.progress import byte_progress, lock_file
from labdatasets.present.redact import redact

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.builder import DatasetBuilder
    from labdatasets.loaders.base import PinContext, PinSession
    from labdatasets.stores import Snapshots

__all__ = ["pin_builder", "snapshots_for", "pin_context", "ensure_objects"]

logger = logging.getLogger(__name__)


def snapshots_for(builder: "DatasetBuilder") -> "Snapshots":
    from labdatasets.stores import Snapshots

    s = builder.settings
    return Snapshots(s.snapshot_store, s.local_store)


def pin_context(
    builder: "DatasetBuilder", name: str, store: "Snapshots", *, progress: bool, session: "PinSession | None" = None
) -> "PinContext":
    from labdatasets.loaders.base import PinContext

    def make_progress(total: int | None, desc: str) -> Callable[[int], object]:
        return byte_progress(total, desc, enabled=progress)

    return PinContext(
        store=store,
        base_dir=builder.module_dir(),
        label=f"{builder.full_name} source {name!r}",
        progress=make_progress,
        settings=builder.settings,
        session=session,
    )


def pin_builder(builder: "DatasetBuilder", *, progress: bool = True) -> PinRecord:
    """Pin all sources of ``builder.version``; see the module docstring."""
    existing = builder.pin_record()
    if existing is not None:
        raise PinExistsError(
            f"{builder.full_name} is already pinned ({existing.path}). A pinned version never changes; to change "
            "its data, bump VERSION, add a RELEASE_NOTES entry and pin the new version."
        )
    from labdatasets.loaders.base import PinSession
    from labdatasets.processing.code import archive_code

    target = builder.pin_record_path()
    sources = builder.sources()
    store = snapshots_for(builder)
    lock = builder.settings.home / ".locks" / "pins" / (builder.full_name.replace("/", "--").replace(":", "-") + ".lock")
    # One session for all sources: SQL sources on one connection share one consistent snapshot.
    with lock_file(lock, f"pinning {builder.full_name}"), PinSession(sources) as session:
        if target.exists():
            raise PinExistsError(f"{builder.full_name} was pinned by another process meanwhile ({target}).")
        pinned: dict[str, SourcePin] = {}
        for name, source in sorted(sources.items()):
            ctx = pin_context(builder, name, store, progress=progress, session=session)
            logger.info("pinning %s", ctx.label)
            try:
                pin = source.pin(ctx)
            except SourceError as exc:
                if builder.PIN_INSTRUCTIONS:  # the builder says who can pin it and how
                    raise type(exc)(f"{exc} How to pin {builder.name}: {builder.PIN_INSTRUCTIONS}", source=exc.source) from exc
                raise
            except LabDatasetsError:
                raise
            except Exception as exc:  # noqa: BLE001 - connectors translate known errors; this is the backstop
                raise SourceError(
                    f"{ctx.label} failed while pinning: {redact(exc)}. No pin record was written.",
                    source=redact(source.describe()),
                ) from exc
            store.add_bytes(canonical_json(pin.manifest()))
            pinned[name] = pin
        record = PinRecord(
            dataset=builder.name,
            config=builder.config_name,
            version=str(builder.version),
            sources=pinned,
            pinned_at=utc_now(),
            code_fingerprint=builder.code_fingerprint(),
            labdatasets_version=__version__,
            code_files=archive_code(type(builder), store),
            # A shared store is worth naming; a local folder is this machine's business, not the repository's.
            snapshot_store=None if store.primary_is_local else store.primary_location,
        )
        store.add_bytes(record.manifest_bytes())
        path = record.write_new(target)
    if (builder.settings.home / "pins") in path.parents:
        logger.warning(
            "Pin record written to %s (this machine only). Copy it to the repository's snapshots/ "
            "and open a pull request so that everyone gets the same data.",
            path,
        )
    return PinRecord.read(path)


def ensure_objects(builder: "DatasetBuilder", record: PinRecord, store: "Snapshots", *, local: bool = True, progress: bool = True) -> None:
    """Make every pinned object available before a build reads it.

    ``local=True`` (local runners) puts each object in this machine's cache;
    ``local=False`` (remote runners) makes sure the configured store has it.
    Objects are fetched from the configured store or, for local sources, from
    the pinned files themselves when they still hash to the pinned oid.
    """
    sources = builder.sources()
    for name, pin in sorted(record.sources.items()):
        ctx = pin_context(builder, name, store, progress=progress)
        source = sources.get(name)
        mirror = source.mirror(pin, ctx) if source is not None and source.kind == pin.kind else None
        missing = [o for o in pin.objects if not (store.has_locally(o.oid) if local else store.primary_has(o.oid))]
        if not missing:
            continue
        bar = byte_progress(sum(o.size for o in missing), f"fetch {ctx.label}", enabled=progress)
        for obj in missing:
            try:
                store.local_path(obj.oid, context=f"{ctx.label} object {obj.path!r}", mirror=mirror, progress=bar)
            except SnapshotNotFoundError as exc:
                pinned_to = record.snapshot_store
                if pinned_to and pinned_to != store.primary_location:
                    raise SnapshotNotFoundError(
                        f"{exc} The pin record says {builder.full_name} was pinned to {pinned_to}: set "
                        f"LABDATASETS_SNAPSHOT_STORE={pinned_to} (with credentials that may read it).",
                        store_missing=exc.store_missing,
                    ) from exc
                raise
