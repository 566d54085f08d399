"""Rows of a MySQL result read straight off the wire into Arrow, a batch at a time.

PyMySQL parses every row in Python (a packet header, then a length-prefixed
string per column), which costs several microseconds per row (the figures are
in benchmarks/README.md). This reader takes over the socket of a
PyMySQL connection after the result's column definitions have been read
(an unbuffered ``SSCursor.execute``), so the query still runs on the pin's
one connection, inside its consistent-snapshot transaction, and:

1. cuts the byte stream into row packets (a Python loop of one
   ``unpack_from`` per row steps from header to header; the sequence numbers,
   the EOF or error packet and packets of 16 MiB are then found with numpy
   over all the headers of a batch);
2. walks the length-prefixed fields of all rows of a batch at once with
   numpy, one column at a time (a NULL is ``0xFB``; lengths of 251 bytes and
   more carry a 2, 3 or 8-byte prefix);
3. hands each column to Arrow as a ``binary_view`` array over the received
   bytes (no Python object per value, see :func:`binary_columns`) and casts
   it to its exact type, as
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
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from labdatasets.errors import SourceError, SourceUnavailableError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from labdatasets.loaders._mysql_types import MySQLColumn

__all__ = ["read_result", "parse_rows", "supported", "WireProtocolError", "BATCH_ROWS", "BATCH_BYTES"]

# Rows per Arrow batch, and the most row bytes one batch holds (so wide rows keep memory flat).
# Small batches keep the decoder's numpy temporaries small; the writer re-cuts them into row groups
# of 65,536 rows (pinning/table_writer.py); 16,384-row batches gave the lower pin peak (benchmarks/README.md).
BATCH_ROWS = 16_384
BATCH_BYTES = 8 << 20
_READ_BYTES = 1 << 20
_MAX_PAYLOAD = 0xFFFFFF  # a packet of this size continues in the next one
_AHEAD = 1  # batches read while an earlier one is decoded (memory: about one batch's bytes each)
_PAD = 16  # zero bytes after a batch's rows, so that every 16-byte window is inside the buffer
_HEADER = struct.Struct("<I")  # a packet header: 3 bytes of payload length, 1 byte of sequence number


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

    def take_rows(self, limit_rows: int, limit_bytes: int) -> tuple[bytearray, Any, Any]:
        """The next whole row payloads (at most ``limit_rows``, about ``limit_bytes``): (buffer, starts, ends).

        ``starts`` and ``ends`` are int64 numpy arrays of offsets in the buffer.
        """
        import numpy as np

        found: list[Any] = []  # (starts, ends) pieces
        count = 0
        while not self.done:
            count += self._scan(found, limit_rows - count, limit_bytes)
            if self.done or count >= limit_rows or self.pos >= limit_bytes:
                break
            if self._header(self.pos) == _MAX_PAYLOAD:  # a row of several packets
                if not count:
                    self._join_row(found)
                break
            self._more()
        batch = self.buf
        self.buf, self.pos = bytearray(batch[self.pos :]), 0  # the next batch starts afresh
        if not found:
            empty = np.zeros(0, dtype=np.int64)
            return batch, empty, empty
        return batch, np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])

    def _scan(self, found: list[Any], room: int, limit_bytes: int) -> int:
        """Cut the buffered bytes from ``pos`` into row packets; add (starts, ends) to ``found``; the row count.

        The Python loop only steps from one packet header to the next (one
        ``unpack_from`` a packet); sequence numbers, the EOF and error packets and
        packets of 16 MiB are then found with numpy over all the headers at once.
        The loop may step past the end of the result into whatever follows (only
        bytes already received, never more than ``room`` packets): those steps
        are discarded.
        """
        import numpy as np

        buf, pos = self.buf, self.pos
        n = len(buf)
        stop = min(n - 4, limit_bytes - 1)  # a header must be whole, and start before limit_bytes
        unpack = _HEADER.unpack_from
        heads: list[int] = []
        append = heads.append
        for _ in range(room):
            if pos > stop:
                break
            end = pos + 4 + (unpack(buf, pos)[0] & 0xFFFFFF)
            if end > n:
                break  # not all here yet
            append(pos)
            pos = end
        if not heads:
            return 0
        data = np.frombuffer(buf, dtype=np.uint8)
        at = np.asarray(heads, dtype=np.int64)
        length = data[at].astype(np.int64) | (data[at + 1].astype(np.int64) << 8) | (data[at + 2].astype(np.int64) << 16)
        first = np.full(len(at), -1, dtype=np.int64)  # the payload's first byte (-1: an empty payload)
        has_first = length > 0
        first[has_first] = data[at[has_first] + 4]
        # EOF: 0xFE and shorter than 9 bytes (a row starting with 0xFE, an 8-byte length, is longer);
        # 0xFF: an error; a 16 MiB payload: a row of several packets (see _join_row).
        special = np.flatnonzero(((first == 0xFE) & (length < 9)) | (first == 0xFF) | (length == _MAX_PAYLOAD))
        rows = int(special[0]) if len(special) else len(at)
        checked = rows + (1 if rows < len(at) and length[rows] != _MAX_PAYLOAD else 0)  # an EOF/error is checked too
        expected = (self.seq + np.arange(checked, dtype=np.int64)) & 0xFF
        wrong = np.flatnonzero(data[at[:checked] + 3] != expected)
        if len(wrong):
            i = int(wrong[0])
            raise WireProtocolError(f"packet sequence number {int(data[at[i] + 3])}, expected {int(expected[i])}")
        if rows:
            found.append((at[:rows] + 4, at[:rows] + 4 + length[:rows]))
        self.seq = (self.seq + rows) & 0xFF
        if rows == len(at):
            self.pos = pos
            return rows
        at_special, size = int(at[rows]), int(length[rows])
        self.pos = at_special
        if size == _MAX_PAYLOAD:
            return rows  # take_rows joins it (first in a batch of its own)
        end = at_special + 4 + size
        self.seq = (self.seq + 1) & 0xFF
        self.pos, self.done = end, True
        if first[rows] == 0xFF:
            raise _ServerError(bytes(buf[at_special + 4 : end]))
        self.eof_payload = bytes(buf[at_special + 4 : end])  # EOF: the result is complete
        return rows

    def _join_row(self, found: list[Any]) -> None:
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
        import numpy as np

        row = b"".join(parts)
        # 4 bytes where a packet header would be: every value has 4 bytes before it (see binary_columns).
        self.buf, self.pos = bytearray(4) + row + self.buf[self.pos :], 4 + len(row)
        found.append((np.full(1, 4, dtype=np.int64), np.full(1, 4 + len(row), dtype=np.int64)))


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


def binary_columns(buf: bytearray, fields: Sequence[tuple[Any, Any, Any]]) -> list["pa.Array"]:
    """One binary array per column, of the fields located by :func:`parse_rows` in ``buf``.

    Each column is first a ``binary_view`` array over the received bytes (16
    bytes a value: its length, then the value itself when it has at most 12
    bytes, else its first 4 bytes and its offset in the buffer), which Arrow's
    cast then gathers into a plain binary array: no Python object per value.
    The 16 bytes of a view are copied in one numpy gather from 4 bytes before
    the value (always inside the row: a packet header and a length prefix come
    first), and the length is written over those 4 bytes. What follows a short
    value in its view is the next bytes of the row rather than zeros: the cast
    reads only ``length`` bytes, and the view array is never used otherwise.
    ``buf`` gets 16 zero bytes appended, so that every 16-byte window is inside it.
    """
    import numpy as np
    import pyarrow as pa

    buf += bytes(_PAD)  # this batch's buffer: nothing else is appended to it
    buffer = pa.py_buffer(buf)
    windows = np.lib.stride_tricks.sliding_window_view(np.frombuffer(buf, dtype=np.uint8), 16)
    out = []
    for start, length, null in fields:
        n = len(start)
        views = windows[start - 4]  # (n, 16), a copy: 4 bytes before the value, then its first 12 bytes
        words = views.view("<i4")  # (n, 4): length, then inline bytes or (prefix, buffer index, offset)
        words[:, 0] = length
        long_rows = np.flatnonzero(length > 12)
        if len(long_rows):
            words[long_rows, 2] = 0
            words[long_rows, 3] = start[long_rows]
        nulls = int(np.count_nonzero(null))
        validity = pa.py_buffer(np.packbits(~null, bitorder="little")) if nulls else None
        view = pa.Array.from_buffers(pa.binary_view(), n, [validity, pa.py_buffer(views), buffer], null_count=nulls)
        out.append(view.cast(pa.binary()))
    return out


def read_result(
    connection: Any,
    result: Any,
    columns: Sequence["MySQLColumn"],
    schema: "pa.Schema",
    *,
    batch_rows: int | None = None,
    batch_bytes: int | None = None,
) -> Iterator["pa.Table"]:
    """Arrow tables of the rows of ``result`` (PyMySQL's unbuffered result on ``connection``).

    This thread reads the socket and cuts the rows; a second thread decodes
    each batch into Arrow (numpy and Arrow release the GIL while they work),
    so that reading and decoding overlap. At most ``_AHEAD`` batches are
    read ahead of the one being handed out.
    """
    import collections
    from concurrent.futures import Future, ThreadPoolExecutor

    if connection._current_timeout != connection._read_timeout:  # as PyMySQL does before reading
        connection._sock.settimeout(connection._read_timeout)
        connection._current_timeout = connection._read_timeout
    stream = _Stream(connection._rfile.read1, connection._next_seq_id)
    finished = False
    pending: collections.deque[Future[Any]] = collections.deque()
    server_error: bytes | None = None
    pool = ThreadPoolExecutor(1, thread_name_prefix="mysql-decode")
    try:
        while not stream.done:
            try:
                buf, starts, ends = stream.take_rows(batch_rows or BATCH_ROWS, batch_bytes or BATCH_BYTES)
            except _ServerError as exc:
                _finish(connection, result, stream)
                finished = True
                server_error = exc.payload
                break
            if not len(starts):
                break
            pending.append(pool.submit(_decode, buf, starts, ends, columns, schema))
            if len(pending) > _AHEAD:
                yield pending.popleft().result()
        while pending:  # the rows before the end (or before the server's error) come out first
            yield pending.popleft().result()
        if server_error is not None:
            _raise_server_error(connection, server_error)
        _finish(connection, result, stream)
        finished = True
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
        if not finished:
            # The stream is mid-result: nothing else can be read on this connection.
            result.unbuffered_active = False
            result.connection = None
            connection._force_close()


def _decode(
    buf: bytearray, starts: Any, ends: Any, columns: Sequence["MySQLColumn"], schema: "pa.Schema"
) -> "pa.Table":
    """One batch of rows (their payloads at ``starts``/``ends`` in ``buf``) as an Arrow table of ``schema``."""
    import pyarrow as pa

    from labdatasets.loaders._mysql_types import binary_to_arrow

    fields = parse_rows(buf, starts, ends, len(columns))
    raws = binary_columns(buf, fields)
    arrays = [binary_to_arrow(raw, column, schema.field(i).type) for i, (column, raw) in enumerate(zip(columns, raws, strict=True))]
    return pa.Table.from_arrays(arrays, schema=schema)


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
