"""Bounded retries for reads from S3 and GCS: a dropped or cut-short answer resumes where it stopped.

SDK retries cover requests that fail before an answer starts; a body that stops
half-way (a dropped connection, a proxy that cuts it, a timeout) surfaces
later, while the caller reads it, and used to fail the whole pin or load. Here:

* :class:`ResumingReader` reads one object as a stream and, after a failure or a
  short body, asks again for ``bytes=<next byte>-`` and goes on from there.
* :func:`resilient_range` does the same for one range of a parallel download.

Every byte is still hashed by the caller (the store compares the sha256 of the
whole object with its oid at the end), so a resumed read that went wrong is
caught there and downloaded once more (:meth:`SnapshotStore.fetch`).

Attempts are bounded: ``LABDATASETS_TRANSFER_RETRIES`` (default 5) failures in a
row without a byte of progress, and four times that in all, end the read with
:class:`TransferInterrupted`, which says how many bytes arrived; the store or
source turns it into an error that names the object and what to do.

Example::

    reader = ResumingReader(size, lambda start: get_object(Range=f"bytes={start}-")["Body"],
                            transient=is_transient)
"""

from __future__ import annotations

import io
import logging
import os
import random
import threading
from collections.abc import Callable
from typing import Any
from labdatasets.errors import TransferError

__all__ = ["ResumingReader", "TransferInterrupted", "resilient_range", "retrying", "max_attempts", "backoff"]

logger = logging.getLogger(__name__)

DEFAULT_ATTEMPTS = 5


def max_attempts() -> int:
    """Failures in a row allowed per object (``LABDATASETS_TRANSFER_RETRIES``, default 5, at least 1)."""
    try:
        return max(1, int(os.environ.get("LABDATASETS_TRANSFER_RETRIES", DEFAULT_ATTEMPTS)))
    except ValueError:
        return DEFAULT_ATTEMPTS


def backoff(failure: int) -> float:
    """Seconds to wait before the next attempt: 0.1, 0.2, 0.4 ... up to 2 s, with jitter."""
    base = float(os.environ.get("LABDATASETS_TRANSFER_BACKOFF", "0.1") or 0.1)
    return min(2.0, base * (2 ** max(0, failure - 1))) * (0.5 + random.random() / 2)


def _wait(failure: int) -> None:
    threading.Event().wait(backoff(failure))


class TransferInterrupted(TransferError):
    """A read kept failing: ``received`` of ``expected`` bytes arrived in ``attempts`` requests."""

    def __init__(self, received: int, expected: int, attempts: int, last: BaseException | None):
        self.received = received
        self.expected = expected
        self.attempts = attempts
        self.last = last
        super().__init__(
            f"received {received:,} of {expected:,} bytes in {attempts} attempts"
            + (f"; last error: {type(last).__name__}: {last}" if last is not None else "")
        )


class _Budget:
    """Failures in a row (reset by progress) and in all."""

    def __init__(self) -> None:
        self.in_a_row = 0
        self.total = 0
        self.limit = max_attempts()

    def fail(self, received: int, expected: int, exc: BaseException | None) -> None:
        self.in_a_row += 1
        self.total += 1
        if self.in_a_row >= self.limit or self.total >= 4 * self.limit:
            raise TransferInterrupted(received, expected, self.total + 1, exc) from exc
        logger.info("transfer interrupted at byte %d of %d (%s); resuming (attempt %d)", received, expected,
                    type(exc).__name__ if exc else "short body", self.total + 1)
        _wait(self.in_a_row)

    def progress(self) -> None:
        self.in_a_row = 0


class ResumingReader(io.RawIOBase):
    """A sequential reader over ``size`` bytes that reopens at the next byte after a failure.

    ``open_at(offset)`` returns a file-like body of the object from ``offset`` to
    its end; ``transient(exc)`` says which errors are worth another request.
    """

    def __init__(self, size: int, open_at: Callable[[int], Any], *, transient: Callable[[BaseException], bool]):
        super().__init__()
        self.size = size
        self.open_at = open_at
        self.transient = transient
        self.position = 0
        self._body: Any = None
        self._budget = _Budget()

    def readable(self) -> bool:
        return True

    def _open(self) -> Any:
        while True:
            try:
                return self.open_at(self.position)
            except Exception as exc:
                if not self.transient(exc):
                    raise
                self._budget.fail(self.position, self.size, exc)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.position >= self.size or not len(buffer):
            return 0
        want = min(len(buffer), self.size - self.position)
        while True:
            if self._body is None:
                self._body = self._open()
            try:
                data = self._body.read(want)
            except Exception as exc:
                if not self.transient(exc):
                    raise
                self._drop_body()
                self._budget.fail(self.position, self.size, exc)
                continue
            if not data:  # the answer ended early: a cut body
                self._drop_body()
                self._budget.fail(self.position, self.size, None)
                continue
            n = min(len(data), want)
            buffer[:n] = data[:n]
            self.position += n
            self._budget.progress()
            return n

    def _drop_body(self) -> None:
        body, self._body = self._body, None
        try:
            if body is not None:
                body.close()
        except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is dropped anyway
            pass

    def close(self) -> None:
        self._drop_body()
        super().close()


def resilient_range(
    start: int, end: int, read_range: Callable[[int, int], bytes], *, transient: Callable[[BaseException], bool]
) -> bytes:
    """Bytes ``[start, end)`` from ``read_range(start, end)``, asking again for whatever is missing.

    A short answer keeps what arrived and asks for the rest; a transient error
    asks again from the first missing byte. Bounded like :class:`ResumingReader`.
    """
    parts: list[bytes] = []
    have = start
    budget = _Budget()
    while have < end:
        try:
            data = read_range(have, end)
        except Exception as exc:
            if not transient(exc):
                raise
            budget.fail(have - start, end - start, exc)
            continue
        if not data:
            budget.fail(have - start, end - start, None)
            continue
        data = data[: end - have]
        parts.append(data)
        have += len(data)
        budget.progress()
    return b"".join(parts)


def retrying(call: Callable[[], Any], *, transient: Callable[[BaseException], bool]) -> Any:
    """``call()``, asked again after a transient failure (bounded like the reads); the last error is raised."""
    failures = 0
    while True:
        try:
            return call()
        except Exception as exc:
            failures += 1
            if not transient(exc) or failures >= max_attempts():
                raise
            logger.info("request failed (%s); trying again (attempt %d)", type(exc).__name__, failures + 1)
            _wait(failures)
