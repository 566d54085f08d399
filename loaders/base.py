"""The contract every source connector of the Loading layer follows.

A :class:`Source` is declared by a builder (``_sources()``) and does two things:

* :meth:`Source.pin` reads the live source once and stores its bytes in the
  snapshot store, returning a :class:`~labdatasets.pinning.record.SourcePin` (objects
  with sha256 and size, row count, schema, secret-free location, time);
* :meth:`Source.status` compares the live source with an existing pin,
  changing nothing.

After a pin, builds read the pinned objects only (see
:mod:`labdatasets.pinning.tabular`), never the live source. A connector that writes a
new kind of source subclasses :class:`Source`; the shared contract tests in
``tests/loaders/contract.py`` then run against it.

Example of declaring sources in a builder::

    def _sources(self):
        return {"penguins": loaders.LocalSource("data/penguins.csv")}
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import enum
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from collections.abc import Callable, Iterator, Mapping

from labdatasets.errors import DeclarationError

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.pinning.record import SourcePin
    from labdatasets.stores import Snapshots

__all__ = ["Source", "PinContext", "PinSession", "SourceState", "SourceStatus"]

T = TypeVar("T")


class PinSession:
    """Resources the sources of one pin (or one ``status`` check) share, closed when it ends.

    ``pin`` opens one session around all the sources of a version, so that
    connectors can share an expensive or transactional resource between the
    sources that use it: all SQL sources on one connection read inside ONE
    read-only transaction with a consistent snapshot. A connector asks for a
    resource by key; the first caller creates it, later callers get the same
    object, and :meth:`close` closes them in reverse order of creation.

    ``sources`` are all the sources being pinned together, so that a connector
    can tell whether a resource will be shared at all (and take a faster
    unshared path when it will not).

    Example::

        with PinSession({"orders": orders, "users": users}) as session:
            tx = session.shared(("sql", "warehouse"), lambda: open_read_only_snapshot())
    """

    def __init__(self, sources: Mapping[str, "Source"] | None = None):
        self.sources: Mapping[str, Source] = dict(sources or {})
        self._resources: dict[Any, Any] = {}
        self._order: list[Any] = []
        self._lock = threading.Lock()

    def shared(self, key: Any, factory: Callable[[], T]) -> T:
        """The resource under ``key``, created by ``factory()`` on first use.

        A resource with a ``close()`` method is closed when the session ends.
        """
        with self._lock:
            if key not in self._resources:
                self._resources[key] = factory()
                self._order.append(key)
            return self._resources[key]

    def close(self) -> None:
        """Close every resource, newest first; the first error is raised after all are closed."""
        first: BaseException | None = None
        while self._order:
            resource = self._resources.pop(self._order.pop())
            close = getattr(resource, "close", None)
            if close is None:
                continue
            try:
                close()
            except BaseException as exc:  # noqa: BLE001 - keep closing the others
                first = first or exc
        if first is not None:
            raise first

    def __enter__(self) -> "PinSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@dataclasses.dataclass
class PinContext:
    """What a connector needs while pinning or checking a source.

    Attributes:
        store: where objects are written (the configured snapshot store).
        base_dir: the builder's folder; relative local paths resolve against it.
        label: ``product_a:1.2.0 source 'penguins'``, for messages.
        progress: ``progress(total_bytes, description)`` returns a callback taking byte counts.
        settings: the resolved :class:`labdatasets.config.Settings` (SQL connections by name).
        session: resources shared by the sources pinned together (see :class:`PinSession`);
            None when a source is pinned on its own.
    """

    store: "Snapshots"
    base_dir: Path
    label: str
    progress: Callable[[int | None, str], Callable[[int], Any]]
    settings: Any = None
    session: PinSession | None = None

    @contextlib.contextmanager
    def shared(self, key: Any, factory: Callable[[], T]) -> Iterator[T]:
        """Use the pin's shared resource under ``key``, or a private one closed on exit."""
        if self.session is not None:
            yield self.session.shared(key, factory)
            return
        resource = factory()
        try:
            yield resource
        finally:
            close = getattr(resource, "close", None)
            if close is not None:
                close()

    def peers(self) -> Mapping[str, "Source"]:
        """The sources pinned together with this one (empty when pinned on its own)."""
        return self.session.sources if self.session is not None else {}


class SourceState(str, enum.Enum):
    """What ``status`` found for one pinned source.

    A ``str`` enum: it compares equal to, prints as and is written to JSON as its
    value (``SourceState.CHANGED == "changed"``), so ``labdatasets status --json``
    and scripts that compare strings are unaffected.
    """

    #: The live source still holds exactly what was pinned (same rows, hashes, ETags...).
    UNCHANGED = "unchanged"
    #: The live source moved on since the pin (its ``details`` say what differs), or the
    #: source declared in ``_sources()`` is no longer the one that was pinned. Bump VERSION
    #: and pin again to use the new data; the pinned data itself is unaffected.
    CHANGED = "changed"
    #: The live source could not be read (refused credentials, absent, server down); nothing
    #: is known about whether it changed. ``details`` holds the error.
    UNAVAILABLE = "unavailable"
    #: The connector cannot compare a live source with its pin (its ``status()`` is not
    #: implemented, e.g. a plugin connector); nothing was read.
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


@dataclasses.dataclass(frozen=True)
class SourceStatus:
    """Whether a live source still matches its pin.

    ``state`` is a :class:`SourceState` (a plain string
    such as ``"changed"`` is turned into one, so connectors written before it keep
    working); ``details`` lists what differs (secret-free).
    """

    name: str
    kind: str
    state: SourceState
    details: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.state, SourceState):
            try:
                object.__setattr__(self, "state", SourceState(self.state))
            except ValueError:
                raise DeclarationError(
                    f"SourceStatus of {self.name!r}: state must be one of {', '.join(s.value for s in SourceState)}, "
                    f"got {self.state!r}"
                ) from None

    @property
    def unchanged(self) -> bool:
        return self.state is SourceState.UNCHANGED


class Source(abc.ABC):
    """Base class of source connectors."""

    #: short lowercase name recorded in pin records ("local", "sql", "s3", "gcs", "sheets")
    kind: ClassVar[str]
    #: Whether a missing value of this source is NULL (a database, a spreadsheet) rather than an
    #: empty string (a CSV file). A builder test reads an empty cell of the dummy CSV that stands in
    #: for such a source as NULL (see :mod:`labdatasets.testing`).
    empty_is_null: bool = False

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
        return type(self) is type(other) and self.describe() == other.describe()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.describe().items()))))


def describe_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Drop unset options so that pin records stay short."""
    return {k: v for k, v in options.items() if v not in (None, {}, [], ())}
