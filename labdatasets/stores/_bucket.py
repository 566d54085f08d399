"""What the ``s3://`` and ``gs://`` stores share: URIs, the key layout and verified downloads.

No SDK is imported here; :mod:`labdatasets.stores.s3` and
:mod:`labdatasets.stores.gcs` add the primitives of their service.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from labdatasets.errors import ConfigError, SnapshotNotFoundError
from labdatasets.present.redact import redact
from labdatasets.stores.hashing import copy_and_hash, is_oid
from labdatasets.stores.base import Progress, SnapshotStore, object_key

__all__ = ["BucketStore", "split_bucket_uri"]


def split_bucket_uri(uri: str, scheme: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``; ConfigError for another scheme or no bucket."""
    if not uri.startswith(f"{scheme}://"):
        raise ConfigError(f"{redact(uri)!r} is not a {scheme}:// URI; write it as {scheme}://bucket/prefix.")
    bucket, _, prefix = uri[len(scheme) + 3 :].partition("/")
    if not bucket:
        raise ConfigError(f"{redact(uri)!r} names no bucket; write it as {scheme}://bucket/prefix.")
    return bucket, prefix.strip("/")


class BucketStore(SnapshotStore):
    """Base of object-store backends: ``<prefix>/objects/ab/cdef...`` in one bucket."""

    remote = True

    def __init__(self, uri: str):
        super().__init__(uri)
        self.bucket_name, self.prefix = split_bucket_uri(self.uri, self.scheme)

    def no_bucket(self) -> SnapshotNotFoundError:
        """The error for a bucket that does not exist (``store_missing``: no object of it can be reached)."""
        return SnapshotNotFoundError(
            f"The snapshot store's bucket {self.bucket_name!r} does not exist ({redact(self.uri)}). Create the bucket, "
            "or correct the store's URI (LABDATASETS_SNAPSHOT_STORE, or LABDATASETS_SHARED_CACHE for the shared "
            "prepared cache).",
            store_missing=True,
        )

    def _under_prefix(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def key(self, oid: str) -> str:
        """The object key of ``oid`` in the bucket."""
        return self._under_prefix(object_key(oid))

    @property
    def objects_prefix(self) -> str:
        return self._under_prefix("objects/")

    def oid_of_key(self, key: str) -> str | None:
        oid = key[len(self.objects_prefix) :].replace("/", "")
        return oid if is_oid(oid) else None

    def quarantine_key(self, oid: str) -> str:
        return self._under_prefix(f"quarantine/{oid}.{int(time.time())}")

    @staticmethod
    def _write_verified(reader: Any, dest: Path, progress: Progress | None) -> str:
        """Copy a download to ``dest`` and return the sha256 of exactly what was written."""
        try:
            with open(dest, "wb", buffering=0) as out:
                actual, _ = copy_and_hash(reader, out, progress)
        finally:
            reader.close()
        return actual
