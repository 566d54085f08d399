"""Which class serves which URI scheme, and :func:`open_store`.

Backends are registered by dotted path (the fsspec pattern) so that no cloud
SDK is imported until a store of that scheme is opened.
"""

from __future__ import annotations

import importlib
import threading
import types
from pathlib import Path

from labdatasets.errors import ConfigError, MissingDependencyError
from labdatasets.stores.base import SnapshotStore

__all__ = ["open_store", "register_store", "known_stores"]

# scheme -> (class path, extra that installs its SDK)
_KNOWN: dict[str, tuple[str, str | None]] = {
    "file": ("labdatasets.stores.local:LocalStore", None),
    "gs": ("labdatasets.stores.gcs:GCSStore", "gcs"),
    "s3": ("labdatasets.stores.s3:S3Store", "s3"),
}
known_stores = types.MappingProxyType(_KNOWN)
_lock = threading.Lock()
_opened: dict[str, SnapshotStore] = {}


def register_store(scheme: str, class_path: str, *, extra: str | None = None, clobber: bool = False) -> None:
    """Register a store backend for ``scheme`` by dotted path ``module:Class``."""
    if scheme in _KNOWN and _KNOWN[scheme][0] != class_path and not clobber:
        raise ConfigError(
            f"Cannot register {class_path} for {scheme}:// snapshot stores: that scheme is already served by "
            f"{_KNOWN[scheme][0]}. Pick another scheme, or pass clobber=True to replace the backend."
        )
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
    cls: type[SnapshotStore] = getattr(module, attr)
    return cls


def open_store(uri: str) -> SnapshotStore:
    """Open (and cache per process) the store at ``uri``; a plain path means a ``file://`` store."""
    if "://" not in uri:
        uri = "file://" + str(Path(uri).expanduser().resolve())
    with _lock:
        store = _opened.get(uri)
        if store is None:
            store = _store_class(uri.split("://", 1)[0])(uri)
            _opened[uri] = store
        return store
