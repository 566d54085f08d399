"""The contract every source connector of the Loading layer follows.

A :class:`Source` is declared by a builder (``_sources()``) and does two things:

* :meth:`Source.pin` reads the live source once and stores its bytes in the
  snapshot store, returning a :class:`~labdatasets.pins.SourcePin` (objects
  with sha256 and size, row count, schema, secret-free location, time);
* :meth:`Source.status` compares the live source with an existing pin,
  changing nothing.

After a pin, builds read the pinned objects only (see
:mod:`labdatasets.tabular`), never the live source. A connector that writes a
new kind of source subclasses :class:`Source`; the shared contract tests in
``tests/loaders/contract.py`` then run against it.

Example of declaring sources in a builder::

    def _sources(self):
        return {"penguins": loaders.LocalSource("data/penguins.csv")}
"""

from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.pins import SourcePin
    from labdatasets.stores import Snapshots

__all__ = ["Source", "PinContext", "SourceStatus"]


@dataclasses.dataclass
class PinContext:
    """What a connector needs while pinning or checking a source.

    Attributes:
        store: where objects are written (the configured snapshot store).
        base_dir: the builder's folder; relative local paths resolve against it.
        label: ``product_a:1.2.0 source 'penguins'``, for messages.
        progress: ``progress(total_bytes, description)`` returns a callback taking byte counts.
        settings: the resolved :class:`labdatasets.config.Settings` (SQL connections by name).
    """

    store: "Snapshots"
    base_dir: Path
    label: str
    progress: Callable[[int | None, str], Callable[[int], Any]]
    settings: Any = None


@dataclasses.dataclass(frozen=True)
class SourceStatus:
    """Whether a live source still matches its pin.

    ``state`` is ``"unchanged"``, ``"changed"`` or ``"unavailable"``; ``details``
    lists what differs (secret-free).
    """

    name: str
    kind: str
    state: str
    details: tuple[str, ...] = ()

    @property
    def unchanged(self) -> bool:
        return self.state == "unchanged"


class Source(abc.ABC):
    """Base class of source connectors."""

    #: short lowercase name recorded in pin records ("local", "sql", "s3", "gcs", "sheets")
    kind: ClassVar[str]

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """The secret-free location recorded in the pin record and shown by ``info``."""

    @abc.abstractmethod
    def pin(self, ctx: PinContext) -> "SourcePin":
        """Read the live source once, store its bytes, and describe what was stored."""

    def status(self, pinned: "SourcePin", ctx: PinContext) -> SourceStatus:
        """Compare the live source with ``pinned`` without storing anything."""
        raise NotImplementedError(f"{type(self).__name__} cannot compare a live source with its pin yet")

    def mirror(self, pinned: "SourcePin", ctx: PinContext) -> Callable[[str], Path | None] | None:
        """Offer local files that may hold pinned objects (only local sources do).

        The snapshot store uses an offered file only if it hashes to the wanted oid.
        """
        return None

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.describe().items())
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.describe() == other.describe()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.describe().items()))))


def describe_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Drop unset options so that pin records stay short."""
    return {k: v for k, v in options.items() if v not in (None, {}, [], ())}
