"""The embedded ``file://`` snapshot store: a folder on this machine.

Layout (the dvc-objects layout)::

    <root>/objects/ab/cdef...    read-only object files, named by sha256
    <root>/tmp/                  partial writes, renamed into objects/ when whole
    <root>/quarantine/           corrupted objects moved aside by ``verify --repair``
    <root>/refs/...              named, write-once records (the shared prepared cache's index)

A write copies and hashes in one pass into ``tmp/``, then *links* the file to
its final name: ``os.link`` fails if the name exists, so an existing object is
never replaced, even by a concurrent writer of the same bytes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO
from collections.abc import Iterator

from labdatasets.errors import local_writes
from labdatasets.stores.hashing import copy_and_hash, copy_file_and_hash, sha256_file
from labdatasets.stores.base import ObjectInfo, Progress, SnapshotStore, object_key, ref_key

__all__ = ["LocalStore"]

_OID_RE = re.compile(r"^[0-9a-f]{64}\Z")
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class LocalStore(SnapshotStore):
    """A snapshot store in a local (or network-mounted) folder."""

    scheme = "file"

    def __init__(self, uri: str):
        super().__init__(uri)
        self.root = Path(uri[len("file://") :] if uri.startswith("file://") else uri)

    def path(self, oid: str) -> Path:
        """Where ``oid`` lives (whether or not it exists)."""
        return self.root / object_key(oid)

    def has(self, oid: str) -> bool:
        return self.path(oid).is_file()

    def staging_dir(self) -> Path:
        """``<root>/tmp``, created if needed: files written here move into ``objects/`` by a rename."""
        tmp = self.root / "tmp"
        with local_writes("preparing the local snapshot store", self.root):
            tmp.mkdir(parents=True, exist_ok=True)
        return tmp

    def _writing(self) -> Any:
        # A full disk here is this machine's problem, not the source's or the remote store's.
        return local_writes(f"writing a snapshot object into the local store {self.root}", self.root, permission=False)

    def _link_into_place(self, tmp: Path, oid: str) -> bool:
        return self._link_new(tmp, self.path(oid))

    @staticmethod
    def _link_new(tmp: Path, final: Path) -> bool:
        """Give the whole file ``tmp`` the name ``final`` (read-only) unless that name exists; True if it did."""
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, _READ_ONLY)
        try:
            os.link(tmp, final)
        except FileExistsError:
            return False
        except OSError as exc:  # filesystems without hard links: rename, refusing to replace (bar a racing writer)
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            if final.exists():
                return False
            os.replace(tmp, final)
            return True
        return True

    def add_file(self, path: str | os.PathLike[str], *, progress: Progress | None = None) -> ObjectInfo:
        """Copy and hash in one pass, then link into place (never replacing)."""
        with self._writing():
            fd, tmp_name = tempfile.mkstemp(prefix="add.", dir=self.staging_dir())
            tmp = Path(tmp_name)
            try:
                try:
                    oid, size = copy_file_and_hash(path, fd, progress)
                finally:
                    os.close(fd)
                written = False if self.has(oid) else self._link_into_place(tmp, oid)
                return ObjectInfo(oid, size, written=written)
            finally:
                tmp.unlink(missing_ok=True)

    def add_stream(self, reader: BinaryIO, *, progress: Progress | None = None) -> ObjectInfo:
        """Copy and hash everything ``reader`` yields in one pass, then link into place."""
        with self._writing():
            fd, tmp_name = tempfile.mkstemp(prefix="add.", dir=self.staging_dir())
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb", buffering=0) as dst:
                    oid, size = copy_and_hash(reader, dst, progress)
                written = False if self.has(oid) else self._link_into_place(tmp, oid)
                return ObjectInfo(oid, size, written=written)
            finally:
                tmp.unlink(missing_ok=True)

    def add_small(self, data: bytes) -> ObjectInfo:
        """Store a byte string held in memory (a small object just downloaded): hash, write, link.

        No copy thread and no chunk buffers: for many small objects those cost
        more than the bytes themselves.
        """
        oid = hashlib.sha256(data).hexdigest()
        if self.has(oid):
            return ObjectInfo(oid, len(data), written=False)
        fd, tmp_name = tempfile.mkstemp(prefix="add.", dir=self.staging_dir())
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb", buffering=0) as dst:
                view = memoryview(data)
                while view:
                    view = view[dst.write(view) :]
            return ObjectInfo(oid, len(data), written=self._link_into_place(tmp, oid))
        finally:
            tmp.unlink(missing_ok=True)

    def _upload(self, path: Path, oid: str, size: int, progress: Progress | None) -> bool:
        with self._writing():
            fd, tmp_name = tempfile.mkstemp(prefix="put.", dir=self.staging_dir())
            tmp = Path(tmp_name)
            try:
                with open(path, "rb", buffering=0) as src, os.fdopen(fd, "wb", buffering=0) as dst:
                    copy_and_hash(src, dst, progress)
                return self._link_into_place(tmp, oid)
            finally:
                tmp.unlink(missing_ok=True)

    def put_verified_file(self, tmp: Path, oid: str) -> bool:
        """Adopt a file already verified to hash to ``oid`` (moved, not copied)."""
        try:
            with self._writing():
                return self._link_into_place(tmp, oid)
        finally:
            tmp.unlink(missing_ok=True)

    def _download(self, oid: str, dest: Path, progress: Progress | None) -> None:
        source = self.path(oid)
        if not source.is_file():
            raise self.not_found(oid)
        shutil.copyfile(source, dest)
        if progress:
            progress(dest.stat().st_size)

    def open_verified(self, oid: str, *, context: str = "") -> Path:
        """Re-hash ``oid`` in place and return its path; raise if missing or corrupted."""
        path = self.path(oid)
        if not path.is_file():
            raise self.not_found(oid, context=context)
        actual = sha256_file(path)
        if actual != oid:
            raise self.corrupted(oid, actual, where=str(path), context=context)
        return path

    def verify(self, oid: str, *, context: str = "") -> None:
        self.open_verified(oid, context=context)

    def get_bytes(self, oid: str, *, context: str = "") -> bytes:
        path = self.open_verified(oid, context=context)
        return path.read_bytes()

    def _put_ref(self, name: str, data: bytes) -> bool:
        fd, tmp_name = tempfile.mkstemp(prefix="ref.", dir=self.staging_dir())
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            # as an object: fails if the ref exists (first writer wins, nothing is replaced), and works on
            # mounts without hard links too
            return self._link_new(tmp, self.root / ref_key(name))
        finally:
            tmp.unlink(missing_ok=True)

    def _get_ref(self, name: str) -> bytes | None:
        try:
            return (self.root / ref_key(name)).read_bytes()
        except FileNotFoundError:
            return None

    def iter_oids(self) -> Iterator[str]:
        objects = self.root / "objects"
        if not objects.is_dir():
            return
        for prefix in sorted(objects.iterdir()):
            if len(prefix.name) == 2 and prefix.is_dir():
                for entry in sorted(prefix.iterdir()):
                    if _OID_RE.match(prefix.name + entry.name):  # not a leftover (.DS_Store, an editor's backup)
                        yield prefix.name + entry.name

    def _quarantine(self, oid: str) -> None:
        path = self.path(oid)
        if not path.exists():
            return
        target = self.root / "quarantine" / f"{oid}.{int(time.time())}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
