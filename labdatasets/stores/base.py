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
import os
import re
import tempfile
from pathlib import Path
from typing import Any, ClassVar
from collections.abc import Callable, Iterator

from labdatasets.errors import ConfigError, SnapshotCorruptedError, SnapshotNotFoundError
from labdatasets.stores.hashing import is_oid, sha256_file
from labdatasets.present.redact import redact

__all__ = ["ObjectInfo", "SnapshotStore", "object_key", "ref_key"]

_REF_RE = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")

Progress = Callable[[int], Any]


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    """An object in a store: its oid (sha256) and size in bytes; ``written`` is False if it existed."""

    oid: str
    size: int
    written: bool = True


def object_key(oid: str) -> str:
    """The relative key of an object: ``objects/ab/cdef...``."""
    if not is_oid(oid):
        raise ValueError(f"not a sha256 oid: {oid!r}")
    return f"objects/{oid[:2]}/{oid[2:]}"


def ref_key(name: str) -> str:
    """The relative key of a ref: ``refs/<name>`` (names are ``a/b.json``-like, no ``..``)."""
    if not _REF_RE.match(name) or any(part in (".", "..") for part in name.split("/")):
        raise ValueError(f"not a valid ref name: {name!r}")
    return f"refs/{name}"


class SnapshotStore(abc.ABC):
    """Base class of snapshot stores (``file://``, ``s3://``, ``gs://``)."""

    scheme: ClassVar[str]

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
        """Download ``oid`` to ``dest`` and verify it; a corrupted download is never left at ``dest``."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{oid[:12]}.", suffix=".incomplete", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            hashed = self._download(oid, tmp, progress)
            actual = hashed if hashed is not None else sha256_file(tmp)
            if actual != oid:
                raise self.corrupted(oid, actual, where=f"{redact(self.uri)}/{object_key(oid)}", context=context)
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

    def corrupted(self, oid: str, actual: str, *, where: str, context: str = "") -> SnapshotCorruptedError:
        about = f" of {context}" if context else ""
        dataset = context.split(" ", 1)[0] if context else "NAME:VERSION"
        return SnapshotCorruptedError(
            f"Snapshot object {oid[:12]}{about} is corrupted: expected sha256 {oid}, got {actual} "
            f"({where}). It was not used. Run 'labdatasets verify --repair {dataset}' to move it aside "
            "and fetch a good copy.",
            oid=oid,
            actual=actual,
            path=where,
        )
