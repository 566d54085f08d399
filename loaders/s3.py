"""S3 sources: one object, a prefix, or a glob under a prefix, through boto3.

Example::

    S3Source("s3://lab-raw/stations/2026-10/readings.csv")            # one object
    S3Source("s3://lab-raw/stations/2026-10/", glob="*.csv", format="csv")  # CSV files read as one table
    S3Source("s3://lab-raw/images/", glob="*.png")                    # opaque files

Each pinned object records its ETag, its VersionId where the bucket is
versioned, and its size. Every byte is read from exactly that version (by
VersionId, or with ``If-Match`` on the listed ETag), hashed on its way into
the snapshot store, and several objects (and the ranges of a large one)
download at once. A small object is one GET, whose response names the version
recorded (no HEAD first). Credentials come from boto3's standard chain (``AWS_PROFILE``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, instance roles).
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from labdatasets.errors import SourceAuthError, SourceError, SourceNotFoundError, SourceUnavailableError
from labdatasets.loaders._objects import ObjectSource, RemoteObject
from labdatasets.present.redact import redact
from labdatasets.stores.s3 import error_code, is_denied, is_missing, is_unavailable, ranged_reader, s3_client

__all__ = ["S3Source"]


class S3Source(ObjectSource):
    """Objects in an S3 bucket (or any S3-compatible endpoint); see :class:`ObjectSource` for the arguments."""

    kind = "s3"
    scheme = "s3"

    def _new_client(self) -> Any:
        return s3_client()

    def _stat(self, key: str) -> RemoteObject | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if is_missing(exc) and error_code(exc) != "NoSuchBucket":
                return None
            raise
        return RemoteObject(key, "", int(head["ContentLength"]), _identity(head), exact=True)

    def _list(self, prefix: str) -> list[RemoteObject]:
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found.append(RemoteObject(item["Key"], "", int(item["Size"]), {"etag": item["ETag"].strip('"')}))
        return found

    def _exact(self, obj: RemoteObject) -> RemoteObject:
        if obj.exact:
            return obj
        head = self.client.head_object(Bucket=self.bucket, Key=obj.key, IfMatch=f'"{obj.identity["etag"]}"')
        return RemoteObject(obj.key, obj.path, int(head["ContentLength"]), _identity(head), exact=True)

    def _get(self, obj: RemoteObject) -> tuple[bytes, dict[str, Any]]:
        version_id = obj.identity.get("version_id")
        guard = {"VersionId": version_id} if version_id else {"IfMatch": f'"{obj.identity["etag"]}"'}
        response = self.client.get_object(Bucket=self.bucket, Key=obj.key, **guard)
        body = response["Body"]
        try:
            data = body.read()  # botocore checks the length and reports a cut connection
        finally:
            body.close()
        return data, _identity(response)

    def _reader(self, obj: RemoteObject) -> Any:
        return ranged_reader(
            self.client, self.bucket, obj.key, obj.size,
            version_id=obj.identity.get("version_id"), if_match=obj.identity.get("etag"),
        )

    def _translate(self, exc: BaseException, label: str) -> SourceError | None:
        where = self.url
        if isinstance(exc, botocore.exceptions.NoCredentialsError) or is_denied(exc):
            return SourceAuthError(
                f"{label}: access to {where} was refused ({error_code(exc) or 'no credentials found'}). Check the AWS "
                "credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws) and the bucket policy.",
                source=where,
            )
        if error_code(exc) == "NoSuchBucket":
            return SourceNotFoundError(f"{label}: bucket {self.bucket!r} does not exist ({where}).", source=where)
        if is_missing(exc) or error_code(exc) in ("PreconditionFailed", "412"):
            return SourceError(f"{label}: {where} changed while it was being pinned ({error_code(exc)}); pin again.", source=where)
        if is_unavailable(exc):
            return SourceUnavailableError(f"{label}: cannot reach S3 for {where}: {redact(exc)}. Try again later.", source=where)
        if isinstance(exc, (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)):
            return SourceError(f"{label}: S3 failed for {where}: {redact(exc)}", source=where)
        return None


def _identity(head: dict[str, Any]) -> dict[str, Any]:
    identity = {"etag": head["ETag"].strip('"')}
    if head.get("VersionId") and head["VersionId"] != "null":
        identity["version_id"] = head["VersionId"]
    return identity
