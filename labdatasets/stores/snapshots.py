"""The store pins and builds use: this machine's local store in front of the configured one.

:class:`Snapshots` is a store in its own right, as fsspec's ``CachingFileSystem``
is a filesystem: it adds, holds and returns verified objects, and hides the
two stores it is made of. Pins write through it to the configured snapshot
store (the *primary*); reads come from this machine's local store (the
*cache*) and fall back to fetching, and verifying, from the primary. With
nothing configured both are the same embedded local folder::

    >>> from labdatasets.stores import Snapshots
    >>> store = Snapshots("s3://lab-snapshots/prod", "file:///home/me/.labdatasets/store")
    >>> path = store.local_path(oid, context="product_a:1.2.0 source 'orders'")

Every read is re-hashed, as in every store: :meth:`local_path` and
:meth:`get_bytes` return bytes only if they hash to the oid asked for. The
one exception is :meth:`added_path`, for an object this process has just
added (its bytes were hashed on their way in).

Nothing outside :mod:`labdatasets.stores` reaches into the two stores; what
callers need is a method or property here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO
from collections.abc import Callable

from labdatasets.errors import ConfigError, SnapshotNotFoundError
from labdatasets.present.redact import redact, redact_url
from labdatasets.stores.base import ObjectInfo, Progress
from labdatasets.stores.local import LocalStore
from labdatasets.stores.schemes import open_store

__all__ = ["Snapshots", "Mirror"]

#: ``mirror(oid)`` offers a local file believed to hold the bytes of ``oid`` (a pinned local source file)
Mirror = Callable[[str], "Path | None"]


class Snapshots:
    """This machine's local store in front of the configured snapshot store.

    Args:
        primary_uri: the configured snapshot store (where pins are written).
        cache_uri: this machine's local store (a ``file://`` folder); the primary by default.
    """

    def __init__(self, primary_uri: str, cache_uri: str | None = None):
        self._primary = open_store(primary_uri)
        cache = open_store(cache_uri or primary_uri)
        if not isinstance(cache, LocalStore):
            raise ConfigError(
                f"The local snapshot cache must be a file:// store, got {redact(cache.uri)}. Point LABDATASETS_HOME at a folder "
                "on this machine (the local store is its store/ folder)."
            )
        self._cache: LocalStore = cache

    def __repr__(self) -> str:
        if self.same:
            return f"Snapshots({redact(self._primary.uri)!r})"
        return f"Snapshots({redact(self._primary.uri)!r}, cache={self._cache.uri!r})"

    # ----------------------------------------------------------------- where the objects are
    def to_uris(self, *, share_cache: bool = True) -> tuple[str, str | None]:
        """``(snapshot store, local cache)``: what another process needs to open the same view.

        ``share_cache=False`` leaves the cache out (``None``): a process on another
        machine (a remote Beam worker) must not use this machine's folders, and
        :meth:`from_uris` gives it a temporary cache of its own. The URIs are not
        redacted: pass them to processes, never print them.
        """
        return (self._primary.uri, self._cache.uri if share_cache else None)

    @classmethod
    def from_uris(cls, uris: tuple[str, str | None]) -> "Snapshots":
        """The view :meth:`to_uris` describes; a cache of ``None`` becomes a new temporary folder."""
        primary, cache = uris
        if cache is None:  # a remote worker: a cache of its own, never the submitting machine's folders
            cache = "file://" + tempfile.mkdtemp(prefix="labdatasets-worker-cache-")
        return cls(primary, cache)

    @property
    def same(self) -> bool:
        """True when there is no separate configured store (the cache is the snapshot store)."""
        return self._primary.uri == self._cache.uri

    @property
    def primary_is_local(self) -> bool:
        """True when the configured snapshot store is a ``file://`` folder (on this machine or a mount)."""
        return self._primary.scheme == "file"

    @property
    def primary_location(self) -> str:
        """The configured snapshot store's URI with any credentials hidden (as pin records name it)."""
        return redact_url(self._primary.uri)

    # ----------------------------------------------------------------- adding objects
    def add_file(self, path: str | os.PathLike[str], *, progress: Progress | None = None) -> ObjectInfo:
        """Store a file in the configured store (and keep a copy in the local cache).

        The bytes are read and hashed once, on their way into the cache; the
        upload to a remote store reuses that hash.
        """
        return self._publish(self._cache.add_file(path, progress=progress))

    def add_stream(self, reader: BinaryIO, *, progress: Progress | None = None) -> ObjectInfo:
        """Store everything ``reader`` yields (a download), hashing it on the way in."""
        return self._publish(self._cache.add_stream(reader, progress=progress))

    def add_small(self, data: bytes) -> ObjectInfo:
        """Store a small object held in memory (hashed here, once)."""
        return self._publish(self._cache.add_small(data))

    def add_bytes(self, data: bytes) -> ObjectInfo:
        """Store a byte string (a manifest, a record); the same as :meth:`add_small`."""
        return self._publish(self._cache.add_small(data))

    def staging_dir(self) -> Path:
        """A folder on the local cache's filesystem for files to be moved in by :meth:`adopt_file`."""
        return self._cache.staging_dir()

    def adopt_file(self, tmp: Path, oid: str) -> ObjectInfo:
        """Move a file that was hashed while it was written (to ``oid``) into the stores.

        ``tmp`` should be in :meth:`staging_dir` so that the move is a rename.
        """
        size = tmp.stat().st_size
        written = self._cache.put_verified_file(tmp, oid)
        return self._publish(ObjectInfo(oid, size, written))

    def _publish(self, info: ObjectInfo) -> ObjectInfo:
        if self.same:
            return info
        from labdatasets.present.progress import byte_progress

        bar = byte_progress(info.size, f"upload {info.oid[:12]} to {redact(self._primary.uri)}") if info.size > (8 << 20) else None
        return self._primary.put_known(self._cache.path(info.oid), info.oid, progress=bar)

    # ----------------------------------------------------------------- looking objects up
    def has(self, oid: str) -> bool:
        """Whether the local cache or the configured store holds ``oid`` (without verifying it)."""
        return self._cache.has(oid) or (not self.same and self._primary.has(oid))

    def has_locally(self, oid: str) -> bool:
        """Whether this machine's cache holds ``oid`` (without verifying it)."""
        return self._cache.has(oid)

    def primary_has(self, oid: str) -> bool:
        """Whether the configured snapshot store holds ``oid`` (without verifying it)."""
        return self._primary.has(oid)

    # ----------------------------------------------------------------- reading objects
    def local_path(
        self,
        oid: str,
        *,
        context: str = "",
        mirror: Mirror | None = None,
        progress: Progress | None = None,
    ) -> Path:
        """A verified local path of ``oid``, fetching it into the cache if needed.

        ``mirror(oid)`` may offer a local file believed to hold the same bytes
        (a local source file that was pinned); it is used only if it hashes to ``oid``.
        """
        if self._cache.has(oid):
            return self._cache.open_verified(oid, context=context)
        if not self.same and self._primary.has(oid):
            fd, tmp = tempfile.mkstemp(prefix="fetch.", dir=self._cache.staging_dir())
            os.close(fd)
            try:
                self._primary.fetch(oid, tmp, progress=progress, context=context)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)  # a failed fetch leaves nothing in the cache
                raise
            self._cache.put_verified_file(Path(tmp), oid)
            # fetch() hashed these very bytes a moment ago: no second pass over them.
            return self._cache.path(oid)
        candidate = mirror(oid) if mirror else None
        if candidate is not None and Path(candidate).is_file():
            info = self._cache.add_file(candidate, progress=progress)
            if info.oid == oid:
                if not self.same and not self._primary.has(oid):
                    self._primary.add_file(self._cache.path(oid))
                return self._cache.open_verified(oid, context=context)
        raise self.not_found(oid, context=context, mirror=mirror is not None)

    def get_bytes(self, oid: str, *, context: str = "") -> bytes:
        """The verified bytes of a small object (fetched into the cache if needed)."""
        return self.local_path(oid, context=context).read_bytes()

    def added_path(self, oid: str) -> Path:
        """The local copy of an object this process has just added, read as it is (not re-hashed).

        Only for objects returned by :meth:`add_file`, :meth:`add_stream` or
        :meth:`add_small` a moment ago, whose bytes were hashed on their way in
        (a connector inspecting what it pinned); every other read goes through
        :meth:`local_path`, which re-hashes.
        """
        path = self._cache.path(oid)
        if not path.is_file():
            raise SnapshotNotFoundError(
                f"Snapshot object {oid[:12]} is not in the local store {self._cache.uri}, though it was just added: "
                "something removed it meanwhile (a 'labdatasets cache prune' in another process?). Run the command again."
            )
        return path

    # ----------------------------------------------------------------- checking this machine's copies
    def verify_local(self, oid: str, *, context: str = "") -> bool:
        """Re-hash this machine's copy of ``oid``: True if it is good, False if there is none.

        Raises :class:`~labdatasets.errors.SnapshotCorruptedError` (saying how to
        repair it) if the copy does not hash to ``oid``. Nothing is fetched.
        """
        if not self._cache.has(oid):
            return False
        self._cache.verify(oid, context=context)
        return True

    def quarantine_local(self, oid: str) -> None:
        """Move this machine's copy of ``oid`` aside (``verify --repair``); :meth:`local_path` then fetches it again."""
        self._cache.quarantine(oid)

    def not_found(self, oid: str, *, context: str = "", mirror: bool = False) -> SnapshotNotFoundError:
        """The error for an object neither store holds (``mirror``: a local source was tried too)."""
        about = f" ({context})" if context else ""
        where = redact(self._primary.uri) + ("" if self.same else f" or the local cache {self._cache.uri}")
        return SnapshotNotFoundError(
            f"Snapshot object {oid[:12]}{about} is not in {where}"
            + (", and its local source no longer holds the pinned bytes" if mirror else "")
            + ". Point LABDATASETS_SNAPSHOT_STORE at the store it was pinned to (the pin record's snapshot_store, "
            "for versions pinned since it is recorded), or ask whoever pinned it to push its objects there."
        )
