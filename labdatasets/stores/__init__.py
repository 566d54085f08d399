"""Snapshot stores by URI scheme, and the two-level view pins and builds use.

Backends are registered by dotted path (the fsspec pattern) so that no cloud
SDK is imported until a store of that scheme is opened::

    >>> from labdatasets import stores
    >>> stores.open_store("file:///tmp/lab-store")
    LocalStore('file:///tmp/lab-store')

:class:`Snapshots` puts the machine's local store (a cache) in front of the
configured snapshot store: pins write to the configured store, reads come from
the local cache and fall back to fetching (and verifying) from the configured
store. With nothing configured both are the same embedded local folder.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import threading
import types
from pathlib import Path
from typing import BinaryIO
from collections.abc import Callable

from labdatasets.errors import ConfigError, MissingDependencyError, SnapshotNotFoundError
from labdatasets.present.redact import redact
from labdatasets.stores.base import ObjectInfo, Progress, SnapshotStore, object_key
from labdatasets.stores.local import LocalStore

__all__ = ["SnapshotStore", "LocalStore", "ObjectInfo", "Snapshots", "open_store", "register_store", "known_stores", "object_key"]

# scheme -> (class path, extra that installs its SDK)
_KNOWN: dict[str, tuple[str, str | None]] = {
    "file": ("labdatasets.stores.local:LocalStore", None),
    "gs": ("labdatasets.stores.gcs:GCSStore", "gcs"),
    "s3": ("labdatasets.stores.s3:S3Store", "s3"),
}
known_stores = types.MappingProxyType(_KNOWN)
_lock = threading.Lock()
_cache: dict[str, SnapshotStore] = {}


def register_store(scheme: str, class_path: str, *, extra: str | None = None, clobber: bool = False) -> None:
    """Register a store backend for ``scheme`` by dotted path ``module:Class``."""
    if scheme in _KNOWN and _KNOWN[scheme][0] != class_path and not clobber:
        raise ValueError(f"store scheme {scheme!r} is already registered to {_KNOWN[scheme][0]}")
    _KNOWN[scheme] = (class_path, extra)


def _store_class(scheme: str) -> type[SnapshotStore]:
    if scheme not in _KNOWN:
        raise ConfigError(
            f"No snapshot store for scheme {scheme!r}; known schemes: {', '.join(sorted(_KNOWN))}"
        )
    path, extra = _KNOWN[scheme]
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if extra:
            raise MissingDependencyError.for_extra(exc.name or module_name, extra, f"The {scheme}:// snapshot store") from exc
        raise
    return getattr(module, attr)


def open_store(uri: str) -> SnapshotStore:
    """Open (and cache per process) the store at ``uri``."""
    if "://" not in uri:
        uri = "file://" + str(Path(uri).expanduser().resolve())
    with _lock:
        store = _cache.get(uri)
        if store is None:
            store = _store_class(uri.split("://", 1)[0])(uri)
            _cache[uri] = store
        return store


Mirror = Callable[[str], "Path | None"]


class Snapshots:
    """The local cache store in front of the configured snapshot store.

    Args:
        primary_uri: the configured snapshot store (where pins are written).
        cache_uri: this machine's local store; equal to ``primary_uri`` by default.
    """

    def __init__(self, primary_uri: str, cache_uri: str | None = None):
        self.primary = open_store(primary_uri)
        cache = open_store(cache_uri or primary_uri)
        if not isinstance(cache, LocalStore):
            raise ConfigError(f"the local snapshot cache must be a file:// store, got {redact(cache.uri)}")
        self.cache: LocalStore = cache

    @property
    def uris(self) -> tuple[str, str]:
        return (self.primary.uri, self.cache.uri)

    @classmethod
    def from_uris(cls, uris: tuple[str, str]) -> "Snapshots":
        return cls(uris[0], uris[1])

    @property
    def same(self) -> bool:
        return self.primary.uri == self.cache.uri

    def add_file(self, path: str | os.PathLike[str], *, progress: Progress | None = None) -> ObjectInfo:
        """Store a file in the configured store (and keep a copy in the local cache).

        The bytes are read and hashed once, on their way into the cache; the
        upload to a remote store reuses that hash.
        """
        return self._publish(self.cache.add_file(path, progress=progress))

    def add_stream(self, reader: BinaryIO, *, progress: Progress | None = None) -> ObjectInfo:
        """Store everything ``reader`` yields (a download), hashing it on the way in."""
        return self._publish(self.cache.add_stream(reader, progress=progress))

    def add_small(self, data: bytes) -> ObjectInfo:
        """Store a small object held in memory (hashed here, once)."""
        return self._publish(self.cache.add_small(data))

    def adopt_file(self, tmp: Path, oid: str) -> ObjectInfo:
        """Move a file that was hashed while it was written (to ``oid``) into the stores."""
        size = tmp.stat().st_size
        written = self.cache.put_verified_file(tmp, oid)
        return self._publish(ObjectInfo(oid, size, written))

    def add_bytes(self, data: bytes) -> ObjectInfo:
        return self._publish(self.cache.add_small(data))

    def _publish(self, info: ObjectInfo) -> ObjectInfo:
        if self.same:
            return info
        from labdatasets.present.progress import byte_progress

        bar = byte_progress(info.size, f"upload {info.oid[:12]} to {redact(self.primary.uri)}") if info.size > (8 << 20) else None
        return self.primary.put_known(self.cache.path(info.oid), info.oid, progress=bar)

    def has(self, oid: str) -> bool:
        return self.cache.has(oid) or (not self.same and self.primary.has(oid))

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
        if self.cache.has(oid):
            return self.cache.open_verified(oid, context=context)
        if not self.same and self.primary.has(oid):
            fd, tmp = tempfile.mkstemp(prefix="fetch.", dir=self.cache._tmp_dir())
            os.close(fd)
            self.primary.fetch(oid, tmp, progress=progress, context=context)
            self.cache.put_verified_file(Path(tmp), oid)
            # fetch() hashed these very bytes a moment ago: no second pass over them.
            return self.cache.path(oid)
        candidate = mirror(oid) if mirror else None
        if candidate is not None and Path(candidate).is_file():
            info = self.cache.add_file(candidate, progress=progress)
            if info.oid == oid:
                if not self.same and not self.primary.has(oid):
                    self.primary.add_file(self.cache.path(oid))
                return self.cache.open_verified(oid, context=context)
        about = f" ({context})" if context else ""
        where = redact(self.primary.uri) + ("" if self.same else f" or the local cache {self.cache.uri}")
        raise SnapshotNotFoundError(
            f"Snapshot object {oid[:12]}{about} is not in {where}"
            + (", and its local source no longer holds the pinned bytes" if mirror else "")
            + ". Point LABDATASETS_SNAPSHOT_STORE at the store it was pinned to (see the pin record), "
            "or ask the dataset owner to publish it."
        )

    def get_bytes(self, oid: str, *, context: str = "") -> bytes:
        return self.local_path(oid, context=context).read_bytes()
