"""The ``gs://bucket/prefix`` snapshot store, and the google-cloud-storage plumbing GCS sources share.

Objects live at ``gs://bucket/prefix/objects/ab/cdef...``.

* **Never replace.** Every upload carries ``ifGenerationMatch=0`` (create
  only); a 412 means the bytes are already there. The store also checks for
  the object first, because not every GCS-compatible server enforces the
  precondition (gcp-storage-emulator ignores it; the tests check that the
  requests carry it anyway).
* **Checked both ways.** Uploads send a CRC32C the server verifies; fetches are
  re-hashed with SHA-256 while they are written.

* **Bounded waits.** The SDK asks again after a refused or dropped connection
  or a 5xx for two minutes; the store's requests stop asking after
  ``LABDATASETS_GCS_TIMEOUT`` seconds (default 30) and say the store could not
  be reached. gs:// sources (``labdatasets.loaders.gcs``) read with the same
  ``bounded_retry`` and say so with the same ``unreachable``.

Credentials come from ``GOOGLE_APPLICATION_CREDENTIALS`` / Application Default
Credentials; ``STORAGE_EMULATOR_HOST`` points the client at an emulator.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import requests
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from labdatasets.errors import SnapshotError
from labdatasets.present.redact import redact
from labdatasets.stores._bucket import BucketStore
from labdatasets.stores.base import Progress, ref_key
from labdatasets.stores.retry import resilient_range, retrying
from labdatasets.stores.transfer import RangedReader, parallel_ranges

__all__ = ["GCSStore", "gcs_client", "blob_reader", "retry_timeout", "bounded_retry", "gave_up", "unreachable"]

logger = logging.getLogger(__name__)

_UNAVAILABLE = (gexc.ServiceUnavailable, gexc.GatewayTimeout, gexc.InternalServerError, gexc.TooManyRequests)


# Connections kept per host: enough for every small-object download in flight
# (loaders._objects.SMALL_OBJECT_WORKERS) and the ranges of a large one.
POOL_CONNECTIONS = 32


# Seconds a store request keeps being asked again (the SDK's own default is 120).
DEFAULT_TIMEOUT = 30.0


def retry_timeout() -> float:
    """Seconds a gs:// store keeps asking again after a failed connection or a 5xx (``LABDATASETS_GCS_TIMEOUT``, default 30).

    ``0`` asks once; a value that is not a number of seconds (or is negative) means the default.
    """
    try:
        value = float(os.environ.get("LABDATASETS_GCS_TIMEOUT", "") or DEFAULT_TIMEOUT)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value >= 0 else DEFAULT_TIMEOUT


def bounded_retry(timeout: float) -> Any:
    """The SDK's retry (refused or dropped connections, 5xx), asking again for ``timeout`` seconds (``retry_timeout()``)."""
    return DEFAULT_RETRY.with_timeout(timeout)


def gave_up(exc: BaseException) -> BaseException | None:
    """The last error, if ``exc`` is the SDK giving up after a bounded retry on no connection or 5xx answers; else None."""
    if isinstance(exc, gexc.RetryError) and (
        is_transient(exc.cause) or isinstance(exc.cause, auth_exceptions.TransportError)
    ):
        return exc.cause
    return None


def unreachable(cause: BaseException | None, timeout: float) -> str:
    """Why GCS did not answer (no connection, or 5xx until the retries gave up) and what to do: the end of a message."""
    setting = f"LABDATASETS_GCS_TIMEOUT (now {timeout:g} s) sets how long to keep trying."
    if cause is not None and _server_error(cause):
        return f"it kept answering with errors (asked for {timeout:g} s; last: {redact(cause)}). Try again later; {setting}"
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    check = f", and that the endpoint in STORAGE_EMULATOR_HOST ({redact(emulator)}) is running" if emulator else ""
    return (
        f"no connection (asked for {timeout:g} s; last error: {redact(cause)}). Check this machine's "
        f"network connection and DNS{check}, then run the command again; {setting}"
    )


# Every SDK error a store call can raise: API errors, credential errors (refused, missing, expired) and its HTTP
# session's own (no connection, when a call is not asked again).
_SDK_ERRORS = (gexc.GoogleAPIError, auth_exceptions.GoogleAuthError, requests.RequestException)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed read is worth asking again: a dropped, cut or timed-out answer, or a 5xx."""
    import http.client

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


def _server_error(exc: BaseException) -> bool:
    """Whether a failure is the server's answer (a 5xx or 429), not a missing connection."""
    status = getattr(getattr(exc, "response", None), "status_code", 0)
    return isinstance(exc, (*_UNAVAILABLE, gexc.BadGateway)) or (is_transient(exc) and int(status or 0) >= 500)


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


def blob_reader(blob: Any, size: int, *, retry: Any = DEFAULT_RETRY) -> RangedReader:
    """A sequential reader over one blob generation, fetched in parallel 8 MiB ranges (each asked per ``retry``)."""

    def read_range(start: int, end: int) -> bytes:
        # checksum=None: a range has no whole-object checksum; the caller hashes every byte.
        return blob.download_as_bytes(start=start, end=end - 1, checksum=None, raw_download=True, retry=retry)

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
        # Every request: the SDK's retry (refused or dropped connections, 5xx), for retry_timeout() seconds.
        self.timeout = retry_timeout()
        self.retry = bounded_retry(self.timeout)
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
        if isinstance(exc, auth_exceptions.TransportError):  # no connection to the token endpoint: not a refusal
            return SnapshotError(self._unreachable(exc, doing))
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
            return self.no_bucket()
        # The SDK asks again after a refused or dropped connection or a 5xx, for self.timeout seconds, then
        # raises RetryError naming the last error.
        cause = gave_up(exc)
        if cause is not None:
            return SnapshotError(self._unreachable(cause, doing))
        if isinstance(exc, _UNAVAILABLE) or is_transient(exc):
            return SnapshotError(f"Cannot reach the snapshot store {where} while {doing} it: {redact(exc)}. Try again later.")
        return SnapshotError(f"The snapshot store {where} failed while {doing} it: {redact(exc)}")

    def _unreachable(self, cause: BaseException | None, doing: str) -> str:
        """The store did not answer, or answered 5xx, until the retries gave up: which, and what to do."""
        return f"Cannot reach the snapshot store {redact(self.uri)} while {doing} it: {unreachable(cause, self.timeout)}"

    def has(self, oid: str) -> bool:
        try:
            return bool(retrying(lambda: self.bucket.blob(self.key(oid)).exists(retry=self.retry), transient=is_transient))
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "checking") from exc

    def _upload(self, path: Path, oid: str, size: int, progress: Progress | None) -> bool:
        blob = self.bucket.blob(self.key(oid))
        try:
            if blob.exists(retry=self.retry):  # see the module docstring: not every server enforces the precondition
                return False
            blob.upload_from_filename(str(path), if_generation_match=0, checksum="crc32c", retry=self.retry)
        except gexc.PreconditionFailed:
            return False
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "writing to") from exc
        if progress:
            progress(size)
        return True

    def _download(self, oid: str, dest: Path, progress: Progress | None) -> str:
        try:
            blob = retrying(lambda: self.bucket.get_blob(self.key(oid), retry=self.retry), transient=is_transient)
            if blob is None:
                raise self.not_found(oid)
            # Read that generation through the client's own endpoint (the listing's mediaLink may name another host).
            generation = self.bucket.blob(self.key(oid), generation=blob.generation)
            return self._write_verified(blob_reader(generation, int(blob.size or 0), retry=self.retry), dest, progress)
        except gexc.NotFound as exc:
            raise self.not_found(oid) from exc
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "reading from") from exc

    def iter_oids(self) -> Iterator[str]:
        try:
            for blob in self.client.list_blobs(self.bucket_name, prefix=self.objects_prefix, retry=self.retry):
                oid = self.oid_of_key(blob.name)
                if oid:
                    yield oid
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "listing") from exc

    def _put_ref(self, name: str, data: bytes) -> bool:
        blob = self.bucket.blob(self._under_prefix(ref_key(name)))
        try:
            if blob.exists(retry=self.retry):  # as for objects: not every server enforces the precondition
                return False
            blob.upload_from_string(data, if_generation_match=0, checksum="crc32c", retry=self.retry)
            return True
        except gexc.PreconditionFailed:
            return False  # the first writer wins; a ref is never replaced
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "writing to") from exc

    def _get_ref(self, name: str) -> bytes | None:
        try:
            blob = self.bucket.blob(self._under_prefix(ref_key(name)))
            return retrying(lambda: blob.download_as_bytes(retry=self.retry), transient=is_transient)
        except gexc.NotFound:
            return None
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "reading from") from exc

    def _quarantine(self, oid: str) -> None:
        blob = self.bucket.blob(self.key(oid))
        target = self.quarantine_key(oid)
        try:
            # Asked again like every other call: a copy to the same new name, then one delete.
            self.bucket.copy_blob(blob, self.bucket, target, retry=self.retry)
            blob.delete(retry=self.retry)
        except gexc.NotFound:
            return
        except _SDK_ERRORS as exc:
            raise self._fail(exc, "repairing") from exc
