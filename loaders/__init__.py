"""Source connectors of the Loading layer.

Connectors are registered by dotted path with the extra that installs their
SDK (the fsspec pattern): ``from labdatasets import loaders`` imports no SDK,
and ``loaders.SQLSource`` imports SQLAlchemy only when first used. A missing
SDK raises :class:`~labdatasets.errors.MissingDependencyError` naming the extra.

Third-party packages add connectors through the ``labdatasets.loaders``
entry-point group (``kind = package.module:SourceClass``).

Example::

    from labdatasets import loaders
    loaders.LocalSource("data/penguins.csv")
"""

from __future__ import annotations

import importlib
import types
from typing import Any

from labdatasets.errors import ConfigError, MissingDependencyError, UnknownSourceError
from labdatasets.loaders.base import PinContext, PinSession, Source, SourceState, SourceStatus

__all__ = ["Source", "PinContext", "PinSession", "SourceState", "SourceStatus", "known_sources", "source_class", "register_source"]

ENTRY_POINT_GROUP = "labdatasets.loaders"

# class name -> (module, kind, extra that installs the SDK). Sorted; a test checks it.
_KNOWN: dict[str, tuple[str, str, str | None]] = {
    "GCSSource": ("labdatasets.loaders.gcs", "gcs", "gcs"),
    "LocalSource": ("labdatasets.loaders.local", "local", None),
    "S3Source": ("labdatasets.loaders.s3", "s3", "s3"),
    "SQLSource": ("labdatasets.loaders.sql", "sql", "mysql"),
    "SheetsSource": ("labdatasets.loaders.sheets", "sheets", "sheets"),
}
known_sources = types.MappingProxyType(_KNOWN)


def register_source(class_name: str, module: str, kind: str, *, extra: str | None = None) -> None:
    """Register a connector class by module path (used by connector modules and plugins)."""
    existing = _KNOWN.get(class_name)
    if existing is not None and existing[0] != module:
        raise ConfigError(
            f"Source class {class_name!r} from {module} is already registered from {existing[0]}; give the connector "
            "class another name (or uninstall one of the two plugins)"
        )
    _KNOWN[class_name] = (module, kind, extra)


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        module, _, attr = ep.value.partition(":")
        if attr and attr not in _KNOWN:
            _KNOWN[attr] = (module, ep.name, None)


def source_class(name_or_kind: str) -> type[Source]:
    """The connector class for a class name (``"LocalSource"``) or a kind (``"local"``)."""
    if name_or_kind not in _KNOWN:
        by_kind = {kind: cls for cls, (_, kind, _) in _KNOWN.items()}
        if name_or_kind not in by_kind:
            _load_entry_points()
            by_kind = {kind: cls for cls, (_, kind, _) in _KNOWN.items()}
        if name_or_kind not in by_kind:
            raise UnknownSourceError(
                f"labdatasets.loaders has no source {name_or_kind!r}; known: {', '.join(sorted(_KNOWN))}. Check the "
                "spelling, or install the plugin that provides it"
            )
        name_or_kind = by_kind[name_or_kind]
    entry = _KNOWN[name_or_kind]
    module_name, kind, extra = entry
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if extra:
            raise MissingDependencyError.for_extra(
                exc.name or module_name, extra, f"labdatasets.loaders.{name_or_kind}"
            ) from exc
        raise
    return getattr(module, name_or_kind)


def __getattr__(name: str) -> Any:
    if name in _KNOWN:
        return source_class(name)
    raise AttributeError(f"module 'labdatasets.loaders' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_KNOWN))

