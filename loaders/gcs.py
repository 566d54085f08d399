"""Google Cloud Storage sources: one object, a prefix, or a glob, through google-cloud-storage.

Example::

    GCSSource("gs://lab-raw/surveys/2026/answers.jsonl")
    GCSSource("gs://lab-raw/scans/", glob="*.png")

Each pinned object records its generation, its MD5 and CRC32C checksums and
its size, and every byte is read from exactly that generation. Credentials
come from ``GOOGLE_APPLICATION_CREDENTIALS`` or Application Default Credentials.
Every request is asked again for ``LABDATASETS_GCS_TIMEOUT`` seconds (default
30, as for the gs:// snapshot store; the SDK's own default is 120).
"""

from __future__ import annotations

from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions

from labdatasets.errors import SourceAuthError, SourceError, SourceNotFoundError, SourceUnavailableError
from labdatasets.loaders._objects import ObjectSource, RemoteObject
from labdatasets.present.redact import redact
from labdatasets.stores.gcs import blob_reader, bounded_retry, gave_up, gcs_client, is_transient, retry_timeout, unreachable
from labdatasets.stores.retry import resilient_range

__all__ = ["GCSSource"]


class GCSSource(ObjectSource):
    """Objects in a GCS bucket; see :class:`ObjectSource` for the arguments."""

    kind = "gcs"
    scheme = "gs"
    timeout: float  # LABDATASETS_GCS_TIMEOUT, read with the client
    retry: Any

    def _new_client(self) -> Any:
        # Every request: the SDK's retry, for retry_timeout() seconds (read once per client, as the store does).
        self.timeout = retry_timeout()
        self.retry = bounded_retry(self.timeout)
        return gcs_client()

    def _stat(self, key: str) -> RemoteObject | None:
        blob = self.client.bucket(self.bucket).get_blob(key, retry=self.retry)
        return None if blob is None else _remote(blob)

    def _list(self, prefix: str) -> list[RemoteObject]:
        if not self.client.bucket(self.bucket).exists(retry=self.retry):
            raise gexc.NotFound(f"bucket {self.bucket} does not exist")
        return [_remote(blob) for blob in self.client.list_blobs(self.bucket, prefix=prefix, retry=self.retry)]

    def _get(self, obj: RemoteObject) -> tuple[bytes, dict[str, Any]]:
        blob = self.client.bucket(self.bucket).blob(obj.key, generation=obj.identity["generation"])
        # One request for that generation (a cut answer asks again for the rest); the caller checks the size and MD5.
        if obj.size == 0:
            return blob.download_as_bytes(raw_download=True, checksum=None, retry=self.retry), dict(obj.identity)

        def read(start: int, end: int) -> bytes:
            return blob.download_as_bytes(start=start, end=end - 1, raw_download=True, checksum=None, retry=self.retry)

        return resilient_range(0, obj.size, read, transient=is_transient), dict(obj.identity)

    def _reader(self, obj: RemoteObject) -> Any:
        blob = self.client.bucket(self.bucket).blob(obj.key, generation=obj.identity["generation"])
        return blob_reader(blob, obj.size, retry=self.retry)

    def _translate(self, exc: BaseException, label: str) -> SourceError | None:
        where = self.url
        # No connection (or only 5xx answers) until the bounded retry gave up; a token endpoint out of reach is that too.
        cause = gave_up(exc)
        if cause is not None or isinstance(exc, auth_exceptions.TransportError):
            reason = unreachable(exc if cause is None else cause, getattr(self, "timeout", retry_timeout()))
            return SourceUnavailableError(f"{label}: cannot reach GCS for {redact(where)}: {reason}", source=where)
        if isinstance(exc, (gexc.Forbidden, gexc.Unauthorized, auth_exceptions.GoogleAuthError)):
            return SourceAuthError(
                f"{label}: access to {where} was refused. Check GOOGLE_APPLICATION_CREDENTIALS (or 'gcloud auth "
                "application-default login') and the bucket's permissions.",
                source=where,
            )
        if isinstance(exc, gexc.NotFound):
            return SourceNotFoundError(f"{label}: {where} does not exist ({redact(exc)}).", source=where)
        if isinstance(exc, (gexc.ServiceUnavailable, gexc.GatewayTimeout, gexc.InternalServerError, ConnectionError, requests.ConnectionError)):
            return SourceUnavailableError(f"{label}: cannot reach GCS for {where}: {redact(exc)}. Try again later.", source=where)
        if isinstance(exc, gexc.GoogleAPIError):
            return SourceError(f"{label}: GCS failed for {where}: {redact(exc)}", source=where)
        return None


def _remote(blob: Any) -> RemoteObject:
    identity = {"generation": int(blob.generation) if blob.generation else None, "md5": blob.md5_hash, "crc32c": blob.crc32c}
    return RemoteObject(blob.name, "", int(blob.size or 0), identity)
