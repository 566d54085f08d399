"""Ranged parallel reads (stores/transfer.py) and resumed, bounded retries (stores/retry.py), checked fast.

The readers are driven through their own interfaces: ``fetch(start, end)``,
``open_at(offset)`` and ``read_range(start, end)`` here serve a byte string and
fail, cut or over-deliver answers the way a network does. The same readers against
the moto S3 server and the GCS emulator behind a fault proxy are in
tests/faults/test_network.py.
"""

from __future__ import annotations

import io
import logging
import threading

import pytest

from labdatasets.errors import LabDatasetsError, TransferError
from labdatasets.stores import retry, transfer
from labdatasets.stores.hashing import copy_and_hash, sha256_bytes
from labdatasets.stores.retry import ResumingReader, TransferInterrupted, resilient_range, retrying
from labdatasets.stores.transfer import RangedReader, parallel_ranges

DATA = bytes(range(256)) * 40 + b"tail"  # 10,244 bytes, every offset distinct mod 256


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setenv("LABDATASETS_TRANSFER_BACKOFF", "0")
    monkeypatch.delenv("LABDATASETS_TRANSFER_RETRIES", raising=False)
    monkeypatch.delenv("LABDATASETS_TRANSFER_WORKERS", raising=False)


def read_all(reader, size: int = 1000) -> bytes:
    out = bytearray()
    buf = bytearray(size)
    while True:
        n = reader.readinto(buf)
        if not n:
            return bytes(out)
        out += buf[:n]


# ------------------------------------------------------------------ transfer.py
def test_parallel_ranges_only_for_objects_larger_than_one_chunk(monkeypatch):
    assert transfer.CHUNK_BYTES == 8 << 20 and transfer.WORKERS == 8
    assert parallel_ranges(transfer.CHUNK_BYTES + 1) and not parallel_ranges(transfer.CHUNK_BYTES)
    monkeypatch.setenv("LABDATASETS_TRANSFER_WORKERS", "1")
    assert not parallel_ranges(10 * transfer.CHUNK_BYTES)
    monkeypatch.setenv("LABDATASETS_TRANSFER_WORKERS", "2")
    assert parallel_ranges(transfer.CHUNK_BYTES + 1)
    monkeypatch.setenv("LABDATASETS_TRANSFER_WORKERS", "")  # unset in effect: the default
    assert parallel_ranges(transfer.CHUNK_BYTES + 1)


@pytest.mark.parametrize("size,chunk", [(0, 100), (1, 100), (100, 100), (101, 100), (len(DATA), 1000), (len(DATA), 7)])
def test_ranges_are_read_back_in_order_and_exactly(size, chunk):
    data = DATA[:size]
    asked: list[tuple[int, int]] = []
    lock = threading.Lock()

    def fetch(start, end):
        with lock:
            asked.append((start, end))
        return data[start:end]

    reader = RangedReader(size, fetch, chunk=chunk, workers=3)
    assert reader.readable()
    try:
        assert read_all(reader, 333) == data
        assert reader.readinto(bytearray(10)) == 0
    finally:
        reader.close()
    expected = [(s, min(s + chunk, size)) for s in range(0, size, chunk)]
    assert sorted(asked) == expected
    assert reader.closed


def test_a_ranged_copy_hashes_exactly_what_was_served():
    reader = RangedReader(len(DATA), lambda s, e: DATA[s:e], chunk=1000, workers=4)
    out = io.BytesIO()
    oid, n = copy_and_hash(reader, out)
    assert (oid, n, out.getvalue()) == (sha256_bytes(DATA), len(DATA), DATA)


def test_a_short_range_is_an_error_not_a_hole():
    reader = RangedReader(300, lambda s, e: DATA[s : e - (1 if s == 100 else 0)], chunk=100, workers=2)
    try:
        with pytest.raises(TransferError, match="a ranged read returned 99 bytes instead of 100"):
            read_all(reader)
    finally:
        reader.close()


def test_at_most_workers_ranges_are_asked_ahead_and_close_cancels_the_rest():
    gate = threading.Event()
    started: list[int] = []

    def fetch(start, end):
        started.append(start)
        gate.wait(30)
        return DATA[start:end]

    reader = RangedReader(1000, fetch, chunk=100, workers=2)
    assert reader._window == 2 and len(reader._pending) == 2
    buf = bytearray(100)
    gate.set()
    assert reader.readinto(buf) == 100 and bytes(buf) == DATA[:100]
    assert len(reader._pending) == 2  # one taken, one asked for in its place
    reader.close()
    assert not reader._pending and sorted(started) in ([0, 100, 200], [0, 100])


def test_close_returns_only_when_no_range_request_is_still_running():
    gate = threading.Event()
    started: list[int] = []
    finished: list[int] = []

    def fetch(start, end):
        started.append(start)
        gate.wait(30)
        threading.Event().wait(0.05)  # a request still finishing its last bytes
        finished.append(start)
        return DATA[start:end]

    reader = RangedReader(1000, fetch, chunk=100, workers=2)
    while len(started) < 2:  # both requests in flight
        threading.Event().wait(0.001)
    gate.set()
    reader.close()
    assert sorted(finished) == sorted(started) == [0, 100]


@pytest.mark.parametrize("env,workers", [(None, 8), ("3", 3), ("", 8)])
def test_the_number_of_ranges_in_flight_follows_the_setting(monkeypatch, env, workers):
    if env is not None:
        monkeypatch.setenv("LABDATASETS_TRANSFER_WORKERS", env)
    reader = RangedReader(10_000, lambda s, e: DATA[s:e], chunk=100)
    try:
        assert reader._window == workers and reader._pool._max_workers == workers
    finally:
        reader.close()
    explicit = RangedReader(10_000, lambda s, e: DATA[s:e], chunk=100, workers=5)
    assert explicit._window == 5
    explicit.close()
    small = RangedReader(100, lambda s, e: DATA[s:e], chunk=100, workers=5)  # one chunk: one request, one thread
    assert small._window == 1 and small._pool._max_workers == 1
    assert read_all(small) == DATA[:100]
    small.close()
    default_chunk = RangedReader(transfer.CHUNK_BYTES + 1, lambda s, e: b"\0" * (e - s), workers=2)
    assert default_chunk.chunk == transfer.CHUNK_BYTES
    default_chunk.close()


# ------------------------------------------------------------------ retry.py: settings
@pytest.mark.parametrize("env,attempts", [(None, 5), ("3", 3), ("1", 1), ("0", 1), ("-4", 1), ("many", 5)])
def test_max_attempts(monkeypatch, env, attempts):
    if env is not None:
        monkeypatch.setenv("LABDATASETS_TRANSFER_RETRIES", env)
    assert retry.max_attempts() == attempts


def test_backoff_doubles_from_the_base_up_to_two_seconds_with_jitter(monkeypatch):
    monkeypatch.delenv("LABDATASETS_TRANSFER_BACKOFF")
    monkeypatch.setattr(retry.random, "random", lambda: 1.0)
    assert [retry.backoff(f) for f in (0, 1, 2, 3, 4, 5, 6, 9)] == pytest.approx([0.1, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0])
    monkeypatch.setattr(retry.random, "random", lambda: 0.0)
    assert retry.backoff(2) == pytest.approx(0.1) and retry.backoff(9) == pytest.approx(1.0)
    monkeypatch.setenv("LABDATASETS_TRANSFER_BACKOFF", "0.5")
    assert retry.backoff(1) == pytest.approx(0.25)
    monkeypatch.setenv("LABDATASETS_TRANSFER_BACKOFF", "")
    assert retry.backoff(1) == pytest.approx(0.05)


def test_waits_follow_the_failures_in_a_row(monkeypatch):
    waited: list[int] = []
    monkeypatch.setattr(retry, "_wait", waited.append)
    calls = iter([ConnectionError("a"), ConnectionError("b"), "ok"])

    def call():
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert retrying(call, transient=lambda e: True) == "ok" and waited == [1, 2]


def test_transfer_interrupted_says_what_arrived():
    last = ConnectionResetError("reset by peer")
    error = TransferInterrupted(1234, 5678901, 6, last)
    assert isinstance(error, TransferError) and isinstance(error, OSError) and isinstance(error, LabDatasetsError)
    assert (error.received, error.expected, error.attempts, error.last) == (1234, 5678901, 6, last)
    assert str(error) == "received 1,234 of 5,678,901 bytes in 6 attempts; last error: ConnectionResetError: reset by peer"
    assert str(TransferInterrupted(0, 10, 1, None)) == "received 0 of 10 bytes in 1 attempts"


# ------------------------------------------------------------------ ResumingReader
class Body:
    """One answer: the object from ``start``; cut after ``cut`` bytes (an empty read), or raising ``fail`` there."""

    def __init__(self, data: bytes, start: int, *, cut: int | None = None, fail: BaseException | None = None, extra: int = 0):
        self.stream = io.BytesIO(data[start:])
        self.left = cut
        self.fail = fail
        self.extra = extra
        self.closed = False

    def read(self, n):
        if self.left is not None and self.left <= 0:
            if self.fail is not None:
                raise self.fail
            return b""
        if self.left is not None:
            n = min(n, self.left)
            self.left -= n
        return self.stream.read(n + self.extra)  # extra: a server that sends more than asked

    def close(self):
        self.closed = True


class Server:
    """``open_at`` over DATA; ``plan`` is one (cut, fail) per request, then whole answers."""

    def __init__(self, plan=(), *, open_errors=(), extra: int = 0, data: bytes = DATA):
        self.plan = list(plan)
        self.open_errors = list(open_errors)
        self.opened: list[int] = []
        self.bodies: list[Body] = []
        self.extra = extra
        self.data = data

    def open_at(self, start):
        self.opened.append(start)
        if self.open_errors:
            raise self.open_errors.pop(0)
        cut, fail = self.plan.pop(0) if self.plan else (None, None)
        body = Body(self.data, start, cut=cut, fail=fail, extra=self.extra)
        self.bodies.append(body)
        return body


def transient(exc):
    return isinstance(exc, (ConnectionError, TimeoutError))


def test_a_cut_answer_resumes_at_the_next_byte(caplog):
    server = Server([(1000, None), (0, None), (2500, ConnectionResetError("reset"))])
    reader = ResumingReader(len(DATA), server.open_at, transient=transient)
    with caplog.at_level(logging.INFO, logger="labdatasets.stores.retry"):
        assert read_all(reader, 700) == DATA
    assert server.opened == [0, 1000, 1000, 3500]
    assert all(body.closed for body in server.bodies[:3])
    assert "transfer interrupted at byte 1000 of 10244 (short body); resuming (attempt 2)" in caplog.messages
    assert "transfer interrupted at byte 3500 of 10244 (ConnectionResetError); resuming (attempt 4)" in caplog.messages
    reader.close()
    assert server.bodies[-1].closed and reader.closed


def test_a_copy_through_a_resuming_reader_hashes_exactly_the_object():
    server = Server([(4000, TimeoutError("slow")), (10, None)])
    oid, n = copy_and_hash(ResumingReader(len(DATA), server.open_at, transient=transient), io.BytesIO())
    assert (oid, n) == (sha256_bytes(DATA), len(DATA))


def test_more_bytes_than_asked_are_not_taken_past_the_buffer():
    server = Server(extra=50)
    reader = ResumingReader(len(DATA), server.open_at, transient=transient)
    buf = bytearray(100)
    assert reader.readinto(buf) == 100 and bytes(buf) == DATA[:100] and reader.position == 100


def test_nothing_is_read_past_the_end_or_into_an_empty_buffer():
    server = Server(data=DATA + b"trailing garbage")
    reader = ResumingReader(len(DATA), server.open_at, transient=transient)
    assert reader.readinto(bytearray(0)) == 0 and server.opened == []
    assert reader.readable()
    assert read_all(reader, 4096) == DATA
    assert reader.readinto(bytearray(10)) == 0


def test_an_error_that_is_not_transient_is_raised_at_once():
    denied = PermissionError("access denied")
    server = Server([(100, denied)])
    reader = ResumingReader(len(DATA), server.open_at, transient=transient)
    with pytest.raises(PermissionError) as info:
        read_all(reader)
    assert info.value is denied and server.opened == [0]
    refused = Server(open_errors=[PermissionError("no")])
    with pytest.raises(PermissionError):
        read_all(ResumingReader(len(DATA), refused.open_at, transient=transient))
    assert refused.opened == [0]


def test_failures_to_open_are_retried_and_bounded(monkeypatch):
    server = Server(open_errors=[ConnectionError("refused")] * 4)
    assert read_all(ResumingReader(len(DATA), server.open_at, transient=transient)) == DATA
    assert server.opened == [0] * 5
    never = Server(open_errors=[ConnectionError("refused")] * 100)
    with pytest.raises(TransferInterrupted) as info:
        read_all(ResumingReader(len(DATA), never.open_at, transient=transient))
    assert never.opened == [0] * 5
    assert (info.value.received, info.value.expected, info.value.attempts) == (0, len(DATA), 6)
    assert isinstance(info.value.last, ConnectionError) and isinstance(info.value.__cause__, ConnectionError)


def test_five_cuts_in_a_row_without_progress_end_the_read(monkeypatch):
    server = Server([(200, None)] + [(0, None)] * 10)
    with pytest.raises(TransferInterrupted) as info:
        read_all(ResumingReader(len(DATA), server.open_at, transient=transient))
    assert (info.value.received, info.value.attempts, info.value.last) == (200, 6, None)
    assert server.opened == [0] + [200] * 4  # the first cut, then four empty answers: five failures in a row
    monkeypatch.setenv("LABDATASETS_TRANSFER_RETRIES", "2")
    server = Server([(200, None)] + [(0, None)] * 10)
    with pytest.raises(TransferInterrupted):
        read_all(ResumingReader(len(DATA), server.open_at, transient=transient))
    assert server.opened == [0, 200]


def test_progress_resets_the_failures_in_a_row_but_not_the_total(monkeypatch):
    monkeypatch.setenv("LABDATASETS_TRANSFER_RETRIES", "2")
    # Each answer brings 100 bytes, then breaks: never 2 failures in a row, 8 in all ends it.
    server = Server([(100, ConnectionError("cut"))] * 100)
    with pytest.raises(TransferInterrupted) as info:
        read_all(ResumingReader(len(DATA), server.open_at, transient=transient), 1000)
    assert (info.value.received, info.value.attempts) == (800, 9)
    assert server.opened == [100 * i for i in range(8)]
    # Seven such breaks are within the budget.
    server = Server([(100, ConnectionError("cut"))] * 7)
    assert read_all(ResumingReader(len(DATA), server.open_at, transient=transient)) == DATA


def test_a_body_that_fails_to_close_is_dropped_anyway():
    class Sticky(Body):
        def close(self):
            raise OSError("connection already gone")

    answers = [Sticky(DATA, 0, cut=10), Body(DATA, 10)]
    reader = ResumingReader(len(DATA), lambda start: answers.pop(0), transient=transient)
    assert read_all(reader) == DATA
    reader.close()


# ------------------------------------------------------------------ resilient_range
def test_a_range_keeps_what_arrived_and_asks_for_the_rest():
    asked: list[tuple[int, int]] = []
    answers = [b"abc", ConnectionError("dropped"), b"", b"defg" + b"overflow"]

    def read_range(start, end):
        asked.append((start, end))
        item = answers.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    assert resilient_range(100, 107, read_range, transient=transient) == b"abcdefg"
    assert asked == [(100, 107), (103, 107), (103, 107), (103, 107)]


def test_a_range_that_keeps_failing_is_bounded_and_says_what_arrived(monkeypatch):
    monkeypatch.setenv("LABDATASETS_TRANSFER_RETRIES", "3")
    calls = []

    def read_range(start, end):
        calls.append(start)
        if start == 10:
            return b"x" * 5
        raise TimeoutError("slow")

    with pytest.raises(TransferInterrupted) as info:
        resilient_range(10, 30, read_range, transient=transient)
    assert (info.value.received, info.value.expected, info.value.attempts) == (5, 20, 4)
    assert isinstance(info.value.last, TimeoutError) and info.value.__cause__ is info.value.last
    assert calls == [10, 15, 15, 15]
    empty = []
    with pytest.raises(TransferInterrupted) as info:
        resilient_range(10, 15, lambda s, e: empty.append(s) or b"", transient=transient)
    assert (info.value.received, info.value.expected, info.value.last) == (0, 5, None) and empty == [10] * 3


def test_a_range_error_that_is_not_transient_is_raised_at_once():
    calls = []

    def read_range(start, end):
        calls.append(start)
        raise PermissionError("denied")

    with pytest.raises(PermissionError):
        resilient_range(0, 10, read_range, transient=transient)
    assert calls == [0]
    assert resilient_range(5, 5, read_range, transient=transient) == b"" and calls == [0]


# ------------------------------------------------------------------ retrying
def test_retrying_asks_again_only_for_transient_errors_and_gives_up_with_the_last(monkeypatch, caplog):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError(f"try {len(calls)}")
        return "answer"

    with caplog.at_level(logging.INFO, logger="labdatasets.stores.retry"):
        assert retrying(flaky, transient=transient) == "answer"
    assert len(calls) == 3 and "request failed (ConnectionError); trying again (attempt 2)" in caplog.messages
    calls.clear()

    def down():
        calls.append(1)
        raise ConnectionError(f"try {len(calls)}")

    with pytest.raises(ConnectionError, match="try 5"):
        retrying(down, transient=transient)
    assert len(calls) == 5
    calls.clear()
    monkeypatch.setenv("LABDATASETS_TRANSFER_RETRIES", "1")
    with pytest.raises(ConnectionError, match="try 1"):
        retrying(down, transient=transient)
    calls.clear()

    def denied():
        calls.append(1)
        raise PermissionError("denied")

    monkeypatch.setenv("LABDATASETS_TRANSFER_RETRIES", "5")
    with pytest.raises(PermissionError):
        retrying(denied, transient=transient)
    assert len(calls) == 1
