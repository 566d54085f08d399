"""The Processing layer: Apache Beam transforms over Arrow tables.

Every element of a PCollection here is a ``pyarrow.Table`` holding a batch of
rows (tens of thousands), not one Python dict per row: Beam's per-element cost
is paid once per batch, which is what makes the DirectRunner usable on a laptop.

Importing this module is free; Apache Beam is imported the first time one of
the transforms below is used (inside ``_process``), so ``load()`` of an
already-prepared dataset never pays for it.

==========================  ========================================================
``sources["name"]``         a pinned source read as batches (see ``PinnedSources``)
``MapBatches(fn)``          ``fn(table) -> table`` on every batch
``MapRows(fn)``             per-row escape hatch: ``fn(dict) -> dict`` (or None to drop)
``Filter(predicate)``       keep rows where ``predicate(table)`` is true (a mask or an
                            Arrow compute expression such as ``pc.field("x") > 0``)
``SelectColumns(cols)``     keep (and optionally rename) columns
``RenameColumns(mapping)``  rename columns ``{old: new}``
``MapColumns({name: f})``   add or replace columns from a function or an expression
``Join(on=...)``            join a ``(left, right)`` pair on key column(s)
``Deduplicate(key)``        one row per key (the same row on every run)
``split_by_hash(...)``      deterministic train/validation/test split by a key's hash
==========================  ========================================================

Example (inside a builder)::

    from labdatasets import processing as P

    def _process(self, sources):
        rows = sources["penguins"] | "Drop unsexed" >> P.Filter(pc.field("sex").is_valid())
        rows = rows | "Add kg" >> P.MapBatches(add_body_mass_kg)
        rows = (rows, sources["sites"]) | "With site" >> P.Join(on="site_id", how="left")
        rows = rows | "One per bird" >> P.Deduplicate(key="id")
        return P.split_by_hash(rows, key="id", ratios={"train": 0.8, "test": 0.2})

See docs/processing.md for the full guide and docs/runners.md for running a
build on Dataflow, Flink or Spark.
"""

from __future__ import annotations

import importlib
from typing import Any

from labdatasets.processing.splitting import assign, key_hash, normalize_ratios, split_table

# imported from .transforms (and so with Apache Beam) the first time one is used
_BEAM_NAMES = (
    "MapBatches",
    "MapRows",
    "Filter",
    "SelectColumns",
    "RenameColumns",
    "MapColumns",
    "Join",
    "Deduplicate",
    "sort_rows",
    "split_by_hash",
    "ReadPinnedSource",
    "WriteSplit",
)

__all__ = [*_BEAM_NAMES, "assign", "key_hash", "normalize_ratios", "split_table"]


def __getattr__(name: str) -> Any:
    if name in _BEAM_NAMES:
        try:
            module = importlib.import_module("labdatasets.processing.transforms")
        except ImportError as exc:
            from labdatasets.errors import MissingDependencyError

            raise MissingDependencyError(
                f"labdatasets.processing.{name} needs Apache Beam ({exc}); reinstall labdatasets: "
                "pip install labdatasets (apache-beam is a core dependency)",
                package="apache-beam",
            ) from exc
        return getattr(module, name)
    raise AttributeError(f"module 'labdatasets.processing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_BEAM_NAMES))
