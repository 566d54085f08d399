"""Deterministic split assignment by a hash of a key (no Beam needed).

The same key always lands in the same split, across runs, machines, Python
versions and batch boundaries: the hash is SplitMix64 over the key's bytes
(integers directly, everything else through BLAKE2b), not Python's ``hash()``.

Example::

    >>> import pyarrow as pa
    >>> t = pa.table({"id": list(range(10))})
    >>> parts = split_table(t, key="id", ratios={"train": 0.8, "test": 0.2})
    >>> sorted(parts), sum(p.num_rows for p in parts.values())
    (['test', 'train'], 10)
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from collections.abc import Mapping, Sequence

import numpy as np

from labdatasets.errors import ColumnNotFoundError, DeclarationError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["key_hash", "unit_interval", "assign", "assign_hashes", "split_table", "normalize_ratios"]

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer of each value of ``x`` (a new array)."""
    out = x.astype(np.uint64, copy=True)
    return _mix_in_place(out, np.empty_like(out))


_C1, _C2, _C3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _mix_in_place(x: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """:func:`_splitmix64` in ``x`` itself (uint64), with ``scratch`` (as big) for the shifts: the same values
    without the seven temporary arrays of the expression (this runs on every row, several times a build)."""
    with np.errstate(over="ignore"):
        x += _C1
        np.right_shift(x, _S30, out=scratch)
        x ^= scratch
        x *= _C2
        np.right_shift(x, _S27, out=scratch)
        x ^= scratch
        x *= _C3
        np.right_shift(x, _S31, out=scratch)
        x ^= scratch
    return x


def _salt64(salt: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(salt.encode("utf-8"), digest_size=8).digest(), "little"))


def _value_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return repr(value).encode("utf-8")


def _column_hash(column: "pa.ChunkedArray | pa.Array", scratch: np.ndarray | None = None) -> np.ndarray:
    """The SplitMix64 of each value's 64 bits (integers, dates and times as int64, floats as float64; other
    types through BLAKE2b of their bytes); nulls hash to one constant. A new array, which the caller may change."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    t = column.type
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        as_int = column if t == pa.int64() else column.cast(pa.int64(), safe=False)
        values = _owned_uint64(as_int, 0)
    elif pa.types.is_temporal(t):
        narrow = pa.types.is_date32(t) or pa.types.is_time32(t)
        values = _owned_uint64(column.cast(pa.int32() if narrow else pa.int64()).cast(pa.int64()), 0)
    elif pa.types.is_floating(t):
        values = _owned_uint64(column if t == pa.float64() else column.cast(pa.float64()), 0.0)
    else:
        values = np.fromiter(
            (int.from_bytes(hashlib.blake2b(_value_bytes(v), digest_size=8).digest(), "little") for v in column.to_pylist()),
            dtype=np.uint64,
            count=len(column),
        )
    hashed = _mix_in_place(values, np.empty_like(values) if scratch is None else scratch)
    if column.null_count:
        hashed[column.is_null().to_numpy(zero_copy_only=False)] = np.uint64(0x5BD1E995)
    return hashed


def _owned_uint64(column: "pa.Array", fill: float) -> np.ndarray:
    """The 64 bits of each value of an int64 or float64 array (nulls as ``fill``), in a new writable array."""
    if column.null_count:
        column = column.fill_null(fill)
    return np.array(column.to_numpy(zero_copy_only=False).view(np.uint64), copy=True)


def key_hash(table: "pa.Table", key: str | Sequence[str], salt: str = "") -> np.ndarray:
    """A uint64 hash per row of the ``key`` column(s), mixed with ``salt``.

    Per row: ``h = salt64; for each column: h = splitmix64(h ^ column_hash)`` (computed in place).
    """
    columns = [key] if isinstance(key, str) else list(key)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ColumnNotFoundError(
            f"split key column(s) {missing} not in the data (columns: {table.column_names}); name columns the "
            "processing produces in key="
        )
    scratch = np.empty(table.num_rows, dtype=np.uint64)
    h: np.ndarray | None = None
    for name in columns:
        part = _column_hash(table.column(name), scratch)
        if h is None:
            h = part
            h ^= _salt64(salt)
        else:
            h ^= part
        _mix_in_place(h, scratch)
    return np.full(table.num_rows, _salt64(salt), dtype=np.uint64) if h is None else h


def unit_interval(hashes: np.ndarray) -> np.ndarray:
    """Map uint64 hashes to floats uniform in [0, 1) (53 bits, exact in float64)."""
    return (hashes >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def normalize_ratios(ratios: Mapping[str, float]) -> dict[str, float]:
    if not ratios:
        raise DeclarationError("split ratios must name at least one split, e.g. {'train': 0.8, 'test': 0.2}")
    bad = {k: v for k, v in ratios.items() if not (v > 0)}
    if bad:
        raise DeclarationError(f"split ratios must be positive, got {bad}; drop the split or give it a share above 0")
    total = float(sum(ratios.values()))
    return {k: v / total for k, v in ratios.items()}


def assign(table: "pa.Table", key: str | Sequence[str], ratios: Mapping[str, float], salt: str = "") -> np.ndarray:
    """The index (into ``ratios``' order) of the split each row belongs to."""
    return assign_hashes(key_hash(table, key, salt), ratios)


def assign_hashes(hashes: np.ndarray, ratios: Mapping[str, float]) -> np.ndarray:
    """:func:`assign` from the rows' :func:`key_hash` values."""
    normalized = normalize_ratios(ratios)
    bounds = np.cumsum(list(normalized.values()))
    bounds[-1] = 1.0
    return np.searchsorted(bounds, unit_interval(hashes), side="right").astype(np.int64)


def split_table(table: "pa.Table", key: str | Sequence[str], ratios: Mapping[str, float], salt: str = "") -> dict[str, "pa.Table"]:
    """Split ``table`` into ``{split: rows}`` by :func:`assign`."""
    import pyarrow as pa

    index = assign(table, key, ratios, salt)
    return {name: table.filter(pa.array(index == i)) for i, name in enumerate(ratios)}
