"""Snapshot stores by URI scheme, and the two-level store pins and builds use.

Backends are registered by dotted path (the fsspec pattern) so that no cloud
SDK is imported until a store of that scheme is opened::

    >>> from labdatasets import stores
    >>> stores.open_store("file:///tmp/lab-store")
    LocalStore('file:///tmp/lab-store')

:class:`Snapshots` (in :mod:`labdatasets.stores.snapshots`) puts the machine's
local store (a cache) in front of the configured snapshot store: pins write to
the configured store, reads come from the local cache and fall back to
fetching (and verifying) from the configured store. With nothing configured
both are the same embedded local folder.
"""

from __future__ import annotations

from labdatasets.stores.base import ObjectInfo, SnapshotStore, object_key
from labdatasets.stores.local import LocalStore
from labdatasets.stores.schemes import known_stores, open_store, register_store
from labdatasets.stores.snapshots import Snapshots

__all__ = ["SnapshotStore", "LocalStore", "ObjectInfo", "Snapshots", "open_store", "register_store", "known_stores", "object_key"]
