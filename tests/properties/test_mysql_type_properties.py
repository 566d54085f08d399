"""MySQL type mapping, for all values: what a pin holds is what the database holds, type by type.

Against the real MariaDB. One table per test; each Hypothesis example fills it with a batch of
rows (NULLs and each type's extremes are drawn often), pins ``SELECT * ... ORDER BY id`` with the
wire reader and with PyMySQL's row reader, and compares every pinned value with the value
generated (the round trip) and with the value the database returns to a plain PyMySQL cursor.
Both readers must give the same bytes. The example budget is small (see :data:`BUDGET`); the rows
per example carry the breadth.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sqlalchemy = pytest.importorskip("sqlalchemy")
pymysql = pytest.importorskip("pymysql")

from labdatasets.loaders import sql  # noqa: E402
from labdatasets.loaders.base import PinContext  # noqa: E402
from labdatasets.loaders.sql import SQLSource  # noqa: E402
from labdatasets.stores import Snapshots  # noqa: E402
from tests.loaders.contract import read_pinned  # noqa: E402

#: Each example costs a refill and two pins against the server (about half a second), so this file
#: takes fewer examples than the ``ci`` profile's default, each of up to :data:`MAX_ROWS` rows.
BUDGET = settings(settings.get_profile("ci"), max_examples=12)
MAX_ROWS = 100


def _column(lo: Any, hi: Any, values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A column's values: NULL, the type's extremes and zero drawn often, else anything in range."""
    return st.one_of(st.none(), st.sampled_from([lo, hi]), values)


class Table:
    """One table in a fresh database of the test server, refilled per example and pinned both ways."""

    def __init__(self, url: str, ddl: str, tmp_path: Any):
        self.url, self.tmp_path = url, tmp_path
        parsed = sqlalchemy.engine.make_url(url)
        self.conn = pymysql.connect(
            host=parsed.host, port=parsed.port or 3306, user=parsed.username, password=parsed.password or "",
            database=parsed.database, autocommit=True, charset="utf8mb4",
        )
        self.execute("SET time_zone = '+00:00'")
        self.execute(ddl)
        self.columns = self.query("SELECT * FROM t LIMIT 0")[1]

    def execute(self, statement: str, args: Any = None) -> None:
        with self.conn.cursor() as cur:
            cur.execute(statement, args)

    def query(self, statement: str) -> tuple[list[tuple[Any, ...]], list[str]]:
        with self.conn.cursor() as cur:
            cur.execute(statement)
            return list(cur.fetchall()), [d[0] for d in cur.description]

    def fill(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Replace the table's rows by ``rows`` (ids 1..n); the rows as the database returns them."""
        self.execute("DELETE FROM t")
        marks = ", ".join(["%s"] * len(self.columns))
        with self.conn.cursor() as cur:
            cur.executemany(f"INSERT INTO t VALUES ({marks})", [(i, *row) for i, row in enumerate(rows, 1)])
        return self.query("SELECT * FROM t ORDER BY id")[0]

    def pin(self, monkeypatch: pytest.MonkeyPatch) -> pa.Table:
        """The table pinned by the wire reader and by the row reader (same bytes), read back."""
        store = Snapshots(f"file://{self.tmp_path / 'store'}")
        ctx = PinContext(
            store=store, base_dir=self.tmp_path, label="types:1.0.0 source 't'", progress=lambda total, desc: (lambda n: None)
        )
        pins = {}
        for wire in (True, False):
            monkeypatch.setattr(sql._Session, "wire_reader", wire)
            pins[wire] = SQLSource("SELECT * FROM t ORDER BY id", url=self.url, fast=False).pin(ctx)
        assert pins[True].objects[0].oid == pins[False].objects[0].oid, "the two readers pinned different bytes"
        return read_pinned(pins[True], store)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def table(mysql_database: str, tmp_path: Any) -> Iterator[Callable[[str], Table]]:
    made: list[Table] = []

    def make(ddl: str) -> Table:
        made.append(Table(mysql_database, ddl, tmp_path / uuid.uuid4().hex[:8]))
        return made[-1]

    yield make
    for t in made:
        t.close()


def _check(pinned: pa.Table, stored: list[tuple[Any, ...]], generated: Sequence[Sequence[Any]], types: dict[str, pa.DataType],
           *, as_stored: dict[str, Callable[[Any], Any]] | None = None, round_trip: Callable[[str, Any, Any], bool] | None = None) -> None:
    assert pinned.column("id").to_pylist() == list(range(1, len(generated) + 1))
    for c, (name, arrow_type) in enumerate(types.items(), 1):
        assert pinned.schema.field(name).type == arrow_type, name
        got = pinned.column(name).to_pylist()
        convert = (as_stored or {}).get(name, lambda v: v)
        in_db = [None if row[c] is None else convert(row[c]) for row in stored]
        assert got == in_db, f"{name}: pinned values differ from the database's"
        want = [row[c - 1] for row in generated]
        same = round_trip or (lambda _n, a, b: a == b)
        bad = [(w, g) for w, g in zip(want, got, strict=True) if not (w is None and g is None) and not same(name, w, g)]
        assert not bad, f"{name}: values changed between the INSERT and the pin: {bad[:3]}"


# ------------------------------------------------------------------ integers

INTS = {  # column: (DDL type, min, max, Arrow type)
    "ti": ("TINYINT", -128, 127, pa.int8()), "tu": ("TINYINT UNSIGNED", 0, 255, pa.uint8()),
    "si": ("SMALLINT", -32768, 32767, pa.int16()), "su": ("SMALLINT UNSIGNED", 0, 65535, pa.uint16()),
    "mi": ("MEDIUMINT", -(2**23), 2**23 - 1, pa.int32()), "mu": ("MEDIUMINT UNSIGNED", 0, 2**24 - 1, pa.uint32()),
    "ii": ("INT", -(2**31), 2**31 - 1, pa.int32()), "iu": ("INT UNSIGNED", 0, 2**32 - 1, pa.uint32()),
    "bi": ("BIGINT", -(2**63), 2**63 - 1, pa.int64()), "bu": ("BIGINT UNSIGNED", 0, 2**64 - 1, pa.uint64()),
    "yr": ("YEAR", 1901, 2155, pa.int16()), "bt": ("BIT(64)", 0, 2**64 - 1, pa.uint64()),
}
INT_ROW = st.tuples(*(_column(lo, hi, st.integers(lo, hi)) for _, lo, hi, _ in INTS.values()))


def test_integers_of_every_width_signed_and_unsigned(table, monkeypatch):
    t = table("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, " + ", ".join(f"{c} {d}" for c, (d, *_) in INTS.items()) + ")")

    @BUDGET
    @given(st.lists(INT_ROW, min_size=1, max_size=MAX_ROWS))
    def check(rows):
        stored = t.fill(rows)
        _check(t.pin(monkeypatch), stored, rows, {c: v[3] for c, v in INTS.items()},
               as_stored={"bt": lambda b: int.from_bytes(b, "big")})

    check()


# ------------------------------------------------------------------ decimals

DECIMALS = {  # column: (precision, scale, unsigned)
    "d65": (65, 30, False), "d65u": (65, 30, True), "d39": (39, 0, False), "d38": (38, 10, False),
    "d12": (12, 2, False), "d1": (1, 0, False), "dfrac": (30, 30, False), "d10u": (10, 4, True),
}


def _decimal(precision: int, scale: int, unsigned: bool) -> st.SearchStrategy[Decimal | None]:
    top = 10**precision - 1

    def exact(n: int) -> Decimal:  # from text: no context rounds it to 28 digits
        return Decimal(f"{n}E-{scale}")

    digits = st.integers(0 if unsigned else -top, top).map(exact)
    return _column(exact(0 if unsigned else -top), exact(top), st.one_of(digits, st.just(exact(1))))


def test_decimals_up_to_65_digits_keep_every_digit(table, monkeypatch):
    cols = ", ".join(f"{c} DECIMAL({p},{s}){' UNSIGNED' if u else ''}" for c, (p, s, u) in DECIMALS.items())
    t = table(f"CREATE TABLE t (id INT NOT NULL PRIMARY KEY, {cols})")
    types = {c: (pa.decimal128(p, s) if p <= 38 else pa.decimal256(p, s)) for c, (p, s, _) in DECIMALS.items()}
    row = st.tuples(*(_decimal(*v) for v in DECIMALS.values()))

    @BUDGET
    @given(st.lists(row, min_size=1, max_size=MAX_ROWS))
    def check(rows):
        stored = t.fill(rows)
        _check(t.pin(monkeypatch), stored, rows, types)

    check()
    for c, (p, s, u) in DECIMALS.items():  # the declared type travels with the data
        expected = f"DECIMAL({p},{s})"
        assert t.pin(monkeypatch).schema.field(c).metadata == {b"sql_type": expected.encode()}, (c, u)


# ------------------------------------------------------------------ floating point

FLOAT6 = st.builds(  # values of six significant digits: what the server sends for a FLOAT
    lambda n, e: float(np.float32(Decimal(n).scaleb(e))), st.integers(-999_999, 999_999), st.integers(-40, 30)
)


def test_doubles_round_trip_exactly_and_floats_as_the_server_sends_them(table, monkeypatch):
    t = table("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, d DOUBLE, f FLOAT, f6 FLOAT)")
    finite = st.floats(allow_nan=False, allow_infinity=False)
    floats32 = st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-3.402820018375656e38, max_value=3.402820018375656e38)
    row = st.tuples(
        _column(-1.7976931348623157e308, 5e-324, finite),
        _column(-3.40282e38, 1.17549e-38, floats32),
        _column(-999_999.0, 1e-30, FLOAT6.filter(lambda v: v == 0 or 1.17549e-38 <= abs(v) <= 3.40282e38)),
    )

    def same(name: str, wrote: float, got: float) -> bool:
        if name == "d":
            return wrote == got  # DOUBLE: the server sends the shortest text that reads back to the same bits
        if name == "f6":
            return float(np.float32(wrote)) == got
        # FLOAT: the text protocol sends 6 significant digits, so more precise values arrive rounded
        return got == float(np.float32(float(f"{np.float32(wrote):.6g}")))

    @BUDGET
    @given(st.lists(row, min_size=1, max_size=MAX_ROWS))
    def check(rows):
        stored = t.fill(rows)
        as_stored = {"f": lambda v: float(np.float32(v)), "f6": lambda v: float(np.float32(v))}
        _check(t.pin(monkeypatch), stored, rows, {"d": pa.float64(), "f": pa.float32(), "f6": pa.float32()},
               as_stored=as_stored, round_trip=same)

    check()


# ------------------------------------------------------------------ dates and times

UTC = dt.timezone.utc
TIME_MAX_US = ((838 * 60 + 59) * 60 + 59) * 1_000_000


def _time_text(us: int) -> str:
    sign, us = ("-" if us < 0 else ""), abs(us)
    seconds, micro = divmod(us, 1_000_000)
    return f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{micro:06d}"


def test_dates_datetimes_timestamps_and_times_to_the_microsecond(table, monkeypatch):
    t = table(
        "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, day DATE, at DATETIME, at6 DATETIME(6), "
        "ts6 TIMESTAMP(6) NULL DEFAULT NULL, span TIME(6), span0 TIME)"
    )
    lo, hi = dt.datetime(1000, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999_999)
    ts_lo, ts_hi = dt.datetime(1970, 1, 1, 0, 0, 1), dt.datetime(2038, 1, 19, 3, 14, 7, 999_999)
    row = st.tuples(
        _column(lo.date(), hi.date(), st.dates(lo.date(), hi.date())),
        _column(lo, hi.replace(microsecond=0), st.datetimes(lo, hi).map(lambda d: d.replace(microsecond=0))),
        _column(lo, hi, st.datetimes(lo, hi)),
        _column(ts_lo, ts_hi, st.datetimes(ts_lo, ts_hi)),
        _column(-TIME_MAX_US, TIME_MAX_US, st.integers(-TIME_MAX_US, TIME_MAX_US)),
        _column(-TIME_MAX_US, TIME_MAX_US, st.integers(-TIME_MAX_US // 10**6, TIME_MAX_US // 10**6).map(lambda s: s * 10**6)),
    )
    types = {
        "day": pa.date32(), "at": pa.timestamp("us"), "at6": pa.timestamp("us"), "ts6": pa.timestamp("us", tz="UTC"),
        "span": pa.duration("us"), "span0": pa.duration("us"),
    }

    def sent(r):  # TIME as text: PyMySQL would write a negative timedelta wrongly
        return (*r[:4], *(None if v is None else _time_text(v) for v in r[4:]))

    def same(name: str, wrote: Any, got: Any) -> bool:
        if name == "ts6":
            return wrote.replace(tzinfo=UTC) == got
        if name.startswith("span"):
            return dt.timedelta(microseconds=wrote) == got
        return wrote == got

    @BUDGET
    @given(st.lists(row, min_size=1, max_size=MAX_ROWS))
    def check(rows):
        stored = t.fill([sent(r) for r in rows])
        _check(t.pin(monkeypatch), stored, rows, types, as_stored={"ts6": lambda v: v.replace(tzinfo=UTC)}, round_trip=same)

    check()


# ------------------------------------------------------------------ text and bytes

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=8,
)


def test_text_binary_enum_set_and_json_byte_for_byte(table, monkeypatch):
    t = table(
        "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v VARCHAR(40), c CHAR(8), body TEXT, raw VARBINARY(40), "
        "blob_data BLOB, fixed BINARY(4), color ENUM('red', 'grün', '🟦'), tags SET('a', 'b', 'ç'), doc JSON) "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    )
    row = st.tuples(
        _column("", "🟦" * 40, TEXT),
        _column("", "ÿ" * 8, st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)),
        _column("", "\x00\n\t", TEXT),
        _column(b"", b"\xff" * 40, st.binary(max_size=40)),
        _column(b"", b"\x00" * 40, st.binary(max_size=200)),
        _column(b"\x00" * 4, b"\xff" * 4, st.binary(min_size=4, max_size=4)),
        _column("red", "🟦", st.sampled_from(["red", "grün", "🟦"])),
        _column("", "a,b,ç", st.sets(st.sampled_from(["a", "b", "ç"])).map(lambda s: ",".join(sorted(s, key="abç".index)))),
        _column("null", '{"k": [1, "ü"]}', JSON_VALUES.map(lambda v: json.dumps(v, ensure_ascii=False))),
    )
    types = {
        "v": pa.string(), "c": pa.string(), "body": pa.string(), "raw": pa.binary(), "blob_data": pa.binary(),
        "fixed": pa.binary(), "color": pa.string(), "tags": pa.string(), "doc": pa.string(),
    }

    def same(name: str, wrote: Any, got: Any) -> bool:
        if name == "c":
            return wrote.rstrip(" ") == got  # CHAR drops trailing spaces, in MySQL itself
        return wrote == got

    @BUDGET
    @given(st.lists(row, min_size=1, max_size=MAX_ROWS))
    def check(rows):
        stored = t.fill(rows)
        as_stored = {"tags": lambda v: v if isinstance(v, str) else ",".join(sorted(v, key="abç".index))}
        _check(t.pin(monkeypatch), stored, rows, types, as_stored=as_stored, round_trip=same)

    check()


def test_a_float_column_is_pinned_as_the_server_sends_it_six_digits(table, monkeypatch):
    """MySQL's text protocol sends FLOAT with 6 significant digits: a FLOAT holding 123456792 arrives
    as 123457000 (``CAST(f AS DOUBLE)`` in the query keeps every bit)."""
    t = table("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, f FLOAT, exact DOUBLE)")
    t.execute("INSERT INTO t VALUES (1, 123456789, 123456789), (2, 16777217, 16777217)")
    pinned = t.pin(monkeypatch)
    assert pinned.column("f").to_pylist() == [float(np.float32(123457000)), float(np.float32(16777200))]
    assert t.query("SELECT CAST(f AS DOUBLE) FROM t ORDER BY id")[0] == [(123456792.0,), (16777216.0,)]
    assert pinned.column("exact").to_pylist() == [123456789.0, 16777217.0]
