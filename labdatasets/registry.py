"""Finding builders by name without importing all of them.

Builders come from two places:

* the ``datasets/`` folder of this repository (``labdatasets.datasets``), one
  folder per dataset grouped by product or task, each holding
  ``<name>_dataset_builder.py`` (the tfds convention), e.g.
  ``datasets/products/product_a/product_a_dataset_builder.py``;
* other installed packages, through the ``labdatasets.datasets`` entry-point
  group: ``my_dataset = my_package.my_dataset.builder:Builder``.

Listing reads folder names and entry-point metadata only; a builder module is
imported the first time its dataset is asked for. A builder class registers
itself when its module is imported (``DatasetBuilder.__init_subclass__``).
Two builders with one name are refused with :class:`DuplicateDatasetError`
naming both modules.

Example::

    >>> from labdatasets import registry
    >>> "product_a" in registry.list_datasets()
    True
    >>> registry.builder_cls("product_a").VERSION
    '1.2.0'
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import logging
import os
import threading
import types
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Iterator

from labdatasets.errors import DatasetNotFoundError, DuplicateDatasetError, LabDatasetsError

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.builder import DatasetBuilder

__all__ = [
    "ENTRY_POINT_GROUP",
    "BUILDER_MODULE_SUFFIX",
    "DatasetLocation",
    "list_datasets",
    "builder_cls",
    "register",
    "skip_registration",
    "registered_builders",
    "refresh",
    "datasets_dir",
    "repository_root",
    "is_checkout",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "labdatasets.datasets"
BUILDER_MODULE_SUFFIX = "_dataset_builder"
_SKIP_DIRS = {"__pycache__", "dummy_data", "data", "docs"}

_lock = threading.RLock()
_registered: dict[str, type["DatasetBuilder"]] = {}
registered_builders = types.MappingProxyType(_registered)
_skip_depth = 0
_index: dict[str, "DatasetLocation"] | None = None


@dataclasses.dataclass(frozen=True)
class DatasetLocation:
    """Where a dataset's builder lives, known before importing it."""

    name: str
    module: str
    group: str
    origin: str  # "repository" or the distribution name of an entry point
    attr: str | None = None
    path: Path | None = None


# ---------------------------------------------------------------------- where the repository is
# One rule: the repository is the folder holding the ``datasets/`` package this Python imports
# builders from. In a checkout (an editable install, or tests run from one) that is the checkout,
# with setup.cfg; in an installed package it is the installed ``labdatasets`` folder, where
# ``datasets/`` and ``snapshots/`` were copied and nothing may be written.


def datasets_dir() -> Path:
    """The ``datasets/`` folder this Python imports the repository's builders from."""
    import labdatasets.datasets as pkg

    return Path(next(iter(pkg.__path__))).resolve()


def repository_root() -> Path:
    """The folder holding :func:`datasets_dir` (and ``snapshots/``): a checkout, or the installed package."""
    return datasets_dir().parent


def is_checkout(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` is a checkout of the labdatasets repository: a setup.cfg naming labdatasets
    and a ``datasets/`` package (an installed package has neither)."""
    folder = Path(folder)
    cfg = folder / "setup.cfg"
    return (
        (folder / "datasets" / "__init__.py").is_file()
        and cfg.is_file()
        and "labdatasets" in cfg.read_text("utf-8", errors="replace")
    )


def _scan_folder(root: Path) -> Iterator[DatasetLocation]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for filename in sorted(filenames):
            if not filename.endswith(BUILDER_MODULE_SUFFIX + ".py"):
                continue
            name = filename[: -len(BUILDER_MODULE_SUFFIX + ".py")]
            folder = Path(dirpath)
            rel = folder.relative_to(root)
            parts = rel.parts
            group = "/".join(parts[:-1]) if parts and parts[-1] == name else "/".join(parts)
            module = ".".join(("labdatasets", "datasets", *parts, filename[:-3]))
            yield DatasetLocation(name=name, module=module, group=group, origin="repository", path=folder)


def _entry_points() -> Iterator[DatasetLocation]:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        module, _, attr = ep.value.partition(":")
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        yield DatasetLocation(
            name=ep.name, module=module.strip(), group="external", origin=dist, attr=attr.strip() or None
        )


def _build_index() -> dict[str, DatasetLocation]:
    index: dict[str, DatasetLocation] = {}
    for location in [*_scan_folder(datasets_dir()), *_entry_points()]:
        other = index.get(location.name)
        if other is not None and other.module != location.module:
            raise DuplicateDatasetError(
                f"Two builders are named {location.name!r}: {other.module} ({other.origin}) and "
                f"{location.module} ({location.origin}); rename one of them (dataset names are global)."
            )
        index[location.name] = location
    return index


def _get_index() -> dict[str, DatasetLocation]:
    global _index
    with _lock:
        if _index is None:
            _index = _build_index()
        return _index


def refresh() -> None:
    """Forget the discovered index, e.g. after ``labdatasets new`` added a folder."""
    global _index
    with _lock:
        _index = None


def locations() -> dict[str, DatasetLocation]:
    """Every discoverable dataset and where its builder lives (nothing is imported)."""
    return dict(_get_index())


def list_datasets() -> list[str]:
    """Names of all datasets, sorted. Imports no builder module."""
    names = set(_get_index()) | set(_registered)
    return sorted(names)


def _not_found(name: str) -> DatasetNotFoundError:
    names = list_datasets()
    close = tuple(difflib.get_close_matches(name, names, n=3, cutoff=0.6))
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return DatasetNotFoundError(
        f"Dataset {name!r} not found.{hint} Run 'labdatasets list' to see the {len(names)} datasets; "
        "a new dataset is added with 'labdatasets new GROUP/NAME'.",
        name=name,
        suggestions=close,
    )


def builder_cls(name: str) -> type["DatasetBuilder"]:
    """Return the builder class of ``name``, importing its module on first use."""
    with _lock:
        if name in _registered:
            return _registered[name]
    location = _get_index().get(name)
    if location is None:
        raise _not_found(name)
    try:
        module = importlib.import_module(location.module)
    except LabDatasetsError:
        raise
    except ImportError as exc:
        raise LabDatasetsError(
            f"Cannot import the builder of {name!r} ({location.module}): {exc}. "
            "If it needs an optional package, install it (see the error above)."
        ) from exc
    with _lock:
        if name in _registered:
            return _registered[name]
    if location.attr:
        cls = getattr(module, location.attr, None)
        if cls is not None:
            register(cls, name=name)
            return cls
    raise LabDatasetsError(
        f"Module {location.module} was expected to define the builder of {name!r} but registered none; "
        f"its class must subclass labdatasets.DatasetBuilder and be named 'Builder' or set name = {name!r}."
    )


@contextlib.contextmanager
def skip_registration() -> Iterator[None]:
    """Within this block, new builder subclasses are not registered (for tests)."""
    global _skip_depth
    with _lock:
        _skip_depth += 1
    try:
        yield
    finally:
        with _lock:
            _skip_depth -= 1


def register(cls: type["DatasetBuilder"], *, name: str | None = None) -> None:
    """Register a builder class. Called by ``DatasetBuilder.__init_subclass__``."""
    name = name or cls.name
    with _lock:
        if _skip_depth:
            return
        existing = _registered.get(name)
        if existing is not None and existing is not cls:
            same_place = (existing.__module__, existing.__qualname__) == (cls.__module__, cls.__qualname__)
            if not same_place:  # re-running a notebook cell or reloading a module replaces the class
                raise DuplicateDatasetError(
                    f"Dataset {name!r} is already registered by {existing.__module__}.{existing.__qualname__}; "
                    f"{cls.__module__}.{cls.__qualname__} cannot take the same name. Rename one of them, or "
                    "pass skip_registration=True in the class statement for a builder used only in tests."
                )
        _registered[name] = cls


def unregister(name: str) -> None:
    """Remove a registered builder (for tests)."""
    with _lock:
        _registered.pop(name, None)
