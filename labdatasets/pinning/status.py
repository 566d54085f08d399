"""``status``: does each live source of a pinned version still match its pin? Changes nothing.

For every source in the version's pin record, the connector reads the live
source and compares it with what was pinned: row count and content hash for
SQL, ETag/VersionId or generation for bucket objects, cell values for sheets,
sha256 for local files. Nothing is stored and no pin record is written; SQL
sources read inside one read-only snapshot, as a pin does.

Example::

    report = labdatasets.pinning.status.status(labdatasets.builder("product_a:1.2.0"))
    report.changed                       # True if any source moved on
    for s in report.sources: print(s.name, s.state, s.details)

Each source's ``state`` is a :class:`SourceState` (defined beside ``SourceStatus`` in
:mod:`labdatasets.loaders.base`, which connectors import).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from labdatasets.errors import LabDatasetsError, SourceError
from labdatasets.loaders.base import SourceState

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.builder import DatasetBuilder
    from labdatasets.loaders.base import SourceStatus
    from labdatasets.pinning.record import PinRecord

__all__ = ["SourceState", "StatusReport", "status"]


@dataclasses.dataclass
class StatusReport:
    """The state of every pinned source of one version (``SourceStatus.name`` is the source's name)."""

    name: str
    record: "PinRecord"
    sources: list["SourceStatus"]

    @property
    def changed(self) -> bool:
        """True when any source no longer matches its pin (or could not be checked)."""
        return any(not s.unchanged for s in self.sources)


def status(builder: "DatasetBuilder", *, progress: bool = False) -> StatusReport:
    """Compare every live source of ``builder.version`` with its pin; see the module docstring."""
    from labdatasets.loaders.base import PinSession, SourceStatus
    from labdatasets.pinning.pin import pin_context, snapshots_for

    record = builder.require_pin_record()
    declared = builder.sources()
    store = snapshots_for(builder)
    results: list[SourceStatus] = []
    with PinSession({n: s for n, s in declared.items() if n in record.sources}) as session:
        for name, pin in sorted(record.sources.items()):
            source = declared.get(name)
            if source is None:
                results.append(SourceStatus(name, pin.kind, SourceState.CHANGED, ("no longer declared in _sources()",)))
                continue
            notes: tuple[str, ...] = ()
            if source.kind != pin.kind or source.describe() != dict(pin.location):
                notes = (f"declared as {source.kind} {source.describe()} now, pinned from {pin.kind} {dict(pin.location)}",)
            ctx = pin_context(builder, name, store, progress=progress, session=session)
            try:
                checked = source.status(pin, ctx)
            except NotImplementedError as exc:
                checked = SourceStatus(name, pin.kind, SourceState.UNKNOWN, (str(exc),))
            except SourceError as exc:
                checked = SourceStatus(name, pin.kind, SourceState.UNAVAILABLE, (str(exc),))
            except LabDatasetsError as exc:
                checked = SourceStatus(name, pin.kind, SourceState.UNAVAILABLE, (str(exc),))
            state = SourceState.CHANGED if notes and checked.state is SourceState.UNCHANGED else checked.state
            results.append(dataclasses.replace(checked, name=name, state=state, details=notes + tuple(checked.details)))
    return StatusReport(builder.full_name, record, results)
