"""MySQL / MariaDB result columns -> exact Arrow types, and text values -> Arrow arrays.

The wire metadata of a result column (type code, flags, charset, length,
scale) decides its Arrow type, so a query result keeps its types whatever
the rows hold (an all-NULL column is still a DECIMAL(12,2)):

==============================  ===========================================
MySQL                           Arrow
==============================  ===========================================
TINYINT/SMALLINT/MEDIUMINT/INT  int8/int16/int32/int32 (uint8/16/32/32 UNSIGNED)
BIGINT                          int64 (uint64 UNSIGNED)
YEAR                            int16
FLOAT, DOUBLE                   float32, float64 (FLOAT as the server sends it: 6
                                significant digits; CAST(col AS DOUBLE) keeps every bit)
DECIMAL(p,s)                    decimal128(p,s), decimal256(p,s) above 38 digits
DATE                            date32
DATETIME(fsp)                   timestamp[us] (no zone: a wall-clock time)
TIMESTAMP(fsp)                  timestamp[us, UTC] (the session reads in UTC)
TIME(fsp)                       duration[us] (MySQL TIME spans -838h..838h)
CHAR/VARCHAR/TEXT/ENUM/SET      string (JSON too: MariaDB stores JSON as text)
BINARY/VARBINARY/BLOB/GEOMETRY  binary
BIT(n)                          uint64
NULL (a literal NULL column)    null
==============================  ===========================================

Values arrive in MySQL's text protocol (``"79.19"``, ``"2020-01-01 00:00:37"``)
and are converted a whole column at a time with Arrow casts, never one
Python object per value (BIT is the one exception, and is rare): from PyMySQL's
values (:func:`text_to_arrow`) or straight from the received bytes
(:func:`binary_to_arrow`, used by :mod:`labdatasets.loaders._mysql_wire`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any
from collections.abc import Sequence

from labdatasets.errors import SourceError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["MySQLColumn", "arrow_schema", "text_to_arrow", "binary_to_arrow", "fast_path_blockers"]

# Protocol type codes (include/mysql_com.h: enum_field_types).
DECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, NULL, TIMESTAMP, LONGLONG, INT24 = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
DATE, TIME, DATETIME, YEAR, NEWDATE, VARCHAR, BIT = 10, 11, 12, 13, 14, 15, 16
TIMESTAMP2, DATETIME2, TIME2 = 17, 18, 19
JSON, NEWDECIMAL, ENUM, SET = 245, 246, 247, 248
TINY_BLOB, MEDIUM_BLOB, LONG_BLOB, BLOB, VAR_STRING, STRING, GEOMETRY = 249, 250, 251, 252, 253, 254, 255
UNSIGNED_FLAG = 32
BINARY_CHARSET = 63

_TEXT_TYPES = {VARCHAR, JSON, ENUM, SET, TINY_BLOB, MEDIUM_BLOB, LONG_BLOB, BLOB, VAR_STRING, STRING}
_INT_BITS = {TINY: 8, SHORT: 16, INT24: 32, LONG: 32, LONGLONG: 64}
_NAMES = {
    DECIMAL: "DECIMAL", NEWDECIMAL: "DECIMAL", TINY: "TINYINT", SHORT: "SMALLINT", INT24: "MEDIUMINT", LONG: "INT",
    LONGLONG: "BIGINT", FLOAT: "FLOAT", DOUBLE: "DOUBLE", NULL: "NULL", TIMESTAMP: "TIMESTAMP", DATE: "DATE",
    NEWDATE: "DATE", TIME: "TIME", DATETIME: "DATETIME", YEAR: "YEAR", VARCHAR: "VARCHAR", BIT: "BIT", JSON: "JSON",
    ENUM: "ENUM", SET: "SET", TINY_BLOB: "TINYBLOB", MEDIUM_BLOB: "MEDIUMBLOB", LONG_BLOB: "LONGBLOB", BLOB: "BLOB",
    VAR_STRING: "VARCHAR", STRING: "CHAR", GEOMETRY: "GEOMETRY", TIMESTAMP2: "TIMESTAMP", DATETIME2: "DATETIME",
    TIME2: "TIME",
}


@dataclasses.dataclass(frozen=True)
class MySQLColumn:
    """The wire metadata of one result column (what PyMySQL's field descriptor holds)."""

    name: str
    type_code: int
    flags: int
    charsetnr: int
    length: int
    scale: int

    @classmethod
    def from_pymysql(cls, field: Any) -> "MySQLColumn":
        return cls(field.name, field.type_code, field.flags, field.charsetnr, field.length, field.scale)

    @property
    def unsigned(self) -> bool:
        return bool(self.flags & UNSIGNED_FLAG)

    @property
    def binary(self) -> bool:
        # Text and binary strings share type codes; only the charset tells them apart
        # (JSON is text even where MySQL 8 labels it with the binary charset).
        return self.charsetnr == BINARY_CHARSET and self.type_code != JSON

    @property
    def precision(self) -> int:
        """DECIMAL precision: the display length less the sign and the decimal point."""
        return self.length - (0 if self.unsigned else 1) - (1 if self.scale > 0 else 0)

    @property
    def sql_type(self) -> str:
        name = _NAMES.get(self.type_code, f"TYPE{self.type_code}")
        if self.type_code in _TEXT_TYPES and self.binary and name in ("VARCHAR", "CHAR"):
            name = "VARBINARY" if name == "VARCHAR" else "BINARY"
        elif self.type_code in (TINY_BLOB, MEDIUM_BLOB, LONG_BLOB, BLOB) and not self.binary:
            name = "TEXT"  # the protocol sends TEXT as BLOB with a text charset
        if self.type_code in (DECIMAL, NEWDECIMAL):
            name = f"DECIMAL({self.precision},{self.scale})"
        elif self.type_code in (DATETIME, TIMESTAMP, TIME, DATETIME2, TIMESTAMP2, TIME2) and 0 < self.scale <= 6:
            name = f"{name}({self.scale})"
        return name + (" UNSIGNED" if self.unsigned and self.type_code in _INT_BITS else "")

    def arrow_type(self) -> "pa.DataType":
        import pyarrow as pa

        code = self.type_code
        if code in _INT_BITS:
            bits = _INT_BITS[code]
            return getattr(pa, f"{'u' if self.unsigned else ''}int{bits}")()
        if code == YEAR:
            return pa.int16()
        if code == FLOAT:
            return pa.float32()
        if code == DOUBLE:
            return pa.float64()
        if code in (DECIMAL, NEWDECIMAL):
            precision = max(self.precision, 1)
            return pa.decimal128(precision, self.scale) if precision <= 38 else pa.decimal256(precision, self.scale)
        if code in (DATE, NEWDATE):
            return pa.date32()
        if code in (DATETIME, DATETIME2):
            return pa.timestamp("us")
        if code in (TIMESTAMP, TIMESTAMP2):
            return pa.timestamp("us", tz="UTC")
        if code in (TIME, TIME2):
            return pa.duration("us")
        if code == BIT:
            return pa.uint64()
        if code == NULL:
            return pa.null()
        if code == GEOMETRY:
            return pa.binary()
        if code in _TEXT_TYPES:
            return pa.binary() if self.binary else pa.string()
        raise SourceError(
            f"column {self.name!r} has MySQL type code {code}, which labdatasets cannot map yet; CAST it in the "
            "query to a type it maps (a number, DECIMAL, a date or time, CHAR or BINARY)"
        )

    def arrow_field(self) -> "pa.Field":
        import pyarrow as pa

        not_null = bool(self.flags & 1)
        return pa.field(self.name, self.arrow_type(), nullable=not not_null, metadata={"sql_type": self.sql_type})


def arrow_schema(columns: Sequence[MySQLColumn]) -> "pa.Schema":
    """The exact Arrow schema of a result; raises SourceError for duplicate column names."""
    import pyarrow as pa

    names = [c.name for c in columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SourceError(f"the result has duplicate column names {duplicates}; give each column its own alias (AS ...)")
    return pa.schema([c.arrow_field() for c in columns])


def _parse_time(values: "pa.Array") -> "pa.Array":
    """``[-]HHH:MM:SS[.ffffff]`` -> duration[us], vectorised."""
    import pyarrow as pa
    import pyarrow.compute as pc

    negative = pc.starts_with(values, "-")
    body = pc.utf8_ltrim(values, characters="-")
    # Give every value a fraction so that the split below always has two parts.
    body = pc.if_else(pc.match_substring(body, "."), body, pc.binary_join_element_wise(body, "0", "."))
    whole_fraction = pc.split_pattern(body, ".", max_splits=1)
    hms = pc.split_pattern(pc.list_element(whole_fraction, 0), ":")
    hours, minutes, seconds = (pc.cast(pc.list_element(hms, i), pa.int64()) for i in range(3))
    fraction = pc.utf8_rpad(pc.utf8_slice_codeunits(pc.list_element(whole_fraction, 1), 0, 6), 6, "0")
    total = pc.add(hours, 0)
    total = pc.add(pc.multiply(total, 60), minutes)
    total = pc.add(pc.multiply(total, 60), seconds)
    total = pc.add(pc.multiply(total, 1_000_000), pc.cast(fraction, pa.int64()))
    return pc.cast(pc.if_else(negative, pc.negate(total), total), pa.duration("us"))


def text_to_arrow(values: Sequence[Any], column: MySQLColumn, target: "pa.DataType") -> "pa.Array":
    """Convert one column of text-protocol values (str, bytes or None) to ``target``."""
    import pyarrow as pa

    if pa.types.is_null(target):
        return pa.nulls(len(values))
    values = list(values)  # pyarrow converts a list several times faster than a tuple
    if pa.types.is_binary(target) or column.type_code == BIT:
        return binary_to_arrow(pa.array(values, pa.binary()), column, target)
    return _from_text(pa.array(values, pa.string()), column, target)


def binary_to_arrow(raw: "pa.Array", column: MySQLColumn, target: "pa.DataType") -> "pa.Array":
    """Convert one column of text-protocol values as received (a binary array) to ``target``.

    Text is checked to be UTF-8 (the session's character set) on its way to a string.
    """
    import pyarrow as pa

    if pa.types.is_null(target):
        return pa.nulls(len(raw))
    if pa.types.is_binary(target):
        return raw
    if column.type_code == BIT:
        return pa.array([None if v is None else int.from_bytes(v, "big") for v in raw.to_pylist()], pa.uint64())
    return _from_text(raw.cast(pa.string()), column, target)


def _from_text(text: "pa.Array", column: MySQLColumn, target: "pa.DataType") -> "pa.Array":
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(target):
        return text
    if pa.types.is_duration(target):
        return _parse_time(text)
    if pa.types.is_timestamp(target) and target.tz:
        return pc.cast(pc.cast(text, pa.timestamp("us")), target)  # the session reads TIMESTAMP in UTC
    return pc.cast(text, target)


def fast_path_blockers(columns: Sequence[MySQLColumn]) -> list[str]:
    """Columns connectorx cannot read without loss (measured with connectorx 0.4.6).

    connectorx reads DECIMAL through a 96-bit decimal with at most 10 places
    (wider values are rounded or make it panic), cannot read TIME outside
    00:00-23:59, and does not implement BIT, GEOMETRY or NULL columns. Such a
    result goes through the streaming reader instead.
    """
    blockers = []
    for c in columns:
        if c.type_code in (DECIMAL, NEWDECIMAL) and (c.scale > 10 or c.precision > 28):
            blockers.append(f"{c.name} {c.sql_type}")
        elif c.type_code in (TIME, TIME2, BIT, GEOMETRY, NULL):
            blockers.append(f"{c.name} {c.sql_type}")
    return blockers
