"""The wire reader of MySQL results (loaders/_mysql_wire.py): against the real MariaDB, and its
packet framing on byte streams built to the protocol's rules (rows of 16 MiB and more, which
the server here refuses to send, and reads cut at every byte)."""

from __future__ import annotations

import pyarrow as pa
import pytest

sqlalchemy = pytest.importorskip("sqlalchemy")
pymysql = pytest.importorskip("pymysql")

from labdatasets.errors import SourceError  # noqa: E402
from labdatasets.loaders import _mysql_wire, sql  # noqa: E402
from labdatasets.loaders.sql import SQLSource  # noqa: E402
from tests.loaders.contract import read_pinned  # noqa: E402
from tests.loaders.test_sql import TYPED_ROWS, execute, make_ctx, typed_db  # noqa: E402, F401 - fixture

WIDE_DDL = """
CREATE TABLE wide (
  id INT NOT NULL PRIMARY KEY, short_text VARCHAR(300), mid_text MEDIUMTEXT, blob_data MEDIUMBLOB,
  amount DECIMAL(12,2) NOT NULL, at DATETIME(6)
)
"""


def pin_both_ways(url, query, snapshots, tmp_path, monkeypatch, batch_rows=None):
    """Pin the same query with the wire reader and with PyMySQL's row reader; return both pins."""
    pins = {}
    if batch_rows:
        monkeypatch.setattr(_mysql_wire, "BATCH_ROWS", batch_rows)
    for wire in (True, False):
        monkeypatch.setattr(sql._Session, "wire_reader", wire)
        pins[wire] = SQLSource(query, url=url, fast=False).pin(make_ctx(snapshots, tmp_path))
    return pins


def test_the_wire_reader_gives_the_row_readers_bytes_for_every_type(typed_db, snapshots, tmp_path, monkeypatch):  # noqa: F811
    pins = pin_both_ways(typed_db, "SELECT * FROM typed ORDER BY id", snapshots, tmp_path, monkeypatch, batch_rows=1)
    assert pins[True].num_rows == len(TYPED_ROWS)
    assert pins[True].objects[0].oid == pins[False].objects[0].oid
    assert pins[True].metadata["content_sha256"] == pins[False].metadata["content_sha256"]


def test_long_values_nulls_and_many_batches(mysql_database, snapshots, tmp_path, monkeypatch):
    """Lengths of 251+ and 65,536+ bytes have 2- and 3-byte prefixes; NULL is its own marker."""
    execute(mysql_database, WIDE_DDL)
    engine = sqlalchemy.create_engine(mysql_database)
    rows = []
    for i in range(1, 41):
        rows.append((
            i,
            None if i % 5 == 0 else "é" * (i * 7),  # 2 bytes a character: up to 560 bytes
            None if i % 7 == 0 else ("line\n\t" * (i * 2000) if i % 3 == 0 else ""),  # up to 480,000 bytes
            None if i % 4 == 0 else bytes(range(256)) * (i * 3 if i % 2 else 1),
            f"{i * 1.25:.2f}",
            None if i % 2 else f"2026-01-{i % 28 + 1:02d} 10:00:00.{i:06d}",
        ))
    with engine.begin() as conn:
        for row in rows:
            conn.exec_driver_sql("INSERT INTO wide VALUES (%s, %s, %s, %s, %s, %s)", row)
    engine.dispose()
    pins = pin_both_ways(mysql_database, "SELECT * FROM wide ORDER BY id", snapshots, tmp_path, monkeypatch, batch_rows=3)
    assert pins[True].objects[0].oid == pins[False].objects[0].oid
    table = read_pinned(pins[True], snapshots)
    assert table.num_rows == 40
    assert table.column("short_text").to_pylist() == [r[1] for r in rows]
    assert table.column("mid_text").to_pylist() == [r[2] for r in rows]
    assert table.column("blob_data").to_pylist() == [r[3] for r in rows]
    assert table.schema.field("amount").type == pa.decimal128(12, 2)


def test_a_server_error_in_the_middle_of_a_result(mysql_url, monkeypatch):
    """The server stops a result with an error packet: it is raised, and the connection stays usable."""
    url = sqlalchemy.engine.make_url(mysql_url)
    conn = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "", database=url.database)
    try:
        cursor = conn.cursor(pymysql.cursors.SSCursor)
        cursor.execute("SET STATEMENT max_statement_time=0.3 FOR SELECT seq, REPEAT('x', 200) FROM seq_1_to_200000000")
        columns = [_mysql_wire_column(f) for f in cursor._result.fields]
        from labdatasets.loaders._mysql_types import arrow_schema

        got = 0
        with pytest.raises(pymysql.err.MySQLError) as info:
            for table in _mysql_wire.read_result(conn, cursor._result, columns, arrow_schema(columns)):
                got += table.num_rows
        assert info.value.args[0] == 1969  # max_statement_time exceeded
        cursor.close()
        check = conn.cursor()
        check.execute("SELECT 41 + 1")
        assert check.fetchone() == (42,)
    finally:
        conn.close()


def _mysql_wire_column(field):
    from labdatasets.loaders._mysql_types import MySQLColumn

    return MySQLColumn.from_pymysql(field)


def test_stopping_early_closes_the_connection(mysql_url, monkeypatch):
    """A result read half-way leaves the stream mid-result: the connection is closed, not reused."""
    from labdatasets.loaders._mysql_types import arrow_schema

    monkeypatch.setattr(_mysql_wire, "BATCH_ROWS", 10)
    url = sqlalchemy.engine.make_url(mysql_url)
    conn = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "", database=url.database)
    cursor = conn.cursor(pymysql.cursors.SSCursor)
    cursor.execute("SELECT seq FROM seq_1_to_1000")
    columns = [_mysql_wire_column(f) for f in cursor._result.fields]
    batches = _mysql_wire.read_result(conn, cursor._result, columns, arrow_schema(columns))
    assert next(batches).column("seq").to_pylist() == list(range(1, 11))
    batches.close()
    assert not conn.open


def test_a_pin_reports_a_server_error_as_a_source_error(mysql_database, snapshots, tmp_path):
    query = "SET STATEMENT max_statement_time=0.3 FOR SELECT seq, REPEAT('x', 200) AS pad FROM seq_1_to_200000000"
    with pytest.raises(SourceError, match="max_statement_time"):
        SQLSource(query, url=mysql_database, fast=False).pin(make_ctx(snapshots, tmp_path))


# ---------------------------------------------------------------- framing, on bytes built to the protocol
def lenenc(value: bytes | None) -> bytes:
    if value is None:
        return b"\xfb"
    n = len(value)
    if n < 251:
        return bytes([n]) + value
    if n < 1 << 16:
        return b"\xfc" + n.to_bytes(2, "little") + value
    if n < 1 << 24:
        return b"\xfd" + n.to_bytes(3, "little") + value
    return b"\xfe" + n.to_bytes(8, "little") + value


def packets(payloads: list[bytes], seq: int) -> bytes:
    """Payloads framed as packets; a payload of 16 MiB - 1 or more continues in the next packets."""
    out = bytearray()
    for payload in payloads:
        while True:
            part, payload = payload[:0xFFFFFF], payload[0xFFFFFF:]
            out += len(part).to_bytes(3, "little") + bytes([seq]) + part
            seq = (seq + 1) & 0xFF
            if len(part) < 0xFFFFFF:
                break
    return bytes(out)


EOF_PACKET = b"\xfe\x00\x00\x02\x00"


def read_all(stream_bytes: bytes, chunk: int, ncols: int, seq: int = 3) -> list[list[bytes | None]]:
    pieces = [stream_bytes[i : i + chunk] for i in range(0, len(stream_bytes), chunk)]
    feed = iter(pieces)
    stream = _mysql_wire._Stream(lambda n: next(feed, b""), seq)
    rows: list[list[bytes | None]] = []
    while not stream.done:
        buf, starts, ends = stream.take_rows(4, 1 << 20)
        fields = _mysql_wire.parse_rows(buf, starts, ends, ncols)
        found = [
            [None if fields[c][2][r] else bytes(buf[fields[c][0][r] : fields[c][0][r] + fields[c][1][r]]) for c in range(ncols)]
            for r in range(len(starts))
        ]
        # The Arrow columns built over the same bytes hold the same values.
        columns = [column.to_pylist() for column in _mysql_wire.binary_columns(buf, fields)]
        assert [list(row) for row in zip(*columns, strict=True)] == found if found else columns == [[]] * ncols
        rows.extend(found)
    assert stream.buf[stream.pos :] == b""
    return rows


def test_framing_survives_reads_cut_at_every_byte():
    rows = [[b"1", None, b""], [b"x" * 300, b"y" * 70_000, None], [b"", b"\xfb\xfe\xff", b"z"]] * 3
    data = packets([b"".join(lenenc(v) for v in row) for row in rows] + [EOF_PACKET], seq=3)
    for chunk in (1, 2, 3, 5, 4096):
        assert read_all(data, chunk, 3) == rows


def test_rows_of_16_mib_and_more_are_joined_from_their_packets():
    huge = bytes(range(256)) * ((0xFFFFFF + 1000) // 256)  # an 8-byte length prefix, and 2 packets
    exact = b"e" * (0xFFFFFF - 6)  # a payload of exactly 16 MiB - 1: an empty packet follows it
    rows = [[b"a", b"1"], [huge, b"2"], [b"b", exact], [b"c", None]]
    payloads = [b"".join(lenenc(v) for v in row) for row in rows]
    assert len(payloads[2]) == 0xFFFFFF
    data = packets(payloads + [EOF_PACKET], seq=250)  # the sequence number wraps around too
    assert read_all(data, 1 << 20, 2, seq=250) == rows


def test_out_of_sequence_packets_are_refused():
    data = packets([lenenc(b"a"), lenenc(b"b"), EOF_PACKET], seq=3)
    broken = data[:9] + bytes([9]) + data[10:]  # the second packet's sequence number (4 + 2 + 3)
    with pytest.raises(_mysql_wire.WireProtocolError, match="sequence"):
        read_all(broken, 4096, 1)


def test_connections_it_cannot_read_are_left_to_pymysql(mysql_database, snapshots, tmp_path):
    """Text in another character set (or a PyMySQL without the parts it uses) falls back to PyMySQL's reader."""
    url = sqlalchemy.engine.make_url(mysql_database)
    conn = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "",
                           database=url.database, charset="latin1")
    try:
        assert not _mysql_wire.supported(conn)
        conn.encoding = "utf8"  # the Python codec PyMySQL gives a utf8mb4 connection
        assert _mysql_wire.supported(conn)
        del conn._next_seq_id
        assert not _mysql_wire.supported(conn)
    finally:
        conn.close()
    execute(mysql_database, "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(10))", "INSERT INTO t VALUES (1, 'café')")
    latin1 = mysql_database + "?charset=latin1"
    pin = SQLSource("SELECT * FROM t ORDER BY id", url=latin1, fast=False).pin(make_ctx(snapshots, tmp_path))
    assert read_pinned(pin, snapshots).column("name").to_pylist() == ["café"]
