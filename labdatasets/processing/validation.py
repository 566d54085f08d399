"""Checking expectations and computing statistics on Arrow tables (no Beam needed).

The build (:class:`labdatasets.processing.pipeline_io.WriteSplits`) and
``labdatasets validate`` share this code:

* :meth:`Checker.check_shard` runs on a whole shard of a split, sorted by its
  key (as the build writes it): the split's statistics, every row rule
  (``NotNull``, ``Range``, ``AllowedValues``, ``Pattern``) and ``UniqueKey``
  (a sorted shard holds every copy of its keys). It returns a
  :class:`ShardResult`: mergeable, of fixed size (counts and at most five
  example keys per rule).
* :class:`ShardCheck` also writes the key columns (``DisjointSplits``) and the
  distinct group values (``GroupInOneSplit``) of a shard as runs sorted by hash
  on disk (:mod:`labdatasets.processing.key_runs`), which
  :func:`check_runs` merges to find the values
  present in more than one split, in fixed memory.
* :func:`violations` turns the merged results into :class:`Violation` objects,
  adding ``MaxNullShare`` from the statistics.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import os
import queue
import threading
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from labdatasets.errors import ConfigError, DeclarationTypeError
from labdatasets.expectations import (
    EXAMPLES,
    AllowedValues,
    Expectation,
    GroupInOneSplit,
    MaxNullShare,
    NotNull,
    Pattern,
    Range,
    UniqueKey,
    Violation,
)
from labdatasets.processing.statistics import SLICE_ROWS, SplitStatistics, combined_hash, value_bytes

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from labdatasets.features import Features

__all__ = ["Tally", "ShardResult", "Checker", "ShardCheck", "violations", "check_tables", "combined_hash", "jsonable"]

_SPLIT = "__labdatasets_split__"

#: How many slices of :data:`SLICE_ROWS` rows may wait for a background :class:`ShardCheck` (fixed memory).
BACKGROUND_SLICES = 2


def _utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """A value as it can appear in JSON and in a message (bytes and dates as short text)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return str([jsonable(v) for v in value])[:80]
    return str(value)[:80]


def _order(example: Sequence[Any]) -> tuple:
    return tuple((0, "") if v is None else (1, v) if isinstance(v, (int, float)) else (2, str(v)) for v in example)


@dataclasses.dataclass
class Tally:
    """How many rows (or keys, groups) break one rule, and the first few examples in key order."""

    count: int = 0
    examples: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)

    def add(self, count: int, examples: Iterable[Sequence[Any]]) -> None:
        self.count += int(count)
        merged = {tuple(e): None for e in [*self.examples, *(tuple(jsonable(v) for v in e) for e in examples)]}
        self.examples = sorted(merged, key=_order)[:EXAMPLES]

    def merge(self, other: "Tally") -> None:
        self.add(other.count, other.examples)


@dataclasses.dataclass
class ShardResult:
    """Statistics and rule tallies of the shards of one split seen so far (mergeable)."""

    statistics: SplitStatistics
    tallies: dict[int, Tally] = dataclasses.field(default_factory=dict)

    def merge(self, other: "ShardResult") -> "ShardResult":
        self.statistics.merge(other.statistics)
        for index, tally in other.tallies.items():
            self.tallies.setdefault(index, Tally()).merge(tally)
        return self

    def to_json(self) -> dict[str, Any]:
        """``{"statistics": ..., "tallies": {rule index: {"count", "examples"}}}``: what a split's checks found."""
        return {
            "statistics": self.statistics.to_json(),
            "tallies": {str(i): tally_json(t) for i, t in sorted(self.tallies.items()) if t.count},
        }


def tally_json(tally: Tally) -> dict[str, Any]:
    return {"count": tally.count, "examples": [list(e) for e in tally.examples]}


def tally_from_json(data: Mapping[str, Any]) -> Tally:
    return Tally(int(data["count"]), [tuple(e) for e in data.get("examples", ())])


def _row_mask(rule: Expectation, column: "pa.Array", feature: Any, encoded: "pa.DictionaryArray | None" = None) -> "pa.Array":
    """True for the rows of ``column`` that break ``rule``. ``encoded``: the same column dictionary-encoded
    (a text column of few distinct values, from its statistics): ``AllowedValues`` and ``Pattern`` then test
    each distinct value once and take the answer for every row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if encoded is not None and isinstance(rule, (AllowedValues, Pattern)) and len(encoded) == len(column):
        return pc.take(_row_mask(rule, encoded.dictionary, feature), encoded.indices).fill_null(False)
    if isinstance(rule, NotNull):
        return pc.is_null(column)
    if isinstance(rule, Range):
        if rule.min is None and rule.max is None:  # Range() refuses this; a rule changed after it was made
            raise ConfigError(f"Range({rule.column!r}) needs min=, max= or both")
        inside = None
        if rule.min is not None:
            inside = pc.greater_equal(column, pa.scalar(rule.min).cast(column.type) if _castable(rule.min) else rule.min)
        if rule.max is not None:
            high = pc.less_equal(column, pa.scalar(rule.max).cast(column.type) if _castable(rule.max) else rule.max)
            inside = high if inside is None else pc.and_(inside, high)
        return pc.fill_null(pc.invert(inside), False)
    if isinstance(rule, AllowedValues):
        value_set = _allowed(rule, column, feature)
        outside = pc.invert(pc.is_in(column, value_set=value_set))  # a null is outside any set without a null...
        return pc.and_(outside, pc.is_valid(column)) if column.null_count else outside  # ...but breaks no rule
    if isinstance(rule, Pattern):
        matched = pc.match_substring_regex(column, pattern=f"^(?:{rule.regex})$")
        return pc.fill_null(pc.invert(matched), False)
    raise DeclarationTypeError(
        f"{rule!r} is not a row rule labdatasets can check; row rules are NotNull, Range, AllowedValues and Pattern"
    )


def _surely_kept(rule: Expectation, column: "pa.Array", feature: Any, encoded: "pa.DictionaryArray | None" = None) -> bool:
    """True when a cheap test shows that no row of ``column`` breaks ``rule`` (its row mask is then not needed):
    a ``Range`` or an ``AllowedValues`` of consecutive integers holding the column's min and max (a column of
    numbers without nulls), no distinct value of an encoded text column breaking the rule, or a ``Pattern``
    matched by all the values joined (:func:`_all_match`). False: not known."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if encoded is not None and isinstance(rule, (AllowedValues, Pattern)) and len(encoded) == len(column):
        return not pc.any(_row_mask(rule, encoded.dictionary, feature)).as_py()
    if isinstance(rule, Pattern):
        return _all_match(rule.regex, column)
    numeric = pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
    if not numeric or column.null_count or not len(column) or not isinstance(rule, (Range, AllowedValues)):
        return False
    values = column.to_numpy(zero_copy_only=False)
    lo, hi = values.min(), values.max()  # NaN if any value is NaN: every comparison below is then False
    if isinstance(rule, Range):
        bounds = []
        for bound in (rule.min, rule.max):
            if bound is not None and not _castable(bound):
                return False
            # the bound as the row mask compares it: cast to the column's type (an error there is the mask's too)
            bounds.append(None if bound is None else pa.scalar(bound).cast(column.type).as_py())
        low, high = bounds
        return bool((low is None or lo >= low) and (high is None or hi <= high))
    if not pa.types.is_integer(column.type):
        return False
    allowed = _allowed(rule, column, feature).to_numpy(zero_copy_only=False)
    if not len(allowed):
        return False
    first, last = int(allowed.min()), int(allowed.max())
    return len(np.unique(allowed)) == last - first + 1 and first <= lo and hi <= last


#: A slice's text is tested against a ``Pattern`` in one pass when its bytes are fewer (:func:`_all_match`).
JOINED_PATTERN_BYTES = 1 << 24


def _never_matches_newline(regex: str) -> bool:
    """True when ``regex`` surely matches no text holding a newline: every character it can match is a
    literal, a range or a class (``\\d``, ``\\w``, ``\\S``, ``.`` without ``(?s)``) that leaves the
    newline out. False for anything else, or anything this check does not know (a negated class, ``\\s``,
    ``\\D``, ``\\W``, POSIX classes, flags inside the pattern, look-arounds, back-references)."""
    if "[:" in regex:  # RE2's [[:space:]] is a class; Python's parser reads literal characters there
        return False
    import importlib
    import warnings

    try:  # the parser behind re.compile: re._parser from Python 3.11, sre_parse before
        sre_parse: Any = importlib.import_module("re._parser")
        sre_constants: Any = importlib.import_module("re._constants")
    except ImportError:  # pragma: no cover - Python 3.10
        sre_parse, sre_constants = importlib.import_module("sre_parse"), importlib.import_module("sre_constants")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = sre_parse.parse(regex)
    except Exception:  # noqa: BLE001 - not understood here: tested value by value
        return False
    c = sre_constants
    if parsed.state.flags & (c.SRE_FLAG_DOTALL | c.SRE_FLAG_VERBOSE):
        return False
    newline = ord("\n")
    safe_categories = {c.CATEGORY_DIGIT, c.CATEGORY_WORD, c.CATEGORY_NOT_SPACE}

    def safe(op: Any, arg: Any) -> bool:
        """Whether this piece of the parsed pattern (or of a class) matches no newline."""
        if op is c.LITERAL:
            return bool(arg != newline)
        if op is c.RANGE:
            return not arg[0] <= newline <= arg[1]
        if op is c.CATEGORY:
            return arg in safe_categories
        if op is c.ANY or op is c.AT:  # "." leaves the newline out without (?s); anchors match no character
            return True
        if op is c.IN:
            return all(safe(*item) for item in arg)
        if op is c.MAX_REPEAT or op is c.MIN_REPEAT:
            return all(safe(*item) for item in arg[2])
        if op is c.SUBPATTERN:  # no flags set or cleared inside the pattern
            return not arg[1] and not arg[2] and all(safe(*item) for item in arg[3])
        if op is c.BRANCH:
            return all(safe(*item) for branch in arg[1] for item in branch)
        return False  # a negated class, NOT_LITERAL, look-arounds, back-references, anything else

    return all(safe(op, arg) for op, arg in parsed.data)


def _all_match(regex: str, column: "pa.Array") -> bool:
    """True when every value of ``column`` (text) matches ``regex`` in full, tested in one pass of RE2 over the
    values joined by newlines (one match of ``P(\\nP)*`` instead of one per value; a run of a pattern's
    automaton over the bytes costs far less than the setup of a match per short value).

    Sound only when no value holds a newline and the pattern can match none (:func:`_never_matches_newline`):
    then each newline of the joined text is a separator, and every part between two is a whole value matched
    by the pattern. An anchor or a word boundary at the edge of a part sees a newline where the value alone
    sees its start or end: both are outside any word, and ``^`` or ``$`` there can only fail. False: some
    value breaks the pattern, or the test does not apply; the caller then tests value by value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count:
        column = column.drop_null()
    large = pa.types.is_large_string(column.type)
    if not (large or pa.types.is_string(column.type)) or not len(column) or not _never_matches_newline(regex):
        return False  # a Pattern applies to text; anything else is left to the test value by value
    text = value_bytes(column)
    if len(text) + len(column) > JOINED_PATTERN_BYTES or (text == ord("\n")).any():
        return False
    if large:  # Arrow joins a list of string only; the text is under JOINED_PATTERN_BYTES, so 32-bit offsets hold it
        column = column.cast(pa.string())
    whole = pa.ListArray.from_arrays(pa.array([0, len(column)], pa.int32()), column)
    joined = pc.binary_join(whole, "\n")
    try:
        found = pc.match_substring_regex(joined, pattern=f"^(?:{regex})(?:\n(?:{regex}))*$")
    except pa.ArrowException:  # the pattern's own error, if any, comes from the test value by value
        return False
    return bool(found[0].as_py())


def _allowed(rule: AllowedValues, column: "pa.Array", feature: Any) -> "pa.Array":
    """The values of ``rule`` as an array of the column's type (a ``ClassLabel``'s names as their codes)."""
    import pyarrow as pa

    values = rule.values
    names = getattr(feature, "names", None)
    if names is not None:
        values = [names.index(str(v)) for v in values]
    return pa.array(values).cast(column.type)


def _integer_values(part: "pa.Table", key: Sequence[str]) -> "np.ndarray | None":
    """The values of a one-column integer key without nulls as a numpy array; else None."""
    import pyarrow as pa

    if len(key) != 1:
        return None
    column = part.column(key[0])
    if not pa.types.is_integer(column.type) or column.null_count:
        return None
    chunk = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return np.asarray(chunk.to_numpy(zero_copy_only=False))


def _castable(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Checker:
    """Every rule of one dataset version, ready to run on shards (picklable: workers get a copy)."""

    def __init__(self, features: "Features", key: Sequence[str], rules: Sequence[Expectation]):
        self.features = features
        self.key = tuple(key)
        self.rules = list(rules)

    def empty(self) -> ShardResult:
        return ShardResult(SplitStatistics(self.features))

    def _examples(self, table: "pa.Table", rows: np.ndarray, column: str | None) -> list[tuple[Any, ...]]:
        if not len(rows):
            return []
        picked = table.take(rows[: EXAMPLES * 2])
        names = list(self.key) + ([column] if column and column not in self.key else [])
        if not names:
            return [(int(r),) for r in rows[:EXAMPLES]]
        lists = []
        for n in names:
            values = picked.column(n).to_pylist()
            class_names = getattr(self.features.get(n), "names", None)
            if class_names is not None:  # a ClassLabel is shown by its name
                values = [class_names[v] if isinstance(v, int) and 0 <= v < len(class_names) else v for v in values]
            lists.append(values)
        return [tuple(row) for row in zip(*lists, strict=True)]

    def example_names(self, column: str | None) -> tuple[str, ...]:
        names = list(self.key) + ([column] if column and column not in self.key else [])
        return tuple(names) if names else ("row",)

    def check_shard(self, table: "pa.Table") -> ShardResult:
        """Statistics and row rules of one shard (sorted by key; every copy of a key in it).

        Works through the shard in slices of :data:`SLICE_ROWS` rows, so that its
        temporary arrays do not grow with the shard (see :class:`ShardCheck`).
        """
        check = ShardCheck(self)
        check.add(table)
        return check.finish()[0]

    def _check_slice(
        self, part: "pa.Table", overlap: int, result: ShardResult, encoded: "Mapping[str, pa.DictionaryArray] | None" = None
    ) -> None:
        import pyarrow.compute as pc

        for index, rule in enumerate(self.rules):
            if rule.scope == "row":
                name = rule.column
                if name is None:  # every row rule names its column when made
                    raise ConfigError(f"{rule!r} is a row rule without a column; name the column it checks")
                column = part.column(name).slice(overlap)
                if isinstance(rule, NotNull) and not column.null_count:
                    continue
                array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
                found = encoded.get(name) if encoded else None
                if _surely_kept(rule, array, self.features[name], found):
                    continue
                mask = _row_mask(rule, array, self.features[name], found)
                count = int(pc.sum(mask).as_py() or 0)
                if count:
                    rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False)) + overlap
                    examples = self._examples(part, rows, None if isinstance(rule, NotNull) else name)
                    result.tallies.setdefault(index, Tally()).add(count, examples)
            elif isinstance(rule, UniqueKey) and part.num_rows > 1:
                ordered = _integer_values(part, self.key)
                if ordered is not None:  # one integer key without nulls: compared in numpy, one pass
                    repeats = np.flatnonzero(ordered[1:] == ordered[:-1]) + 1
                    if len(repeats):
                        result.tallies.setdefault(index, Tally()).add(len(repeats), self._examples(part, repeats, None))
                    continue
                same = None
                for name in self.key:
                    column = part.column(name)
                    a, b = column.slice(1), column.slice(0, len(column) - 1)
                    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
                    equal = pc.or_kleene(pc.fill_null(pc.equal(a, b), False), both_null)
                    same = equal if same is None else pc.and_(same, equal)
                count = int(pc.sum(same).as_py() or 0) if same is not None else 0
                if count and same is not None:
                    rows = np.flatnonzero(same.to_numpy(zero_copy_only=False)) + 1
                    result.tallies.setdefault(index, Tally()).add(count, self._examples(part, rows, None))

    def check_bucket(self, index: int, parts: Iterable[tuple[str, "pa.Table"]]) -> Tally:
        """The values found in more than one split among ``[(split, values)]`` (for rule ``index``), compared
        by value (:func:`check_runs` hands it the values of equal hash)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        rule = self.rules[index]
        ignore = set(getattr(rule, "ignore", ()))
        tables = [t.append_column(_SPLIT, pa.array([split] * t.num_rows, pa.string())) for split, t in parts if split not in ignore]
        tally = Tally()
        if len({t.column(_SPLIT)[0].as_py() for t in tables if t.num_rows}) < 2:
            return tally
        combined = pa.concat_tables(tables)
        names = [n for n in combined.column_names if n != _SPLIT]
        for name in names:
            if combined.column(name).null_count:
                combined = combined.filter(pc.is_valid(combined.column(name)))
        grouped = combined.group_by(names, use_threads=False).aggregate([(_SPLIT, "distinct")])
        spread = pc.list_value_length(grouped.column(f"{_SPLIT}_distinct"))
        shared = grouped.filter(pc.greater(spread, 1))
        if not shared.num_rows:
            return tally
        shared = shared.sort_by([(n, "ascending") for n in names]).slice(0, EXAMPLES)
        lists = [shared.column(n).to_pylist() for n in names]
        splits = [", ".join(sorted(s)) for s in shared.column(f"{_SPLIT}_distinct").to_pylist()]
        tally.add(int(pc.sum(pc.greater(spread, 1)).as_py()), [(*row, s) for *row, s in zip(*lists, splits, strict=True)])
        return tally


class ShardCheck:
    """The checks of one shard, fed its rows in key order in as many tables as come (as a streaming writer
    gets them from a merge of sorted runs).

    :meth:`add` each table, then :meth:`finish` gives the shard's :class:`ShardResult` and the
    runs of key and group values it wrote under ``runs_dir`` for the checks across splits
    (:class:`~labdatasets.processing.key_runs.KeyRunWriter`; none without a ``runs_dir``).
    Temporary arrays are of :data:`SLICE_ROWS` rows at most; a repeated key that straddles
    two tables is still found (the last row of each is kept for the next).

    With ``background=True`` (and more than one CPU), the slices are checked in a thread of their
    own while the caller goes on (the build's writer: its Parquet encoding and the checks' numpy and
    Arrow kernels release the GIL, so a second core takes the checks). At most
    :data:`BACKGROUND_SLICES` slices wait for it (memory of fixed size: the caller waits when the
    checks fall behind); slices are checked in order, so the results are the same floats as inline.
    An error in the thread is raised by the next :meth:`add` or by :meth:`finish`; call
    :meth:`close` when the rows stop coming without :meth:`finish` (a failed write).
    """

    def __init__(self, checker: Checker, split: str = "", runs_dir: str | None = None, *, background: bool = False):
        from labdatasets.processing.key_runs import KeyRunWriter

        self.checker = checker
        self.result = checker.empty()
        self._last: "pa.Table | None" = None
        self._runs = KeyRunWriter(checker, split, runs_dir) if runs_dir is not None else None
        self._pending: list["pa.Table"] = []
        self._pending_rows = 0
        self._queue: "queue.Queue[pa.Table | None] | None" = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        if background and (os.cpu_count() or 1) > 1:
            self._queue = queue.Queue(maxsize=BACKGROUND_SLICES)
            self._thread = threading.Thread(target=self._work, name=f"labdatasets-checks-{split}", daemon=True)
            self._thread.start()

    def add(self, table: "pa.Table") -> None:
        """Add rows; small tables (a merge of sorted runs yields a few thousand rows at a time) are
        gathered into slices of :data:`SLICE_ROWS` rows first, so the per-call cost is paid per slice."""
        import pyarrow as pa

        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= SLICE_ROWS:
            merged = pa.concat_tables(self._pending)
            full = merged.num_rows - merged.num_rows % SLICE_ROWS
            self._hand(merged.slice(0, full))
            rest = merged.slice(full)
            self._pending, self._pending_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def _hand(self, table: "pa.Table") -> None:
        if self._queue is None:
            self._process(table)
            return
        self._raise_error()
        self._queue.put(table)

    def _work(self) -> None:
        tables = self._queue
        while tables is not None:
            table = tables.get()
            if table is None:
                return
            if self._error is None:  # after an error the rest is drained unchecked (the caller raises it)
                try:
                    self._process(table)
                except BaseException as exc:  # noqa: B036 - raised again in the caller's thread
                    self._error = exc

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _stop(self) -> None:
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        """Stop the background thread, if any, without a result (the rows stopped coming)."""
        self._stop()

    def _process(self, table: "pa.Table") -> None:
        import pyarrow as pa

        checker = self.checker
        names = list(checker.features)
        for offset in range(0, table.num_rows, SLICE_ROWS):
            part = table.slice(offset, SLICE_ROWS).select(names)
            if any(column.num_chunks != 1 for column in part.columns):  # one copy, not one per check of a column
                part = part.combine_chunks()
            encoded: dict[str, pa.DictionaryArray] = {}  # text columns of few values, encoded once for the rules too
            self.result.statistics.add_table(part, encoded)
            if self._last is not None and checker.key:
                checker._check_slice(pa.concat_tables([self._last, part]), 1, self.result, encoded)
            else:
                checker._check_slice(part, 0, self.result, encoded)
            if part.num_rows:
                self._last = part.slice(part.num_rows - 1)
            if self._runs is not None:
                self._runs.add(part)

    def flush(self) -> None:
        """Hand on the rows gathered so far (the shard's last, short slice): in the background, they are checked
        while the caller goes on (a writer writing its last row group); :meth:`finish` waits for them."""
        import pyarrow as pa

        if self._pending_rows:
            self._hand(pa.concat_tables(self._pending))
            self._pending, self._pending_rows = [], 0

    def finish(self) -> "tuple[ShardResult, list[tuple[int, str, str]]]":
        """``(the shard's result, [(rule index, split, path)] of its runs for the checks across splits)``."""
        self.flush()
        self._stop()
        self._raise_error()
        return self.result, self._runs.finish() if self._runs is not None else []


def violations(
    checker: Checker,
    splits: Mapping[str, Mapping[str, Any]],
    cross: Mapping[int, Tally],
) -> list[Violation]:
    """Every broken rule, in rule order then split order.

    ``splits`` maps a split to what its checks found (:meth:`ShardResult.to_json`);
    ``cross`` maps a rule index to what the checks across splits found.
    """
    out: list[Violation] = []
    for index, rule in enumerate(checker.rules):
        base: dict[str, Any] = {"rule": rule.to_json(), "description": rule.describe(), "severity": rule.severity}
        if rule.scope == "row" or isinstance(rule, UniqueKey):
            for split, result in splits.items():
                found = result.get("tallies", {}).get(str(index))
                if not found or not found["count"]:
                    continue
                tally = tally_from_json(found)
                unit = "rows repeating a key" if isinstance(rule, UniqueKey) else "rows"
                column = None if isinstance(rule, UniqueKey) else rule.column
                names = checker.example_names(None if isinstance(rule, (UniqueKey, NotNull)) else column)
                out.append(
                    Violation(**base, split=split, column=column, count=tally.count, unit=unit, key_names=names,
                              examples=tuple(tally.examples))
                )
        elif isinstance(rule, MaxNullShare):
            for split, result in splits.items():
                stats = result["statistics"]
                rows = int(stats["num_rows"])
                nulls = int(stats["columns"][rule.column]["nulls"])
                if rows and nulls / rows > rule.share:
                    out.append(
                        Violation(**base, split=split, column=rule.column, count=nulls, unit="null rows",
                                  detail=f"{nulls / rows:.1%} of {rows:,}")
                    )
        else:
            across = cross.get(index)
            if across is None or not across.count:
                continue
            if isinstance(rule, GroupInOneSplit):
                names, unit, column = (rule.column, "splits"), "groups in more than one split", rule.column
            else:
                names, unit, column = (*checker.key, "splits"), "keys in more than one split", None
            out.append(
                Violation(**base, split=None, column=column, count=across.count, unit=unit, key_names=tuple(names),
                          examples=tuple(across.examples))
            )
    return out


def check_tables(
    checker: Checker, splits: Mapping[str, Iterable["pa.Table"]]
) -> tuple[dict[str, dict[str, Any]], dict[int, Tally]]:
    """Run every check in this process on ``{split: shards}`` (each shard sorted by key), as the build does.

    Memory holds one shard at a time; the key and group values for the checks
    across splits go to sorted runs in a temporary folder (``labdatasets validate``
    on prepared data).
    """
    import shutil
    import tempfile

    results: dict[str, dict[str, Any]] = {}
    runs: dict[int, list[tuple[str, str]]] = {}
    folder = tempfile.mkdtemp(prefix="labdatasets-checks-")
    try:
        for split, shards in splits.items():
            result = checker.empty()
            for shard in shards:
                if checker.key and shard.num_rows > 1:
                    shard = shard.sort_by([(k, "ascending") for k in checker.key])
                check = ShardCheck(checker, split, folder)
                check.add(shard)
                shard_result, shard_runs = check.finish()
                result.merge(shard_result)
                for index, run_split, path in shard_runs:
                    runs.setdefault(index, []).append((run_split, path))
            results[split] = result.to_json()
        cross = {index: check_runs(checker, index, parts) for index, parts in sorted(runs.items())}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results, cross


def check_runs(checker: Checker, index: int, runs: Iterable[tuple[str, str]]) -> Tally:
    """The values of rule ``index`` (``DisjointSplits``, ``GroupInOneSplit``) in more than one split, from the runs
    ``[(split, path)]`` the shards wrote (:mod:`labdatasets.processing.key_runs`; removed after)."""
    from labdatasets.processing.key_runs import shared_values

    tally = Tally()
    for found in shared_values(runs, ignore=getattr(checker.rules[index], "ignore", ())):
        tally.merge(checker.check_bucket(index, found))
    return tally


# ----------------------------------------------------------------------------------------- the build's side
def checker_for(info: Any, where: str) -> Checker:
    """The :class:`Checker` of a dataset version from its :class:`~labdatasets.info.DatasetInfo` (declared or prepared)."""
    from labdatasets.expectations import resolve

    rules = resolve(
        info.features,
        key=info.key_columns,
        group_key=getattr(info, "group_key", None),
        declared=getattr(info, "expectations", ()),
        where=where,
    )
    return Checker(info.features, info.key_columns, rules)


def read_reports(reports: Iterable[Mapping[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[int, Tally]]:
    """``(per split: statistics and tallies, per rule: what the checks across splits found)`` from the
    build's reports (``stage`` ``checks`` and ``across``; other stages are ignored)."""
    splits: dict[str, dict[str, Any]] = {}
    cross: dict[int, Tally] = {}
    for data in reports:
        if data.get("stage") == "checks":
            splits[data["split"]] = {"statistics": data["statistics"], "tallies": data.get("tallies", {})}
        elif data.get("stage") == "across":
            cross.setdefault(int(data["rule"]), Tally()).merge(tally_from_json(data))
    return splits, cross


def outcome(
    checker: Checker,
    splits: Mapping[str, Mapping[str, Any]],
    cross: Mapping[int, Tally],
    split_names: Sequence[str],
    where: str,
    *,
    action: str = "built",
) -> tuple[dict[str, dict[str, Any]], list[Violation]]:
    """``(statistics per split, warnings)``; raises :class:`ExpectationError` when a rule of severity ``error`` breaks.

    A split without rows has no shard, hence no checks: it gets empty statistics.
    """
    from labdatasets.expectations import ExpectationError

    complete = {
        name: dict(splits.get(name) or {"statistics": checker.empty().statistics.to_json(), "tallies": {}})
        for name in split_names
    }
    found = violations(checker, complete, cross)
    errors = [v for v in found if v.severity == "error"]
    if errors:
        raise ExpectationError(where, errors, action=action)
    return {name: dict(found_split["statistics"]) for name, found_split in complete.items()}, found


def with_checks(info: Any, checker: Checker, checked: tuple[Mapping[str, Any], Mapping[int, Tally]], where: str) -> Any:
    """``info`` (a finished build's) with each split's statistics and the warnings found; raises
    :class:`~labdatasets.expectations.ExpectationError` when a rule of severity ``error`` broke."""
    splits, cross = checked
    statistics, warnings = outcome(checker, splits, cross, list(info.splits), where)
    return dataclasses.replace(
        info,
        splits={name: dataclasses.replace(s, statistics=statistics[name]) for name, s in info.splits.items()},
        validation={"checked_by": "build", "checked_at": _utc_now(), "violations": [v.to_json() for v in warnings]},
    )
