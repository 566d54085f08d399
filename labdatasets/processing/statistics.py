"""Statistics of a split, computed from Arrow tables in fixed memory (no Beam needed).

:class:`SplitStatistics` is a mergeable accumulator: feed it tables
(:meth:`~SplitStatistics.add_table`), merge partial results from other workers
(:meth:`~SplitStatistics.merge`) and turn it into the JSON stored in
``dataset_info.json`` (:meth:`~SplitStatistics.to_json`). Its size does not grow
with the rows: per column it keeps counts, a fixed-size histogram and fixed-size
sketches. The build wraps it in a Beam ``CombineFn``
(:mod:`labdatasets.processing.pipeline_io`); ``labdatasets validate`` feeds it
prepared Parquet files directly.

Per column, by feature:

* every column: ``nulls``;
* numbers (ints, floats, decimals, bools): ``count`` (non-null finite values),
  ``min``, ``max``, ``mean``, ``std`` (sample standard deviation, ``ddof=1`` as
  pandas), ``nan`` and ``inf`` counts, and a histogram of
  :data:`HISTOGRAM_BINS` bins whose width is a power of two (so partial
  histograms merge exactly, in any order, into the histogram of all rows);
* text: ``distinct`` (exact up to :data:`DISTINCT_SKETCH` distinct values, then
  a KMV estimate within a few percent), the most frequent values (``top``,
  Misra-Gries counters: exact while the column has at most
  :data:`TOP_COUNTERS` distinct values, ``top_exact`` says so) and the length
  of the texts (min, max, mean);
* ``ClassLabel``: the count of every class (``classes``);
* ``Image``: width and height as numbers, the most frequent sizes, and how many
  images could not be read (``unreadable``);
* dates and times: ``min`` and ``max``.

Example::

    >>> stats = SplitStatistics(features)
    >>> stats.add_table(table)
    >>> stats.to_json()["columns"]["bill_length_mm"]["mean"]
    43.92
"""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from labdatasets.features import Feature, Features

__all__ = [
    "SplitStatistics",
    "NumberStats",
    "TextStats",
    "ClassStats",
    "ImageStats",
    "TemporalStats",
    "NullStats",
    "hash_column",
    "combined_hash",
    "value_bytes",
    "image_size",
    "HISTOGRAM_BINS",
    "DISTINCT_SKETCH",
    "TOP_COUNTERS",
    "TOP_SHOWN",
    "SLICE_ROWS",
]

HISTOGRAM_BINS = 32
DISTINCT_SKETCH = 2048
TOP_COUNTERS = 128
TOP_SHOWN = 10
SLICE_ROWS = 65_536
PROBE_ROWS = 8_192

_U64 = np.uint64


def _splitmix(x: np.ndarray, copy: bool = True) -> np.ndarray:
    """SplitMix64's finalizer of every value (in place in ``x``, a uint64 array, with ``copy=False``)."""
    x = x.astype(np.uint64, copy=True) if copy else x
    with np.errstate(over="ignore"):
        x += _U64(0x9E3779B97F4A7C15)
        x ^= x >> _U64(30)
        x *= _U64(0xBF58476D1CE4E5B9)
        x ^= x >> _U64(27)
        x *= _U64(0x94D049BB133111EB)
        x ^= x >> _U64(31)
    return x


#: ``_BYTE_MASKS[r]`` keeps the lower ``r`` bytes of a little-endian word (0 <= r <= 8).
_BYTE_MASKS = np.array([(1 << (8 * r)) - 1 for r in range(9)], dtype=np.uint64)

#: Text is hashed by its length and its bytes, eight at a time, up to this many bytes, then by its last eight bytes.
HASHED_TEXT_BYTES = 64


def _mix(x: np.ndarray) -> np.ndarray:
    """One multiply-xorshift round (in place)."""
    with np.errstate(over="ignore"):
        x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(31)
    return x


def _string_hash(column: "pa.Array") -> np.ndarray:
    """A 64-bit hash of every string or binary value, vectorized over the Arrow buffers (nulls hash as 0).

    Each value's length, then its bytes read eight at a time as little-endian words
    straight from the data buffer (one gather per word, not per byte; the last word
    of a value masked to its own bytes), are mixed by a multiply-xorshift round each
    and finished with SplitMix64. A value's hash depends on its bytes alone, never on
    the other values of the array. Values longer than :data:`HASHED_TEXT_BYTES` add
    their last eight bytes: two long texts that differ only in the middle hash alike,
    which can only lower a distinct-count estimate (equality checks compare the values).
    """
    import pyarrow as pa

    large = pa.types.is_large_string(column.type) or pa.types.is_large_binary(column.type)
    n = len(column)
    buffers = column.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64 if large else np.int32)[column.offset : column.offset + n + 1]
    offsets = offsets.astype(np.int64)
    raw = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    raw = raw[int(offsets[0]) : int(offsets[-1])]
    offsets = offsets - offsets[0]
    data = np.empty((len(raw) + 23) // 8 * 8, dtype=np.uint8)  # zero-padded, 8-byte aligned: read as aligned words
    data[: len(raw)] = raw
    data[len(raw) :] = 0
    aligned = data.view("<u8")
    starts, lengths = offsets[:-1], np.diff(offsets)
    # the 8 bytes at starts + 8j are (aligned[first + j] >> low) | (aligned[first + j + 1] << high): each aligned
    # word is gathered once, as the upper part of one word and the lower part of the next
    first = starts >> 3
    low = ((starts & 7) << 3).view(np.uint64)
    high = _U64(64) - low  # a shift by 64 gives 0
    out = _mix(lengths.view(np.uint64) + _U64(0x9E3779B97F4A7C15))
    longest = int(lengths.max()) if n else 0
    shortest = int(lengths.min()) if n else 0
    # gathers by take (a third faster than fancy indexing of a 1-D array, the same values)
    gathered = aligned.take(first)
    for j in range(min(-(-longest // 8), HASHED_TEXT_BYTES // 8)):
        if shortest > 8 * j:  # every value has more bytes
            following = aligned.take(first + (j + 1))
            word = gathered >> low
            word |= following << high
            gathered = following
            if shortest < 8 * (j + 1):  # not all 8: keep each value's own bytes
                word &= _BYTE_MASKS.take(np.minimum(lengths - 8 * j, 8))
            out ^= word
            _mix(out)
            continue
        remaining = lengths - 8 * j
        active = np.flatnonzero(remaining > 0)
        at = first.take(active) + j
        word = (aligned.take(at) >> low.take(active)) | (aligned.take(at + 1) << high.take(active))
        word &= _BYTE_MASKS.take(np.minimum(remaining.take(active), 8))
        out[active] = _mix(out.take(active) ^ word)
    longer = np.flatnonzero(lengths > HASHED_TEXT_BYTES)
    if len(longer):
        at = offsets[1:][longer] - 8
        shift = ((at & 7) << 3).view(np.uint64)
        word = (aligned[at >> 3] >> shift) | (aligned[(at >> 3) + 1] << (_U64(64) - shift))
        out[longer] = _mix(out[longer] ^ word)
    out = _splitmix(out, copy=False)
    if column.null_count:
        out[column.is_null().to_numpy(zero_copy_only=False)] = _U64(0)
    return out


def hash_column(column: "pa.Array | pa.ChunkedArray") -> np.ndarray:
    """A deterministic 64-bit hash per value (the same value always gives the same hash; nulls give 0)."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    t = column.type
    if pa.types.is_dictionary(t):
        column = column.dictionary_decode()
        t = column.type
    if pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        return _string_hash(column)
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        values = column.cast(pa.int64(), safe=False).fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64)
    elif pa.types.is_temporal(t):
        narrow = pa.types.is_date32(t) or pa.types.is_time32(t)
        values = column.cast(pa.int32() if narrow else pa.int64()).cast(pa.int64()).fill_null(0)
        values = values.to_numpy(zero_copy_only=False).view(np.uint64)
    elif pa.types.is_floating(t):
        values = column.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False).view(np.uint64)
    else:
        return _string_hash(pa.array([None if v is None else repr(v) for v in column.to_pylist()], pa.string()))
    out = _splitmix(values)
    if column.null_count:
        out[column.is_null().to_numpy(zero_copy_only=False)] = _U64(0)
    return out


def combined_hash(table: "pa.Table", columns: Sequence[str]) -> np.ndarray:
    """A 64-bit hash per row of ``columns`` (nulls hash as 0)."""
    out = np.zeros(table.num_rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in columns:
            out = (out * np.uint64(0x100000001B3)) ^ hash_column(table.column(name))
    return out


# ----------------------------------------------------------------------------------------- numbers
def _bin_exponent(lo: float, hi: float, floor: int) -> int:
    """The power of two used as bin width for values in ``[lo, hi]`` (monotone: a wider range never gets a smaller one)."""
    k = floor
    magnitude = max(abs(lo), abs(hi))
    if magnitude > 0:
        k = max(k, math.frexp(magnitude)[1] - 52)  # bin indexes stay integers that float64 holds exactly
    span = hi - lo
    if math.isinf(span):  # values of both signs near float64's largest: the span's exponent from its half
        k = max(k, math.frexp(hi / 2 - lo / 2)[1] + 1 - int(math.log2(HISTOGRAM_BINS)) - 1)
    elif span > 0:
        k = max(k, math.frexp(span / HISTOGRAM_BINS)[1] - 1)
    while math.floor(math.ldexp(hi, -k)) - math.floor(math.ldexp(lo, -k)) >= HISTOGRAM_BINS:
        k += 1
    return k


#: Values of a larger magnitude are divided by a power of two before the mean and variance (an exact division), so
#: that neither a sum nor a square overflows; the accumulator keeps that power (:attr:`NumberStats.scale`).
SCALED_ABOVE = 2.0**400
_FLOAT_MAX = float(np.finfo(np.float64).max)


def _ldexp(x: float, exponent: int) -> float:
    """``x * 2**exponent``, infinite (with the sign of ``x``) where that is beyond float64, without an error."""
    try:
        return math.ldexp(x, exponent)
    except OverflowError:
        return math.copysign(math.inf, x)


class NumberStats:
    """Count, min, max, mean and variance (Chan et al.'s parallel update) and a power-of-two histogram.

    Mean and variance are kept in units of ``2**scale`` (``scale`` is 0 unless a value's magnitude
    reaches :data:`SCALED_ABOVE`): values near float64's largest give their finite mean and standard
    deviation (pandas overflows to inf there), and no overflow warning. A standard deviation itself
    beyond float64's largest (values of both signs near it) is reported as ``inf``.
    """

    kind = "number"

    def __init__(self, integer: bool = False):
        self.integer = integer
        self.nulls = 0
        self.nan = 0
        self.inf = 0
        self.count = 0
        # min and max mean something only once count > 0 (to_json writes them then)
        self.min: float = math.inf
        self.max: float = -math.inf
        self.mean = 0.0  # in units of 2**scale, as m2 in units of 4**scale
        self.m2 = 0.0
        self.scale = 0
        # histogram: bins of width 2**exponent, the first starting at base * 2**exponent
        self.exponent = 0
        self.base = 0
        self.bins: np.ndarray = np.zeros(HISTOGRAM_BINS, dtype=np.int64)

    def add_array(self, column: "pa.Array") -> None:
        import pyarrow as pa

        self.nulls += column.null_count
        if column.null_count:
            column = column.drop_null()
        if pa.types.is_boolean(column.type):
            column = column.cast(pa.int8())
        if not len(column):
            return
        ints = None
        if pa.types.is_signed_integer(column.type) or column.type in (pa.uint8(), pa.uint16(), pa.uint32()):
            ints = column.to_numpy(zero_copy_only=False)
            values = ints.astype(np.float64)  # numpy's conversion: half the time of Arrow's cast, the same floats
        else:
            values = column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        lo, hi = float(values.min()), float(values.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):  # NaN or infinities: count them, keep the finite values
            nan = np.isnan(values)
            self.nan += int(np.count_nonzero(nan))
            self.inf += int(np.count_nonzero(np.isinf(values)))
            values = values[np.isfinite(values)]
            if not len(values):
                return
            lo, hi = float(values.min()), float(values.max())
        if self.integer and pa.types.is_integer(column.type) and max(abs(lo), abs(hi)) >= 2**53:
            import pyarrow.compute as pc

            exact = pc.min_max(column).as_py()  # int64 beyond 2**53 keeps its exact value
            lo_exact, hi_exact = exact["min"], exact["max"]
        elif self.integer:
            lo_exact, hi_exact = int(lo), int(hi)
        else:
            lo_exact, hi_exact = lo, hi
        n = len(values)
        magnitude = max(abs(lo), abs(hi))
        scale = math.frexp(magnitude)[1] if magnitude >= SCALED_ABOVE else 0
        # exact division by a power of two (tiny values beside huge ones may round: they weigh nothing in the sums)
        moments = values * math.ldexp(1.0, -scale) if scale else values
        mean = float(moments.sum()) / n  # as numpy's mean: its pairwise sum divided by n
        centered = moments - mean
        # squared and summed by numpy's pairwise sum, not np.dot: BLAS wakes its threads for every call
        # (several milliseconds of spinning on a busy machine) and picks its kernel by the CPU it runs on
        m2 = float(np.square(centered, out=centered).sum())
        exponent = _bin_exponent(lo, hi, 0 if self.integer else -40)
        base = math.floor(math.ldexp(lo, -exponent))
        if ints is not None and exponent >= 0 and magnitude < 2**53:  # integers: the bin by a shift, as below exactly
            index = np.right_shift(ints, exponent, dtype=np.int64)  # an arithmetic shift: the floor for negatives too
        else:
            scaled = np.multiply(values, math.ldexp(1.0, -exponent), out=centered)  # exact: a power of two
            if lo < 0:  # the cast to integers truncates toward 0: the floor of a negative value needs its own pass
                np.floor(scaled, out=scaled)
            index = scaled.astype(np.int64)
        index -= base  # in integers: a float subtraction could round a value up into the next bin
        bins = np.bincount(index, minlength=HISTOGRAM_BINS)[:HISTOGRAM_BINS].astype(np.int64)
        other = NumberStats(self.integer)
        other.count, other.min, other.max, other.mean, other.m2, other.scale = n, lo_exact, hi_exact, mean, m2, scale
        other.exponent, other.base, other.bins = exponent, base, bins
        self._merge_values(other)

    def _merge_values(self, other: "NumberStats") -> None:
        if not other.count:
            return
        if not self.count:
            self.count, self.min, self.max, self.mean, self.m2 = other.count, other.min, other.max, other.mean, other.m2
            self.scale = other.scale
            self.exponent, self.base, self.bins = other.exponent, other.base, other.bins
            return
        scale = max(self.scale, other.scale)  # both in the larger unit (exact unless a tiny part underflows)
        mine, theirs = self.scale - scale, other.scale - scale
        mean, m2 = math.ldexp(self.mean, mine), math.ldexp(self.m2, 2 * mine)
        other_mean, other_m2 = math.ldexp(other.mean, theirs), math.ldexp(other.m2, 2 * theirs)
        n = self.count + other.count
        delta = other_mean - mean
        self.mean = mean + delta * other.count / n
        self.m2 = m2 + (other_m2 + delta * delta * self.count * other.count / n)
        self.scale = scale
        self.count = n
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        exponent = _bin_exponent(float(self.min), float(self.max), 0 if self.integer else -40)
        base = math.floor(math.ldexp(float(self.min), -exponent))
        merged = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
        for part in (self, other):
            shift = min(exponent - part.exponent, 63)
            index = np.right_shift(part.base + np.arange(HISTOGRAM_BINS, dtype=np.int64), shift) - base
            keep = part.bins > 0
            np.add.at(merged, index[keep], part.bins[keep])
        self.exponent, self.base, self.bins = exponent, base, merged

    def merge(self, other: "NumberStats") -> None:
        self.nulls += other.nulls
        self.nan += other.nan
        self.inf += other.inf
        self._merge_values(other)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "nulls": self.nulls, "count": self.count}
        if self.nan:
            out["nan"] = self.nan
        if self.inf:
            out["inf"] = self.inf
        if self.count:
            out["min"] = self.min
            out["max"] = self.max
            # the mean lies between min and max (rounding at float64's largest could step past it)
            out["mean"] = min(max(_ldexp(self.mean, self.scale), float(self.min)), float(self.max))
            out["std"] = _ldexp(math.sqrt(self.m2 / (self.count - 1)), self.scale) if self.count > 1 else 0.0
            used = np.nonzero(self.bins)[0]
            first, last = int(used[0]), int(used[-1])
            out["histogram"] = {
                # below -float64's largest only for values near it: the first bin then starts at the lowest float
                "start": max(_ldexp(float(self.base + first), self.exponent), -_FLOAT_MAX),
                "width": math.ldexp(1.0, self.exponent),
                "counts": [int(c) for c in self.bins[first : last + 1]],
            }
        return out


# ----------------------------------------------------------------------------------------- sketches
class DistinctSketch:
    """K minimum values (Bar-Yossef et al.): the smallest distinct 64-bit hashes seen; exact below K."""

    def __init__(self, size: int = DISTINCT_SKETCH):
        self.size = size
        self.hashes = np.zeros(0, dtype=np.uint64)

    def add_hashes(self, hashes: np.ndarray) -> None:
        if len(self.hashes) >= self.size:
            hashes = hashes[hashes < self.hashes[-1]]
        if not len(hashes):
            return
        if len(hashes) > 4 * self.size:
            # only the smallest can stay: partition instead of sorting everything
            cut = np.partition(hashes, 4 * self.size)[4 * self.size]
            small = hashes[hashes < cut]
            if len(np.unique(small)) >= self.size:
                hashes = small
        self.hashes = np.unique(np.concatenate([self.hashes, hashes]))[: self.size]

    def merge(self, other: "DistinctSketch") -> None:
        self.add_hashes(other.hashes)

    @property
    def exact(self) -> bool:
        return len(self.hashes) < self.size

    def estimate(self) -> int:
        if self.exact:
            return len(self.hashes)
        kth = float(self.hashes[-1]) / 2.0**64
        return int(round((self.size - 1) / kth))


class TopCounter:
    """Misra-Gries counters: the most frequent values in fixed memory (exact while there are few values)."""

    def __init__(self, capacity: int = TOP_COUNTERS):
        self.capacity = capacity
        self.counts: dict[Any, int] = {}
        self.exact = True

    def _trim(self) -> None:
        if len(self.counts) <= self.capacity:
            return
        ranked = sorted(self.counts.values(), reverse=True)
        cut = ranked[self.capacity]
        self.counts = {v: c - cut for v, c in self.counts.items() if c > cut}
        self.exact = False

    def add_counts(self, values: list[Any], counts: list[int]) -> None:
        for value, count in zip(values, counts, strict=True):
            self.counts[value] = self.counts.get(value, 0) + int(count)
        self._trim()

    def add_value_counts(self, column: "pa.Array") -> None:
        """Add one batch: the batch's exact counts, reduced to its top ``capacity + 1`` first (a valid summary)."""
        import pyarrow.compute as pc

        counted = pc.value_counts(column.drop_null() if column.null_count else column)
        if not len(counted):
            return
        values, counts = counted.field("values"), counted.field("counts")
        if len(counted) > self.capacity + 1:
            order = pc.select_k_unstable(counts, k=self.capacity + 1, sort_keys=[("dummy", "descending")])
            kept = counts.take(order).to_numpy()
            cut = int(kept.min()) if len(kept) > self.capacity else 0
            # the batch's own Misra-Gries summary: top counts minus the (capacity+1)-th largest
            picked = values.take(order).to_pylist()
            self.add_counts(picked, [int(c) - cut for c in kept])
            self.counts = {v: c for v, c in self.counts.items() if c > 0}
            self.exact = False
            return
        self.add_counts(values.to_pylist(), counts.to_pylist())

    def merge(self, other: "TopCounter") -> None:
        self.exact = self.exact and other.exact
        self.add_counts(list(other.counts), list(other.counts.values()))

    def top(self, n: int = TOP_SHOWN) -> list[list[Any]]:
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], str(item[0])))
        return [[v, c] for v, c in ranked[:n]]


def value_bytes(column: "pa.Array") -> np.ndarray:
    """The bytes of a string or binary array's own values, back to back (no copy): a slice shares its parent's
    data buffer, and only the bytes between its first and last offsets are its own."""
    import pyarrow as pa

    data = column.buffers()[2]
    if data is None or not len(column):
        return np.zeros(0, dtype=np.uint8)
    large = pa.types.is_large_string(column.type) or pa.types.is_large_binary(column.type)
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64 if large else np.int32)
    return np.frombuffer(data, dtype=np.uint8)[int(offsets[column.offset]) : int(offsets[column.offset + len(column)])]


def _ascii(column: "pa.Array") -> bool:
    """Whether every byte of a string array's data is ASCII (then its lengths in bytes are its lengths in characters)."""
    raw = value_bytes(column)
    whole = len(raw) // 8 * 8
    return not (raw[:whole].view(np.uint64) & _U64(0x8080808080808080)).any() and not (raw[whole:] & 0x80).any()


def _is_text(type_: "pa.DataType") -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(type_) or pa.types.is_large_string(type_))


class TextStats:
    """Nulls, distinct estimate, most frequent values and text lengths of a string column."""

    kind = "text"

    def __init__(self) -> None:
        self.nulls = 0
        self.count = 0
        self.distinct = DistinctSketch()
        self.top = TopCounter()
        self.length = NumberStats(integer=True)

    def add_array(self, column: "pa.Array") -> "pa.DictionaryArray | None":
        """Add values. Few distinct values: the column dictionary-encoded, exact counts, each value hashed once
        (returns the encoded column, row for row, so that the rules on it test each distinct value once). Many:
        every value hashed, and the most frequent ones found among the first :data:`PROBE_ROWS` values, then
        counted exactly in all (returns None)."""
        import pyarrow.compute as pc

        self.nulls += column.null_count
        values = column.drop_null() if column.null_count else column
        self.count += len(values)
        if not len(values):
            return None
        self.length.add_array(pc.utf8_length(values) if _is_text(values.type) and not _ascii(values) else pc.binary_length(values))
        probe = values.slice(0, PROBE_ROWS)
        sampled = pc.value_counts(probe)  # its length is the probe's distinct count
        if len(sampled) * 8 <= len(probe):  # few distinct values (as Parquet's dictionary choice)
            encoded = pc.dictionary_encode(column)  # nulls stay null; the dictionary holds the other values once
            indices = encoded.indices.drop_null() if column.null_count else encoded.indices
            counts = np.bincount(indices.to_numpy(zero_copy_only=False), minlength=len(encoded.dictionary))
            self.distinct.add_hashes(hash_column(encoded.dictionary))
            self.top.add_counts(encoded.dictionary.to_pylist(), counts.tolist())
            return encoded
        self.distinct.add_hashes(hash_column(values))
        repeated = sampled.filter(pc.greater(sampled.field("counts"), 1)).field("values")
        self.top.exact = False
        if len(repeated):
            matched = values.filter(pc.is_in(values, value_set=repeated))
            counted = pc.value_counts(matched)
            self.top.add_counts(counted.field("values").to_pylist(), counted.field("counts").to_pylist())
        return None

    def merge(self, other: "TextStats") -> None:
        self.nulls += other.nulls
        self.count += other.count
        self.distinct.merge(other.distinct)
        self.top.merge(other.top)
        self.length.merge(other.length)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "nulls": self.nulls, "count": self.count}
        if self.count:
            out["distinct"] = self.distinct.estimate()
            out["distinct_exact"] = self.distinct.exact
            out["top"] = self.top.top()
            out["top_exact"] = self.top.exact
            length = self.length.to_json()
            out["length"] = {k: length[k] for k in ("min", "max", "mean")}
        return out


class ClassStats:
    """How many rows of each class a ``ClassLabel`` column has."""

    kind = "class_label"

    def __init__(self, names: list[str]):
        self.names = list(names)
        self.nulls = 0
        self.counts = np.zeros(len(names), dtype=np.int64)

    def add_array(self, column: "pa.Array") -> None:
        import pyarrow as pa

        self.nulls += column.null_count
        codes = column.drop_null() if column.null_count else column
        codes = codes.cast(pa.int64()).to_numpy(zero_copy_only=False)
        if len(codes):
            self.counts += np.bincount(codes, minlength=len(self.names))[: len(self.names)]

    def merge(self, other: "ClassStats") -> None:
        self.nulls += other.nulls
        self.counts += other.counts

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "nulls": self.nulls,
            "count": int(self.counts.sum()),
            "classes": {name: int(c) for name, c in zip(self.names, self.counts, strict=True)},
        }


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the header of a PNG, JPEG, GIF, BMP or WebP image; None if unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(int(width)), abs(int(height))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return int(width & 0x3FFF), int(height & 0x3FFF)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            length = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + length
    return None


class ImageStats:
    """Widths and heights read from the image headers (nothing is decoded), and the most frequent sizes."""

    kind = "image"

    def __init__(self) -> None:
        self.nulls = 0
        self.count = 0
        self.unreadable = 0
        self.width = NumberStats(integer=True)
        self.height = NumberStats(integer=True)
        self.sizes = TopCounter()

    def add_array(self, column: "pa.Array") -> None:
        import pyarrow as pa

        self.nulls += column.null_count
        widths, heights = [], []
        for value in (column.drop_null() if column.null_count else column).to_pylist():
            self.count += 1
            size = image_size(value[:65_536]) if value else None
            if size is None:
                self.unreadable += 1
                continue
            widths.append(size[0])
            heights.append(size[1])
        if widths:
            self.width.add_array(pa.array(widths, pa.int64()))
            self.height.add_array(pa.array(heights, pa.int64()))
            self.sizes.add_value_counts(pa.array([f"{w}x{h}" for w, h in zip(widths, heights, strict=True)]))

    def merge(self, other: "ImageStats") -> None:
        self.nulls += other.nulls
        self.count += other.count
        self.unreadable += other.unreadable
        self.width.merge(other.width)
        self.height.merge(other.height)
        self.sizes.merge(other.sizes)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "nulls": self.nulls, "count": self.count, "unreadable": self.unreadable}
        if self.width.count:
            out["width"] = self.width.to_json()
            out["height"] = self.height.to_json()
            out["sizes"] = self.sizes.top()
        return out


class TemporalStats:
    """Nulls, min and max of a date, time, timestamp or duration column (shown as text)."""

    kind = "temporal"

    def __init__(self) -> None:
        self.nulls = 0
        self.count = 0
        self.min: Any = None
        self.max: Any = None

    def add_array(self, column: "pa.Array") -> None:
        import pyarrow.compute as pc

        self.nulls += column.null_count
        self.count += len(column) - column.null_count
        if len(column) == column.null_count:
            return
        bounds = pc.min_max(column).as_py()
        self.min = bounds["min"] if self.min is None else min(self.min, bounds["min"])
        self.max = bounds["max"] if self.max is None else max(self.max, bounds["max"])

    def merge(self, other: "TemporalStats") -> None:
        self.nulls += other.nulls
        self.count += other.count
        for value in (other.min, other.max):
            if value is not None:
                self.min = value if self.min is None else min(self.min, value)
                self.max = value if self.max is None else max(self.max, value)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "nulls": self.nulls, "count": self.count}
        if self.min is not None:
            out["min"] = str(self.min)
            out["max"] = str(self.max)
        return out


class NullStats:
    """Nulls only (lists, tensors, binary blobs)."""

    kind = "other"

    def __init__(self) -> None:
        self.nulls = 0
        self.count = 0

    def add_array(self, column: "pa.Array") -> None:
        self.nulls += column.null_count
        self.count += len(column) - column.null_count

    def merge(self, other: "NullStats") -> None:
        self.nulls += other.nulls
        self.count += other.count

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "nulls": self.nulls, "count": self.count}


ColumnStats = "NumberStats | TextStats | ClassStats | ImageStats | TemporalStats | NullStats"


def _for_feature(feature: "Feature") -> Any:
    from labdatasets.features import ClassLabel, Image, Value, dtype_to_arrow

    if isinstance(feature, ClassLabel):
        return ClassStats(feature.names)
    if isinstance(feature, Image):
        return ImageStats()
    if isinstance(feature, Value):
        import pyarrow as pa

        t = dtype_to_arrow(feature.dtype)
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return TextStats()
        if pa.types.is_integer(t) or pa.types.is_boolean(t):
            return NumberStats(integer=True)
        if pa.types.is_floating(t) or pa.types.is_decimal(t):
            return NumberStats()
        if pa.types.is_temporal(t):
            return TemporalStats()
    return NullStats()


class SplitStatistics:
    """The statistics of one split (see the module docstring); mergeable and of fixed size."""

    def __init__(self, features: "Features"):
        self.num_rows = 0
        self.columns = {name: _for_feature(feature) for name, feature in features.items()}

    def add_table(self, table: "pa.Table", encoded: "dict[str, pa.DictionaryArray] | None" = None) -> "SplitStatistics":
        """Add rows (columns as declared; other columns are ignored), in slices of :data:`SLICE_ROWS`.

        With ``encoded`` (a table of at most :data:`SLICE_ROWS` rows), the text columns of few distinct values
        are left there dictionary-encoded, row for row (the rules on them test each distinct value once).
        """
        for offset in range(0, table.num_rows, SLICE_ROWS):
            part = table.slice(offset, SLICE_ROWS)
            self.num_rows += part.num_rows
            for name, stats in self.columns.items():
                column = part.column(name)
                found = stats.add_array(column.combine_chunks() if column.num_chunks != 1 else column.chunk(0))
                if found is not None and encoded is not None and part.num_rows == table.num_rows:
                    encoded[name] = found
        return self

    def merge(self, other: "SplitStatistics") -> "SplitStatistics":
        self.num_rows += other.num_rows
        for name, stats in self.columns.items():
            stats.merge(other.columns[name])
        return self

    @classmethod
    def merged(cls, features: "Features", parts: Iterable["SplitStatistics"]) -> "SplitStatistics":
        out = cls(features)
        for part in parts:
            out.merge(part)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"num_rows": self.num_rows, "columns": {name: s.to_json() for name, s in self.columns.items()}}


def null_share(statistics: Mapping[str, Any], column: str) -> float:
    """The share of null values of ``column`` in a split's statistics JSON (0 for an empty split)."""
    rows = int(statistics.get("num_rows", 0))
    nulls = int(statistics.get("columns", {}).get(column, {}).get("nulls", 0))
    return nulls / rows if rows else 0.0
