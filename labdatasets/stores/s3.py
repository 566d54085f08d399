"""The ``s3://bucket/prefix`` snapshot store, and the boto3 plumbing S3 sources share.

Objects live at ``s3://bucket/prefix/objects/ab/cdef...`` (the local layout).

* **Never replace.** Every write is conditional: ``PutObject`` with
  ``If-None-Match: *``, and for objects above ``MULTIPART_BYTES`` a multipart
  upload whose ``CompleteMultipartUpload`` carries ``If-None-Match: *``. A
  write that loses to an existing object (HTTP 412) is "already there".
* **Checked on the way in.** Single uploads carry ``ChecksumSHA256`` (our oid,
  base64), multipart parts carry their own SHA-256: S3 rejects bytes that do
  not match. (moto accepts a wrong checksum, so tests check that the header is
  sent; the store does not rely on the server.)
* **Checked on the way out.** Every fetch is re-hashed before it is used
  (:meth:`labdatasets.stores.base.SnapshotStore.fetch`), here while the ranged
  parallel download is written, so there is no second pass.

Credentials come from boto3's standard chain (environment, ``~/.aws``
profiles, instance roles); ``AWS_ENDPOINT_URL_S3`` points it at another
endpoint (MinIO, moto).
"""

from __future__ import annotations

import base64
import hashlib
import concurrent.futures
import logging
import threading
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import boto3
import botocore.config
import botocore.exceptions

from labdatasets.errors import SnapshotError
from labdatasets.present.redact import redact
from labdatasets.stores._bucket import BucketStore
from labdatasets.stores.base import Progress, ref_key
from labdatasets.stores.retry import ResumingReader, resilient_range, retrying
from labdatasets.stores.transfer import RangedReader, parallel_ranges

__all__ = ["S3Store", "s3_client", "ranged_reader", "MULTIPART_BYTES", "PART_BYTES"]

logger = logging.getLogger(__name__)

MULTIPART_BYTES = 64 << 20
PART_BYTES = 16 << 20
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
_DENIED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "AllAccessDisabled"}


def s3_client() -> Any:
    """A boto3 S3 client from the standard credential chain, sized for parallel transfers."""
    config = botocore.config.Config(
        # Every small-object download in flight (loaders._objects.SMALL_OBJECT_WORKERS) and ranges.
        max_pool_connections=32,
        retries={"mode": "standard"},  # attempts from AWS_MAX_ATTEMPTS / the profile
        # Checksums only where we send our own (the SHA-256 we already know).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", config=config)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_missing(exc: BaseException) -> bool:
    return error_code(exc) in _MISSING


def is_denied(exc: BaseException) -> bool:
    return error_code(exc) in _DENIED


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(
        exc,
        (
            botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError,
            botocore.exceptions.ReadTimeoutError, botocore.exceptions.ResponseStreamingError,
            botocore.exceptions.IncompleteReadError,
        ),
    )


_RETRYABLE_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500", "502", "504"}


def is_transient(exc: BaseException) -> bool:
    """Whether a failed read is worth asking again: a dropped, cut or timed-out answer, or a 5xx."""
    if isinstance(exc, (botocore.exceptions.HTTPClientError, botocore.exceptions.ConnectionError,
                        botocore.exceptions.IncompleteReadError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, botocore.exceptions.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return int(status) >= 500 or error_code(exc) in _RETRYABLE_CODES
    import http.client

    return isinstance(exc, http.client.HTTPException)


# A conditional write that lost: the key exists (S3 sends PreconditionFailed; some servers a bare 412).
_EXISTS = ("PreconditionFailed", "412")


def is_conflict(exc: BaseException) -> bool:
    """S3's 409 while another conditional write of the same key is under way: that write may still fail,
    so the key is not known to exist; AWS's advice is to write again."""
    return error_code(exc) == "ConditionalRequestConflict"


def sha256_b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def ranged_reader(client: Any, bucket: str, key: str, size: int, *, version_id: str | None = None, if_match: str | None = None) -> RangedReader:
    """A sequential reader over one object: 8 MiB ranges fetched in parallel, or one streaming GET.

    ``version_id`` or ``if_match`` (an ETag) make every range come from the same
    object version even if the key is overwritten meanwhile.
    """
    extra: dict[str, Any] = {}
    if version_id:
        extra["VersionId"] = version_id
    elif if_match:
        extra["IfMatch"] = f'"{if_match}"'  # an ETag, quoted as HTTP wants it

    def read_range(start: int, end: int) -> bytes:
        response = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}", **extra)
        return response["Body"].read()

    if not parallel_ranges(size):
        # One streaming request; after a dropped or cut answer, another from the next byte on.
        def open_at(start: int) -> Any:
            ranged = {"Range": f"bytes={start}-"} if start else {}
            return client.get_object(Bucket=bucket, Key=key, **ranged, **extra)["Body"]

        return ResumingReader(size, open_at, transient=is_transient)  # type: ignore[return-value]

    def fetch(start: int, end: int) -> bytes:
        return resilient_range(start, end, read_range, transient=is_transient)

    return RangedReader(size, fetch)


class S3Store(BucketStore):
    """A snapshot store in an S3 bucket (or any S3-compatible endpoint); see the module docstring."""

    scheme = "s3"

    def __init__(self, uri: str):
        super().__init__(uri)
        self.bucket = self.bucket_name
        self._bucket_checked = False  # the bucket was asked about once (see _missing_object)
        try:
            self.client = s3_client()
        except botocore.exceptions.BotoCoreError as exc:  # e.g. an access key id without its secret
            raise self._fail(exc, "opening") from exc

    def _fail(self, exc: BaseException, doing: str) -> SnapshotError:
        where = f"{redact(self.uri)}"
        if isinstance(exc, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
            return SnapshotError(
                f"No AWS credentials found while {doing} the snapshot store {where} ({redact(exc)}). Set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), or "
                "AWS_PROFILE naming a profile in ~/.aws/credentials, or run where an instance role provides them."
            )
        if is_denied(exc):
            return SnapshotError(
                f"Access denied {doing} the snapshot store {where} ({error_code(exc)}). Check the AWS credentials "
                "(AWS_PROFILE, AWS_ACCESS_KEY_ID, ~/.aws) and that they may read and write the bucket."
            )
        if error_code(exc) == "NoSuchBucket":
            return self.no_bucket()
        if is_unavailable(exc):
            return SnapshotError(f"Cannot reach the snapshot store {where} while {doing} it: {redact(exc)}. Try again later.")
        return SnapshotError(f"The snapshot store {where} failed while {doing} it: {redact(exc)}")

    def _missing_object(self, exc: botocore.exceptions.ClientError) -> bool:
        """Whether a failed request for an object means that the object is not there.

        A HEAD answer has no body, so a missing bucket is a bare 404 too. After a 404
        (only then, and once per store) the bucket is asked about: a missing one
        raises :meth:`no_bucket`, so that it is not taken for a missing object (a
        lost snapshot). A bucket that cannot be asked about (no permission, no
        answer) leaves the 404 meaning "no such object", as before.
        """
        if not is_missing(exc):  # NoSuchBucket is not "missing": _fail names the bucket
            return False
        if not self._bucket_checked:
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except botocore.exceptions.ClientError as bucket_exc:
                if is_missing(bucket_exc) or error_code(bucket_exc) == "NoSuchBucket":  # HEAD: a bare 404
                    raise self.no_bucket() from exc
            except botocore.exceptions.BotoCoreError:
                return True  # no answer: asked again after the next 404
            self._bucket_checked = True
        return True

    # ------------------------------------------------------------------ primitives
    def has(self, oid: str) -> bool:
        try:
            retrying(lambda: self.client.head_object(Bucket=self.bucket, Key=self.key(oid)), transient=is_transient)
            return True
        except botocore.exceptions.ClientError as exc:
            if self._missing_object(exc):
                return False
            raise self._fail(exc, "checking") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._fail(exc, "checking") from exc

    def _upload(self, path: Path, oid: str, size: int, progress: Progress | None) -> bool:
        try:
            if size > MULTIPART_BYTES:
                return retrying(lambda: self._upload_multipart(path, oid, size, progress), transient=is_conflict)
            retrying(lambda: self._put_file(path, oid, size), transient=is_conflict)
            if progress:
                progress(size)
            return True
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in _EXISTS:
                return False  # someone stored these bytes first: nothing to do
            raise self._fail(exc, "writing to") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._fail(exc, "writing to") from exc

    def _put_file(self, path: Path, oid: str, size: int) -> None:
        with open(path, "rb") as fh:
            self.client.put_object(
                Bucket=self.bucket, Key=self.key(oid), Body=fh, ContentLength=size,
                IfNoneMatch="*", ChecksumSHA256=sha256_b64(oid),
            )

    def _upload_multipart(self, path: Path, oid: str, size: int, progress: Progress | None) -> bool:

        key = self.key(oid)
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256")
        upload_id = upload["UploadId"]
        # Bytes of this attempt's parts counted in progress: taken back if the attempt is abandoned (a 409 sends
        # the object again, and that attempt counts its own parts; a 412 or an error stores none of them).
        counted = [0]
        counting = threading.Lock()

        def send(number: int, offset: int) -> dict[str, Any]:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read(PART_BYTES)
            checksum = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
            response = self.client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data, ChecksumSHA256=checksum
            )
            if progress:
                with counting:
                    counted[0] += len(data)
                progress(len(data))
            return {"PartNumber": number, "ETag": response["ETag"], "ChecksumSHA256": checksum}

        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="labdatasets-put") as pool:
                offsets = range(0, size, PART_BYTES)
                parts = list(pool.map(send, range(1, len(offsets) + 1), offsets))
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, IfNoneMatch="*", MultipartUpload={"Parts": parts}
            )
            return True
        except BaseException:
            # Every part has finished by now (the pool waited for them), so nothing is counted after this.
            if progress and counted[0]:
                progress(-counted[0])
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - the original error matters more
                logger.warning("could not abort multipart upload of %s", redact(self.uri))
            raise

    def _download(self, oid: str, dest: Path, progress: Progress | None) -> str:
        key = self.key(oid)
        try:
            head = retrying(lambda: self.client.head_object(Bucket=self.bucket, Key=key), transient=is_transient)
            size = int(head["ContentLength"])
            etag = str(head.get("ETag", "")).strip('"') or None
            return self._write_verified(ranged_reader(self.client, self.bucket, key, size, if_match=etag), dest, progress)
        except botocore.exceptions.ClientError as exc:
            if self._missing_object(exc):
                raise self.not_found(oid) from exc
            raise self._fail(exc, "reading from") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._fail(exc, "reading from") from exc

    def iter_oids(self) -> Iterator[str]:
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.objects_prefix):
                for item in page.get("Contents", []):
                    oid = self.oid_of_key(item["Key"])
                    if oid:
                        yield oid
        except botocore.exceptions.BotoCoreError as exc:
            raise self._fail(exc, "listing") from exc
        except botocore.exceptions.ClientError as exc:
            raise self._fail(exc, "listing") from exc

    def _put_ref(self, name: str, data: bytes) -> bool:
        try:
            retrying(lambda: self.client.put_object(
                Bucket=self.bucket, Key=self._under_prefix(ref_key(name)), Body=data,
                IfNoneMatch="*", ChecksumSHA256=sha256_b64(hashlib.sha256(data).hexdigest()),
            ), transient=is_conflict)
            return True
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in _EXISTS:
                return False  # the first writer wins; a ref is never replaced
            raise self._fail(exc, "writing to") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._fail(exc, "writing to") from exc

    def _get_ref(self, name: str) -> bytes | None:
        try:
            key = self._under_prefix(ref_key(name))
            # A small record read whole: a cut or refused answer is asked again (bounded).
            return retrying(lambda: self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read(), transient=is_transient)
        except botocore.exceptions.ClientError as exc:
            if self._missing_object(exc):
                return None
            raise self._fail(exc, "reading from") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._fail(exc, "reading from") from exc

    def _quarantine(self, oid: str) -> None:
        key = self.key(oid)
        target = self.quarantine_key(oid)
        try:
            self.client.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": key})
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if self._missing_object(exc):
                return
            raise self._fail(exc, "repairing") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._fail(exc, "repairing") from exc

