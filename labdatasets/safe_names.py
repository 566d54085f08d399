"""Validators for every name that comes from a record, checked before it touches a filesystem.

Release records in the shared cache, ``dataset_info.json`` files, pin records
and output records all carry names that end up in paths: shard filenames,
split names, code file paths, oids. None of them is trusted: each is checked
against a strict pattern here, and a name that does not match is refused with
a :class:`~labdatasets.errors.LabDatasetsError` subclass (chosen by the
caller) *before* any file is opened, created or renamed. ``..``, absolute
paths, backslashes, drive letters, NUL bytes and anything else outside the
pattern never reach ``open()``.

Example::

    >>> shard_filename("product_a-train-00000-of-00001.parquet", where="release record")
    'product_a-train-00000-of-00001.parquet'
    >>> shard_filename("../../.bashrc", where="release record")
    Traceback (most recent call last):
    labdatasets.errors.SnapshotError: release record names the file '../../.bashrc', ...
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

from labdatasets.errors import LabDatasetsError, SnapshotError

__all__ = [
    "SPLIT_RE",
    "SHARD_RE",
    "INFO_NAME",
    "check_oid",
    "sha256_digest",
    "package_version",
    "byte_count",
    "dataset_name",
    "config_name",
    "exact_version",
    "utc_time",
    "split_name",
    "shard_filename",
    "code_path",
    "object_path",
    "inside",
]

#: A split name: a word such as ``train`` or ``validation_2``.
SPLIT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}\Z")
#: A prepared shard: ``<dataset>-<split>-00000-of-00001.parquet``.
SHARD_RE = re.compile(r"^[a-z][a-z0-9_]{0,127}-[A-Za-z][A-Za-z0-9_]{0,63}-[0-9]{5}-of-[0-9]{5}\.parquet\Z")
#: The one other file of a prepared folder.
INFO_NAME = "dataset_info.json"
_OID_RE = re.compile(r"^[0-9a-f]{64}\Z")
_DATASET_RE = re.compile(r"^[a-z][a-z0-9_]{0,127}\Z")
_CONFIG_RE = re.compile(r"^[A-Za-z0-9][\w\-.+]{0,127}\Z")
_VERSION_RE = re.compile(r"^[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}\Z")
#: A time as ``labdatasets.pinning.record.utc_now()`` writes it: ``2024-01-01T00:00:00Z``.
_UTC_TIME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")
_CODE_PART_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}\Z")
#: A PEP 440 version in its normal form (``0.1.0``, ``1.2.3rc1``, ``0.1.1.dev3+g1a2b3c4``), as ``__version__`` is written.
_PACKAGE_VERSION_RE = re.compile(
    r"^(?:[0-9]{1,9}!)?[0-9]{1,9}(?:\.[0-9]{1,9}){0,9}(?:(?:a|b|rc)[0-9]{1,9})?(?:\.post[0-9]{1,9})?(?:\.dev[0-9]{1,9})?"
    r"(?:\+[a-z0-9]{1,32}(?:\.[a-z0-9]{1,32}){0,9})?\Z"
)
_PACKAGE_VERSION_MAX = 64
#: The largest byte count read (a signed 64-bit size, as filesystems and Parquet count).
_BYTE_COUNT_MAX = 2**63 - 1


#: The next step for a committed record (pin record, output record) that names something refused.
RESTORE = "The record was edited or corrupted: restore it from git."


def _refuse(error: type[LabDatasetsError], where: str, what: str, value: Any, rule: str, hint: str) -> LabDatasetsError:
    return error(
        f"{where} names the {what} {str(value)[:200]!r}, which is not {rule}; it was refused before any file was "
        f"touched. {hint}"
    )


def _matching(value: Any, pattern: "re.Pattern[str]", where: str, error: type[LabDatasetsError], hint: str, what: str, rule: str) -> str:
    """``value`` if it is text that ``pattern`` matches; else the refusal naming ``what`` and the ``rule``."""
    if not isinstance(value, str) or not pattern.match(value):
        raise _refuse(error, where, what, value, rule, hint)
    return value


def check_oid(value: Any, *, where: str, error: type[LabDatasetsError] = SnapshotError, hint: str = RESTORE) -> str:
    """``value`` if it is a sha256 hex digest (64 lowercase hex characters)."""
    return sha256_digest(value, where=where, what="object id", error=error, hint=hint)


def sha256_digest(
    value: Any, *, where: str, what: str, error: type[LabDatasetsError] = SnapshotError, hint: str = RESTORE
) -> str:
    """``value`` if it is a sha256 hex digest (a snapshot id, a processing fingerprint); ``what`` names it in the refusal."""
    return _matching(value, _OID_RE, where, error, hint, what, "a sha256 (64 lowercase hex characters)")


def package_version(
    value: Any, *, where: str, what: str = "labdatasets version", error: type[LabDatasetsError] = SnapshotError, hint: str = RESTORE
) -> str:
    """``value`` if it is a PEP 440 version in normal form (``0.1.0``, ``1.2.3rc1``) of at most 64 characters."""
    if not isinstance(value, str) or len(value) > _PACKAGE_VERSION_MAX or not _PACKAGE_VERSION_RE.match(value):
        raise _refuse(error, where, what, value, f"a {what} such as '0.1.0' (PEP 440, at most {_PACKAGE_VERSION_MAX} characters)", hint)
    return value


def byte_count(
    value: Any, *, where: str, what: str = "size", error: type[LabDatasetsError] = SnapshotError, hint: str = RESTORE
) -> int:
    """``value`` if it is a number of bytes: an ``int`` (not a bool, a float or text) from 0 to 2**63 - 1."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _BYTE_COUNT_MAX:
        return value
    if isinstance(value, int) and not -(10**4000) < value < 10**4000:
        value = "a number too large to show"  # str() of an int of more than 4300 digits raises
    raise _refuse(error, where, what, value, "a byte count (a whole number from 0, below 2**63)", hint)


def dataset_name(value: Any, *, where: str, error: type[LabDatasetsError] = SnapshotError, hint: str = RESTORE) -> str:
    """``value`` if it is a dataset name (snake_case, such as ``product_a``)."""
    return _matching(value, _DATASET_RE, where, error, hint, "dataset", "a snake_case dataset name such as 'product_a'")


def config_name(value: Any, *, where: str, error: type[LabDatasetsError] = SnapshotError, hint: str = RESTORE) -> str:
    """``value`` if it is a builder config name (such as ``small`` or ``en-2024``)."""
    return _matching(value, _CONFIG_RE, where, error, hint, "config", "a config name such as 'small'")


def exact_version(value: Any, *, where: str, error: type[LabDatasetsError] = SnapshotError, hint: str = RESTORE) -> str:
    """``value`` if it is an exact version (``1.2.0``)."""
    return _matching(value, _VERSION_RE, where, error, hint, "version", "a version such as '1.2.0'")


def utc_time(
    value: Any, *, where: str, what: str = "time", error: type[LabDatasetsError] = SnapshotError, hint: str = RESTORE
) -> str:
    """``value`` if it is a UTC time as ``utc_now()`` writes it (``2024-01-01T00:00:00Z``), and a real one.

    Records show their times in messages: nothing else (newlines, terminal escapes, kilobytes of text) gets through.
    """
    rule = "a UTC time such as '2024-01-01T00:00:00Z'"
    _matching(value, _UTC_TIME_RE, where, error, hint, what, rule)
    try:
        datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:  # the shape of a time, but none (month 13, hour 25)
        raise _refuse(error, where, what, value, rule, hint) from None
    return value


def split_name(value: Any, *, where: str, error: type[LabDatasetsError] = SnapshotError, hint: str = RESTORE) -> str:
    """``value`` if it is a split name (a word such as ``train``)."""
    return _matching(value, SPLIT_RE, where, error, hint, "split", "a word such as 'train'")


def shard_filename(value: Any, *, where: str, error: type[LabDatasetsError] = SnapshotError, hint: str = RESTORE) -> str:
    """``value`` if it is a prepared shard filename (``<dataset>-<split>-00000-of-00001.parquet``)."""
    return _matching(value, SHARD_RE, where, error, hint, "file", "a shard name such as 'product_a-train-00000-of-00001.parquet'")


def code_path(value: Any, *, where: str, error: type[LabDatasetsError] = SnapshotError, hint: str = RESTORE) -> str:
    """``value`` if it is a relative ``.py`` path inside a builder folder (``a/b.py``, no ``..``)."""
    ok = isinstance(value, str) and value.endswith(".py") and 0 < len(value) <= 512
    if ok:
        parts = value.split("/")
        ok = len(parts) <= 8 and all(_CODE_PART_RE.match(p) and p not in (".", "..") for p in parts)
    if not ok:
        raise _refuse(error, where, "code file", value, "a relative .py path inside the builder folder", hint)
    return value


def object_path(value: Any, *, where: str, error: type[LabDatasetsError] = SnapshotError, hint: str = RESTORE) -> str:
    """``value`` if it can name an object of a source: relative, no ``..`` part, no NUL or backslash.

    Source object paths are names in a bucket or folder (spaces and any Unicode
    are fine); they are never used to write files, but they are still refused if
    they could climb out of a folder.
    """
    ok = isinstance(value, str) and 0 < len(value) <= 4096 and "\0" not in value and "\\" not in value
    if ok:
        ok = not value.startswith("/") and not re.match(r"^[A-Za-z]:", value)
        ok = ok and all(p not in ("..",) for p in value.split("/"))
    if not ok:
        raise _refuse(error, where, "object path", value, "a relative path without '..'", hint)
    return value


def inside(root: Path, relative: str, *, where: str, error: type[LabDatasetsError] = SnapshotError, hint: str = RESTORE) -> Path:
    """``root / relative``, refusing anything that resolves outside ``root`` (a last line of defence)."""
    target = root / relative
    resolved_root = root.resolve()
    resolved = target.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise _refuse(error, where, "path", relative, f"inside {root}", hint)
    return target
