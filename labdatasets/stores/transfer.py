"""Parallel ranged downloads that are still read (and hashed) in order.

Object stores serve one large object fastest as several ranged GETs at once.
:class:`RangedReader` keeps ``workers`` range requests in flight and exposes
the object as an ordinary sequential file object, so the caller can copy and
hash it in one pass (:func:`labdatasets.stores.hashing.copy_and_hash`) and never
writes a byte it has not hashed. At most ``workers`` chunks are held in memory.

Example::

    reader = RangedReader(size, lambda start, end: get_range(key, start, end))
    oid, n = copy_and_hash(reader, open(dest, "wb"))
"""

from __future__ import annotations

import collections
import concurrent.futures
import io
import os
from collections.abc import Callable
from labdatasets.errors import TransferError

__all__ = ["RangedReader", "CHUNK_BYTES", "WORKERS", "parallel_ranges"]

# 8 MiB ranges and 8 in flight: what boto3's own transfer manager does. One
# connection to S3 or GCS carries far less than a machine's link, so large objects
# come faster as parallel ranges. LABDATASETS_TRANSFER_WORKERS=1 reads each object
# as one streaming request instead (faster from servers that serve ranges slowly,
# such as moto: see benchmarks/bench_loading.py).
CHUNK_BYTES = 8 << 20
WORKERS = 8


def parallel_ranges(size: int) -> bool:
    """Whether an object of ``size`` bytes should be read as parallel ranges."""
    workers = int(os.environ.get("LABDATASETS_TRANSFER_WORKERS", WORKERS) or WORKERS)
    return workers > 1 and size > CHUNK_BYTES


class RangedReader(io.RawIOBase):
    """A sequential reader over ``fetch(start, end) -> bytes`` (``end`` exclusive), fetched ahead in parallel."""

    def __init__(
        self,
        size: int,
        fetch: Callable[[int, int], bytes],
        *,
        chunk: int | None = None,
        workers: int | None = None,
    ):
        super().__init__()
        chunk = chunk or CHUNK_BYTES
        # A small object is one request: no point in a pool of threads for it.
        workers = 1 if size <= chunk else (workers or int(os.environ.get("LABDATASETS_TRANSFER_WORKERS", WORKERS) or WORKERS))
        self.size = size
        self.fetch = fetch
        self.chunk = chunk
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="labdatasets-get")
        self._window = max(1, workers)
        self._next_start = 0
        self._pending: collections.deque[tuple[int, concurrent.futures.Future[bytes]]] = collections.deque()
        self._current = memoryview(b"")
        self._fill()

    def _fill(self) -> None:
        while len(self._pending) < self._window and self._next_start < self.size:
            start, end = self._next_start, min(self._next_start + self.chunk, self.size)
            self._pending.append((end - start, self._pool.submit(self.fetch, start, end)))
            self._next_start = end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "bytearray | memoryview") -> int:  # type: ignore[override]
        while not len(self._current):
            if not self._pending:
                return 0
            expected, future = self._pending.popleft()
            data = future.result()
            if len(data) != expected:
                raise TransferError(f"a ranged read returned {len(data)} bytes instead of {expected}")
            self._current = memoryview(data)
            self._fill()
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        return n

    def close(self) -> None:
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        super().close()
