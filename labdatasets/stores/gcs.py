"""The ``gs://bucket/prefix`` snapshot store, and the google-cloud-storage plumbing GCS sources share.

Objects live at ``gs://bucket/prefix/objects/ab/cdef...``.

* **Never replace.** Every upload carries ``ifGenerationMatch=0`` (create
  only); a 412 means the bytes are already there. The store also checks for
  the object first, because not every GCS-compatible server enforces the
  precondition (gcp-storage-emulator ignores it; the tests check that the
  requests carry it anyway).
* **Checked both ways.** Uploads send a CRC32C the server verifies; fetches are
  re-hashed with SHA-256 while they are written.

Credentials come from ``GOOGLE_APPLICATION_CREDENTIALS`` / Application Default
Credentials; ``STORAGE_EMULATOR_HOST`` points the client at an emulator.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions
from google.cloud import storage

from labdatasets.errors import SnapshotError, SnapshotNotFoundError
from labdatasets.present.redact import redact
from labdatasets.stores._bucket import BucketStore
from labdatasets.stores.base import Progress, ref_key
from labdatasets.stores.retry import resilient_range, retrying
from labdatasets.stores.transfer import RangedReader, parallel_ranges

__all__ = ["GCSStore", "gcs_client", "blob_reader"]

logger = logging.getLogger(__name__)

_UNAVAILABLE = (gexc.ServiceUnavailable, gexc.GatewayTimeout, gexc.InternalServerError, gexc.TooManyRequests)


# Connections kept per host: enough for every small-object download in flight
# (loaders._objects.SMALL_OBJECT_WORKERS) and the ranges of a large one.
POOL_CONNECTIONS = 32


# Every SDK error a store call can raise: API errors and credential errors (refused, missing, expired).
_SDK_ERRORS = (gexc.GoogleAPIError, auth_exceptions.GoogleAuthError)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed read is worth asking again: a dropped, cut or timed-out answer, or a 5xx."""
    import http.client

    import requests

    if isinstance(exc, (*_UNAVAILABLE, gexc.BadGateway)):
        return True
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                        http.client.HTTPException, ConnectionError, TimeoutError)):
        return True
    try:
        from google.resumable_media import common
    except ImportError:  # pragma: no cover - shipped with google-cloud-storage
        return False
    return isinstance(exc, common.InvalidResponse) and int(getattr(exc.response, "status_code", 0) or 0) >= 500


def gcs_client() -> Any:
    """A google-cloud-storage client from Application Default Credentials (or the emulator).

    Its HTTP session keeps ``POOL_CONNECTIONS`` connections (requests keeps 10,
    and drops, with a warning, every connection beyond them that parallel
    downloads opened).
    """
    import requests.adapters

    client = storage.Client()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_CONNECTIONS)
    for prefix in ("https://", "http://"):
        client._http.mount(prefix, adapter)
    return client


def blob_reader(blob: Any, size: int) -> RangedReader:
    """A sequential reader over one blob generation, fetched in parallel 8 MiB ranges."""

    def read_range(start: int, end: int) -> bytes:
        # checksum=None: a range has no whole-object checksum; the caller hashes every byte.
        return blob.download_as_bytes(start=start, end=end - 1, checksum=None, raw_download=True)

    def fetch(start: int, end: int) -> bytes:
        # A dropped or cut answer asks again from the first missing byte (bounded; see stores.retry).
        return resilient_range(start, end, read_range, transient=is_transient)

    # One range at a time when parallel reads are off: sequential reads of one generation.
    return RangedReader(size, fetch, workers=None if parallel_ranges(size) else 1)


class GCSStore(BucketStore):
    """A snapshot store in a Google Cloud Storage bucket; see the module docstring."""

    scheme = "gs"

    def __init__(self, uri: str):
        super().__init__(uri)
        try:
            self.client = gcs_client()
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "opening") from exc
        self.bucket = self.client.bucket(self.bucket_name)

    def _fail(self, exc: BaseException, doing: str) -> SnapshotError:
        where = redact(self.uri)
        if isinstance(exc, auth_exceptions.DefaultCredentialsError):
            return SnapshotError(
                f"No Google credentials found while {doing} the snapshot store {where}. Set "
                "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run 'gcloud auth "
                "application-default login'."
            )
        if isinstance(exc, auth_exceptions.GoogleAuthError):
            return SnapshotError(
                f"Google refused the credentials while {doing} the snapshot store {where} ({redact(exc)}). The key "
                "in GOOGLE_APPLICATION_CREDENTIALS (or the 'gcloud auth application-default login' session) is "
                "revoked, expired or not valid; replace it, then run the command again."
            )
        if isinstance(exc, (gexc.Forbidden, gexc.Unauthorized)):
            return SnapshotError(
                f"Access denied {doing} the snapshot store {where}. Check GOOGLE_APPLICATION_CREDENTIALS (or "
                "'gcloud auth application-default login') and the bucket's permissions."
            )
        if isinstance(exc, gexc.NotFound):
            return SnapshotNotFoundError(f"The snapshot store's bucket {self.bucket_name!r} does not exist ({where}).")
        # The SDK itself asks again after a dropped connection or a 5xx, for two minutes, then raises RetryError.
        gave_up = isinstance(exc, gexc.RetryError) and is_transient(exc.cause)
        if gave_up or isinstance(exc, _UNAVAILABLE) or isinstance(exc, (ConnectionError, TimeoutError)):
            return SnapshotError(f"Cannot reach the snapshot store {where} while {doing} it: {redact(exc)}. Try again later.")
        return SnapshotError(f"The snapshot store {where} failed while {doing} it: {redact(exc)}")

    def has(self, oid: str) -> bool:
        try:
            return bool(retrying(self.bucket.blob(self.key(oid)).exists, transient=is_transient))
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "checking") from exc

    def _upload(self, path: Path, oid: str, size: int, progress: Progress | None) -> bool:
        blob = self.bucket.blob(self.key(oid))
        try:
            if blob.exists():  # see the module docstring: not every server enforces the precondition
                return False
            blob.upload_from_filename(str(path), if_generation_match=0, checksum="crc32c")
        except gexc.PreconditionFailed:
            return False
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "writing to") from exc
        if progress:
            progress(size)
        return True

    def _download(self, oid: str, dest: Path, progress: Progress | None) -> str:
        try:
            blob = retrying(lambda: self.bucket.get_blob(self.key(oid)), transient=is_transient)
            if blob is None:
                raise self.not_found(oid)
            # Read that generation through the client's own endpoint (the listing's mediaLink may name another host).
            generation = self.bucket.blob(self.key(oid), generation=blob.generation)
            return self._write_verified(blob_reader(generation, int(blob.size or 0)), dest, progress)
        except gexc.NotFound as exc:
            raise self.not_found(oid) from exc
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "reading from") from exc

    def iter_oids(self) -> Iterator[str]:
        try:
            for blob in self.client.list_blobs(self.bucket_name, prefix=self.objects_prefix):
                oid = self.oid_of_key(blob.name)
                if oid:
                    yield oid
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "listing") from exc

    def _put_ref(self, name: str, data: bytes) -> bool:
        blob = self.bucket.blob(self._under_prefix(ref_key(name)))
        try:
            if blob.exists():  # as for objects: not every server enforces the precondition
                return False
            blob.upload_from_string(data, if_generation_match=0, checksum="crc32c")
            return True
        except gexc.PreconditionFailed:
            return False  # the first writer wins; a ref is never replaced
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "writing to") from exc

    def _get_ref(self, name: str) -> bytes | None:
        try:
            blob = self.bucket.blob(self._under_prefix(ref_key(name)))
            return retrying(blob.download_as_bytes, transient=is_transient)
        except gexc.NotFound:
            return None
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "reading from") from exc

    def _quarantine(self, oid: str) -> None:
        blob = self.bucket.blob(self.key(oid))
        target = self.quarantine_key(oid)
        try:
            self.bucket.copy_blob(blob, self.bucket, target)
            blob.delete()
        except gexc.NotFound:
            return
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "repairing") from exc
