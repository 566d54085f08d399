"""Rows of a MySQL result read straight off the wire into Arrow, a batch at a time.

PyMySQL parses every row in Python (a packet header, then a length-prefixed
string per column), which costs several microseconds per row: 8 s for a
million rows of twelve columns. This reader takes over the socket of a
PyMySQL connection after the result's column definitions have been read
(an unbuffered ``SSCursor.execute``), so the query still runs on the pin's
one connection, inside its consistent-snapshot transaction, and:

1. cuts the byte stream into row packets (one short Python loop per row,
   checking each packet's sequence number and stopping at the EOF or error
   packet);
2. walks the length-prefixed fields of all rows of a batch at once with
   numpy, one column at a time (a NULL is ``0xFB``; lengths of 251 bytes and
   more carry a 2, 3 or 8-byte prefix);
3. hands each column to Arrow as a ``binary_view`` array over the received
   bytes (no Python object per value) and casts it to its exact type, as
   :func:`labdatasets.loaders._mysql_types.text_to_arrow` does for PyMySQL's
   values.

Rows that span several packets (16 MiB and more) are joined first. When the
result ends, PyMySQL's own state is left as if it had read the rows itself;
if reading stops early, the connection is closed (its stream is mid-result).

Example::

    cursor = connection.cursor(pymysql.cursors.SSCursor)
    cursor.execute(query)
    for table in read_result(connection, cursor._result, columns, schema):
        ...
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from labdatasets.errors import SourceError, SourceUnavailableError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from labdatasets.loaders._mysql_types import MySQLColumn

__all__ = ["read_result", "parse_rows", "supported", "WireProtocolError", "BATCH_ROWS", "BATCH_BYTES"]

# Rows per Arrow batch, and the most row bytes one batch holds (so wide rows keep memory flat).
BATCH_ROWS = 65_536
BATCH_BYTES = 32 << 20
_READ_BYTES = 1 << 20
_MAX_PAYLOAD = 0xFFFFFF  # a packet of this size continues in the next one
_PAD = 16  # zero bytes after a batch's rows, so that every 12-byte window is inside the buffer


class WireProtocolError(SourceError):
    """The server's bytes are not the row packets this reader expects (the SQL connector adds which
    source; pinning again, or reading with PyMySQL's parser, are the ways out)."""


# The parts of PyMySQL's connection this reader takes over (PyMySQL 1.1 and 1.2 have them all).
_PYMYSQL_PARTS = ("_rfile", "_sock", "_next_seq_id", "_read_timeout", "_current_timeout", "_force_close", "encoding")


def supported(connection: Any) -> bool:
    """Whether this reader can read ``connection``'s results: a PyMySQL connection whose text is UTF-8.

    Otherwise (another PyMySQL that changed its internals, another character
    set) the caller reads rows with PyMySQL's own parser.
    """
    if not all(hasattr(connection, part) for part in _PYMYSQL_PARTS):
        return False
    try:
        return codecs.lookup(connection.encoding).name == "utf-8"
    except LookupError:
        return False


class _Stream:
    """The bytes of a result after its column definitions, cut into row packets.

    Each batch gets a buffer of its own (the Arrow arrays of a batch point into
    it), holding the bytes not yet consumed and what is read while the batch fills.
    """

    def __init__(self, read: Callable[[int], bytes], seq: int):
        self.read = read
        self.seq = seq
        self.buf = bytearray()
        self.pos = 0
        self.done = False
        self.eof_payload = b""

    def _more(self) -> None:
        data = self.read(_READ_BYTES)
        if not data:
            raise SourceUnavailableError("lost the connection to the MySQL server during the query; pin again")
        self.buf += data

    def _header(self, pos: int) -> int | None:
        """The payload length of the packet at ``pos``, or None if its header is not here yet."""
        buf = self.buf
        if pos + 4 > len(buf):
            return None
        return buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)

    def take_rows(self, limit_rows: int, limit_bytes: int) -> tuple[bytearray, list[int], list[int]]:
        """The next whole row payloads (at most ``limit_rows``, about ``limit_bytes``): (buffer, starts, ends)."""
        starts: list[int] = []
        ends: list[int] = []
        while not self.done:
            self._scan(starts, ends, limit_rows, limit_bytes)
            if self.done or len(starts) >= limit_rows or self.pos >= limit_bytes:
                break
            if self._header(self.pos) == _MAX_PAYLOAD:  # a row of several packets
                if not starts:
                    self._join_row(starts, ends)
                break
            self._more()
        batch = self.buf
        self.buf, self.pos = bytearray(batch[self.pos :]), 0  # the next batch starts afresh
        return batch, starts, ends

    def _scan(self, starts: list[int], ends: list[int], limit_rows: int, limit_bytes: int) -> None:
        buf, pos, seq = self.buf, self.pos, self.seq
        n = len(buf)
        while len(starts) < limit_rows and pos + 4 <= n and pos < limit_bytes:
            length = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)
            end = pos + 4 + length
            if end > n or length == _MAX_PAYLOAD:
                break  # not all here yet, or a row of several packets (see _join_row)
            if buf[pos + 3] != seq:
                raise WireProtocolError(f"packet sequence number {buf[pos + 3]}, expected {seq}")
            seq = (seq + 1) & 0xFF
            head = buf[pos + 4] if length else -1
            if head == 0xFE and length < 9:  # EOF: the result is complete
                self.done = True
                self.eof_payload = bytes(buf[pos + 4 : end])
                pos = end
                break
            if head == 0xFF:  # an error instead of the next row
                self.pos, self.seq, self.done = end, seq, True
                raise _ServerError(bytes(buf[pos + 4 : end]))
            starts.append(pos + 4)
            ends.append(end)
            pos = end
        self.pos, self.seq = pos, seq

    def _join_row(self, starts: list[int], ends: list[int]) -> None:
        """Join the packets of one row of 16 MiB or more; it becomes a batch of its own."""
        parts = []
        while True:
            while (length := self._header(self.pos)) is None:
                self._more()
            while self.pos + 4 + length > len(self.buf):
                self._more()
            if self.buf[self.pos + 3] != self.seq:
                raise WireProtocolError(f"packet sequence number {self.buf[self.pos + 3]}, expected {self.seq}")
            self.seq = (self.seq + 1) & 0xFF
            parts.append(self.buf[self.pos + 4 : self.pos + 4 + length])
            self.pos += 4 + length
            if length < _MAX_PAYLOAD:
                break
        row = b"".join(parts)
        self.buf, self.pos = bytearray(row) + self.buf[self.pos :], len(row)
        starts.append(0)
        ends.append(len(row))


class _ServerError(SourceError):
    """An error packet in the middle of the rows; :func:`read_result` lets PyMySQL raise it."""

    def __init__(self, payload: bytes):
        super().__init__(f"the server sent an error packet ({len(payload)} bytes) in the middle of the rows")
        self.payload = payload


def parse_rows(
    buf: bytes | bytearray, starts: Sequence[int], ends: Sequence[int], ncols: int
) -> list[tuple[Any, Any, Any]]:
    """Locate every field of the rows at ``starts``: per column (starts, lengths, null mask) as numpy arrays."""
    import numpy as np

    data = np.frombuffer(buf, dtype=np.uint8)
    pos = np.asarray(starts, dtype=np.int64)
    row_ends = np.asarray(ends, dtype=np.int64)
    out = []
    for _ in range(ncols):
        if (pos >= row_ends).any():
            raise WireProtocolError("a row has fewer fields than the result has columns")
        head = data[pos].astype(np.int64)
        null = head == 0xFB
        length = head.copy()
        skip = np.ones_like(pos)
        wide = head >= 0xFC
        if wide.any():
            for code, size in ((0xFC, 2), (0xFD, 3), (0xFE, 8)):
                sel = np.flatnonzero(head == code)
                if not len(sel):
                    continue
                value = np.zeros(len(sel), dtype=np.uint64)
                for k in range(size):
                    value |= data[pos[sel] + 1 + k].astype(np.uint64) << np.uint64(8 * k)
                length[sel] = value.astype(np.int64)
                skip[sel] = 1 + size
        length[null] = 0
        start = pos + skip
        pos = start + length
        out.append((start, length, null))
    if not np.array_equal(pos, row_ends):
        raise WireProtocolError("a row has more bytes than its fields")
    return out


def _binary_view(buffer: "pa.Buffer", windows: Any, start: Any, length: Any, null: Any) -> "pa.Array":
    """A binary_view array of the fields at ``start``/``length`` of ``buffer``.

    ``windows`` is the buffer as overlapping 12-byte windows (a numpy strided
    view): a value of at most 12 bytes is inlined whole, a longer one keeps its
    first 4 bytes and its offset in ``buffer`` (the Arrow view layout).
    """
    import numpy as np
    import pyarrow as pa

    n = len(start)
    views = np.zeros((n, 16), dtype=np.uint8)
    words = views.view("<i4")  # (n, 4): length, then inline bytes or (prefix, buffer index, offset)
    words[:, 0] = length
    head = windows[start]  # (n, 12): the first 12 bytes at each value (the buffer is padded)
    np.multiply(head, np.arange(12) < length[:, None], out=head)  # zero what lies past a short value
    views[:, 4:16] = head
    long_rows = np.flatnonzero(length > 12)
    if len(long_rows):
        words[long_rows, 2] = 0
        words[long_rows, 3] = start[long_rows]
    nulls = int(np.count_nonzero(null))
    validity = pa.py_buffer(np.packbits(~null, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(pa.binary_view(), n, [validity, pa.py_buffer(views), buffer], null_count=nulls)


def read_result(
    connection: Any,
    result: Any,
    columns: Sequence["MySQLColumn"],
    schema: "pa.Schema",
    *,
    batch_rows: int | None = None,
    batch_bytes: int | None = None,
) -> Iterator["pa.Table"]:
    """Arrow tables of the rows of ``result`` (PyMySQL's unbuffered result on ``connection``)."""
    import numpy as np
    import pyarrow as pa

    from labdatasets.loaders._mysql_types import binary_to_arrow

    if connection._current_timeout != connection._read_timeout:  # as PyMySQL does before reading
        connection._sock.settimeout(connection._read_timeout)
        connection._current_timeout = connection._read_timeout
    stream = _Stream(connection._rfile.read1, connection._next_seq_id)
    finished = False
    try:
        while not stream.done:
            try:
                buf, starts, ends = stream.take_rows(batch_rows or BATCH_ROWS, batch_bytes or BATCH_BYTES)
            except _ServerError as exc:
                _finish(connection, result, stream)
                finished = True
                _raise_server_error(connection, exc.payload)
            if not starts:
                break
            fields = parse_rows(buf, starts, ends, len(columns))
            buf += bytes(_PAD)  # this batch's buffer: nothing else is appended to it
            buffer = pa.py_buffer(buf)
            windows = np.lib.stride_tricks.sliding_window_view(np.frombuffer(buf, dtype=np.uint8), 12)
            arrays = []
            for i, (column, (start, length, null)) in enumerate(zip(columns, fields, strict=True)):
                raw = _binary_view(buffer, windows, start, length, null).cast(pa.binary())
                arrays.append(binary_to_arrow(raw, column, schema.field(i).type))
            yield pa.Table.from_arrays(arrays, schema=schema)
        _finish(connection, result, stream)
        finished = True
    finally:
        if not finished:
            # The stream is mid-result: nothing else can be read on this connection.
            result.unbuffered_active = False
            result.connection = None
            connection._force_close()


def _finish(connection: Any, result: Any, stream: _Stream) -> None:
    """Leave PyMySQL's state as its own reader leaves it at the end of a result."""
    from pymysql.protocol import EOFPacketWrapper, MysqlPacket

    if stream.eof_payload:
        eof = EOFPacketWrapper(MysqlPacket(stream.eof_payload, connection.encoding))
        result.warning_count = eof.warning_count
        result.has_next = eof.has_next
    result.unbuffered_active = False
    result.connection = None
    result.rows = None
    connection._next_seq_id = stream.seq
    leftover = stream.buf[stream.pos :]
    if leftover:
        raise WireProtocolError(f"{len(leftover)} bytes arrived after the end of the result")


def _raise_server_error(connection: Any, payload: bytes) -> None:
    from pymysql.protocol import MysqlPacket

    MysqlPacket(payload, connection.encoding).raise_for_error()
    raise WireProtocolError("the server sent an error packet that PyMySQL could not read")
