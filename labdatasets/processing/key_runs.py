"""The checks across splits in fixed memory: key and group values in sorted runs on disk, merged by hash (no Beam).

``DisjointSplits`` (no key in two splits) and ``GroupInOneSplit`` (every group
in one split) compare values of every split. Holding them in memory would grow
with the rows, so each shard's writer (:class:`KeyRunWriter`) gathers the values
of a rule up to :data:`RUN_ROWS` rows, sorts them by a 64-bit hash of the value,
drops repeats and writes them as one *run*: an Arrow IPC stream of ``__hash``
and the value's columns (a single integer column is its own "hash": its values
are sorted as they are, usually already in order, and never collide; such a run
holds the hashes only, its schema naming the column and its type, and the few
values found in two splits are made back from their hashes).
:func:`shared_values` then merges the runs of every split by hash (as :mod:`labdatasets.processing.spill` merges rows, reading a slice of
every run at a time): values of equal hash meet in one slice, and only the few
hashes found in more than one split are compared by their values (so a hash
collision is never taken for a shared key). Memory is a slice per run, whatever
the number of rows.

Runs are written through Beam's ``FileSystems`` when their folder is a URI
(``gs://...``: the staging folder of a remote runner, which every worker and the
merging step can read), to local files otherwise.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from labdatasets.errors import ProcessingError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from labdatasets.processing.validation import Checker

__all__ = ["RUN_ROWS", "SLICE_ROWS", "HASH", "KeyRunWriter", "shared_values", "rule_values"]

RUN_ROWS = 262_144
SLICE_ROWS = 8_192
HASH = "__labdatasets_hash__"
#: Runs are sorted by the hash's upper bits with the row's place in the run in the lower ones (one ``np.sort`` of
#: integers rather than an ``argsort``), so the hash compared is the upper 44 bits: equal hashes are compared by
#: value anyway, and 44 bits make such a coincidence rare.
_PLACE_BITS = 20
_PLACE = np.uint64((1 << _PLACE_BITS) - 1)
#: Schema metadata of a run of one integer column kept as its hashes only: the column's name and Arrow type.
_ORDINAL_NAME = "labdatasets.ordinal_column"
_ORDINAL_TYPE = "labdatasets.ordinal_type"


def _is_uri(path: str) -> bool:
    return "://" in path


def _open_write(path: str) -> Any:
    if _is_uri(path):
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.create(path, mime_type="application/octet-stream")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return open(path, "wb")


def _open_read(path: str) -> Any:
    if _is_uri(path):
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.open(path, mime_type="application/octet-stream")
    return open(path, "rb")


def _remove(paths: Sequence[str]) -> None:
    local = [p for p in paths if not _is_uri(p)]
    remote = [p for p in paths if _is_uri(p)]
    for path in local:
        try:
            os.remove(path)
        except OSError:
            pass
    for folder in sorted({os.path.dirname(p) for p in local}):  # the rule's folder, then the checks' folder
        for empty in (folder, os.path.dirname(folder)):
            try:
                os.rmdir(empty)
            except OSError:
                break
    if remote:
        from apache_beam.io.filesystems import FileSystems

        try:
            FileSystems.delete(remote)
        except Exception:  # noqa: BLE001 - a run left behind in the staging folder is harmless
            pass


def rule_values(checker: "Checker", index: int, part: "pa.Table") -> "pa.Table | None":
    """The values rule ``index`` compares across splits in ``part``: the key columns (``DisjointSplits``) or the
    distinct group values (``GroupInOneSplit``), rows with a null left out; None for other rules."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from labdatasets.expectations import DisjointSplits, GroupInOneSplit

    rule = checker.rules[index]
    if isinstance(rule, DisjointSplits):
        values = part.select(list(checker.key))
        for name in checker.key:
            if values.column(name).null_count:
                values = values.filter(pc.is_valid(values.column(name)))
        return values
    if isinstance(rule, GroupInOneSplit):
        column = part.column(rule.column)
        unique = pc.unique(column.combine_chunks() if column.num_chunks != 1 else column.chunk(0))
        return pa.table({rule.column: unique.drop_null() if unique.null_count else unique})
    return None


def _hashes(values: "pa.Table") -> np.ndarray:
    """The values' hashes, their lower :data:`_PLACE_BITS` bits cleared (see above)."""
    from labdatasets.processing.statistics import combined_hash

    return combined_hash(values, values.column_names) & ~_PLACE


_SIGN = np.uint64(1 << 63)


def _ordinal(values: "pa.Table") -> np.ndarray | None:
    """One integer column: its values as uint64 in the same order (equal exactly when the values are); else None."""
    import pyarrow as pa

    if values.num_columns != 1 or not pa.types.is_integer(values.schema.types[0]):
        return None
    column = values.column(0)
    if pa.types.is_unsigned_integer(column.type):
        return np.asarray(column.cast(pa.uint64()).to_numpy(), dtype=np.uint64)
    return column.cast(pa.int64()).to_numpy().view(np.uint64) ^ _SIGN


def _from_ordinal(h: np.ndarray, type_: "pa.DataType") -> "pa.Array":
    import pyarrow as pa

    if pa.types.is_unsigned_integer(type_):
        return pa.array(h, pa.uint64()).cast(type_)
    return pa.array((h ^ _SIGN).view(np.int64), pa.int64()).cast(type_)


def _repeats(table: "pa.Table", h: np.ndarray) -> np.ndarray:
    """Rows (sorted by hash) equal to the row before them, hash and values."""
    import pyarrow.compute as pc

    same = h[1:] == h[:-1]
    if not same.any():
        return np.zeros(len(h), dtype=bool)
    for name in table.column_names:
        column = table.column(name)
        equal = pc.equal(column.slice(1), column.slice(0, len(column) - 1)).to_numpy(zero_copy_only=False)
        same &= equal.astype(bool)
    return np.concatenate([[False], same])


class KeyRunWriter:
    """The values one shard of ``split`` contributes to the checks across splits, written as sorted runs."""

    def __init__(self, checker: "Checker", split: str, directory: str):
        from labdatasets.expectations import DisjointSplits, GroupInOneSplit

        self.checker = checker
        self.split = split
        self.directory = directory
        self.rules = [i for i, r in enumerate(checker.rules) if isinstance(r, (DisjointSplits, GroupInOneSplit))]
        self._pending: dict[int, list[pa.Table]] = {i: [] for i in self.rules}
        self._rows = dict.fromkeys(self.rules, 0)
        self.runs: list[tuple[int, str, str]] = []

    def add(self, part: "pa.Table") -> None:
        """Add a slice of the shard's rows (at most a few hundred thousand rows at a time)."""
        for index in self.rules:
            values = rule_values(self.checker, index, part)
            if values is None or not values.num_rows:
                continue
            self._pending[index].append(values)
            self._rows[index] += values.num_rows
            if self._rows[index] >= RUN_ROWS:
                self._write(index)

    def _write(self, index: int) -> None:
        import pyarrow as pa

        tables, self._pending[index], self._rows[index] = self._pending[index], [], 0
        if not tables:
            return
        values = pa.concat_tables(tables).combine_chunks()
        for start in range(0, values.num_rows, 1 << _PLACE_BITS):
            self._write_run(index, values.slice(start, 1 << _PLACE_BITS))

    def _write_run(self, index: int, values: "pa.Table") -> None:
        import pyarrow as pa

        ordinal = _ordinal(values)
        if ordinal is not None:  # an integer key or group: sorted by value (a shard's key comes in order already)
            h = ordinal if bool(np.all(ordinal[1:] >= ordinal[:-1])) else np.sort(ordinal)
            if len(h) > 1:
                h = h[np.concatenate([[True], h[1:] != h[:-1]])]
            # the values are their hashes (a bijection): the run holds the hashes only, and names the column and type
            field = values.schema.field(0)
            self._save(index, None, h, {_ORDINAL_NAME: field.name, _ORDINAL_TYPE: str(field.type)})
            return
        keyed = _hashes(values)
        keyed |= np.arange(values.num_rows, dtype=np.uint64)
        keyed.sort()
        order = (keyed & _PLACE).astype(np.int64)
        h = keyed & ~_PLACE
        values = values.take(pa.array(order))
        repeats = _repeats(values, h)
        if repeats.any():
            keep = ~repeats
            h, values = h[keep], values.filter(pa.array(keep))
        self._save(index, values, h)

    def _save(self, index: int, values: "pa.Table | None", h: np.ndarray, metadata: "dict[str, str] | None" = None) -> None:
        import pyarrow as pa

        hashes = pa.array(h, pa.uint64())
        run = pa.table({HASH: hashes}) if values is None else values.add_column(0, HASH, hashes)
        if metadata:
            run = run.replace_schema_metadata(metadata)
        path = f"{self.directory.rstrip('/')}/{index}/{self.split}-{uuid.uuid4().hex}.arrows"
        with _open_write(path) as fh:
            sink = pa.PythonFile(fh, mode="w")
            with pa.ipc.new_stream(sink, run.schema) as writer:
                writer.write_table(run, max_chunksize=SLICE_ROWS)
        self.runs.append((index, self.split, path))

    def finish(self) -> list[tuple[int, str, str]]:
        """Write what is left; ``[(rule index, split, path)]`` of every run written."""
        for index in self.rules:
            self._write(index)
        return self.runs


class _Run:
    """One run being merged: its batches read in order, and the hashes and rows buffered of them."""

    def __init__(self, path: str, code: int):
        import pyarrow as pa

        self.path = path
        self.code = code
        self._fh = _open_read(path)
        self._reader = pa.ipc.open_stream(pa.PythonFile(self._fh, mode="r"))
        metadata = self._reader.schema.metadata or {}
        #: (column name, type) of a run of integer values kept as their hashes only (see KeyRunWriter); else None
        self.ordinal: tuple[str, pa.DataType] | None = None
        if _ORDINAL_NAME.encode() in metadata:
            self.ordinal = (
                metadata[_ORDINAL_NAME.encode()].decode(),
                pa.type_for_alias(metadata[_ORDINAL_TYPE.encode()].decode()),
            )
        self.table: pa.Table | None = None
        self.h = np.zeros(0, dtype=np.uint64)
        self.exhausted = False

    @property
    def rows(self) -> int:
        return len(self.h)

    def fill(self) -> None:
        import pyarrow as pa

        try:
            batch = self._reader.read_next_batch()
        except StopIteration:
            self.exhausted = True
            return
        h = batch.column(0).to_numpy()
        self.h = h if not self.rows else np.concatenate([self.h, h])
        if self.ordinal is None:
            table = pa.Table.from_batches([batch])
            self.table = table if self.table is None or not len(self.table) else pa.concat_tables([self.table, table])

    def take(self, count: int) -> "tuple[np.ndarray, pa.Table | tuple[str, pa.DataType]]":
        """The first ``count`` hashes and their values: a table, or for an ordinal run its (column, type)."""
        h, self.h = self.h[:count], self.h[count:]
        if self.ordinal is not None:
            return h, self.ordinal
        if self.table is None:
            raise ProcessingError("internal error: a run of key hashes was read past its end; please report it")
        table, self.table = self.table.slice(0, count), self.table.slice(count)
        return h, table

    def close(self) -> None:
        self._fh.close()


def shared_values(runs: Iterable[tuple[str, str]], ignore: Iterable[str] = ()) -> Iterator[list[tuple[str, "pa.Table"]]]:
    """Merge the runs ``[(split, path)]`` of one rule (removed after); yields ``[(split, values)]`` of the values
    whose hash is found in more than one split (a few rows each time: compare them by value, as
    :meth:`~labdatasets.processing.validation.Checker.check_bucket` does). Runs of splits in ``ignore`` are left out."""
    runs = sorted(runs)  # a fixed order, whatever the order the runs arrived in
    paths = [path for _, path in runs]
    left_out = set(ignore)
    splits = sorted({split for split, _ in runs if split not in left_out})
    if len(splits) < 2:
        _remove(paths)
        return
    code = {name: i for i, name in enumerate(splits)}
    open_runs: list[_Run] = []
    try:
        open_runs = [_Run(path, code[split]) for split, path in runs if split in code]
        while True:
            for run in open_runs:
                if not run.exhausted and run.rows < SLICE_ROWS:
                    run.fill()
            live = [run for run in open_runs if run.rows]
            if not live:
                break
            reading = [run for run in live if not run.exhausted]
            if reading:
                frontier = min(run.h[-1] for run in reading)
                counts = [int(np.searchsorted(run.h, frontier, "left")) for run in live]
                if not any(counts):  # every buffered hash is at the frontier or above: read further where it is
                    for run in reading:
                        if run.h[-1] == frontier:
                            run.fill()
                    continue
            else:
                counts = [run.rows for run in live]
            parts = [(run.code, *run.take(n)) for run, n in zip(live, counts, strict=True) if n]
            found = _shared(splits, parts)
            if found:
                yield found
    finally:
        for run in open_runs:
            run.close()
        _remove(paths)


def _shared(splits: Sequence[str], parts: list[tuple[int, np.ndarray, Any]]) -> list[tuple[str, "pa.Table"]]:
    """The values of ``parts`` (every buffered value of some range of hashes) whose hash is in two splits or more."""
    import pyarrow as pa

    if len({c for c, _, _ in parts}) < 2:
        return []
    h = np.concatenate([p[1] for p in parts])
    s = np.concatenate([np.full(len(p[1]), p[0], dtype=np.int64) for p in parts])
    order = np.argsort(h, kind="stable")
    hs = h[order]
    same = hs[1:] == hs[:-1]
    if not same.any():
        return []
    ss = s[order]
    starts = np.flatnonzero(np.concatenate([[True], ~same]))
    spread = np.minimum.reduceat(ss, starts) != np.maximum.reduceat(ss, starts)
    if not spread.any():
        return []
    candidates = hs[starts[spread]]
    found = []
    for code, hashes, values in parts:  # the values whose hash is in two splits, compared by value
        keep = np.isin(hashes, candidates)
        if keep.any():
            if isinstance(values, tuple):  # an ordinal run: the values from their hashes
                name, type_ = values
                found.append((splits[code], pa.table({name: _from_ordinal(hashes[keep], type_)})))
            else:
                found.append((splits[code], values.filter(pa.array(keep)).drop_columns([HASH])))
    return found
