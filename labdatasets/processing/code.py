"""Versioned processing: which code builds a version, and the archive that keeps it buildable.

A version is one set of pins (Loading) and one revision of the processing code
(Processing). ``pin`` records both in the version's pin record:

* ``code_fingerprint``: sha256 of the builder folder's Python files
  (:meth:`DatasetBuilder.code_fingerprint`);
* ``code_files``: those files, stored as objects in the snapshot store next to
  the pinned data (content-addressed, so an unchanged file is stored once).

Which code builds a version:

========================================  ==================================================
the builder's code is the pinned code     the builder as it is
the version is the newest (``VERSION``)   the builder as it is (you are developing it;
                                          ``labdatasets check`` fails until VERSION is bumped)
an older version, and the code moved on   the archived code of that version, imported from
                                          the snapshot store under its own module name
========================================  ==================================================

So ``product_a:1.0.0`` keeps meaning what it meant when it was released, even
after the builder dropped the branches that produced it. Prepared data of a
released version is also served, verified, from the shared cache
(:mod:`labdatasets.prepared.shared_cache`), which needs no code at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import logging
import os
import shutil
import sys
import types
import uuid
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from collections.abc import Iterator, Sequence

from labdatasets import safe_names
from labdatasets.errors import ProcessingError, SnapshotNotFoundError
from labdatasets.pinning.record import ObjectEntry
from labdatasets.stores.hashing import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.builder import DatasetBuilder
    from labdatasets.pinning.record import PinRecord
    from labdatasets.stores import Snapshots

__all__ = ["code_paths", "fingerprint_code", "archive_code", "expected_fingerprint", "is_newest", "processing_builder", "ensure_code_archived"]

logger = logging.getLogger(__name__)

ARCHIVE_PACKAGE_PREFIX = "labdatasets_code_"


def code_paths(root: Path) -> list[str]:
    """The Python files of a builder folder that make up its processing (relative, sorted).

    Tests, ``data/``, ``dummy_data/`` and caches are not processing code.
    """
    paths = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.endswith("_test.py") or path.name.startswith("test_") or "__pycache__" in rel:
            continue
        if rel.split("/")[0] in ("dummy_data", "data"):
            continue
        paths.append(rel)
    return paths


def fingerprint_code(root: Path, paths: Sequence[str] | None = None) -> str:
    """sha256 over ``paths`` (default :func:`code_paths`) under ``root``, line endings normalized."""
    digest = hashlib.sha256()
    for rel in code_paths(root) if paths is None else sorted(paths, key=PurePosixPath):
        text = (root / rel).read_bytes().replace(b"\r\n", b"\n")
        digest.update(f"{rel}\0{len(text)}\0".encode())
        digest.update(text)
    return digest.hexdigest()


def archive_code(builder_cls: type["DatasetBuilder"], store: "Snapshots") -> tuple[ObjectEntry, ...]:
    """Store the builder folder's Python files as snapshot objects; return their entries."""
    root = builder_cls.module_dir()
    entries = []
    for rel in code_paths(root):
        info = store.add_file(root / rel)
        entries.append(ObjectEntry(path=rel, oid=info.oid, size=info.size))
    return tuple(entries)


def is_newest(builder: "DatasetBuilder") -> bool:
    """Whether ``builder.version`` is the builder's (or its config's) current version."""
    return builder.version == builder.versions(builder.config_name)[0]


def expected_fingerprint(builder: "DatasetBuilder", record: "PinRecord") -> str:
    """The processing fingerprint ``builder.version`` is built with (see the module docstring)."""
    current = type(builder).code_fingerprint()
    if not record.code_fingerprint or record.code_fingerprint == current or is_newest(builder):
        return current
    return record.code_fingerprint


def ensure_code_archived(builder: "DatasetBuilder", record: "PinRecord", store: "Snapshots") -> None:
    """Put the pinned code files in the store from the builder folder when they still match.

    A fresh machine's store does not have them yet; the files in the checkout
    are accepted only if they hash to the pinned oids.
    """
    root = type(builder).module_dir()
    by_oid = {f.oid: root / f.path for f in record.code_files}
    for entry in record.code_files:
        if not store.has(entry.oid):
            store.local_path(entry.oid, context=f"{builder.full_name} code file {entry.path!r}", mirror=by_oid.get)


def processing_builder(builder: "DatasetBuilder", record: "PinRecord", store: "Snapshots") -> "DatasetBuilder":
    """The builder instance whose ``_info`` and ``_process`` build ``builder.version``."""
    current = type(builder).code_fingerprint()
    if not record.code_fingerprint or record.code_fingerprint == current:
        if record.code_files:
            ensure_code_archived(builder, record, store)
        return builder
    if is_newest(builder):
        logger.warning(
            "The processing code of %s changed since it was pinned (pinned %s, now %s); building it with the "
            "code as it is. 'labdatasets check' fails until VERSION is bumped and the new version pinned.",
            builder.full_name, record.code_fingerprint[:12], current[:12],
        )
        return builder
    if not record.code_files:
        raise ProcessingError(
            f"{builder.full_name} was pinned with processing code {record.code_fingerprint[:12]}, and the builder's "
            f"code has changed since (now {current[:12]}). Its pin record keeps no copy of that code, so it cannot "
            "be rebuilt exactly: load it from the shared cache (set LABDATASETS_SHARED_CACHE), or check out the "
            "commit that released it."
        )
    cls = load_archived_builder(builder, record, store)
    return cls(config=builder.config_name, version=str(builder.version), settings=builder.settings)


def code_copy_dir(builder: "DatasetBuilder", record: "PinRecord") -> Path:
    """``<home>/code/<fingerprint>/``: the archived code of ``record``, as imported on this machine."""
    fingerprint = safe_names.check_oid(record.code_fingerprint, where=f"Pin record {record.path or record.full_name}")
    return builder.settings.home / "code" / fingerprint


def copy_problems(root: Path, record: "PinRecord") -> list[str]:
    """How the copy in ``root`` differs from the record's ``code_files`` (re-hashed); [] if it does not."""
    problems = []
    listed = {entry.path for entry in record.code_files}
    for entry in record.code_files:
        path = root / entry.path
        if not path.is_file():
            problems.append(f"archived code copy {path}: missing")
        elif sha256_file(path) != entry.oid:
            problems.append(f"archived code copy {path}: changed since it was written (not the committed code)")
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel not in listed:
            problems.append(f"archived code copy {path}: not in the pin record's code_files")
    return problems


def _materialize(builder: "DatasetBuilder", record: "PinRecord", store: "Snapshots") -> Path:
    """Write the archived files under ``<home>/code/<fingerprint>/``; re-check the copy on every call.

    Every name comes from the pin record and is checked before anything is
    written (:mod:`labdatasets.safe_names`); a copy that no longer hashes to the
    committed oids (edited on disk, a bad disk) is removed and written again.
    """
    where = f"Pin record {record.path or record.full_name}"
    for entry in record.code_files:
        safe_names.code_path(entry.path, where=where, error=ProcessingError)
        safe_names.check_oid(entry.oid, where=where, error=ProcessingError)
    root = code_copy_dir(builder, record)
    fingerprint = root.name
    if (root / ".complete").is_file():
        shutil.rmtree(root / "__pycache__", ignore_errors=True)  # bytecode is not checked: never trust it
        problems = copy_problems(root, record)
        if not problems:
            return root
        logger.warning(
            "The archived code of %s in %s is not the committed code (%s); writing it again from the snapshot store",
            builder.full_name, root, "; ".join(problems[:3]),
        )
        old = root.parent / f".replaced.{fingerprint[:12]}.{uuid.uuid4().hex[:8]}"
        try:
            os.replace(root, old)
        except OSError:
            pass
        shutil.rmtree(old, ignore_errors=True)
    tmp = root.parent / f".incomplete.{fingerprint[:12]}.{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        for entry in record.code_files:
            context = f"{builder.full_name} archived code file {entry.path!r}"
            try:
                source = store.local_path(entry.oid, context=context)
            except SnapshotNotFoundError as exc:
                raise ProcessingError(
                    f"{builder.full_name} must be rebuilt with the processing code it was released with "
                    f"({fingerprint[:12]}), but its file {entry.path!r} is in neither the snapshot store nor the "
                    f"shared cache. Point LABDATASETS_SNAPSHOT_STORE at the lab's store, or set "
                    f"LABDATASETS_SHARED_CACHE to load its published data. ({exc})"
                ) from exc
            target = safe_names.inside(tmp, entry.path, where=where, error=ProcessingError)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        if fingerprint_code(tmp, [e.path for e in record.code_files]) != fingerprint:
            raise ProcessingError(
                f"The archived code files of {builder.full_name} do not add up to its pinned code fingerprint "
                f"{fingerprint[:12]}; its pin record was edited. Restore it from git."
            )
        (tmp / ".complete").write_text(record.full_name + "\n")
        try:
            os.replace(tmp, root)
        except OSError:  # another process materialized it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


@contextlib.contextmanager
def _no_bytecode() -> Iterator[None]:
    """Import without writing ``.pyc`` files: one beside the copy would be imported later without a check."""
    before = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = before


def load_archived_builder(builder: "DatasetBuilder", record: "PinRecord", store: "Snapshots") -> type["DatasetBuilder"]:
    """Import the builder class a version was released with, from its archived code.

    The archived folder becomes the package ``labdatasets_code_<fingerprint>``
    (relative imports inside the builder folder keep working) and is not
    registered: the registry keeps the current builder.
    """
    from labdatasets import registry
    from labdatasets.builder import DatasetBuilder

    current_cls = type(builder)
    root = _materialize(builder, record, store)
    package = ARCHIVE_PACKAGE_PREFIX + (record.code_fingerprint or "")[:16]
    if package not in sys.modules:
        init = root / "__init__.py"
        if init.is_file():
            spec = importlib.util.spec_from_file_location(package, init, submodule_search_locations=[str(root)])
            if spec is None or spec.loader is None:
                raise ProcessingError(
                    f"Cannot import the archived code of {builder.full_name} from {init}; remove {root} so that it is "
                    "restored from the snapshot store, and load again."
                )
            module = importlib.util.module_from_spec(spec)
            sys.modules[package] = module
            with _no_bytecode():
                spec.loader.exec_module(module)
        else:  # a builder folder without __init__.py: a bare package over the folder
            module = types.ModuleType(package)
            module.__path__ = [str(root)]
            module.__spec__ = importlib.machinery.ModuleSpec(package, None, is_package=True)
            module.__spec__.submodule_search_locations = [str(root)]
            sys.modules[package] = module
    leaf = Path(inspect.getfile(current_cls)).stem
    try:
        with registry.skip_registration(), _no_bytecode():
            module = importlib.import_module(f"{package}.{leaf}")
    except Exception as exc:  # noqa: BLE001 - old code may no longer import against today's libraries
        raise ProcessingError(
            f"The processing code {builder.full_name} was released with (archived in {root}) no longer imports: "
            f"{type(exc).__name__}: {exc}. Load its published data from the shared cache, or rebuild it in an "
            "environment of that time."
        ) from exc
    archived = getattr(module, current_cls.__name__, None)
    if not (isinstance(archived, type) and issubclass(archived, DatasetBuilder)) or archived.name != current_cls.name:
        raise ProcessingError(
            f"The archived code of {builder.full_name} ({root}) defines no builder class "
            f"{current_cls.__name__!r} named {current_cls.name!r}."
        )
    # It is the same dataset: its pin records are found where the current builder's are.
    archived._archived_pins_root = current_cls.pins_root()
    return archived
