"""sha256 helpers used by the snapshot store, pins and prepared data.

Every object is named by the sha256 of its bytes (its *oid*). Directories and
pin records are named by the sha256 of a canonical JSON manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, BinaryIO
from collections.abc import Callable
from labdatasets.errors import TransferError

__all__ = ["CHUNK", "sha256_file", "sha256_bytes", "sha256_json", "canonical_json", "copy_and_hash", "copy_file_and_hash", "is_oid"]

# 4 MiB: large enough that hashlib releases the GIL and syscalls stay few.
CHUNK = 4 * 1024 * 1024


def is_oid(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], progress: Callable[[int], Any] | None = None) -> str:
    """Hash a file in chunks; ``progress(n)`` is called with each chunk's size."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            digest.update(view[:n])
            if progress:
                progress(n)
    return digest.hexdigest()


def canonical_json(data: Any) -> bytes:
    """JSON with sorted keys and no spaces: the bytes whose hash names a manifest."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_json(data: Any) -> str:
    return sha256_bytes(canonical_json(data))


def copy_and_hash(
    src: BinaryIO, dst: BinaryIO, progress: Callable[[int], Any] | None = None
) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` and hash the bytes in the same pass; return (sha256, size).

    The hash and the write of each chunk overlap: a writer thread writes chunk
    *n* while this thread hashes chunk *n+1* (both release the GIL), so a copy
    costs about max(hash, write) instead of their sum. Every byte written is a
    byte that was hashed.
    """
    import queue
    import threading

    digest = hashlib.sha256()
    size = 0
    free: "queue.Queue[bytearray]" = queue.Queue()
    for _ in range(3):
        free.put(bytearray(CHUNK))
    filled: "queue.Queue[tuple[bytearray, int] | None]" = queue.Queue()
    failure: list[BaseException] = []

    def writer() -> None:
        while True:
            item = filled.get()
            if item is None:
                return
            buf, n = item
            try:
                if not failure:
                    # A raw file may write fewer bytes than asked (a disk filling up): write the rest,
                    # so that the next write raises instead of a short file passing for a whole one.
                    view = memoryview(buf)[:n]
                    while len(view):
                        written = dst.write(view)
                        if written is None:
                            raise TransferError(f"could not write to {getattr(dst, 'name', 'the destination')}")
                        view = view[written:]
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failure.append(exc)
            free.put(buf)

    thread = threading.Thread(target=writer, name="labdatasets-copy", daemon=True)
    thread.start()
    readinto = getattr(src, "readinto", None)
    try:
        while not failure:
            buf = free.get()
            if readinto is not None:
                n = readinto(buf) or 0
            else:
                chunk = src.read(CHUNK)
                n = len(chunk)
                buf[:n] = chunk
            if not n:
                free.put(buf)
                break
            digest.update(memoryview(buf)[:n])
            filled.put((buf, n))
            size += n
            if progress:
                progress(n)
    finally:
        filled.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return digest.hexdigest(), size


def copy_file_and_hash(
    src: str | os.PathLike[str], dst_fd: int, progress: Callable[[int], Any] | None = None
) -> tuple[str, int]:
    """Copy a file into the open file ``dst_fd`` and hash what was written; return (sha256, size).

    The kernel copies (``copy_file_range``: no trip through Python, and a
    reflink where the filesystem can) while a second thread hashes the copied
    chunks, read back from the destination, so the hash is of the stored bytes
    and each byte is hashed once. Falls back to :func:`copy_and_hash` where the
    kernel cannot copy between these files.
    """
    import queue
    import threading

    copy_range = getattr(os, "copy_file_range", None)
    with open(src, "rb", buffering=0) as source:
        if copy_range is None:
            with os.fdopen(os.dup(dst_fd), "wb", buffering=0) as dst:
                return copy_and_hash(source, dst, progress)
        digest = hashlib.sha256()
        copied: "queue.Queue[tuple[int, int] | None]" = queue.Queue(maxsize=8)
        failure: list[BaseException] = []

        def hasher() -> None:
            buf = bytearray(CHUNK)
            while (item := copied.get()) is not None:
                if failure:  # keep taking chunks until the copier stops: it must never wait on a full queue
                    continue
                offset, n = item
                try:
                    got = os.preadv(dst_fd, [memoryview(buf)[:n]], offset)
                    if got != n:
                        raise TransferError(f"read back {got} of {n} copied bytes")
                    digest.update(memoryview(buf)[:n])
                    if progress:
                        progress(n)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                    failure.append(exc)

        thread = threading.Thread(target=hasher, name="labdatasets-hash", daemon=True)
        thread.start()
        size = 0
        try:
            while not failure:
                try:
                    n = copy_range(source.fileno(), dst_fd, CHUNK, size, size)
                except OSError:
                    if size:
                        raise
                    break  # this pair of files cannot be copied by the kernel: copy through Python
                if not n:
                    break
                copied.put((size, n))
                size += n
        finally:
            copied.put(None)
            thread.join()
        if failure:
            raise failure[0]
        if size or os.fstat(source.fileno()).st_size == 0:
            return digest.hexdigest(), size
        with os.fdopen(os.dup(dst_fd), "wb", buffering=0) as dst:
            return copy_and_hash(source, dst, progress)
