"""What S3 and GCS sources share: a key, a prefix or a glob of objects, pinned in parallel.

A concrete connector (``S3Source``, ``GCSSource``) lists objects with their
version identity (ETag and VersionId, or generation and checksums), opens a
reader on exactly that version, and translates its SDK's errors. Everything
else is here: choosing objects, downloading several at once into the snapshot
store (hashed on the way in, one pass), inspecting tabular objects, and
comparing a live listing with a pin for ``status``.

Many small objects (a folder of images) cost round trips, not bytes: each
object of at most ``SMALL_OBJECT_BYTES`` is ONE conditional GET of exactly the
listed version (no HEAD first: the version identity recorded in the pin comes
from that GET's response), read into memory, hashed and written to the store
by the same worker, ``SMALL_OBJECT_WORKERS`` at a time. Larger objects stream
to the store as before (their ranges fetched in parallel), ``OBJECT_WORKERS``
at a time.
"""

from __future__ import annotations

import abc
import base64
import concurrent.futures
import dataclasses
import fnmatch
import hashlib
import posixpath
from typing import Any
from collections.abc import Callable, Mapping

from labdatasets.errors import ConfigError, SourceError, SourceNotFoundError, SourceUnavailableError
from labdatasets.present.redact import redact
from labdatasets.loaders.base import PinContext, Source, SourceStatus, describe_options
from labdatasets.pinning.record import ObjectEntry, SourcePin
from labdatasets.stores._bucket import split_bucket_uri
from labdatasets.pinning.tabular import FORMATS, format_for_path, inspect

__all__ = ["RemoteObject", "ObjectSource"]

# Large objects downloaded at once; each also fetches its ranges in parallel.
OBJECT_WORKERS = 4
# Objects up to this size are one GET each, read whole into memory (at most
# SMALL_OBJECT_WORKERS of them at once: 64 MiB), hashed and stored from there.
SMALL_OBJECT_BYTES = 4 << 20
# Small objects downloaded at once: a round trip to a bucket costs tens of
# milliseconds, so many requests in flight are what make a folder of images fast.
SMALL_OBJECT_WORKERS = 16


@dataclasses.dataclass(frozen=True)
class RemoteObject:
    """One object as listed: its key, its path relative to the source, size and version identity."""

    key: str
    path: str
    size: int
    identity: Mapping[str, Any]  # {"etag": ..., "version_id": ...} or {"generation": ..., "md5": ..., "crc32c": ...}
    exact: bool = False  # the identity is complete (a listing may omit some of it)


class ObjectSource(Source):
    """Base of bucket connectors; see the module docstring and :class:`labdatasets.loaders.S3Source`.

    Args:
        url: ``scheme://bucket/key`` for one object, or ``scheme://bucket/prefix/`` for
            every object under a prefix (a trailing ``/`` or a ``glob`` means a prefix).
        glob: which objects under the prefix to take, matched against the path
            relative to the prefix and against the object's name (``*.csv``, ``2026-*/*.parquet``).
        format: ``csv``, ``jsonl``, ``parquet`` or ``files``; by default from the extension
            of a single object, and ``files`` (opaque bytes) for a prefix.
        delimiter, column_types: CSV reading options, as for ``LocalSource``.
    """

    scheme: str = ""

    def __init__(
        self,
        url: str,
        *,
        glob: str | None = None,
        format: str | None = None,
        delimiter: str | None = None,
        column_types: Mapping[str, str] | None = None,
    ):
        if not url.startswith(f"{self.scheme}://"):
            raise ConfigError(
                f"{type(self).__name__} takes a {self.scheme}://bucket/key URL (or {self.scheme}://bucket/prefix/ "
                f"for every object under a prefix), got {redact(url)!r}; fix the source in the builder's _sources()."
            )
        if format is not None and format not in FORMATS:
            raise ConfigError(
                f"{type(self).__name__}({redact(url)!r}) has format={format!r}; use one of {', '.join(FORMATS)}, "
                "or leave format out to take it from the file extension."
            )
        self.url = url
        self.bucket, _ = split_bucket_uri(url, self.scheme)
        self.key = url[len(self.scheme) + 3 + len(self.bucket) + 1 :]  # keep a trailing "/": it means a prefix
        self.glob = glob
        self.format = format
        self.delimiter = delimiter
        self.column_types = dict(column_types) if column_types else None
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The SDK client, created on first use (from the standard credential chain)."""
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def describe(self) -> dict[str, Any]:
        return describe_options(
            {"url": self.url, "glob": self.glob, "format": self.format, "delimiter": self.delimiter, "column_types": self.column_types}
        )

    @property
    def is_prefix(self) -> bool:
        return self.glob is not None or self.key == "" or self.key.endswith("/")

    # ------------------------------------------------------------------ backend hooks
    @abc.abstractmethod
    def _new_client(self) -> Any:
        """A client of the bucket's SDK."""

    @abc.abstractmethod
    def _stat(self, key: str) -> RemoteObject | None:
        """The object at exactly ``key`` (with its version identity), or None."""

    @abc.abstractmethod
    def _list(self, prefix: str) -> list[RemoteObject]:
        """Every object under ``prefix`` (``path`` left empty; the base fills it)."""

    @abc.abstractmethod
    def _reader(self, obj: RemoteObject) -> Any:
        """A sequential binary reader over exactly the listed version of ``obj``."""

    @abc.abstractmethod
    def _get(self, obj: RemoteObject) -> tuple[bytes, dict[str, Any]]:
        """One request for the whole of exactly the listed version of ``obj``.

        Returns the bytes and the version identity from the response (what
        ``_exact`` would give, without a request of its own).
        """

    @abc.abstractmethod
    def _translate(self, exc: BaseException, label: str) -> SourceError | None:
        """The labdatasets error for an SDK error, or None if it is not the SDK's."""

    def _exact(self, obj: RemoteObject) -> RemoteObject:
        """``obj`` with its full version identity (a listing may omit some of it)."""
        return obj

    # ------------------------------------------------------------------ shared behaviour
    def _guarded(self, label: str, fn: Callable[[], Any]) -> Any:
        from labdatasets.stores.retry import TransferInterrupted

        try:
            return fn()
        except SourceError:
            raise
        except TransferInterrupted as exc:
            raise SourceUnavailableError(
                f"{label}: reading {self.url} kept failing ({redact(exc)}): every request was dropped or cut short. "
                "Nothing was stored and no pin record was written; check the network, then pin again "
                "(LABDATASETS_TRANSFER_RETRIES allows more attempts).",
                source=self.url,
            ) from exc
        except Exception as exc:  # noqa: BLE001 - each SDK has its own tree; _translate knows it
            error = self._translate(exc, label)
            if error is None:
                raise
            raise error from exc

    def objects(self, label: str) -> list[RemoteObject]:
        """The objects this source names, sorted by path; raises SourceNotFoundError if none."""

        def find() -> list[RemoteObject]:
            if not self.is_prefix:
                single = self._stat(self.key)
                if single is not None:
                    return [dataclasses.replace(single, path=posixpath.basename(single.key))]
            prefix = self.key if self.is_prefix or not self.key else self.key + "/"
            found = []
            for obj in self._list(prefix):
                rel = obj.key[len(prefix) :]
                if not rel or rel.endswith("/") or posixpath.basename(rel).startswith("."):
                    continue
                pattern = self.glob or "*"
                if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(posixpath.basename(rel), pattern):
                    found.append(dataclasses.replace(obj, path=rel))
            return sorted(found, key=lambda o: o.path)

        found = self._guarded(label, find)
        if not found:
            raise SourceNotFoundError(
                f"{label}: no object at {self.url}" + (f" matches glob {self.glob!r}" if self.glob else "")
                + "; check the URL and glob in _sources().",
                source=self.url,
            )
        return found

    def _format(self, objects: list[RemoteObject]) -> str:
        if self.format:
            return self.format
        return "files" if self.is_prefix else format_for_path(objects[0].path)

    def _read_options(self) -> dict[str, Any]:
        return describe_options({"delimiter": self.delimiter, "column_types": self.column_types})

    def _store_one(self, ctx: PinContext, obj: RemoteObject, progress: Callable[[int], Any]) -> ObjectEntry:
        def copy() -> ObjectEntry:
            exact = self._exact(obj)
            reader = self._reader(exact)
            try:
                info = ctx.store.add_stream(reader, progress=progress)
            finally:
                reader.close()
            if info.size != obj.size:
                raise SourceError(
                    f"{ctx.label}: {self.scheme}://{self.bucket}/{obj.key} gave {info.size} bytes, its listing said "
                    f"{obj.size}; it changed while pinning. Pin again.",
                    source=self.url,
                )
            return ObjectEntry(path=obj.path, oid=info.oid, size=info.size, metadata=dict(exact.identity))

        return self._guarded(ctx.label, copy)

    def _store_small(self, ctx: PinContext, obj: RemoteObject, progress: Callable[[int], Any]) -> ObjectEntry:
        def copy() -> ObjectEntry:
            data, identity = self._get(obj)
            where = f"{self.scheme}://{self.bucket}/{obj.key}"
            if len(data) != obj.size:
                raise SourceError(
                    f"{ctx.label}: {where} gave {len(data)} bytes, its listing said {obj.size}; it changed while "
                    "pinning. Pin again.",
                    source=self.url,
                )
            self._check_listed(ctx, obj, data)
            info = ctx.store.add_small(data)
            progress(info.size)
            return ObjectEntry(path=obj.path, oid=info.oid, size=info.size, metadata=identity)

        return self._guarded(ctx.label, copy)

    def _check_listed(self, ctx: PinContext, obj: RemoteObject, data: bytes) -> None:
        """Compare bytes read whole with checksums their listing gave (GCS lists an MD5)."""
        md5 = obj.identity.get("md5")
        if md5 and base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii") != md5:
            raise SourceError(
                f"{ctx.label}: {self.scheme}://{self.bucket}/{obj.key} gave bytes whose MD5 is not the one its "
                "listing gave for that version; they were damaged on the way. Pin again.",
                source=self.url,
            )

    def _store_all(self, ctx: PinContext, objects: list[RemoteObject], progress: Callable[[int], Any]) -> list[ObjectEntry]:
        """Store every object: small ones many at a time, one GET each; large ones streamed."""
        entries: list[ObjectEntry | None] = [None] * len(objects)
        small = [i for i, o in enumerate(objects) if o.size <= SMALL_OBJECT_BYTES]
        large = [i for i, o in enumerate(objects) if o.size > SMALL_OBJECT_BYTES]
        for group, workers, store in (
            (small, SMALL_OBJECT_WORKERS, self._store_small),
            (large, OBJECT_WORKERS, self._store_one),
        ):
            if not group:
                continue
            with concurrent.futures.ThreadPoolExecutor(
                max_workers=min(workers, len(group)), thread_name_prefix="labdatasets-pin"
            ) as pool:
                futures = {i: pool.submit(store, ctx, objects[i], progress) for i in group}
                try:
                    for i, future in futures.items():
                        entries[i] = future.result()
                except BaseException:
                    for future in futures.values():  # the first failure ends the pin: start nothing more
                        future.cancel()
                    raise
        return [e for e in entries if e is not None]

    def pin(self, ctx: PinContext) -> SourcePin:
        objects = self.objects(ctx.label)
        fmt = self._format(objects)
        progress = ctx.progress(sum(o.size for o in objects), f"pin {ctx.label}")
        entries = self._store_all(ctx, objects, progress)
        read_options = self._read_options()
        try:
            # The stored copies were hashed on their way in: read them as they are.
            schema, rows = inspect([ctx.store.added_path(e.oid) for e in entries], fmt, read_options)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for unreadable files
            raise SourceError(
                f"{ctx.label}: cannot read {self.url} as {fmt}: {exc}. Set format= (or column_types= for CSV).",
                source=self.url,
            ) from exc
        return SourcePin.of_table(
            kind=self.kind, location=self.describe(), format=fmt, objects=entries, schema=schema, num_rows=rows,
            read_options=read_options, metadata={"bucket": self.bucket},
        )

    def _same_version(self, pinned: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
        """Whether a live listing names the pinned version (keys both sides know must agree)."""
        shared = [k for k in pinned if k in live and pinned[k] and live[k]]
        return bool(shared) and all(pinned[k] == live[k] for k in shared)

    def status(self, pinned: SourcePin, ctx: PinContext) -> SourceStatus:
        try:
            live = {o.path: o for o in self.objects(ctx.label)}
        except SourceError as exc:
            return SourceStatus(ctx.label, self.kind, "unavailable", (str(exc),))
        pinned_by_path = {o.path: o for o in pinned.objects}
        details = [f"added: {p}" for p in sorted(set(live) - set(pinned_by_path))]
        details += [f"removed: {p}" for p in sorted(set(pinned_by_path) - set(live))]
        for path in sorted(set(live) & set(pinned_by_path)):
            was, now = pinned_by_path[path], live[path]
            if was.size != now.size or not self._same_version(was.metadata, now.identity):
                details.append(f"modified: {path} ({_identity(was.metadata)} pinned, {_identity(now.identity)} now)")
        return SourceStatus(ctx.label, self.kind, "changed" if details else "unchanged", tuple(details))


def _identity(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items() if v)
