"""The split names a version produces, known before it is built.

``load(..., split="nosuch")`` and ``labdatasets load --split nosuch`` must fail
before a build that takes minutes, not after it. The names come from the
cheapest place that knows them: the prepared ``dataset_info.json``, the
builder's recorded ``splits.json`` for this snapshot, the shared cache's
release record, or, last, the Beam graph of ``_process`` *constructed but not
run* (it reads nothing: sources are read only when a pipeline runs).

Example::

    >>> split_names(labdatasets.builder("product_a:1.2.0"))
    ['train', 'test']
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from labdatasets.errors import LabDatasetsError

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.builder import DatasetBuilder

__all__ = ["split_names", "recorded_splits", "SPLITS_FILE"]

logger = logging.getLogger(__name__)

#: The split-size record next to each builder (written by ``labdatasets docs``, see
#: :mod:`labdatasets.workflow.catalog`).
SPLITS_FILE = "splits.json"


def recorded_splits(builder_cls: type["DatasetBuilder"]) -> dict[str, Any]:
    """The builder's ``splits.json``: ``{full name: {"snapshot_id", "splits": {split: sizes}}}``."""
    path = builder_cls.module_dir() / SPLITS_FILE
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}


def _from_graph(builder: "DatasetBuilder") -> list[str] | None:
    record = builder.pin_record()
    if record is None:  # pinning comes first and reads the sources anyway
        return None
    from labdatasets.processing._beam_import import import_beam

    beam = import_beam()
    from labdatasets.processing.sources import PinnedSources

    pipeline = beam.Pipeline(runner="DirectRunner")
    s = builder.settings
    try:
        outputs = builder._process(PinnedSources(pipeline, record, (s.snapshot_store, s.local_store)))
    except LabDatasetsError:
        raise
    except Exception as exc:  # noqa: BLE001 - the build reports it properly
        logger.debug("could not construct the graph of %s to learn its splits: %s", builder.full_name, exc)
        return None
    return list(outputs) if hasattr(outputs, "keys") else None


def split_names(builder: "DatasetBuilder", *, construct: bool = True) -> list[str] | None:
    """The split names of ``builder``'s version, or None when they cannot be known cheaply.

    ``construct=False`` skips the last resort (it imports Apache Beam).
    """
    info = builder.prepared_info()
    if info is not None and info.splits:
        return list(info.splits)

    record = builder.pin_record()
    try:
        recorded = recorded_splits(type(builder)).get(builder.full_name, {})
    except (OSError, ValueError):
        recorded = {}
    if record is not None and recorded.get("snapshot_id") == record.snapshot_id and recorded.get("splits"):
        return list(recorded["splits"])
    if builder.settings.shared_cache and record is not None:
        from labdatasets.prepared.shared_cache import published

        try:
            release = published(builder)
        except LabDatasetsError:
            release = None
        if release is not None and release.snapshot_id == record.snapshot_id and release.fingerprints:
            return list(release.fingerprints)
    return _from_graph(builder) if construct else None
