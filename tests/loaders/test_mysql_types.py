"""The MySQL column metadata -> Arrow mapping, read from the real server's result metadata."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

pymysql = pytest.importorskip("pymysql")
sqlalchemy = pytest.importorskip("sqlalchemy")

from labdatasets.errors import SourceError  # noqa: E402
from labdatasets.loaders._mysql_types import MySQLColumn, arrow_schema, binary_to_arrow, fast_path_blockers, text_to_arrow  # noqa: E402

DDL = """CREATE TABLE probe (id INT NOT NULL PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT,
 su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED, ii INT, iu INT UNSIGNED, bi BIGINT NOT NULL,
 bu BIGINT UNSIGNED, yr YEAR, f FLOAT, d DOUBLE, d65 DECIMAL(65,30), d65u DECIMAL(65,30) UNSIGNED, d10 DECIMAL(10,0),
 d28 DECIMAL(28,10), d29 DECIMAL(29,10), d11 DECIMAL(20,11), d38 DECIMAL(38,2), d39 DECIMAL(39,2), d1u DECIMAL(1,0) UNSIGNED,
 day DATE, at DATETIME, at6 DATETIME(6), at3 DATETIME(3), ts TIMESTAMP(6) NULL, ts0 TIMESTAMP NULL, span TIME, span6 TIME(6),
 v VARCHAR(10), c CHAR(3), tx TEXT, mt MEDIUMTEXT, vb VARBINARY(4), bn BINARY(4), bl BLOB, lb LONGBLOB,
 bt BIT(5), e ENUM('a'), st SET('a'), j JSON, g GEOMETRY)"""
EXPECTED = {  # column: (sql_type metadata, Arrow type)
    "id": ("INT", pa.int32()), "ti": ("TINYINT", pa.int8()), "tu": ("TINYINT UNSIGNED", pa.uint8()),
    "si": ("SMALLINT", pa.int16()), "su": ("SMALLINT UNSIGNED", pa.uint16()), "mi": ("MEDIUMINT", pa.int32()),
    "mu": ("MEDIUMINT UNSIGNED", pa.uint32()), "ii": ("INT", pa.int32()), "iu": ("INT UNSIGNED", pa.uint32()),
    "bi": ("BIGINT", pa.int64()), "bu": ("BIGINT UNSIGNED", pa.uint64()), "yr": ("YEAR", pa.int16()),
    "f": ("FLOAT", pa.float32()), "d": ("DOUBLE", pa.float64()),
    "d65": ("DECIMAL(65,30)", pa.decimal256(65, 30)), "d65u": ("DECIMAL(65,30)", pa.decimal256(65, 30)),
    "d10": ("DECIMAL(10,0)", pa.decimal128(10, 0)), "d28": ("DECIMAL(28,10)", pa.decimal128(28, 10)),
    "d29": ("DECIMAL(29,10)", pa.decimal128(29, 10)), "d11": ("DECIMAL(20,11)", pa.decimal128(20, 11)),
    "d38": ("DECIMAL(38,2)", pa.decimal128(38, 2)), "d39": ("DECIMAL(39,2)", pa.decimal256(39, 2)),
    "d1u": ("DECIMAL(1,0)", pa.decimal128(1, 0)),
    "day": ("DATE", pa.date32()), "at": ("DATETIME", pa.timestamp("us")), "at6": ("DATETIME(6)", pa.timestamp("us")),
    "at3": ("DATETIME(3)", pa.timestamp("us")), "ts": ("TIMESTAMP(6)", pa.timestamp("us", tz="UTC")),
    "ts0": ("TIMESTAMP", pa.timestamp("us", tz="UTC")), "span": ("TIME", pa.duration("us")),
    "span6": ("TIME(6)", pa.duration("us")), "v": ("VARCHAR", pa.string()), "c": ("CHAR", pa.string()),
    "tx": ("TEXT", pa.string()), "mt": ("TEXT", pa.string()), "vb": ("VARBINARY", pa.binary()),
    "bn": ("BINARY", pa.binary()), "bl": ("BLOB", pa.binary()), "lb": ("BLOB", pa.binary()), "bt": ("BIT", pa.uint64()),
    "e": ("CHAR", pa.string()), "st": ("CHAR", pa.string()), "j": ("TEXT", pa.string()), "g": ("GEOMETRY", pa.binary()),
    "nothing": ("NULL", pa.null()),
}


@pytest.fixture
def columns(mysql_database):
    url = sqlalchemy.engine.make_url(mysql_database)
    conn = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "", database=url.database)
    try:
        with conn.cursor() as cur:
            cur.execute(DDL)
            cur.execute("SELECT *, NULL AS nothing FROM probe")
            return [MySQLColumn.from_pymysql(f) for f in cur._result.fields]
    finally:
        conn.close()


def test_every_column_type_maps_to_its_arrow_type_and_keeps_its_sql_type(columns):
    schema = arrow_schema(columns)
    assert schema.names == list(EXPECTED)
    for name, (sql_type, arrow_type) in EXPECTED.items():
        field = schema.field(name)
        assert (field.metadata, field.type) == ({b"sql_type": sql_type.encode()}, arrow_type), name
    assert [f.name for f in schema if not f.nullable] == ["id", "bi"]  # NOT NULL travels too
    assert fast_path_blockers(columns) == [
        "d65 DECIMAL(65,30)", "d65u DECIMAL(65,30)", "d29 DECIMAL(29,10)", "d11 DECIMAL(20,11)", "d38 DECIMAL(38,2)",
        "d39 DECIMAL(39,2)",
        "span TIME", "span6 TIME(6)", "bt BIT", "g GEOMETRY", "nothing NULL",
    ]


def test_duplicate_names_and_unknown_types_are_refused(columns):
    by_name = {c.name: c for c in columns}
    with pytest.raises(SourceError, match=r"duplicate column names \['ii', 'ti'\]; give each column its own alias"):
        arrow_schema([by_name["ti"], by_name["ii"], by_name["ti"], by_name["ii"], by_name["v"]])
    odd = MySQLColumn("vector", 242, 0, 63, 10, 0)
    assert odd.sql_type == "TYPE242"
    with pytest.raises(SourceError) as info:
        odd.arrow_type()
    assert str(info.value) == (
        "column 'vector' has MySQL type code 242, which labdatasets cannot map yet; CAST it in the query to a type "
        "it maps (a number, DECIMAL, a date or time, CHAR or BINARY)"
    )


def test_text_values_convert_a_column_at_a_time(columns):
    by_name = {c.name: c for c in columns}

    def convert(name, values):
        return text_to_arrow(values, by_name[name], EXPECTED[name][1]).to_pylist()

    assert convert("nothing", [None, None]) == [None, None]
    assert convert("bt", [b"\x00\x15", None, b"\xff" * 8]) == [21, None, 2**64 - 1]
    assert convert("bl", [b"\x00\xff", None]) == [b"\x00\xff", None]
    for name in ("bl", "bt"):  # a batch of NULLs only keeps its column's type
        assert text_to_arrow([None, None], by_name[name], EXPECTED[name][1]).type == EXPECTED[name][1]
    assert convert("v", ["é", None]) == ["é", None]
    assert convert("span6", ["-838:59:59.000000", "01:02:03.5", "-00:00:00.000001", None]) == [
        -dt.timedelta(hours=838, minutes=59, seconds=59), dt.timedelta(hours=1, minutes=2, seconds=3.5),
        -dt.timedelta(microseconds=1), None,
    ]
    assert convert("span", ["-00:00:01", "100:00:00"]) == [-dt.timedelta(seconds=1), dt.timedelta(hours=100)]
    ts = convert("ts", ["2038-01-19 03:14:07.999999"])[0]
    assert (ts.tzinfo is not None, ts.isoformat()) == (True, "2038-01-19T03:14:07.999999+00:00")
    raw = pa.array([b"12.50", None], pa.binary())
    assert binary_to_arrow(raw, by_name["d10"], pa.decimal128(10, 2)).to_pylist()[1] is None
    assert binary_to_arrow(raw, by_name["vb"], pa.binary()) is raw
    assert binary_to_arrow(raw, by_name["nothing"], pa.null()).null_count == 2
