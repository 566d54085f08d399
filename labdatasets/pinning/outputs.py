"""Output records: what a released version's build produced, committed next to its pin record.

A version's pin record (``snapshots/<name>/<version>.json``) names its inputs
and its code. Its output record, ``snapshots/<name>/<version>.lock.json``
(written by ``labdatasets lock``, like ``dvc.lock`` next to ``dvc.yaml``),
names what building them gives::

    {
      "lock_format": 1,
      "dataset": "product_a", "config": null, "version": "1.2.0",
      "pin_record": "<sha256 of the pin record's JSON>",
      "snapshot_id": "...", "code_fingerprint": "...",
      "features": "<sha256 of the declared features and key>",
      "splits": {
        "train": {"num_rows": 240, "num_bytes": 31012, "fingerprint": "...",
                  "shards": [{"filename": "product_a-train-00000-of-00001.parquet",
                              "num_rows": 240, "num_bytes": 31012, "sha256": "..."}],
                  "statistics": {"num_rows": 240, "columns": {...}}}
      },
      "built_with": {"pyarrow": "...", "apache_beam": "...", "labdatasets": "..."},
      "locked_at": "...",
      "digest": "<sha256 of everything above>"
    }

Together the two committed files are the root of trust: a prepared folder, a
shared-cache release and a build on another machine or runner are checked
against them, never against their own records. Why a separate file rather than
a section of the pin record: a pin record is written once, when the inputs
are read, and never edited; the outputs exist only after a build, which for a
large version runs later and elsewhere (a Dataflow job, a CI runner). The
output record pins the pin record itself (``pin_record``), so an edit of
``code_fingerprint`` or ``code_files`` is noticed by ``labdatasets check``.

Each split's statistics (:mod:`labdatasets.processing.statistics`) are recorded
too when the build computed them, so that a pull request that bumps a version
shows what moved in the data, not only which files changed. Their floats are
written rounded to :data:`STATISTICS_DIGITS` significant digits (the build merges
shard statistics in shard order, so the same rows give the same statistics on
every runner; the rounding keeps the last bits of a mean or a standard deviation,
which another numpy may sum differently, out of the record). ``check`` compares the
counts of a recorded split (rows, nulls, values, classes) with the prepared ones,
exactly; a record written before statistics existed has none, and still verifies.

Row counts and split fingerprints are the contract of a version. Shard bytes
(``sha256``) are what was released: a build here with another pyarrow may
write other bytes for the same rows, which is accepted when every split's
content fingerprint matches; downloads from the shared cache must match the
committed bytes exactly.

Example::

    >>> record = read_lock(builder)            # None when the version has none
    >>> problems = compare_info(info, record)  # [] when the prepared data is the committed one
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Mapping

from labdatasets import safe_names
from labdatasets.errors import PreparedDataError, SnapshotError
from labdatasets.naming import DatasetReference
from labdatasets.stores.hashing import sha256_json

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.builder import DatasetBuilder
    from labdatasets.info import DatasetInfo
    from labdatasets.pinning.record import PinRecord

__all__ = [
    "LOCK_FORMAT",
    "LOCK_SUFFIX",
    "LockedShard",
    "LockedSplit",
    "OutputRecord",
    "OutputRecordError",
    "compare_info",
    "features_digest",
    "lock_path",
    "pin_digest",
    "read_lock",
    "LockResult",
    "write_output_record",
]

LOCK_FORMAT = 1
LOCK_SUFFIX = ".lock.json"
#: Floats of the statistics in an output record are rounded to this many significant digits.
STATISTICS_DIGITS = 12
#: The fields of a column's statistics that ``check`` compares exactly (counts fixed by the rows).
COUNTED = ("nulls", "count", "nan", "inf", "unreadable", "classes")

logger = logging.getLogger(__name__)


class OutputRecordError(SnapshotError):
    """An output record (``<version>.lock.json``) is unreadable, edited, or names another pin record."""


@dataclasses.dataclass(frozen=True)
class LockedShard:
    filename: str
    num_rows: int
    num_bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class LockedSplit:
    num_rows: int
    num_bytes: int
    fingerprint: str
    shards: tuple[LockedShard, ...]
    statistics: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "num_rows": self.num_rows,
            "num_bytes": self.num_bytes,
            "fingerprint": self.fingerprint,
            "shards": [s.to_json() for s in self.shards],
        }
        if self.statistics is not None:
            out["statistics"] = dict(self.statistics)
        return out


def rounded(value: Any, digits: int = STATISTICS_DIGITS) -> Any:
    """``value`` (statistics JSON) with every float rounded to ``digits`` significant digits."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if value == value and abs(value) != float("inf") else value
    if isinstance(value, Mapping):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value


def counted(statistics: Mapping[str, Any]) -> dict[str, Any]:
    """The exact counts of a split's statistics: rows, and per column the fields in :data:`COUNTED`."""
    columns = statistics.get("columns", {})
    return {
        "num_rows": statistics.get("num_rows"),
        **{f"{name}.{field}": column[field] for name, column in sorted(columns.items()) for field in COUNTED if field in column},
    }


def features_digest(info: "DatasetInfo") -> str:
    """sha256 of what decides how rows are read: the features, the key and the supervised keys."""
    return sha256_json(
        {
            "features": info.features.to_json(),
            "key": list(info.key_columns),
            "supervised_keys": list(info.supervised_keys) if info.supervised_keys else None,
        }
    )


def pin_digest(record: "PinRecord") -> str:
    """sha256 of the pin record as it is on disk (every field, including ``code_files``)."""
    if record.path is not None:
        try:
            return sha256_json(json.loads(Path(record.path).read_text("utf-8")))
        except (OSError, ValueError) as exc:
            raise SnapshotError(f"Cannot read pin record {record.path}: {exc}; restore it from git.") from exc
    return sha256_json(record.to_json())


@dataclasses.dataclass(frozen=True)
class OutputRecord:
    """The committed outputs of one version (see the module docstring)."""

    dataset: str
    config: str | None
    version: str
    pin_record: str
    snapshot_id: str
    code_fingerprint: str
    features: str
    splits: Mapping[str, LockedSplit]
    built_with: Mapping[str, str] = dataclasses.field(default_factory=dict)
    locked_at: str = ""
    path: Path | None = dataclasses.field(default=None, compare=False)

    @property
    def full_name(self) -> str:
        return str(DatasetReference(self.dataset, self.config, self.version))

    @property
    def where(self) -> str:
        return str(self.path) if self.path else f"the output record of {self.full_name}"

    @property
    def shards(self) -> dict[str, LockedShard]:
        """``{filename: shard}`` over every split."""
        return {s.filename: s for split in self.splits.values() for s in split.shards}

    def body(self) -> dict[str, Any]:
        return {
            "lock_format": LOCK_FORMAT,
            "dataset": self.dataset,
            "config": self.config,
            "version": self.version,
            "pin_record": self.pin_record,
            "snapshot_id": self.snapshot_id,
            "code_fingerprint": self.code_fingerprint,
            "features": self.features,
            "splits": {name: split.to_json() for name, split in sorted(self.splits.items())},
            "built_with": dict(self.built_with),
            "locked_at": self.locked_at,
        }

    def to_json(self) -> dict[str, Any]:
        body = self.body()
        return {**body, "digest": sha256_json(body)}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, data: Any, *, path: Path | None = None) -> "OutputRecord":
        where = f"Output record {path}" if path else "An output record"
        if not isinstance(data, dict) or data.get("lock_format") != LOCK_FORMAT:
            fmt = data.get("lock_format") if isinstance(data, dict) else None
            raise OutputRecordError(
                f"{where} has lock_format {fmt!r}; this labdatasets reads format {LOCK_FORMAT}. Upgrade labdatasets, "
                "or restore the file from git."
            )
        body = {k: v for k, v in data.items() if k != "digest"}
        if data.get("digest") != sha256_json(body):
            raise OutputRecordError(
                f"{where} was edited by hand: its digest does not match its content. Restore it from git; an output "
                "record is written by 'labdatasets lock', never edited."
            )
        try:
            splits = {}
            for name, split in data["splits"].items():
                safe_names.split_name(name, where=where, error=OutputRecordError)
                shards = tuple(
                    LockedShard(
                        filename=safe_names.shard_filename(s["filename"], where=where, error=OutputRecordError),
                        num_rows=int(s["num_rows"]),
                        num_bytes=int(s["num_bytes"]),
                        sha256=safe_names.check_oid(s["sha256"], where=where, error=OutputRecordError),
                    )
                    for s in split["shards"]
                )
                statistics = split.get("statistics")
                if statistics is not None and not isinstance(statistics, dict):
                    raise OutputRecordError(
                        f"{where} is malformed: the statistics of split {name!r} are not an object; restore it from git."
                    )
                splits[name] = LockedSplit(
                    num_rows=int(split["num_rows"]),
                    num_bytes=int(split["num_bytes"]),
                    fingerprint=str(split["fingerprint"]),
                    shards=shards,
                    statistics=statistics,
                )
            return cls(
                dataset=data["dataset"],
                config=data.get("config"),
                version=data["version"],
                pin_record=safe_names.check_oid(data["pin_record"], where=where, error=OutputRecordError),
                snapshot_id=data["snapshot_id"],
                code_fingerprint=data["code_fingerprint"],
                features=data["features"],
                splits=splits,
                built_with=dict(data.get("built_with", {})),
                locked_at=data.get("locked_at", ""),
                path=path,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise OutputRecordError(f"{where} is malformed ({type(exc).__name__}: {exc}); restore it from git.") from exc

    @classmethod
    def read(cls, path: Path) -> "OutputRecord":
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise OutputRecordError(f"Cannot read output record {path}: {exc}; restore it from git.") from exc
        return cls.from_json(data, path=path)

    @classmethod
    def of_info(cls, info: "DatasetInfo", record: "PinRecord", *, locked_at: str) -> "OutputRecord":
        """The output record of a prepared version (whose files were just verified)."""
        return cls(
            dataset=info.name,
            config=info.config,
            version=info.version,
            pin_record=pin_digest(record),
            snapshot_id=info.snapshot_id or "",
            code_fingerprint=info.code_fingerprint or "",
            features=features_digest(info),
            splits={
                name: LockedSplit(
                    num_rows=split.num_rows,
                    num_bytes=split.num_bytes,
                    fingerprint=split.fingerprint,
                    shards=tuple(LockedShard(s.filename, s.num_rows, s.num_bytes, s.sha256) for s in split.shards),
                    statistics=rounded(split.statistics) if split.statistics is not None else None,
                )
                for name, split in info.splits.items()
            },
            built_with={k: v for k, v in info.environment.items() if k in ("labdatasets", "pyarrow", "apache_beam")},
            locked_at=locked_at,
        )

    def write(self, path: Path) -> Path:
        """Write atomically (readable by the group that shares the checkout)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.dumps())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return path

    def applies_to(self, snapshot_id: str | None, code_fingerprint: str | None) -> bool:
        """Whether this record describes a build of that snapshot with that processing."""
        return (snapshot_id, code_fingerprint) == (self.snapshot_id, self.code_fingerprint)

    def check_pin(self, record: "PinRecord") -> None:
        """Raise if the pin record is not the one these outputs were built from."""
        if pin_digest(record) != self.pin_record:
            raise OutputRecordError(
                f"The pin record {record.path or record.full_name} is not the one {self.where} was written for: "
                "one of them was edited (code_fingerprint, code_files, sources...). A released version's records "
                "are never edited: restore both from git. While you develop an unreleased version, pin it again "
                f"and run 'labdatasets lock {self.full_name}'."
            )
        if (record.snapshot_id, record.code_fingerprint or "") != (self.snapshot_id, self.code_fingerprint):
            raise OutputRecordError(
                f"{self.where} names snapshot {self.snapshot_id[:12]} and processing {self.code_fingerprint[:12]}, "
                f"but the pin record {record.path or record.full_name} names {record.snapshot_id[:12]} and "
                f"{(record.code_fingerprint or '?')[:12]}. Restore both from git."
            )


def lock_path(builder: "DatasetBuilder") -> Path:
    """Where the output record of ``builder``'s version is: beside its pin record."""
    record_path = None
    for candidate in builder.pin_record_candidates():
        if candidate.is_file():
            record_path = candidate
            break
    pin_path = record_path or builder.pin_record_path()
    return pin_path.with_name(pin_path.name[: -len(".json")] + LOCK_SUFFIX)


def read_lock(builder: "DatasetBuilder", record: "PinRecord | None" = None) -> OutputRecord | None:
    """The output record of ``builder``'s version, checked against its pin record; None if there is none."""
    path = lock_path(builder)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    # Every load reads these two small files: parse and check them once per change on disk.
    pin_stat = _stat_key(record.path) if record is not None and record.path is not None else None
    key = (str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino, builder.full_name, pin_stat)
    cached = _CHECKED.get(str(path))
    if cached is not None and cached[0] == key and (record is None or pin_stat is not None):
        return cached[1]
    lock = OutputRecord.read(path)
    if lock.full_name != builder.full_name:
        raise OutputRecordError(f"Output record {path} is for {lock.full_name}, not {builder.full_name}; restore it from git.")
    if record is not None:
        lock.check_pin(record)
        if pin_stat is not None:
            _CHECKED[str(path)] = (key, lock)
    return lock


_CHECKED: dict[str, tuple[Any, OutputRecord]] = {}


def _stat_key(path: Path) -> tuple[str, int, int, int] | None:
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return (str(path), st.st_mtime_ns, st.st_size, st.st_ino)


def compare_info(info: "DatasetInfo", lock: OutputRecord, *, exact_bytes: bool = False) -> list[str]:
    """How ``info`` (a prepared ``dataset_info.json``) differs from the committed outputs; [] if it does not.

    ``exact_bytes`` also requires every shard's sha256 and size to be the
    committed ones (data that arrived from elsewhere); otherwise a shard may
    hold other bytes for the same rows (a build here with another pyarrow).
    """
    problems = []
    if (info.snapshot_id, info.code_fingerprint) != (lock.snapshot_id, lock.code_fingerprint):
        problems.append(
            f"{INFO}: built from snapshot {(info.snapshot_id or '?')[:12]} with processing "
            f"{(info.code_fingerprint or '?')[:12]}, committed {lock.snapshot_id[:12]} and {lock.code_fingerprint[:12]}"
        )
    if features_digest(info) != lock.features:
        problems.append(f"{INFO}: its features or key are not the committed ones")
    if set(info.splits) != set(lock.splits):
        problems.append(f"{INFO}: splits {sorted(info.splits)}, committed {sorted(lock.splits)}")
    for name in sorted(set(info.splits) & set(lock.splits)):
        got, want = info.splits[name], lock.splits[name]
        if got.num_rows != want.num_rows:
            problems.append(f"{INFO}: split {name!r} has {got.num_rows} rows, committed {want.num_rows}")
        if got.fingerprint != want.fingerprint:
            problems.append(f"{INFO}: split {name!r} has fingerprint {got.fingerprint[:16]}, committed {want.fingerprint[:16]}")
        shards = [(s.filename, s.num_rows) for s in got.shards]
        committed = [(s.filename, s.num_rows) for s in want.shards]
        if shards != committed:
            problems.append(f"{INFO}: split {name!r} has shards {shards}, committed {committed}")
        elif exact_bytes:
            for shard, locked in zip(got.shards, want.shards, strict=True):
                if (shard.sha256, shard.num_bytes) != (locked.sha256, locked.num_bytes):
                    problems.append(f"{shard.filename}: sha256 {shard.sha256[:12]}, committed {locked.sha256[:12]}")
        if got.statistics is not None and want.statistics is not None:
            mine, theirs = counted(got.statistics), counted(want.statistics)
            moved = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
            if moved:
                problems.append(
                    f"{INFO}: split {name!r} statistics differ from the committed ones in "
                    + ", ".join(f"{k} ({mine.get(k)!r}, committed {theirs.get(k)!r})" for k in moved[:3])
                    + ("; ..." if len(moved) > 3 else "")
                )
    return problems


INFO = safe_names.INFO_NAME


def refuse(builder: "DatasetBuilder", where: str, problems: list[str], *, lock: OutputRecord) -> PreparedDataError:
    """The error for prepared data that is not what the committed records say."""
    return PreparedDataError(
        f"{builder.full_name} in {where} is not what its output record {lock.where} says "
        f"({'; '.join(problems[:5])}{'; ...' if len(problems) > 5 else ''}). It was not used. Run "
        f"'labdatasets verify --repair {builder.full_name}' to fetch it again from the shared cache or rebuild it."
    )


@dataclasses.dataclass(frozen=True)
class LockResult:
    """What ``lock`` did: ``written`` is False when the same record was there already."""

    record: OutputRecord
    path: Path
    written: bool


def write_output_record(builder: "DatasetBuilder", info: "DatasetInfo", record: "PinRecord") -> LockResult:
    """Write the output record of a prepared version whose files were just checked (see the module docstring)."""
    path = lock_path(builder)
    from labdatasets.pinning.record import utc_now

    new = OutputRecord.of_info(info, record, locked_at=utc_now())
    try:
        existing = read_lock(builder, record)
    except OutputRecordError as exc:
        raise PreparedDataError(
            f"{exc} (If {builder.full_name} is not released yet, delete {path} and lock it again.)"
        ) from exc
    if existing is not None:
        problems = compare_info(info, existing)
        if problems:
            raise PreparedDataError(
                f"{builder.full_name} already has an output record ({path}) and this build is not what it says "
                f"({'; '.join(problems[:5])}). A released version's outputs never change: if this build is wrong, "
                f"compare the environment in dataset_info.json with the record's built_with; if {builder.full_name} "
                "is not released yet, delete the record and lock it again."
            )
        missing = {n for n, s in existing.splits.items() if s.statistics is None and new.splits[n].statistics is not None}
        if not missing:
            return LockResult(existing, path, False)
        # a record from before statistics existed: add them, change nothing else (rows and fingerprints matched)
        upgraded = dataclasses.replace(
            existing,
            splits={n: dataclasses.replace(s, statistics=new.splits[n].statistics) if n in missing else s
                    for n, s in existing.splits.items()},
        )
        upgraded.write(path)
        logger.warning("Statistics added to the output record %s (rows and fingerprints unchanged): commit it.", path)
        return LockResult(upgraded, path, True)
    new.write(path)
    logger.warning(
        "Output record written to %s: commit it with the pin record, so that every machine checks %s against it.",
        path, builder.full_name,
    )
    return LockResult(dataclasses.replace(new, path=path), path, True)
