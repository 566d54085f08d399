"""Beam transforms over Arrow tables (imported on first use; see the package docstring).

Every element is a ``pyarrow.Table`` holding a batch of rows. Everything here
pickles by reference to module-level functions and plain attributes, so the
same transforms run on the DirectRunner (in memory or multi-processing),
Dataflow, Flink and Spark.

Transforms that need all rows of a key together (:class:`Join`,
:class:`Deduplicate`) hash the key into ``num_buckets`` buckets and shuffle
batches, not rows: each bucket is joined or deduplicated with Arrow on one
worker, so a bucket must fit in that worker's memory (raise ``num_buckets`` for
big data).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labdatasets.errors import ColumnNotFoundError, DeclarationError, ProcessingError
from labdatasets.processing import _BEAM_NAMES
from labdatasets.processing._beam_import import import_beam
from labdatasets.processing.splitting import assign_hashes, key_hash, normalize_ratios
from labdatasets.processing.tables import as_table, bucket_slices, sort_rows, sortable_columns

if TYPE_CHECKING:  # the type checker reads Beam's own names
    import apache_beam as beam
else:
    beam = import_beam()

# what ``labdatasets.processing`` serves from this module (listed there, so that the package needs no Beam)
__all__ = [*_BEAM_NAMES, "as_table"]

logger = logging.getLogger(__name__)

DEFAULT_BUCKETS = 32
# (bucket, rows): typed so that shuffles encode the rows with ArrowTableCoder (see pipeline_io)
KEYED_TABLE = beam.typehints.Tuple[int, pa.Table]


def _columns(key: str | Sequence[str]) -> list[str]:
    return [key] if isinstance(key, str) else list(key)


def _check_columns(table: pa.Table, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ColumnNotFoundError(f"{what}: column(s) {missing} not in the data (columns: {table.column_names})")


# ---------------------------------------------------------------------------------------------- per batch
def _apply_map(table: Any, fn: Callable[[pa.Table], Any]) -> Iterator[pa.Table]:
    out = as_table(fn(as_table(table)))
    if out.num_rows:
        yield out


class MapBatches(beam.PTransform):
    """Apply ``fn(table) -> table`` to every batch (the fast path; use Arrow compute or pandas inside).

    Example::

        rows | "Add kg" >> P.MapBatches(lambda t: t.append_column("kg", pc.divide(t["g"], 1000)))
    """

    def __init__(self, fn: Callable[[pa.Table], Any], label: str | None = None):
        super().__init__(label)
        self.fn = fn

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | beam.FlatMap(_apply_map, self.fn)


def _apply_rows(table: Any, fn: Callable[[dict], dict | None], schema: pa.Schema | None) -> Iterator[pa.Table]:
    rows = [r for r in (fn(row) for row in as_table(table).to_pylist()) if r is not None]
    if rows:
        yield pa.Table.from_pylist(rows, schema=schema)


class MapRows(beam.PTransform):
    """Per-row escape hatch: ``fn(row_dict) -> row_dict`` (return None to drop the row).

    Rows stay grouped in their batch, so Beam still moves batches. Pass
    ``schema`` when ``fn`` can produce columns whose type inference may vary by batch.

    Example::

        rows | "Parse" >> P.MapRows(lambda r: {**r, "year": int(r["date"][:4])})
    """

    def __init__(self, fn: Callable[[dict], dict | None], *, schema: pa.Schema | None = None, label: str | None = None):
        super().__init__(label)
        self.fn = fn
        self.schema = schema

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | beam.FlatMap(_apply_rows, self.fn, self.schema)


def _apply_filter(table: Any, predicate: Any) -> Iterator[pa.Table]:
    table = as_table(table)
    if isinstance(predicate, pc.Expression):
        out = table.filter(predicate)
    else:
        mask = predicate(table)
        out = table.filter(mask if isinstance(mask, (pa.Array, pa.ChunkedArray)) else pa.array(mask, pa.bool_()))
    if out.num_rows:
        yield out


class Filter(beam.PTransform):
    """Keep the rows where ``predicate`` holds: a function ``table -> boolean mask`` or an Arrow expression.

    Example::

        rows | "Adults" >> P.Filter(pc.field("age") >= 18)
    """

    def __init__(self, predicate: Any, label: str | None = None):
        super().__init__(label)
        self.predicate = predicate

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | beam.FlatMap(_apply_filter, self.predicate)


def _select(table: Any, columns: Mapping[str, str]) -> Iterator[pa.Table]:
    table = as_table(table)
    _check_columns(table, list(columns.values()), "SelectColumns")
    out = table.select(list(columns.values())).rename_columns(list(columns))
    if out.num_rows:
        yield out


class SelectColumns(beam.PTransform):
    """Keep only some columns, in this order: a list of names, or ``{new_name: old_name}``.

    Example::

        rows | P.SelectColumns(["id", "label"])
        rows | P.SelectColumns({"id": "customer_id", "label": "segment"})   # select and rename
    """

    def __init__(self, columns: Sequence[str] | Mapping[str, str], label: str | None = None):
        super().__init__(label)
        self.columns = dict(columns) if isinstance(columns, Mapping) else {c: c for c in columns}

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | beam.FlatMap(_select, self.columns)


def _rename(table: Any, mapping: Mapping[str, str]) -> Iterator[pa.Table]:
    table = as_table(table)
    _check_columns(table, list(mapping), "RenameColumns")
    out = table.rename_columns([mapping.get(name, name) for name in table.column_names])
    if out.num_rows:
        yield out


class RenameColumns(beam.PTransform):
    """Rename columns ``{old_name: new_name}``; the others keep their name and place.

    Example::

        rows | P.RenameColumns({"Culmen Length (mm)": "bill_length_mm"})
    """

    def __init__(self, mapping: Mapping[str, str], label: str | None = None):
        super().__init__(label)
        self.mapping = dict(mapping)

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | beam.FlatMap(_rename, self.mapping)


def _evaluate(table: pa.Table, spec: Any, name: str) -> pa.Array | pa.ChunkedArray:
    if isinstance(spec, pc.Expression):
        import pyarrow.dataset as pds

        return pds.dataset(table).to_table(columns={name: spec}).column(name)
    value = spec(table)
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return value
    if isinstance(value, pa.Scalar):
        return pa.array([value.as_py()] * table.num_rows, value.type)
    return pa.array(value)


def _map_columns(table: Any, specs: Mapping[str, Any]) -> Iterator[pa.Table]:
    table = as_table(table)
    for name, spec in specs.items():
        column = _evaluate(table, spec, name)
        if len(column) != table.num_rows:
            raise ProcessingError(f"MapColumns: column {name!r} has {len(column)} values for a batch of {table.num_rows} rows")
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, column) if index >= 0 else table.append_column(name, column)
    if table.num_rows:
        yield table


class MapColumns(beam.PTransform):
    """Add or replace columns, each computed from the batch by a function or an Arrow expression.

    Columns are computed in order, so a later one can use an earlier one.

    Example::

        rows | "Derive" >> P.MapColumns({
            "body_mass_kg": lambda t: pc.divide(pc.cast(t["body_mass_g"], pa.float64()), 1000.0),
            "is_heavy": pc.field("body_mass_kg") > 4.5,
        })
    """

    def __init__(self, columns: Mapping[str, Any], label: str | None = None):
        super().__init__(label)
        self.columns = dict(columns)

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | beam.FlatMap(_map_columns, self.columns)


# ---------------------------------------------------------------------------------------------- split
class _SplitDoFn(beam.DoFn):
    """Rows -> ``(split index, rows)``, plus ``(-1, tally)``: what went to each split (see ledger).

    One output, not tagged outputs: Beam's DaskRunner (2.77) hands every
    consumer of a tagged output the whole output of the step, all tags mixed
    (docs/runners.md), and a plain keyed output works the same on every runner.
    """

    def __init__(self, key: str | Sequence[str], ratios: Mapping[str, float], salt: str, origin: str):
        self.key = key
        self.ratios = dict(ratios)
        self.salt = salt
        self.origin = origin

    def process(self, element: Any) -> Iterable[tuple[int, pa.Table]]:
        from labdatasets.processing.ledger import tally_table

        table = as_table(element)
        if not table.num_rows:
            return
        try:
            hashes = key_hash(table, self.key, self.salt)
        except ColumnNotFoundError as exc:
            raise ColumnNotFoundError(f"split_by_hash: {exc}") from exc
        index = assign_hashes(hashes, self.ratios)
        names, counts, digests = [], [], []
        for i, name in enumerate(self.ratios):
            mask = index == i
            part = table.filter(pa.array(mask))
            if part.num_rows:
                names.append(name)
                counts.append(part.num_rows)
                digests.append(int(hashes[mask].sum(dtype=np.uint64)))
                yield i, part
        yield -1, tally_table("split", names, counts, digests, origin=self.origin)


def _only(element: tuple[int, pa.Table], index: int) -> Iterator[pa.Table]:
    if element[0] == index:
        yield element[1]


def split_by_hash(
    pcoll: beam.PCollection,
    *,
    key: str | Sequence[str],
    ratios: Mapping[str, float],
    salt: str = "",
    label: str = "SplitByHash",
) -> dict[str, beam.PCollection]:
    """Split rows by a hash of ``key`` into ``{split: PCollection}`` with the given ratios.

    The same key value always goes to the same split (across runs, runners and
    machines); change ``salt`` to draw a different, equally stable split.

    The build checks its output against what this step assigned: every row
    that entered a split is written exactly once, in that split (see
    :mod:`labdatasets.processing.ledger`).

    Example::

        return P.split_by_hash(rows, key="id", ratios={"train": 0.8, "validation": 0.1, "test": 0.1})
    """
    from labdatasets.processing.ledger import new_origin

    normalize_ratios(ratios)
    origin = new_origin()
    assigned = pcoll | label >> beam.ParDo(_SplitDoFn(key, ratios, salt, origin)).with_output_types(KEYED_TABLE)
    tallies = assigned | f"{label} tally" >> beam.FlatMap(_only, -1).with_output_types(pa.Table)
    outputs = {}
    for i, name in enumerate(ratios):
        out = assigned | f"{label} {name}" >> beam.FlatMap(_only, i).with_output_types(pa.Table)
        # WriteSplits finds the assignment's tally through this attribute when it writes this very PCollection
        out._labdatasets_split = SplitOrigin(origin, name, key, salt, tallies)
        outputs[name] = out
    return outputs


class SplitOrigin:
    """Where a split's PCollection came from: ``split_by_hash``'s assignment and its tallies."""

    def __init__(self, origin: str, split: str, key: str | Sequence[str], salt: str, tallies: beam.PCollection):
        self.origin = origin
        self.split = split
        self.key = key
        self.salt = salt
        self.tallies = tallies


# ---------------------------------------------------------------------------------------------- by key
class _KeyByBucket(beam.DoFn):
    """Send each batch's rows to the bucket of their key.

    With ``every_bucket`` an empty table goes to the buckets that get no rows,
    so that every bucket knows both sides' schemas (an outer join needs them).
    """

    def __init__(self, key: Sequence[str], num_buckets: int, what: str, every_bucket: bool):
        self.key = list(key)
        self.num_buckets = num_buckets
        self.what = what
        self.every_bucket = every_bucket

    def process(self, element: Any) -> Iterator[tuple[int, pa.Table]]:
        table = as_table(element)
        _check_columns(table, self.key, self.what)
        for bucket, part in bucket_slices(table, self.key, self.num_buckets, salt="bucket"):
            if part.num_rows or self.every_bucket:
                yield bucket, part


def _concat(tables: Iterable[pa.Table]) -> pa.Table | None:
    tables = [as_table(t) for t in tables]
    if not tables:
        return None
    # batches of one source may disagree where a column was all-null in one batch
    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]


_JOIN_TYPES = {
    "inner": "inner",
    "left": "left outer",
    "right": "right outer",
    "outer": "full outer",
    "semi": "left semi",
    "anti": "left anti",
}


class _JoinBucket(beam.DoFn):
    def __init__(self, on: Sequence[str], right_on: Sequence[str], how: str, suffixes: tuple[str, str]):
        self.on = list(on)
        self.right_on = list(right_on)
        self.how = how
        self.suffixes = suffixes

    def process(self, element: tuple[int, Mapping[str, Iterable[pa.Table]]]) -> Iterator[pa.Table]:
        _, sides = element
        left, right = _concat(sides["left"]), _concat(sides["right"])
        if left is None or right is None:
            if left is not None and self.how in ("left", "anti"):
                raise ProcessingError(f"Join: the right side produced no batches, so a {self.how!r} join cannot know its columns")
            return  # an empty side: an inner or semi join is empty
        try:
            out = left.join(
                right,
                keys=self.on,
                right_keys=self.right_on,
                join_type=_JOIN_TYPES[self.how],
                left_suffix=self.suffixes[0] or None,
                right_suffix=self.suffixes[1] or None,
                use_threads=False,
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise ProcessingError(f"Join on {self.on} = {self.right_on}: {exc}") from exc
        if out.num_rows:
            yield out


class Join(beam.PTransform):
    """Join two PCollections of tables on key column(s), like a SQL join (Arrow's hash join per bucket).

    Apply it to a ``(left, right)`` pair. ``how`` is ``"inner"``, ``"left"``,
    ``"right"``, ``"outer"``, ``"semi"`` (left rows with a match) or ``"anti"``
    (left rows without one). Columns of both sides with the same name get
    ``suffixes``. Row order is not defined (the written splits are sorted by key).

    Example::

        orders = sources["orders"]
        customers = sources["customers"] | P.SelectColumns(["customer_id", "segment"])
        rows = (orders, customers) | "With segment" >> P.Join(on="customer_id", how="left")
    """

    def __init__(
        self,
        *,
        on: str | Sequence[str],
        right_on: str | Sequence[str] | None = None,
        how: str = "inner",
        suffixes: tuple[str, str] = ("", "_right"),
        num_buckets: int = DEFAULT_BUCKETS,
        label: str | None = None,
    ):
        super().__init__(label)
        if how not in _JOIN_TYPES:
            raise DeclarationError(f"Join how must be one of {', '.join(_JOIN_TYPES)}, got {how!r}")
        self.on = _columns(on)
        self.right_on = _columns(right_on) if right_on is not None else list(self.on)
        if len(self.on) != len(self.right_on):
            raise DeclarationError(
                f"Join: on={self.on} and right_on={self.right_on} must name as many columns, pairing each left key with a right one"
            )
        if num_buckets < 1:
            raise DeclarationError(f"Join: num_buckets must be at least 1, got {num_buckets}")
        self.how = how
        self.suffixes = suffixes
        self.num_buckets = num_buckets

    def expand(self, pcolls: Any) -> beam.PCollection:
        try:
            left, right = pcolls
        except (TypeError, ValueError):
            raise ProcessingError("P.Join is applied to a (left, right) pair: (left, right) | P.Join(on=...)") from None
        keyed_left = left | "KeyLeft" >> beam.ParDo(_KeyByBucket(self.on, self.num_buckets, "Join (left)", True)).with_output_types(KEYED_TABLE)
        keyed_right = right | "KeyRight" >> beam.ParDo(
            _KeyByBucket(self.right_on, self.num_buckets, "Join (right)", True)
        ).with_output_types(KEYED_TABLE)
        return (
            {"left": keyed_left, "right": keyed_right}
            | "CoGroup" >> beam.CoGroupByKey()
            | "JoinBuckets" >> beam.ParDo(_JoinBucket(self.on, self.right_on, self.how, self.suffixes))
        )


def _dedupe(element: tuple[int, Iterable[pa.Table]], key: Sequence[str] | None) -> Iterator[pa.Table]:
    table = _concat(element[1])
    if table is None or not table.num_rows:
        return
    columns = list(key) if key else sortable_columns(table.schema)
    ordered = sort_rows(table, columns)
    indexed = ordered.select(columns).append_column("__row", pa.array(np.arange(ordered.num_rows)))
    first = indexed.group_by(columns, use_threads=False).aggregate([("__row", "min")]).column("__row_min")
    yield ordered.take(pa.array(np.sort(first.to_numpy())))  # the kept rows, still in sorted order


class Deduplicate(beam.PTransform):
    """Keep one row per ``key`` (or per distinct row when ``key`` is None).

    Among rows sharing a key, the one kept is the first in the order of
    :func:`sort_rows` (key, then the other columns), so the choice is the same
    on every run and runner.

    Example::

        rows | "One row per user" >> P.Deduplicate(key="user_id")
    """

    def __init__(self, key: str | Sequence[str] | None = None, *, num_buckets: int = DEFAULT_BUCKETS, label: str | None = None):
        super().__init__(label)
        self.key = _columns(key) if key is not None else None
        self.num_buckets = num_buckets

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return (
            pcoll
            | "KeyByBucket" >> beam.ParDo(_DedupeKey(self.key, self.num_buckets)).with_output_types(KEYED_TABLE)
            | "GroupBuckets" >> beam.GroupByKey()
            | "KeepFirst" >> beam.FlatMap(_dedupe, self.key)
        )


class _DedupeKey(beam.DoFn):
    def __init__(self, key: Sequence[str] | None, num_buckets: int):
        self.key = key
        self.num_buckets = num_buckets

    def process(self, element: Any) -> Iterator[tuple[int, pa.Table]]:
        table = as_table(element)
        key = self.key or sortable_columns(table.schema)
        yield from _KeyByBucket(key, self.num_buckets, "Deduplicate", False).process(table)


# The reading and writing transforms live in pipeline_io; they are re-exported here.
from labdatasets.processing.pipeline_io import ReadPinnedSource, WriteSplit, WriteSplits, shard_filename  # noqa: E402,F401
