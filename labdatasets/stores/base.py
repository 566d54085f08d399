"""The snapshot store contract: content-addressed, write-once, verified on read.

An object is any byte string, named by its sha256 (its *oid*) and kept at
``<root>/objects/<oid[:2]>/<oid[2:]>``. Adding bytes that are already there
changes nothing; a write never replaces an existing object; every read is
re-hashed and a mismatch raises :class:`SnapshotCorruptedError` instead of
returning the bytes.

A backend implements five primitives (:meth:`has`, :meth:`_upload`,
:meth:`_download`, :meth:`iter_oids`, :meth:`_quarantine`); everything else,
including the hashing and the verification, is shared here so that every
backend keeps the same guarantees.

A store may also hold *refs*: small named, write-once records under
``<root>/refs/<name>`` (two more primitives, :meth:`_put_ref` and
:meth:`_get_ref`). The shared prepared cache uses them to find the published
data of ``name:version``; what a ref points to is always an object, verified
by its oid. Backends that do not implement them raise :class:`ConfigError`.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, ClassVar
from collections.abc import Callable, Iterator

from labdatasets.errors import ConfigError, SnapshotCorruptedError, SnapshotError, SnapshotNotFoundError, local_write_error
from labdatasets.stores.hashing import is_oid, sha256_file
from labdatasets.present.redact import redact

__all__ = ["ObjectInfo", "SnapshotStore", "object_key", "ref_key"]

# \Z, not $: "$" also matches before a final newline, which would let "a/b\n" through
_REF_RE = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*\Z")

Progress = Callable[[int], Any]

logger = logging.getLogger(__name__)

# Downloads of one object from a remote store before a hash mismatch is reported.
FETCH_TRIES = 3


def _about(context: str) -> str:
    return f" ({context})" if context else ""


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    """An object in a store: its oid (sha256) and size in bytes; ``written`` is False if it existed."""

    oid: str
    size: int
    written: bool = True


def object_key(oid: str) -> str:
    """The relative key of an object: ``objects/ab/cdef...``."""
    if not is_oid(oid):
        raise ConfigError(
            f"{oid!r} is not a snapshot object id (the sha256 of its bytes, 64 lowercase hex digits). Object ids "
            "come from pin records: if this one did, that pin record is damaged; restore it from version control."
        )
    return f"objects/{oid[:2]}/{oid[2:]}"


def ref_key(name: str) -> str:
    """The relative key of a ref: ``refs/<name>`` (names are ``a/b.json``-like, no ``..``)."""
    if not _REF_RE.match(name) or any(part in (".", "..") for part in name.split("/")):
        raise ConfigError(
            f"{name!r} is not a valid ref name in a snapshot store: use '/'-separated parts of letters, digits, "
            "'_', '.' and '-' (no empty, '.' or '..' parts), as in 'prepared/product_a/1.2.0.json'."
        )
    return f"refs/{name}"


class SnapshotStore(abc.ABC):
    """Base class of snapshot stores (``file://``, ``s3://``, ``gs://``)."""

    scheme: ClassVar[str]
    #: bytes come over a network (a damaged download is tried again; see :meth:`fetch`)
    remote: ClassVar[bool] = False

    def __init__(self, uri: str):
        self.uri = uri.rstrip("/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.uri)!r})"

    # ----------------------------------------------------------------- backend primitives
    @abc.abstractmethod
    def has(self, oid: str) -> bool:
        """Whether the store holds ``oid`` (without verifying it)."""

    @abc.abstractmethod
    def _upload(self, path: Path, oid: str, size: int, progress: Progress | None) -> bool:
        """Store the file at ``path``, known to hash to ``oid``. Never replace an existing object.

        Return True if written, False if the object already existed.
        """

    @abc.abstractmethod
    def _download(self, oid: str, dest: Path, progress: Progress | None) -> str | None:
        """Copy the raw bytes of ``oid`` to ``dest``; raise SnapshotNotFoundError if absent.

        A backend that hashes the bytes while writing them returns that sha256
        (saving a second pass over a large file); otherwise it returns None.
        """

    @abc.abstractmethod
    def iter_oids(self) -> Iterator[str]:
        """Every oid in the store, in no particular order."""

    @abc.abstractmethod
    def _quarantine(self, oid: str) -> None:
        """Move a corrupted object out of the way so that it can be re-fetched."""

    def _put_ref(self, name: str, data: bytes) -> bool:
        """Write ref ``name`` unless it exists (never replace); return True if written."""
        raise ConfigError(
            f"The {self.scheme}:// store {redact(self.uri)} cannot hold refs yet, which the shared prepared cache "
            "needs; use a store that implements _put_ref/_get_ref."
        )

    def _get_ref(self, name: str) -> bytes | None:
        """The bytes of ref ``name``, or None if there is none."""
        raise ConfigError(
            f"The {self.scheme}:// store {redact(self.uri)} cannot hold refs yet, which the shared prepared cache "
            "needs; use a store that implements _put_ref/_get_ref."
        )

    # ----------------------------------------------------------------- shared behaviour
    def put_ref(self, name: str, data: bytes) -> bool:
        """Write the small record ``refs/<name>`` once; return False (changing nothing) if it exists."""
        ref_key(name)
        return self._put_ref(name, data)

    def get_ref(self, name: str) -> bytes | None:
        """Read ``refs/<name>``, or None."""
        ref_key(name)
        return self._get_ref(name)

    def add_file(self, path: str | os.PathLike[str], *, progress: Progress | None = None) -> ObjectInfo:
        """Add the bytes of a file; return its oid. Existing objects are left as they are."""
        path = Path(path)
        oid = sha256_file(path)
        size = path.stat().st_size
        if self.has(oid):
            return ObjectInfo(oid, size, written=False)
        written = self._upload(path, oid, size, progress)
        return ObjectInfo(oid, size, written=written)

    def put_known(self, path: str | os.PathLike[str], oid: str, *, progress: Progress | None = None) -> ObjectInfo:
        """Add a file whose sha256 the caller just computed while writing it (no second hash).

        Used when the bytes were hashed on their way into the local cache; the
        store still re-hashes every read.
        """
        path = Path(path)
        size = path.stat().st_size
        if self.has(oid):
            return ObjectInfo(oid, size, written=False)
        return ObjectInfo(oid, size, written=self._upload(path, oid, size, progress))

    def add_bytes(self, data: bytes) -> ObjectInfo:
        """Add a small byte string (a manifest, a sheet export)."""
        with tempfile.NamedTemporaryFile(prefix=".labdatasets-", delete=False) as fh:
            fh.write(data)
            tmp = Path(fh.name)
        try:
            return self.add_file(tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def fetch(self, oid: str, dest: str | os.PathLike[str], *, progress: Progress | None = None, context: str = "") -> Path:
        """Download ``oid`` to ``dest`` and verify it; a corrupted download is never left at ``dest``.

        From a remote store (``remote = True``) a download that does not hash
        to ``oid`` is downloaded again (``FETCH_TRIES`` in all): bytes damaged in
        transit differ from one try to the next, a damaged stored object does not,
        and the final error says which it was. A read that keeps dropping ends
        with an error that says how much arrived (see :mod:`.retry`).
        """
        from labdatasets.stores.retry import TransferInterrupted

        dest = Path(dest)
        where = f"{redact(self.uri)}/{object_key(oid)}"
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{oid[:12]}.", suffix=".incomplete", dir=dest.parent)
        except OSError as exc:
            error = local_write_error(exc, f"fetching snapshot object {oid[:12]}{_about(context)} from {redact(self.uri)}", dest.parent)
            if error is None:
                raise
            raise error from exc
        os.close(fd)
        tmp = Path(tmp_name)
        seen: list[str] = []
        try:
            while True:
                try:
                    hashed = self._download(oid, tmp, progress)
                except TransferInterrupted as exc:
                    raise self.interrupted(oid, exc, context=context) from exc
                except OSError as exc:
                    error = local_write_error(exc, f"fetching snapshot object {oid[:12]}{_about(context)} from {redact(self.uri)}", tmp)
                    if error is None:
                        raise
                    raise error from exc
                actual = hashed if hashed is not None else sha256_file(tmp)
                if actual == oid:
                    break
                seen.append(actual)
                if not self.remote or len(seen) >= FETCH_TRIES:
                    raise self.corrupted(oid, actual, where=where, context=context, downloads=seen if self.remote else None)
                logger.warning("snapshot object %s%s arrived damaged from %s (sha256 %s); downloading it again",
                               oid[:12], _about(context), redact(self.uri), actual[:12])
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def get_bytes(self, oid: str, *, context: str = "") -> bytes:
        """Return the verified bytes of a small object."""
        with tempfile.TemporaryDirectory(prefix="labdatasets-") as tmp:
            return self.fetch(oid, Path(tmp) / oid, context=context).read_bytes()

    def verify(self, oid: str, *, context: str = "") -> None:
        """Re-hash ``oid``; raise SnapshotCorruptedError or SnapshotNotFoundError."""
        with tempfile.TemporaryDirectory(prefix="labdatasets-") as tmp:
            self.fetch(oid, Path(tmp) / oid, context=context)

    def quarantine(self, oid: str) -> None:
        """Move ``oid`` aside (``verify --repair`` does this before re-fetching)."""
        self._quarantine(oid)

    def not_found(self, oid: str, *, context: str = "") -> SnapshotNotFoundError:
        about = f" ({context})" if context else ""
        return SnapshotNotFoundError(
            f"Object {oid[:12]}{about} is not in the snapshot store {redact(self.uri)}. Check that "
            "LABDATASETS_SNAPSHOT_STORE points at the lab's store, or pin the version again under a new VERSION."
        )

    def interrupted(self, oid: str, exc: Any, *, context: str = "") -> SnapshotError:
        """The error for a download that kept dropping (``exc`` is a :class:`.retry.TransferInterrupted`)."""
        last = f" (last error: {redact(exc.last)})" if exc.last is not None else ""
        return SnapshotError(
            f"Downloading snapshot object {oid[:12]}{_about(context)} from the {self.scheme}:// store "
            f"{redact(self.uri)} failed: {exc.received:,} of {exc.expected:,} bytes arrived in {exc.attempts} "
            f"requests, each dropped or cut short{last}. Nothing was stored or used. Check the network and the "
            f"store's endpoint, then run the command again (LABDATASETS_TRANSFER_RETRIES, now {exc.attempts - 1}, "
            "allows more attempts)."
        )

    def corrupted(
        self, oid: str, actual: str, *, where: str, context: str = "", downloads: list[str] | None = None
    ) -> SnapshotCorruptedError:
        about = f" of {context}" if context else ""
        dataset = context.split(" ", 1)[0] if context else "NAME:VERSION"
        if downloads:
            if len(set(downloads)) > 1:
                advice = (
                    f"Each of {len(downloads)} downloads was damaged differently, so the bytes are being damaged on "
                    "the way (a proxy, a network device or this machine's memory), not in the store. Nothing was "
                    "used; check the network path to the store and run the command again."
                )
            else:
                advice = (
                    f"{len(downloads)} downloads gave the same wrong bytes, so the store's copy itself is probably "
                    f"damaged (this machine's cache was not involved and 'verify' will find nothing here). Nothing "
                    f"was used. Check it: download {where} and compare its sha256 with {oid}. If they differ, restore "
                    "the object from the bucket's versioning or a backup (or from a machine whose local cache holds "
                    f"a good copy), or pin {dataset} again under a new VERSION."
                )
            return SnapshotCorruptedError(
                f"Snapshot object {oid[:12]}{about} arrived damaged from {redact(self.uri)}: expected sha256 {oid}, "
                f"got {actual}. {advice}",
                oid=oid,
                actual=actual,
                path=where,
            )
        return SnapshotCorruptedError(
            f"Snapshot object {oid[:12]}{about} is corrupted: expected sha256 {oid}, got {actual} "
            f"({where}). It was not used. Run 'labdatasets verify --repair {dataset}' to move it aside "
            "and fetch a good copy.",
            oid=oid,
            actual=actual,
            path=where,
        )
