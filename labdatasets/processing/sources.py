"""``PinnedSources``: what a builder's ``_process`` receives.

``sources["name"]`` is a PCollection of Arrow tables read from the pinned
snapshot of that source (never from the live source), created on first access.

Example::

    def _process(self, sources):
        sources.names                 # ('penguins',)
        sources.pin("penguins")       # the SourcePin: objects, rows, schema
        rows = sources["penguins"]    # PCollection[pyarrow.Table]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections.abc import Iterator, Mapping

from labdatasets.errors import ProcessingError

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.pinning.record import PinRecord, SourcePin

__all__ = ["PinnedSources"]


class PinnedSources(Mapping[str, Any]):
    """The pinned sources of one version, readable as PCollections inside ``_process``."""

    def __init__(
        self,
        pipeline: Any,
        record: "PinRecord",
        store_uris: tuple[str, str | None],
        *,
        batch_rows: int = 65_536,
        progress_dir: str | None = None,
    ):
        self.pipeline = pipeline
        self.record = record
        self.store_uris = store_uris
        self.batch_rows = batch_rows
        self.progress_dir = progress_dir
        self._read: dict[str, Any] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.record.sources))

    def pin(self, name: str) -> "SourcePin":
        try:
            return self.record.sources[name]
        except KeyError:
            raise ProcessingError(
                f"{self.record.full_name} has no pinned source {name!r}; pinned sources: {', '.join(self.names)}. "
                "A source added to _sources() after the pin belongs to a new VERSION."
            ) from None

    def __getitem__(self, name: str) -> Any:
        if name not in self._read:
            from labdatasets.processing.transforms import ReadPinnedSource

            pin = self.pin(name)
            label = f"{self.record.full_name} source {name!r}"
            self._read[name] = self.pipeline | f"Read {name}" >> ReadPinnedSource(
                pin, self.store_uris, label=label, batch_rows=self.batch_rows, progress_dir=self.progress_dir
            )
        return self._read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.record.sources)
