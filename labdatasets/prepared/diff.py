"""What changed between two prepared dataset versions: schema, rows per split, rows by key, values.

Example::

    >>> from labdatasets.prepared.diff import diff_versions
    >>> d = diff_versions("product_a:1.0.0", "product_a:1.2.0")   # builds what is missing
    >>> [c.name for c in d.schema.added]
    ['body_mass_kg', 'delta_15n', 'delta_13c']
    >>> d.splits["train"]                  # (rows in 1.0.0, rows in 1.2.0)
    >>> len(d.added), len(d.removed), d.changed
    >>> print(d.format())                  # what `labdatasets diff` prints

What is compared:

* **schema**: columns added and removed, and columns *retyped*, i.e. whose feature
  declaration changed apart from its doc (``float32`` -> ``float64``, a ClassLabel
  with other names, ...).
* **rows per split**: row counts of every split of either version.
* **rows by key**: rows are matched by the key both versions declare
  (``DatasetInfo.key``). Without a common key a row is identified by the values of
  every column both versions share with an unchanged type (identical rows count
  as often as they occur), so a changed row shows as one removed and one added row.
* **values**: for every row in both versions, each column both versions have is
  compared. Nulls equal nulls and NaN equals NaN; ClassLabel columns compare by
  class name (renumbering the names is not a change; renaming one is); a retyped
  column compares the old values cast to the new type, or as text when no cast
  exists. ``changed`` counts rows with at least one changed value.
* **moved**: rows whose split differs between the versions.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from typing import TYPE_CHECKING, Any
from collections.abc import Mapping, Sequence

from labdatasets.errors import LabDatasetsError

from labdatasets.present.statistics import StatChange, compare_statistics

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.processing.options import BuildOptions
    import pyarrow as pa

    from labdatasets.info import DatasetInfo
    from labdatasets.features import Feature

__all__ = ["ColumnChange", "SchemaDiff", "ValueChanges", "DatasetDiff", "diff_versions", "diff_prepared"]

_SPLIT_COLUMN = "__labdatasets_split__"


@dataclasses.dataclass(frozen=True)
class ColumnChange:
    """A column added (``old`` is None), removed (``new`` is None) or retyped; types as ``Feature.describe()``."""

    name: str
    old: str | None
    new: str | None


@dataclasses.dataclass(frozen=True)
class SchemaDiff:
    added: tuple[ColumnChange, ...] = ()
    removed: tuple[ColumnChange, ...] = ()
    retyped: tuple[ColumnChange, ...] = ()

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.retyped)


@dataclasses.dataclass(frozen=True)
class ValueChanges:
    """One column over the rows both versions have: how many were compared, how many differ.

    ``examples`` holds up to a few ``(key, old value, new value)`` in key order.
    """

    column: str
    compared: int
    changed: int
    examples: tuple[tuple[Any, Any, Any], ...] = ()


@dataclasses.dataclass(frozen=True)
class DatasetDiff:
    """The differences between version ``old`` and version ``new`` (see the module docstring).

    ``added`` and ``removed`` list every key (a value, or a tuple for a
    composite key) in key order; ``moved`` counts rows by ``(old split, new split)``.
    """

    old: str
    new: str
    key: tuple[str, ...]
    key_declared: bool
    schema: SchemaDiff
    splits: Mapping[str, tuple[int | None, int | None]]
    added: tuple[Any, ...]
    removed: tuple[Any, ...]
    changed: int
    unchanged: int
    moved: Mapping[tuple[str, str], int]
    values: tuple[ValueChanges, ...]
    #: What moved in the split statistics (shifted means, null shares, new or vanished classes).
    statistics: tuple["StatChange", ...] = ()

    @property
    def identical(self) -> bool:
        return (
            self.schema.unchanged
            and not (self.added or self.removed or self.changed or self.moved)
            and all(a == b for a, b in self.splits.values())
        )

    def to_json(self, *, examples: int = 5) -> dict[str, Any]:
        """A JSON-ready summary; key lists are cut to ``examples`` entries (counts are exact)."""
        return {
            "old": self.old,
            "new": self.new,
            "key": list(self.key),
            "key_declared": self.key_declared,
            "schema": {
                kind: [dataclasses.asdict(c) for c in getattr(self.schema, kind)] for kind in ("added", "removed", "retyped")
            },
            "splits": {s: {"old": a, "new": b} for s, (a, b) in self.splits.items()},
            "rows": {
                "added": len(self.added),
                "removed": len(self.removed),
                "changed": self.changed,
                "unchanged": self.unchanged,
                "moved": [{"from": a, "to": b, "rows": n} for (a, b), n in sorted(self.moved.items())],
                "added_keys": list(self.added[:examples]),
                "removed_keys": list(self.removed[:examples]),
            },
            "values": [
                {
                    "column": v.column,
                    "compared": v.compared,
                    "changed": v.changed,
                    "examples": [{"key": k, "old": _jsonable(o), "new": _jsonable(n)} for k, o, n in v.examples[:examples]],
                }
                for v in self.values
            ],
            "statistics": [c.to_json() for c in self.statistics],
        }

    def format(self, *, examples: int = 5) -> str:
        """The human-readable report ``labdatasets diff`` prints."""
        key = ", ".join(self.key) if self.key_declared else "all shared columns (no common key declared)"
        lines = [f"{self.old} -> {self.new}   rows matched by: {key}", "", "schema"]
        if self.schema.unchanged:
            lines.append("  unchanged")
        lines += [f"  + {c.name:<24} {c.new}" for c in self.schema.added]
        lines += [f"  - {c.name:<24} {c.old}" for c in self.schema.removed]
        lines += [f"  ~ {c.name:<24} {c.old} -> {c.new}" for c in self.schema.retyped]
        lines += ["", "rows per split"]
        table = [["split", self.old, self.new, "change"]]
        for split, (a, b) in self.splits.items():
            table.append([split, _count(a), _count(b), _delta(a, b)])
        total_a = sum(a or 0 for a, _ in self.splits.values())
        total_b = sum(b or 0 for _, b in self.splits.values())
        table.append(["total", _count(total_a), _count(total_b), _delta(total_a, total_b)])
        lines += _columns(table)
        lines += [
            "",
            "rows by key",
            f"  added      {len(self.added):>9,}" + _keys(self.added, examples),
            f"  removed    {len(self.removed):>9,}" + _keys(self.removed, examples),
            f"  changed    {self.changed:>9,}",
            f"  unchanged  {self.unchanged:>9,}",
            f"  moved      {sum(self.moved.values()):>9,}"
            + "".join(f"\n    {a} -> {b}: {n:,}" for (a, b), n in sorted(self.moved.items())),
        ]
        changed = [v for v in self.values if v.changed]
        lines += ["", "changed values per column"]
        if not changed:
            compared = max((v.compared for v in self.values), default=0)
            lines.append(f"  none ({len(self.values)} shared columns compared on {compared:,} matched rows)")
        for v in changed:
            lines.append(f"  {v.column:<26} {v.changed:>9,} of {v.compared:,} rows")
            lines += [f"      {_show(k)}: {_show(o)} -> {_show(n)}" for k, o, n in v.examples[:examples]]
        lines += ["", "statistics that moved"]
        lines += [f"  {c.format()}" for c in self.statistics] or ["  none"]
        return "\n".join(lines)


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _delta(a: int | None, b: int | None) -> str:
    return f"{(b or 0) - (a or 0):+,}"


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value):,} bytes>"
    text = repr(value)
    return text if len(text) <= 48 else text[:45] + "..."


def _keys(keys: Sequence[Any], examples: int) -> str:
    if not keys or not examples:
        return ""
    shown = ", ".join(_show(k) for k in keys[:examples])
    return f"   e.g. {shown}" + (", ..." if len(keys) > examples else "")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _declaration(feature: "Feature") -> dict[str, Any]:
    """A feature's declaration without its doc (a new doc is not a schema change)."""
    data = feature.to_json()
    data.pop("doc", None)
    return data


def _schema_diff(old: "DatasetInfo", new: "DatasetInfo") -> SchemaDiff:
    a, b = old.features, new.features
    return SchemaDiff(
        added=tuple(ColumnChange(n, None, f.describe()) for n, f in b.items() if n not in a),
        removed=tuple(ColumnChange(n, f.describe(), None) for n, f in a.items() if n not in b),
        retyped=tuple(
            ColumnChange(n, f.describe(), b[n].describe())
            for n, f in a.items()
            if n in b and _declaration(f) != _declaration(b[n])
        ),
    )


def _combined(info: "DatasetInfo") -> "pa.Table":
    """Every split of a prepared version in one table, with the split name as an extra column."""
    import pyarrow as pa

    from labdatasets.prepared.dataset import read_prepared

    parts = []
    for split, ds in read_prepared(info).items():
        table = ds.to_arrow()
        parts.append(table.append_column(_SPLIT_COLUMN, pa.array([split] * table.num_rows, pa.string())))
    return pa.concat_tables(parts) if parts else pa.table({_SPLIT_COLUMN: pa.array([], pa.string())})


def _decoded(column: "pa.ChunkedArray", feature: "Feature | None") -> "pa.Array":
    """Class ids as class names (so that renumbered names compare equal); other columns as they are."""
    import pyarrow as pa

    from labdatasets.features import ClassLabel

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if isinstance(feature, ClassLabel):
        return pa.array(feature.names, pa.string()).take(array)
    return array


def _comparable(old: "pa.Array", new: "pa.Array") -> "tuple[pa.Array, pa.Array]":
    import pyarrow as pa

    if old.type == new.type:
        return old, new
    for target in (new.type, pa.string()):
        try:
            return old.cast(target), new.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return pa.array([repr(v) for v in old.to_pylist()]), pa.array([repr(v) for v in new.to_pylist()])


def _differs(old: "pa.Array", new: "pa.Array") -> "Any":
    """A numpy bool mask: True where the values differ (null = null, NaN = NaN)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    old, new = _comparable(old, new)
    try:
        same = pc.fill_null(pc.equal(old, new), False)
        same = pc.or_(same, pc.and_(pc.is_null(old), pc.is_null(new)))
        if pa.types.is_floating(old.type):
            same = pc.or_(same, pc.fill_null(pc.and_(pc.is_nan(old), pc.is_nan(new)), False))
        return ~same.to_numpy(zero_copy_only=False).astype(bool)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, TypeError):  # nested types: compare in Python
        return np.array([a != b for a, b in zip(old.to_pylist(), new.to_pylist(), strict=True)], dtype=bool)


def _pick_key(old: "DatasetInfo", new: "DatasetInfo", shared: list[str]) -> tuple[tuple[str, ...], bool]:
    for key in (new.key_columns, old.key_columns):
        if key and all(c in shared for c in key):
            return tuple(key), True
    return tuple(shared), False


def _key_values(table: "pa.Table", key: Sequence[str], rows: Any) -> tuple[Any, ...]:
    picked = table.select(list(key)).take(rows).to_pylist()
    return tuple(r[key[0]] if len(key) == 1 else tuple(r[c] for c in key) for r in picked)


def diff_prepared(old: "DatasetInfo", new: "DatasetInfo", *, examples: int = 5) -> DatasetDiff:
    """Compare two prepared versions given their infos (``builder.prepared_info()``).

    ``examples`` is how many ``(key, old, new)`` examples to keep per changed column.
    """
    import numpy as np
    import pyarrow as pa

    schema = _schema_diff(old, new)
    table_a, table_b = _combined(old), _combined(new)
    shared = [c for c in old.features if c in new.features]
    key, declared = _pick_key(old, new, shared)
    if not declared:  # identity by content: unchanged columns that pandas can hash
        retyped = {c.name for c in schema.retyped}
        key = tuple(c for c in key if c not in retyped and not pa.types.is_nested(table_a.schema.field(c).type))
    if not key:
        raise LabDatasetsError(
            f"Cannot match rows of {old.full_name} and {new.full_name}: they declare no common key and share no "
            "plain column. Declare DatasetInfo(key=...) in the builder."
        )
    for column in key:
        ta, tb = table_a.schema.field(column).type, table_b.schema.field(column).type
        if ta != tb:
            raise LabDatasetsError(
                f"Cannot match rows of {old.full_name} and {new.full_name} by {column!r}: its type changed ({ta} -> {tb})."
            )

    frames = []
    for table, full_name, side in ((table_a, old.full_name, "a"), (table_b, new.full_name, "b")):
        frame = table.select(list(key)).to_pandas()
        if declared and frame.duplicated().any():
            example = frame[frame.duplicated()].iloc[0].to_dict()
            raise LabDatasetsError(
                f"The key {list(key)} of {full_name} is not unique (e.g. {example}); rows cannot be matched by it. "
                "Fix the builder's key (its test checks that keys are unique)."
            )
        # Identical rows without a key are matched as a multiset: the n-th copy with the n-th copy.
        frame["__occurrence"] = frame.groupby(list(key), dropna=False, sort=False).cumcount()
        frame[f"__row_{side}"] = np.arange(len(frame))
        frames.append(frame)
    merged = frames[0].merge(frames[1], on=[*key, "__occurrence"], how="outer", indicator=True, sort=False)
    merged = merged.sort_values([*key, "__occurrence"], kind="stable", ignore_index=True)
    only_b = merged.loc[merged["_merge"] == "right_only", "__row_b"].astype("int64").to_numpy()
    only_a = merged.loc[merged["_merge"] == "left_only", "__row_a"].astype("int64").to_numpy()
    both = merged[merged["_merge"] == "both"]
    rows_a = both["__row_a"].astype("int64").to_numpy()
    rows_b = both["__row_b"].astype("int64").to_numpy()

    split_a = table_a.column(_SPLIT_COLUMN).take(rows_a).to_numpy(zero_copy_only=False)
    split_b = table_b.column(_SPLIT_COLUMN).take(rows_b).to_numpy(zero_copy_only=False)
    moved = Counter((a, b) for a, b in zip(split_a, split_b, strict=True) if a != b)

    values = []
    any_change = np.zeros(len(rows_a), dtype=bool)
    for column in (c for c in shared if c not in key):
        col_a = _decoded(table_a.column(column), old.features[column]).take(pa.array(rows_a, pa.int64()))
        col_b = _decoded(table_b.column(column), new.features[column]).take(pa.array(rows_b, pa.int64()))
        differ = _differs(col_a, col_b)
        any_change |= differ
        where = np.flatnonzero(differ)[:examples]
        keys = _key_values(table_a, key, pa.array(rows_a[where], pa.int64())) if len(where) else ()
        shown = tuple(zip(keys, col_a.take(pa.array(where)).to_pylist(), col_b.take(pa.array(where)).to_pylist(), strict=True))
        values.append(ValueChanges(column, len(rows_a), int(differ.sum()), shown))

    split_rows = {}
    for name in [*old.splits, *(s for s in new.splits if s not in old.splits)]:
        split_rows[name] = (
            old.splits[name].num_rows if name in old.splits else None,
            new.splits[name].num_rows if name in new.splits else None,
        )
    return DatasetDiff(
        old=old.full_name,
        new=new.full_name,
        key=key,
        key_declared=declared,
        schema=schema,
        splits=split_rows,
        added=_key_values(table_b, key, pa.array(only_b, pa.int64())),
        removed=_key_values(table_a, key, pa.array(only_a, pa.int64())),
        changed=int(any_change.sum()),
        unchanged=int(len(rows_a) - any_change.sum()),
        moved=dict(moved),
        values=tuple(values),
        statistics=tuple(compare_statistics(_statistics(old), _statistics(new))),
    )


def _statistics(info: "DatasetInfo") -> dict[str, Any]:
    """Each split's statistics: as recorded by the build, or computed now for a version built before them."""
    if all(s.statistics is not None for s in info.splits.values()):
        return {name: s.statistics for name, s in info.splits.items()}
    from labdatasets.prepared.validate import validate_prepared

    return validate_prepared(info, write=False).statistics


def diff_versions(
    old: str,
    new: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    build: bool = True,
    examples: int = 5,
    beam_options: Mapping[str, Any] | Sequence[str] | None = None,
    progress: bool = False,
    workers: int | None = None,
    options: BuildOptions | None = None,
) -> DatasetDiff:
    """Compare two dataset versions, e.g. ``"product_a:1.0.0"`` and ``"product_a:1.2.0"``.

    Both are built first when they are not prepared (``build=False`` raises instead),
    with ``beam_options`` and ``workers`` (or ``options``) as in :func:`labdatasets.load`.
    """
    from labdatasets.load import builder
    from labdatasets.processing.options import BuildOptions

    options = BuildOptions.of(beam_options, workers, options=options)

    infos = []
    for reference in (old, new):
        b = builder(reference, data_dir=data_dir)
        if build:
            b.build(options=options, progress=progress)
        info = b.prepared_info()
        if info is None:
            from labdatasets.errors import PreparedDataError

            raise PreparedDataError(
                f"{b.full_name} is not prepared in {b.data_dir}; run 'labdatasets build {b.full_name}' or diff with build=True."
            )
        infos.append(info)
    return diff_prepared(infos[0], infos[1], examples=examples)
