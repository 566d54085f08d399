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
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x += np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


def _salt64(salt: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(salt.encode("utf-8"), digest_size=8).digest(), "little"))


def _value_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return repr(value).encode("utf-8")


def _column_hash(column: "pa.ChunkedArray | pa.Array") -> np.ndarray:
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    t = column.type
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        values = column.cast(pa.int64(), safe=False).fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64)
    elif pa.types.is_temporal(t):
        narrow = pa.types.is_date32(t) or pa.types.is_time32(t)
        as_int = column.cast(pa.int32() if narrow else pa.int64()).cast(pa.int64())
        values = as_int.fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64)
    elif pa.types.is_floating(t):
        values = column.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False).view(np.uint64)
    else:
        values = np.fromiter(
            (int.from_bytes(hashlib.blake2b(_value_bytes(v), digest_size=8).digest(), "little") for v in column.to_pylist()),
            dtype=np.uint64,
            count=len(column),
        )
    hashed = _splitmix64(values)
    if column.null_count:
        hashed[column.is_null().to_numpy(zero_copy_only=False)] = np.uint64(0x5BD1E995)
    return hashed


def key_hash(table: "pa.Table", key: str | Sequence[str], salt: str = "") -> np.ndarray:
    """A uint64 hash per row of the ``key`` column(s), mixed with ``salt``."""
    columns = [key] if isinstance(key, str) else list(key)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ColumnNotFoundError(
            f"split key column(s) {missing} not in the data (columns: {table.column_names}); name columns the "
            "processing produces in key="
        )
    h = np.full(table.num_rows, _salt64(salt), dtype=np.uint64)
    for name in columns:
        h = _splitmix64(h ^ _column_hash(table.column(name)))
    return h


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
