"""Every error labdatasets raises, in one tree.

::

    LabDatasetsError
    ├── ConfigError                  bad environment variable, config file or argument
    ├── DatasetNameError             a string that is not ``dataset[/config][:version]``
    ├── DatasetNotFoundError         no builder has that name (also a LookupError)
    ├── DuplicateDatasetError        two builders claim one name
    ├── VersionNotFoundError         the builder has no such version (also a LookupError)
    ├── ConfigNotFoundError          the builder has no such config (also a LookupError)
    ├── SplitError                   a bad split string, or a split the version lacks
    ├── DeclarationError             a builder declares something invalid (also a ValueError)
    ├── DeclarationTypeError         a builder passes the wrong kind of object (also a TypeError)
    ├── UnknownSourceError           no connector class has that name or kind (also an AttributeError)
    ├── RowIndexError                a row index or slice outside a prepared split (also an IndexError)
    ├── MissingDependencyError       an optional package is missing (also an ImportError)
    ├── SourceError                  a live source failed while pinning or checking
    │   ├── SourceAuthError              credentials refused
    │   ├── SourceNotFoundError          table, bucket, key, sheet or file absent
    │   └── SourceUnavailableError       server down, network, timeout
    ├── SnapshotError                the snapshot store or a pin record
    │   ├── SnapshotNotFoundError        an object or pin record is not there
    │   ├── SnapshotCorruptedError       bytes do not match their sha256
    │   └── PinExistsError               the version is pinned already; bump VERSION
    ├── ProcessingError              the Beam pipeline failed or its output is wrong
    │   ├── ColumnNotFoundError          a column the processing names is not in the data (also a KeyError)
    │   └── ExpectationError             the data breaks an expectation declared in _info()
    ├── PreparedDataError            prepared splits missing, incomplete or inconsistent
    ├── TransferError                bytes to or from a store broke off (also an OSError; retried)
    └── LocalWriteError              this machine's disk refused a write (full, read-only)

Messages name the dataset, version, source or file involved and say what to do
next. They never contain a password, key or token: connectors pass locations
through :func:`labdatasets.present.redact.redact` before building a message.

A few modules refine a class of this tree for their own failures:
``features.BadValueError`` (a ``ProcessingError`` naming the column and row),
``pinning.outputs.OutputRecordError`` (a ``SnapshotError``), ``loaders._mysql_wire.WireProtocolError``
(a ``SourceError``) and ``testing.DummyDataError`` (also an ``AssertionError``, a failed test).

Classes that stand in for a builtin exception also derive from it (``DeclarationError`` is a
``ValueError``, ``RowIndexError`` an ``IndexError``...), so ``except ValueError`` and Python's
protocols (``dataset[i]`` raising ``IndexError``) keep working. Outside this tree labdatasets raises
only what Python's protocols demand: ``NotImplementedError`` from a method a subclass must
override, and ``AttributeError`` from a module's ``__getattr__``. ``tests/test_errors.py`` reads
every module's source and fails on any other builtin exception raised directly, and on ``assert``
used as a runtime check (``python -O`` drops them); only :mod:`labdatasets.testing`, whose asserts
are a builder test's assertions, has them.

Example::

    try:
        labdatasets.load("product_a:9.9.9")
    except labdatasets.errors.VersionNotFoundError as exc:
        print(exc)   # lists the versions that exist
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = [
    "LabDatasetsError",
    "ConfigError",
    "DatasetNameError",
    "DatasetNotFoundError",
    "DuplicateDatasetError",
    "VersionNotFoundError",
    "ConfigNotFoundError",
    "SplitError",
    "DeclarationError",
    "DeclarationTypeError",
    "UnknownSourceError",
    "RowIndexError",
    "MissingDependencyError",
    "SourceError",
    "SourceAuthError",
    "SourceNotFoundError",
    "SourceUnavailableError",
    "SnapshotError",
    "SnapshotNotFoundError",
    "SnapshotCorruptedError",
    "PinExistsError",
    "ProcessingError",
    "ColumnNotFoundError",
    "ExpectationError",
    "PreparedDataError",
    "TransferError",
    "LocalWriteError",
]
# Helpers (not errors; kept out of __all__, which the docs' error reference lists): local_write_error, local_writes.


class LabDatasetsError(Exception):
    """Base class of every error raised by labdatasets.

    ``shell_message``, when set, is the same message with its advice written as
    shell commands (``labdatasets load product_a:1.2.0``) rather than Python; the
    command line prints it instead of ``str(error)``.
    """

    shell_message: str | None = None


class ConfigError(LabDatasetsError, ValueError):
    """Raised when an environment variable, the config file or an argument is invalid."""


class DatasetNameError(LabDatasetsError, ValueError):
    """Raised by :func:`labdatasets.naming.parse_name` for a malformed dataset reference."""


class DatasetNotFoundError(LabDatasetsError, LookupError):
    """Raised by the registry when no builder has the requested name.

    ``suggestions`` holds the closest registered names.
    """

    def __init__(self, message: str, *, name: str = "", suggestions: tuple[str, ...] = ()):
        super().__init__(message)
        self.name = name
        self.suggestions = suggestions


class DuplicateDatasetError(LabDatasetsError):
    """Raised by the registry when two builders declare the same dataset name."""


class VersionNotFoundError(LabDatasetsError, LookupError):
    """Raised when a builder has no version matching the requested one.

    ``available`` lists the versions that exist, newest first.
    """

    def __init__(self, message: str, *, available: tuple[str, ...] = ()):
        super().__init__(message)
        self.available = available


class ConfigNotFoundError(LabDatasetsError, LookupError):
    """Raised when a builder has no config of the requested name."""


class SplitError(LabDatasetsError, ValueError):
    """Raised by :mod:`labdatasets.splits` for a malformed or unknown split."""


class DeclarationError(LabDatasetsError, ValueError):
    """Raised when a builder declares something invalid: a feature, a split ratio, a source's or a
    transform's arguments. The message names what was declared and how to write it instead."""


class DeclarationTypeError(LabDatasetsError, TypeError):
    """Raised when a builder passes an object of the wrong kind where labdatasets expects one of its
    own types (a feature, an expectation rule)."""


class UnknownSourceError(LabDatasetsError, AttributeError):
    """Raised by :func:`labdatasets.loaders.source_class` for a name or kind no connector has
    (also an ``AttributeError``, as ``labdatasets.loaders.NoSuchSource`` is)."""


class RowIndexError(LabDatasetsError, IndexError):
    """Raised by a prepared :class:`~labdatasets.prepared.dataset.Dataset` for a row index outside
    the split or a slice it cannot take (also an ``IndexError``, so iteration protocols work)."""


class MissingDependencyError(LabDatasetsError, ImportError):
    """Raised when an optional dependency is not installed.

    ``extra`` names the ``labdatasets[...]`` extra that provides it.
    """

    def __init__(self, message: str, *, package: str = "", extra: str = ""):
        super().__init__(message)
        self.package = package
        self.extra = extra

    @classmethod
    def for_extra(cls, package: str, extra: str, needed_for: str) -> "MissingDependencyError":
        return cls(
            f"{needed_for} needs the optional package {package!r}, which is not installed; "
            f"install it with: pip install 'labdatasets[{extra}]'",
            package=package,
            extra=extra,
        )


class SourceError(LabDatasetsError):
    """Raised by a connector when a live source cannot be read (pin or status).

    ``source`` is the redacted location of the source; it never carries a secret.
    """

    def __init__(self, message: str, *, source: str = ""):
        super().__init__(message)
        self.source = source


class SourceAuthError(SourceError):
    """The source refused the credentials (or none were found)."""


class SourceNotFoundError(SourceError):
    """The table, bucket, key, worksheet or file does not exist."""


class SourceUnavailableError(SourceError):
    """The source could not be reached (connection refused, timeout, 5xx)."""


class SnapshotError(LabDatasetsError):
    """Base class of snapshot-store and pin-record errors."""


class SnapshotNotFoundError(SnapshotError, LookupError):
    """An object is missing from every store, or a version has no pin record.

    ``store_missing`` is True when the store itself is not there (an ``s3://`` or
    ``gs://`` bucket that does not exist): every object is then out of reach for
    one cause, which ``verify`` reports once instead of each object as missing.
    """

    def __init__(self, message: str, *, store_missing: bool = False):
        super().__init__(message)
        self.store_missing = store_missing


class SnapshotCorruptedError(SnapshotError):
    """An object's bytes do not hash to its oid. The object is never used."""

    def __init__(self, message: str, *, oid: str = "", actual: str = "", path: str = ""):
        super().__init__(message)
        self.oid = oid
        self.actual = actual
        self.path = path


class PinExistsError(SnapshotError):
    """Raised by ``pin`` for a version that already has a pin record."""


class ProcessingError(LabDatasetsError):
    """Raised when a builder's processing fails or its output breaks its declared features."""


class ColumnNotFoundError(ProcessingError, KeyError):
    """Raised when a column the processing names (a split key, a join key) is not in the data
    (also a ``KeyError``; its text is the message, not the message's repr)."""

    __str__ = Exception.__str__


class ExpectationError(ProcessingError):
    """Raised when the data breaks an expectation declared in ``_info()`` (or implied by ``nullable=False``,
    ``key`` or ``group_key``): by a build, which then prepares nothing, or by ``labdatasets validate``.

    The message names the dataset and version and, per broken rule, the split, column and rule, how
    many rows break it and a few of their keys; ``violations`` holds them
    (:class:`labdatasets.expectations.Violation`). Fix the processing or its input (or the dummy
    data), or relax the rule (``severity="warning"`` records a break without failing the build).
    """

    def __init__(self, where: str, violations: "Sequence[Any]", *, action: str = "built"):
        self.where = where
        self.violations = list(violations)
        lines = [f"- {v.message()}" for v in self.violations]
        super().__init__(
            f"{where} was not {action}: its data breaks {len(self.violations)} expectation(s) declared in _info():\n"
            + "\n".join(lines)
            + "\nFix the processing or its input, or change the rule in _info() (severity='warning' records a "
            "break without failing the build)."
        )


class PreparedDataError(LabDatasetsError):
    """Raised when prepared splits are missing, incomplete or disagree with their pins."""


class TransferError(LabDatasetsError, OSError):
    """Raised when bytes moving to or from a store broke off: a short ranged read, a copy that
    read back short, a download that kept dropping (:class:`.stores.retry.TransferInterrupted`).

    Also an ``OSError``, so the stores' retry loops treat it as the network or disk hiccup it is;
    what reaches a user is the store's own error naming the object and what to do.
    """


class LocalWriteError(LabDatasetsError):
    """Raised when this machine's disk refuses a write: full, over quota, read-only or not ours.

    Never blamed on a source or a store: the bytes were fine, the local disk was not.
    Whatever was half-written has been removed. ``path`` is where the write failed.
    """

    def __init__(self, message: str, *, path: str = ""):
        super().__init__(message)
        self.path = path


def local_write_error(exc: BaseException, doing: str, path: object, *, permission: bool = True) -> LocalWriteError | None:
    """The :class:`LocalWriteError` for ``exc`` if it is a local-disk failure, else None.

    ``doing`` says what was being done ("pinning product_a:1.2.0 source 'orders'"),
    ``path`` where. Callers raise it ``from exc`` and remove their temporary files.
    ``permission=False`` leaves EACCES/EPERM alone (where they may come from reading a source).
    """
    import errno
    import re

    code = getattr(exc, "errno", None)
    if code is None:  # pyarrow and others raise OSError("... [Errno 28] No space left on device")
        found = re.search(r"\[Errno (\d+)\]", str(exc))
        code = int(found.group(1)) if found else None
    if not permission and code in (errno.EACCES, errno.EPERM):
        return None
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return LocalWriteError(
            f"No space left on the disk holding {path} while {doing}. Nothing half-written was kept. Free space "
            "there, or move the local store and caches to a larger disk (LABDATASETS_HOME; prepared data: "
            "LABDATASETS_DATA_DIR), then run the command again.",
            path=str(path),
        )
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return LocalWriteError(
            f"Cannot write {path} while {doing}: {getattr(exc, 'strerror', None) or exc}. Nothing half-written was "
            "kept. Make the folder writable for this user, or point LABDATASETS_HOME (or LABDATASETS_DATA_DIR) at "
            "one that is.",
            path=str(path),
        )
    return None


@contextlib.contextmanager
def local_writes(doing: str, path: object, *, permission: bool = True) -> Iterator[None]:
    """Turn a full or read-only local disk inside the block into a :class:`LocalWriteError`."""
    try:
        yield
    except OSError as exc:
        error = local_write_error(exc, doing, path, permission=permission)
        if error is None:
            raise
        raise error from exc
