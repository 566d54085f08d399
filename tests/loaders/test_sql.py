"""SQLSource against the real MariaDB (and SQLite for the generic path)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

sqlalchemy = pytest.importorskip("sqlalchemy")

from labdatasets.errors import ConfigError, SourceAuthError, SourceError, SourceNotFoundError, SourceUnavailableError  # noqa: E402
from labdatasets.loaders.base import PinContext, PinSession  # noqa: E402
from labdatasets.loaders.sql import SQLSource, env_var_for  # noqa: E402
from tests.loaders.contract import SECRET_MARKERS, SourceContract, read_pinned  # noqa: E402

ORDERS_DDL = """
CREATE TABLE orders (
  id BIGINT NOT NULL PRIMARY KEY,
  customer VARCHAR(40) NOT NULL,
  amount DECIMAL(12,2),
  placed_at DATETIME,
  note TEXT
)
"""
ORDERS = [
    (1, "ada", "12.50", "2026-01-02 10:00:00", "first"),
    (2, "bob", "7.00", "2026-01-03 11:30:00", None),
    (3, "cy", None, None, "third"),
]


def execute(url: str, *statements: str, params=None) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement, params) if params else conn.exec_driver_sql(statement)
    engine.dispose()


def seed_orders(url: str) -> None:
    execute(url, ORDERS_DDL)
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        for row in ORDERS:
            conn.exec_driver_sql("INSERT INTO orders VALUES (%s, %s, %s, %s, %s)", row)
    engine.dispose()


def expected_orders() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "customer": ["ada", "bob", "cy"],
            "amount": pa.array([Decimal("12.50"), Decimal("7.00"), None], pa.decimal128(12, 2)),
            "placed_at": pa.array([dt.datetime(2026, 1, 2, 10), dt.datetime(2026, 1, 3, 11, 30), None], pa.timestamp("us")),
            "note": ["first", None, "third"],
        }
    )


def make_ctx(snapshots, tmp_path, session=None, settings=None):
    return PinContext(
        store=snapshots,
        base_dir=tmp_path,
        label="contract:1.0.0 source 'data'",
        progress=lambda total, desc: (lambda n: None),
        settings=settings,
        session=session,
    )


class TestMySQLTable(SourceContract):
    @pytest.fixture
    def source(self, mysql_database):
        seed_orders(mysql_database)
        return SQLSource(table="orders", url=mysql_database)

    @pytest.fixture
    def expected(self):
        return expected_orders()

    @pytest.fixture
    def change_source(self, mysql_database):
        return lambda: execute(mysql_database, "UPDATE orders SET amount = 13.50 WHERE id = 1")

    @pytest.fixture
    def missing_source(self, mysql_database):
        return SQLSource(table="no_such_table", url=mysql_database)


class TestMySQLQueryStreaming(SourceContract):
    """The streaming reader (the one a shared snapshot uses), through a named connection."""

    @pytest.fixture
    def source(self, mysql_database, monkeypatch):
        seed_orders(mysql_database)
        monkeypatch.setenv(env_var_for("warehouse"), mysql_database)
        return SQLSource("SELECT * FROM orders ORDER BY id -- newest last", connection="warehouse", fast=False)

    @pytest.fixture
    def expected(self):
        return expected_orders()

    @pytest.fixture
    def change_source(self, mysql_database):
        return lambda: execute(mysql_database, "INSERT INTO orders VALUES (4, 'dee', 1.00, NULL, NULL)")

    @pytest.fixture
    def missing_source(self, mysql_database, monkeypatch):
        monkeypatch.setenv(env_var_for("warehouse"), mysql_database)
        return SQLSource("SELECT * FROM missing_orders", connection="warehouse", fast=False)


class TestSQLite(SourceContract):
    @pytest.fixture
    def db_url(self, tmp_path):
        url = f"sqlite:///{tmp_path / 'lab.db'}"
        execute(url, "CREATE TABLE readings (id INTEGER PRIMARY KEY, station TEXT, value REAL)")
        execute(url, "INSERT INTO readings VALUES (1, 'north', 0.5), (2, 'south', NULL), (3, 'east', 2.25)")
        return url

    @pytest.fixture
    def source(self, db_url):
        return SQLSource(table="readings", url=db_url)

    @pytest.fixture
    def expected(self):
        return pa.table({"id": [1, 2, 3], "station": ["north", "south", "east"], "value": [0.5, None, 2.25]})

    @pytest.fixture
    def change_source(self, db_url):
        return lambda: execute(db_url, "DELETE FROM readings WHERE id = 2")

    @pytest.fixture
    def missing_source(self, db_url):
        return SQLSource("SELECT * FROM nothing_here", url=db_url)


TYPES_DDL = """
CREATE TABLE typed (
  id INT NOT NULL PRIMARY KEY,
  tiny TINYINT, utiny TINYINT UNSIGNED, small SMALLINT, usmall SMALLINT UNSIGNED,
  medium MEDIUMINT UNSIGNED, uint INT UNSIGNED, big BIGINT, ubig BIGINT UNSIGNED,
  yr YEAR, f FLOAT, d DOUBLE, money DECIMAL(12,2), wide DECIMAL(65,30), exact DECIMAL(20,10),
  day DATE, at DATETIME, at6 DATETIME(6), ts TIMESTAMP(3) NULL, span TIME(6),
  name VARCHAR(20), code CHAR(3), body TEXT, doc JSON, raw BLOB, bin VARBINARY(8),
  flag BIT(5), color ENUM('red', 'green'), tags SET('a', 'b')
)
"""
TYPED_ROWS = [
    (
        1, -128, 255, -32768, 65535, 16777215, 4294967295, -9223372036854775808, 18446744073709551615,
        2026, 1.5, 2.25, "12345.67", "12345678901234567890123456789012345.123456789012345678901234567890",
        "1234567890.0123456789", "2026-02-28", "2026-02-28 23:59:59", "2026-02-28 23:59:59.123456",
        "2026-03-01 12:00:00.250", "-838:59:59.000000", "héllo", "abc", "ünïcode text",
        '{"a": [1, 2, {"b": null}]}', b"\x00\x01\xff", b"\xde\xad", 0b10101, "green", "a,b",
    ),
    (2,) + (None,) * 28,
]


def typed_expected():
    row = TYPED_ROWS[0]
    return {
        "tiny": (pa.int8(), -128), "utiny": (pa.uint8(), 255), "small": (pa.int16(), -32768),
        "usmall": (pa.uint16(), 65535), "medium": (pa.uint32(), 16777215), "uint": (pa.uint32(), 4294967295),
        "big": (pa.int64(), -9223372036854775808), "ubig": (pa.uint64(), 18446744073709551615),
        "yr": (pa.int16(), 2026), "f": (pa.float32(), 1.5), "d": (pa.float64(), 2.25),
        "money": (pa.decimal128(12, 2), Decimal("12345.67")),
        "wide": (pa.decimal256(65, 30), Decimal(row[13])),
        "exact": (pa.decimal128(20, 10), Decimal("1234567890.0123456789")),
        "day": (pa.date32(), dt.date(2026, 2, 28)),
        "at": (pa.timestamp("us"), dt.datetime(2026, 2, 28, 23, 59, 59)),
        "at6": (pa.timestamp("us"), dt.datetime(2026, 2, 28, 23, 59, 59, 123456)),
        "ts": (pa.timestamp("us", "UTC"), dt.datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=dt.timezone.utc)),
        "span": (pa.duration("us"), -dt.timedelta(hours=838, minutes=59, seconds=59)),
        "name": (pa.string(), "héllo"), "code": (pa.string(), "abc"), "body": (pa.string(), "ünïcode text"),
        "doc": (pa.string(), row[23]), "raw": (pa.binary(), b"\x00\x01\xff"), "bin": (pa.binary(), b"\xde\xad"),
        "flag": (pa.uint64(), 21), "color": (pa.string(), "green"), "tags": (pa.string(), "a,b"),
    }


@pytest.fixture
def typed_db(mysql_database):
    execute(mysql_database, TYPES_DDL, "SET time_zone = '+00:00'")
    engine = sqlalchemy.create_engine(mysql_database)
    with engine.begin() as conn:
        conn.exec_driver_sql("SET time_zone = '+00:00'")
        for row in TYPED_ROWS:
            conn.exec_driver_sql("INSERT INTO typed VALUES (" + ", ".join(["%s"] * len(row)) + ")", row)
    engine.dispose()
    return mysql_database


@pytest.mark.parametrize("columns", ["*", "id, tiny, utiny, small, usmall, medium, uint, big, ubig, yr, f, d, money, exact, day, at, at6, ts, name, code, body, doc, raw, bin, color, tags"])
def test_mysql_types_map_to_arrow_without_loss_on_both_readers(typed_db, snapshots, tmp_path, columns):
    """Every type keeps its exact value; both readers give the same bytes (the narrower
    column list is what connectorx can read exactly, so there both readers really run)."""
    query = f"SELECT {columns} FROM typed ORDER BY id"
    pins = {}
    for fast in (True, False):
        pins[fast] = SQLSource(query, url=typed_db, fast=fast).pin(make_ctx(snapshots, tmp_path))
    readers = {fast: pin.metadata["reader"].split()[0] for fast, pin in pins.items()}
    assert readers[False] == "pymysql"
    assert readers[True] == ("pymysql" if columns == "*" else "connectorx")
    assert pins[True].objects[0].oid == pins[False].objects[0].oid
    assert pins[True].metadata["content_sha256"] == pins[False].metadata["content_sha256"]
    table = read_pinned(pins[False], snapshots)
    expected = typed_expected()
    for name in table.column_names[1:]:
        arrow_type, value = expected[name]
        assert table.schema.field(name).type == arrow_type, name
        assert table[name].to_pylist() == [value, None], name
    assert table.schema.field("id").nullable is False
    assert table.schema.field("money").metadata == {b"sql_type": b"DECIMAL(12,2)"}


def test_pin_record_keeps_query_server_rows_and_schema(mysql_database, snapshots, tmp_path):
    seed_orders(mysql_database)
    pin = SQLSource(table="orders", url=mysql_database).pin(make_ctx(snapshots, tmp_path))
    meta = pin.metadata
    assert meta["query"] == "SELECT * FROM orders ORDER BY id"
    assert "MariaDB" in meta["server_version"] or meta["server_version"][0].isdigit()
    # A lone source is read by connectorx in its own session, and the record says so (no shared snapshot).
    assert meta["reader"].startswith("connectorx") and "snapshot" not in meta
    assert meta["transaction"] == "one statement in its own session (SET SESSION TRANSACTION READ ONLY)"
    assert pin.num_rows == 3 and [f["name"] for f in pin.schema] == ["id", "customer", "amount", "placed_at", "note"]
    assert pin.format == "parquet" and pin.objects[0].path == "orders.parquet"


def test_sources_of_one_pin_share_one_consistent_snapshot(mysql_database, snapshots, tmp_path):
    """A write committed between two sources of one pin is seen by neither."""
    seed_orders(mysql_database)
    execute(mysql_database, "CREATE TABLE items (order_id BIGINT, sku VARCHAR(8))", "INSERT INTO items VALUES (1, 'x'), (2, 'y')")
    orders = SQLSource(table="orders", url=mysql_database)
    items = SQLSource("SELECT * FROM items ORDER BY order_id", url=mysql_database)
    with PinSession({"orders": orders, "items": items}) as session:
        ctx = make_ctx(snapshots, tmp_path, session=session)
        first = orders.pin(ctx)
        execute(mysql_database, "INSERT INTO items VALUES (3, 'z')", "INSERT INTO orders VALUES (9, 'late', 1, NULL, NULL)")
        second = items.pin(ctx)
    assert first.num_rows == 3 and second.num_rows == 2
    assert first.metadata["reader"].startswith("pymysql") and second.metadata["reader"].startswith("pymysql")
    # the record names the one snapshot both were read in
    assert first.metadata["transaction"] == second.metadata["transaction"] == "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"
    assert first.metadata["snapshot"] == second.metadata["snapshot"]
    assert set(first.metadata["snapshot"]) == {"connection_id", "started_at"}
    # outside the pin's snapshot the write is visible: the test would catch a per-source session
    alone = SQLSource("SELECT * FROM items ORDER BY order_id", url=mysql_database, fast=False).pin(make_ctx(snapshots, tmp_path))
    assert alone.num_rows == 3 and alone.metadata["snapshot"] != first.metadata["snapshot"]


def test_a_single_sql_source_uses_connectorx_and_still_reads_only(mysql_database, snapshots, tmp_path):
    seed_orders(mysql_database)
    execute(
        mysql_database,
        "CREATE TABLE audit (n INT)",
        "CREATE FUNCTION touch() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO audit VALUES (1); RETURN 1; END",
    )
    ok = SQLSource("SELECT id FROM orders ORDER BY id", url=mysql_database).pin(make_ctx(snapshots, tmp_path))
    assert ok.metadata["reader"].startswith("connectorx")
    for fast in (True, False):
        with pytest.raises(SourceError, match="tried to write|READ ONLY|read only"):
            SQLSource("SELECT touch() AS t FROM orders", url=mysql_database, fast=fast).pin(make_ctx(snapshots, tmp_path))
    engine = sqlalchemy.create_engine(mysql_database)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM audit").scalar() == 0
    engine.dispose()


def test_a_failure_mid_stream_stores_nothing(mysql_database, snapshots, tmp_path, local_store):
    execute(mysql_database, "CREATE TABLE big (id INT PRIMARY KEY)", "INSERT INTO big SELECT seq FROM seq_1_to_200000")
    # the scalar subquery returns two rows once id passes 150000: an error after many batches
    query = "SELECT id, (SELECT 1 UNION SELECT IF(big.id > 150000, 2, 1)) AS boom FROM big ORDER BY id"
    with pytest.raises(SourceError, match="contract:1.0.0 source 'data'"):
        SQLSource(query, url=mysql_database, fast=False).pin(make_ctx(snapshots, tmp_path))
    assert list(local_store.iter_oids()) == []
    assert list((local_store.root / "tmp").iterdir()) == []


@pytest.mark.parametrize("fast", [True, False])
def test_a_disk_filling_up_mid_stream_is_reported_as_the_disk_not_the_database(mysql_database, tmp_path, tmpfs, fast):
    from labdatasets.errors import LocalWriteError
    from labdatasets.stores import Snapshots

    execute(mysql_database, "CREATE TABLE wide (id INT PRIMARY KEY, t VARCHAR(64))",
            "INSERT INTO wide SELECT seq, MD5(seq) FROM seq_1_to_300000")  # several batches, then the disk is full
    disk = tmpfs("size=512k")
    snapshots = Snapshots(f"file://{disk / 'store'}")
    with pytest.raises(LocalWriteError) as info:
        SQLSource("SELECT * FROM wide", url=mysql_database, fast=fast).pin(make_ctx(snapshots, tmp_path))
    assert "No space left on the disk" in str(info.value) and "contract:1.0.0 source 'data'" in str(info.value)
    assert list((disk / "store" / "tmp").iterdir()) == []


def test_errors_name_the_source_and_never_the_password(mysql_reader, mysql_database, snapshots, tmp_path, caplog, monkeypatch):
    user, url = mysql_reader
    seed_orders(mysql_database)
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(env_var_for("reader"), url)
    pin = SQLSource(table="orders", connection="reader").pin(make_ctx(snapshots, tmp_path))
    assert pin.num_rows == 3
    wrong = url.replace("hunter2-s3cret", "wrong-s3cret")
    cases = [
        (wrong, "orders", SourceAuthError),
        (url.rsplit("/", 1)[0] + "/no_such_db_here", "orders", (SourceAuthError, SourceNotFoundError)),
        (url, "missing", SourceNotFoundError),
        ("mysql+pymysql://x:hunter2-s3cret@127.0.0.1:1/db", "orders", SourceUnavailableError),
    ]
    for case_url, table, error in cases:
        monkeypatch.setenv(env_var_for("case"), case_url)
        with pytest.raises(error) as info:
            SQLSource(table=table, connection="case").pin(make_ctx(snapshots, tmp_path))
        message = str(info.value)
        assert "contract:1.0.0 source 'data'" in message and "connection 'case'" in message
        assert "hunter2" not in message and "wrong-s3cret" not in message and "hunter2" not in info.value.source
    text = json.dumps(pin.to_json()) + caplog.text + repr(SQLSource(table="orders", connection="reader"))
    for marker in SECRET_MARKERS + ("hunter2",):
        assert marker not in text


def test_a_password_in_url_is_refused_with_the_way_to_name_it(mysql_reader):
    """Builder code is committed: url= with a password is refused, pointing to connection= and password_env."""
    _, url = mysql_reader
    with pytest.raises(ConfigError) as info:
        SQLSource(table="orders", url=url)
    message = str(info.value)
    assert "connection=" in message and "password_env" in message and "LABDATASETS_CONNECTION_" in message
    assert "hunter2" not in message and ":***@" in message


def test_named_connections_resolve_from_env_then_config(mysql_database, snapshots, tmp_path, monkeypatch, mysql_reader):
    from labdatasets.config import settings

    user, url = mysql_reader
    seed_orders(mysql_database)
    config = tmp_path / "config.toml"
    config.write_text(f'[connections.shop]\nurl = "{url.replace(":hunter2-s3cret", "")}"\npassword_env = "SHOP_DB_PASSWORD"\n')
    monkeypatch.setenv("LABDATASETS_CONFIG", str(config))
    source = SQLSource(table="orders", connection="shop")
    with pytest.raises(ConfigError, match="SHOP_DB_PASSWORD"):
        source.pin(make_ctx(snapshots, tmp_path, settings=settings()))
    monkeypatch.setenv("SHOP_DB_PASSWORD", "hunter2-s3cret")
    pin = source.pin(make_ctx(snapshots, tmp_path, settings=settings()))
    assert pin.location == {"connection": "shop", "table": "orders"} and pin.num_rows == 3
    with pytest.raises(ConfigError, match="LABDATASETS_CONNECTION_NOWHERE"):
        SQLSource(table="orders", connection="nowhere").pin(make_ctx(snapshots, tmp_path, settings=settings()))


def test_status_reports_rows_and_content(mysql_database, snapshots, tmp_path, local_store):
    seed_orders(mysql_database)
    source = SQLSource(table="orders", url=mysql_database)
    pin = source.pin(make_ctx(snapshots, tmp_path))
    before = set(local_store.iter_oids())
    assert source.status(pin, make_ctx(snapshots, tmp_path)).state == "unchanged"
    execute(mysql_database, "UPDATE orders SET note = 'edited' WHERE id = 3")
    status = source.status(pin, make_ctx(snapshots, tmp_path))
    assert status.state == "changed" and status.details[0].startswith("content: same row count, different rows")
    execute(mysql_database, "DELETE FROM orders WHERE id = 1")
    assert source.status(pin, make_ctx(snapshots, tmp_path)).details[0] == "rows: 3 pinned, 2 now"
    execute(mysql_database, "DROP TABLE orders")
    assert source.status(pin, make_ctx(snapshots, tmp_path)).state == "unavailable"
    assert set(local_store.iter_oids()) == before  # status stores nothing


def test_sqlalchemy_selectables_and_validation(tmp_path, snapshots):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    execute(url, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    t = sqlalchemy.table("t", sqlalchemy.column("id"), sqlalchemy.column("v"))
    pin = SQLSource(sqlalchemy.select(t.c.v).where(t.c.id > 1), url=url).pin(make_ctx(snapshots, tmp_path))
    assert pin.num_rows == 1 and "WHERE t.id > 1" in pin.metadata["query"]
    with pytest.raises(ValueError, match="exactly one of query= or table="):
        SQLSource("SELECT 1", table="t", url=url)
    with pytest.raises(ValueError, match="exactly one of connection="):
        SQLSource("SELECT 1")


def test_pin_builder_shares_one_session_between_sql_sources(mysql_database, make_builder, monkeypatch, tmp_path):
    """Through pin(): two sources on one connection take the shared-snapshot reader, a lone one connectorx."""
    seed_orders(mysql_database)
    execute(mysql_database, "CREATE TABLE items (order_id BIGINT PRIMARY KEY, sku VARCHAR(8))", "INSERT INTO items VALUES (1, 'x')")
    monkeypatch.setenv(env_var_for("shop"), mysql_database)
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    sources = """{
        "orders": loaders.SQLSource(table="orders", connection="shop"),
        "items": loaders.SQLSource(table="items", connection="shop"),
    }"""
    builder = make_builder.sources_only("two_tables", sources, doc="Two tables of one database.")()
    record = builder.pin(progress=False)
    readers = {name: pin.metadata["reader"].split()[0] for name, pin in record.sources.items()}
    assert readers == {"orders": "pymysql", "items": "pymysql"}
    assert record.sources["orders"].metadata["snapshot"] == record.sources["items"].metadata["snapshot"]
    assert record.sources["orders"].num_rows == 3 and record.sources["items"].num_rows == 1
    from labdatasets.pinning.status import status

    report = status(builder)
    assert not report.changed and [s.name for s in report.sources] == ["items", "orders"]


def test_a_failing_source_leaves_no_pin_record(tmp_path, make_builder, monkeypatch):
    url = f"sqlite:///{tmp_path / 'ok.db'}"
    execute(url, "CREATE TABLE t (id INTEGER PRIMARY KEY)", "INSERT INTO t VALUES (1)")
    monkeypatch.setenv(env_var_for("ok"), url)
    monkeypatch.setenv(env_var_for("broken"), f"sqlite:///{tmp_path / 'broken.db'}")
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    sources = '{"a_good": loaders.SQLSource(table="t", connection="ok"), "b_bad": loaders.SQLSource(table="gone", connection="broken")}'
    builder = make_builder.sources_only("half_broken", sources, doc="One good source and one that fails.")()
    with pytest.raises(SourceNotFoundError, match="half_broken:1.0.0 source 'b_bad'"):
        builder.pin(progress=False)
    assert builder.pin_record() is None and not (tmp_path / "pins" / "half_broken").exists()
    assert not (tmp_path / "broken.db").exists()  # SQLite is opened read-only: nothing created
    tmp = Path(builder.settings.home) / "store" / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []
