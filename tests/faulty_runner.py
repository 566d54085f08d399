"""Runners that lose, duplicate or misroute rows on purpose: Beam's DirectRunner (FnApiRunner) with one
step of the pipeline replaced by a faulty copy before it runs. The build must notice and refuse the output.

Used by ``--runner tests.faulty_runner.DroppingRunner`` (or DuplicatingRunner, MisroutingRunner).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.pipeline import PTransformOverride
from apache_beam.runners.portability.fn_api_runner import FnApiRunner


def _drop_first_train_row(element: Any) -> Iterator[Any]:
    """After the write path's 'Rows' step: every 'train' batch loses its first row (as a leaky shuffle would)."""
    (split, shard), table = element
    yield ((split, shard), table.slice(1)) if split == "train" else element


def _duplicate_train_batches(element: Any) -> Iterator[Any]:
    """After the write path's 'Rows' step: every 'train' batch arrives twice (as a retried bundle counted twice)."""
    yield element
    if element[0][0] == "train":
        yield element


def _everything(element: Any) -> Iterator[Any]:
    """In place of split_by_hash's 'train' selection: every row of every split (Beam's DaskRunner bug)."""
    index, table = element
    if index >= 0:
        yield table


class _Faulty(beam.PTransform):
    def __init__(self, original: beam.PTransform | None, fault: Any):
        super().__init__()
        self.original = original
        self.fault = fault

    def expand(self, pcoll: Any) -> Any:
        if self.original is not None:
            pcoll = pcoll | "Original" >> self.original
        return pcoll | "Fault" >> beam.FlatMap(self.fault)


class _Override(PTransformOverride):
    def __init__(self, label_suffix: str, fault: Any, keep_original: bool):
        self.label_suffix = label_suffix
        self.fault = fault
        self.keep_original = keep_original

    def matches(self, applied: Any) -> bool:
        return applied.full_label.endswith(self.label_suffix)

    def get_replacement_transform_for_applied_ptransform(self, applied: Any) -> beam.PTransform:
        return _Faulty(applied.transform if self.keep_original else None, self.fault)


class _FaultyRunner(FnApiRunner):
    label_suffix = ""
    fault: Any = None
    keep_original = True

    def run_pipeline(self, pipeline: Any, options: Any) -> Any:
        pipeline.replace_all([_Override(self.label_suffix, type(self).fault, self.keep_original)])
        return super().run_pipeline(pipeline, options)


class DroppingRunner(_FaultyRunner):
    label_suffix = "Write splits/Rows train"
    fault = staticmethod(_drop_first_train_row)


class DuplicatingRunner(_FaultyRunner):
    label_suffix = "Write splits/Rows train"
    fault = staticmethod(_duplicate_train_batches)


class MisroutingRunner(_FaultyRunner):
    label_suffix = "SplitByHash train"
    fault = staticmethod(_everything)
    keep_original = False
