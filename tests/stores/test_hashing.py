"""sha256 helpers: the names of objects and manifests, and copies that hash what they write."""

from __future__ import annotations

import errno
import hashlib
import io
import os

import pytest

from labdatasets.errors import TransferError
from labdatasets.stores import hashing
from labdatasets.stores.hashing import canonical_json, copy_and_hash, copy_file_and_hash, is_oid, sha256_bytes, sha256_file, sha256_json

DATA = bytes(range(256)) * 5 + b"tail"  # 1284 bytes: many chunks of 100


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(hashing, "CHUNK", 100)


def test_is_oid_wants_64_lowercase_hex_digits():
    oid = hashlib.sha256(b"x").hexdigest()
    assert is_oid(oid) and is_oid("0" * 64) and is_oid("f" * 64)
    for bad in (oid[:63], oid + "0", oid.upper(), "g" + oid[1:], "", " " + oid[1:], "X" * 64):
        assert not is_oid(bad), bad


def test_file_and_byte_hashes_agree_and_report_progress(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(DATA)
    seen: list[int] = []
    assert sha256_file(path, seen.append) == sha256_bytes(DATA) == hashlib.sha256(DATA).hexdigest()
    assert seen == [100] * 12 + [84]
    path.write_bytes(b"")
    assert sha256_file(path) == hashlib.sha256(b"").hexdigest()


def test_canonical_json_is_sorted_compact_utf8():
    data = {"b": [1, {"z": None, "a": "é"}], "a": 1.5}
    assert canonical_json(data) == '{"a":1.5,"b":[1,{"a":"é","z":null}]}'.encode()
    assert sha256_json(data) == hashlib.sha256(canonical_json(data)).hexdigest()
    assert sha256_json({"a": 1, "b": 2}) == sha256_json({"b": 2, "a": 1})


class _Trickle(io.RawIOBase):
    """A raw destination that takes at most ``n`` bytes a call (a disk filling up)."""

    def __init__(self, n: int | None):
        self.n, self.data = n, bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int | None:  # type: ignore[override]
        if self.n is None:
            return None
        taken = bytes(b[: self.n])
        self.data += taken
        return len(taken)


class _ReadOnly:
    """A source with ``read`` only (no ``readinto``), as some HTTP bodies are."""

    def __init__(self, data: bytes):
        self.stream = io.BytesIO(data)

    def read(self, n: int) -> bytes:
        return self.stream.read(min(n, 37))


@pytest.mark.parametrize("source", ["readinto", "read"])
def test_copy_and_hash_writes_every_byte_it_hashed(source):
    src = io.BytesIO(DATA) if source == "readinto" else _ReadOnly(DATA)
    dst = _Trickle(7)
    seen: list[int] = []
    assert copy_and_hash(src, dst, seen.append) == (hashlib.sha256(DATA).hexdigest(), len(DATA))
    assert bytes(dst.data) == DATA and sum(seen) == len(DATA)
    assert copy_and_hash(io.BytesIO(b""), _Trickle(7)) == (hashlib.sha256(b"").hexdigest(), 0)


def test_copy_and_hash_raises_what_the_destination_raised():
    with pytest.raises(TransferError, match="could not write to the destination"):
        copy_and_hash(io.BytesIO(DATA), _Trickle(None))
    named = _Trickle(None)
    named.name = "/store/tmp/add.123"  # type: ignore[attr-defined]
    with pytest.raises(TransferError, match="could not write to /store/tmp/add.123"):
        copy_and_hash(io.BytesIO(DATA), named)

    class Full(_Trickle):
        def write(self, b):
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        copy_and_hash(io.BytesIO(DATA * 10), Full(1))


@pytest.mark.parametrize("kernel", ["copy_file_range", "no copy_file_range", "copy_file_range refuses"])
def test_copy_file_and_hash_hashes_the_stored_bytes(tmp_path, monkeypatch, kernel):
    src = tmp_path / "src"
    src.write_bytes(DATA)
    if kernel == "no copy_file_range":
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    elif kernel == "copy_file_range refuses":
        def refuse(*args, **kwargs):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "copy_file_range", refuse)
    for data in (DATA, b"", b"x"):
        src.write_bytes(data)
        dst = tmp_path / f"dst-{len(data)}"
        fd = os.open(dst, os.O_RDWR | os.O_CREAT, 0o644)
        seen: list[int] = []
        try:
            assert copy_file_and_hash(src, fd, seen.append) == (hashlib.sha256(data).hexdigest(), len(data))
        finally:
            os.close(fd)
        assert dst.read_bytes() == data and sum(seen) == len(data)


def test_copy_file_and_hash_raises_when_the_kernel_copy_fails_half_way(tmp_path, monkeypatch):
    real = os.copy_file_range
    calls = []

    def flaky(src, dst, count, offset_src=None, offset_dst=None):
        calls.append(count)
        if len(calls) > 2:
            raise OSError(errno.EIO, "Input/output error")
        return real(src, dst, count, offset_src, offset_dst)

    monkeypatch.setattr(os, "copy_file_range", flaky)
    src = tmp_path / "src"
    src.write_bytes(DATA)
    fd = os.open(tmp_path / "dst", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        with pytest.raises(OSError, match="Input/output error"):
            copy_file_and_hash(src, fd)
    finally:
        os.close(fd)


@pytest.mark.timeout(30)
def test_copy_file_and_hash_raises_when_the_copied_bytes_do_not_read_back(tmp_path, monkeypatch):
    """The hasher fails once the copier has more chunks to queue than the queue holds: no deadlock.

    The hasher holds chunk 1; chunks 2-9 fill the queue (8); the failure comes from the 10th copy on,
    so the copier still has chunk 10 and the end mark to queue: a hasher that took one more chunk
    after failing and then stopped would leave it waiting forever.
    """
    import threading

    real_read, real_copy = os.preadv, os.copy_file_range
    queued_many = threading.Event()
    copies = []

    def copy(*args):
        copies.append(1)
        if len(copies) >= 10:  # chunks 2-9 fill the queue (8): from the 10th on the copier waits on the hasher
            queued_many.set()
        return real_copy(*args)

    def short(fd, buffers, offset):
        queued_many.wait(5)
        return real_read(fd, buffers, offset) - 1

    monkeypatch.setattr(os, "copy_file_range", copy)
    monkeypatch.setattr(os, "preadv", short)
    src = tmp_path / "src"
    src.write_bytes(DATA)
    fd = os.open(tmp_path / "dst", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        with pytest.raises(TransferError, match="read back 99 of 100 copied bytes"):
            copy_file_and_hash(src, fd)
    finally:
        os.close(fd)
