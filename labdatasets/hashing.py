"""sha256 helpers used by the snapshot store, pins and prepared data.

Every object is named by the sha256 of its bytes (its *oid*). Directories and
pin records are named by the sha256 of a canonical JSON manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, BinaryIO, Callable

__all__ = ["CHUNK", "sha256_file", "sha256_bytes", "sha256_json", "canonical_json", "copy_and_hash", "is_oid"]

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
    """Copy ``src`` to ``dst`` and hash the bytes in the same pass; return (sha256, size)."""
    digest = hashlib.sha256()
    size = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    readinto = getattr(src, "readinto", None)
    while True:
        if readinto is not None:
            n = readinto(buf)
            chunk = view[:n] if n else b""
        else:
            chunk = src.read(CHUNK)
            n = len(chunk)
        if not n:
            break
        digest.update(chunk)
        dst.write(chunk)
        size += n
        if progress:
            progress(n)
    return digest.hexdigest(), size


def file_size(path: str | os.PathLike[str]) -> int:
    return Path(path).stat().st_size
