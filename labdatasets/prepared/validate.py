"""``labdatasets validate NAME[:VERSION]``: expectations and statistics on prepared data, without rebuilding.

A build checks its expectations and records statistics as it writes (see
:mod:`labdatasets.expectations`). A version prepared before that, or prepared
elsewhere and fetched, is checked here from its Parquet shards with the same
code (:mod:`labdatasets.processing.validation`), against the expectations the
builder declares now. The statistics (and what broke) are then stored in its
``dataset_info.json``, so ``info`` shows them; the rows are not touched.

Example::

    >>> from labdatasets.prepared.validate import validate
    >>> report = validate("product_a:1.0.0")
    >>> report.ok, [v.message() for v in report.warnings]
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator

from labdatasets.errors import PreparedDataError
from labdatasets.expectations import Expectation, Violation

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from labdatasets.info import DatasetInfo

__all__ = ["ValidationReport", "validate", "validate_prepared"]


@dataclasses.dataclass
class ValidationReport:
    """What checking a prepared version found: statistics per split, broken rules, rules that could not apply."""

    full_name: str
    statistics: dict[str, dict[str, Any]]
    violations: list[Violation]
    skipped: list[str] = dataclasses.field(default_factory=list)

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity != "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


def _shards(directory: Path, filenames: list[str]) -> Iterator["pa.Table"]:
    import pyarrow.parquet as pq

    for filename in filenames:
        path = directory / filename
        if not path.is_file():
            raise PreparedDataError(f"{path} is missing; run 'labdatasets verify --repair' or build again.")
        yield pq.read_table(path, memory_map=True)


def validate_prepared(info: "DatasetInfo", declared: "DatasetInfo | None" = None, *, write: bool = True) -> ValidationReport:
    """Check prepared ``info`` (its ``data_dir`` holds the shards) against ``declared``'s expectations.

    ``declared`` defaults to ``info`` itself (the expectations recorded when it
    was built). Rules naming a column the prepared version lacks are skipped and
    listed. With ``write``, the statistics and what broke are stored in the
    folder's ``dataset_info.json``.
    """
    from labdatasets.expectations import resolve
    from labdatasets.processing.validation import Checker, check_tables, violations

    if info.data_dir is None:
        raise PreparedDataError(f"{info.full_name} is not prepared on this machine; build or download it first.")
    source = declared or info
    kept: list[Expectation] = []
    skipped: list[str] = []
    for rule in source.expectations:
        if rule.column is not None and rule.column not in info.features:
            skipped.append(f"{rule.describe()} on column {rule.column!r}: not a column of {info.full_name}")
        elif rule.scope == "keys" and rule.column is None and not info.key_columns:
            skipped.append(f"{rule.describe()}: {info.full_name} declares no key")
        else:
            kept.append(rule)
    group_key = source.group_key if source.group_key in info.features else None
    if source.group_key and group_key is None:
        skipped.append(f"group_key {source.group_key!r}: not a column of {info.full_name}")
    rules = resolve(info.features, key=info.key_columns, group_key=group_key, declared=kept, where=info.full_name)
    checker = Checker(info.features, info.key_columns, rules)
    directory = Path(info.data_dir)
    splits = {name: _shards(directory, [s.filename for s in split.shards]) for name, split in info.splits.items()}
    found, cross = check_tables(checker, splits)
    for name in info.splits:
        found.setdefault(name, {"statistics": checker.empty().statistics.to_json(), "tallies": {}})
    report = ValidationReport(
        full_name=info.full_name,
        statistics={name: found[name]["statistics"] for name in info.splits},
        violations=violations(checker, found, cross),
        skipped=skipped,
    )
    if write:
        _store(directory, info, report, source)
    return report


def _store(directory: Path, info: "DatasetInfo", report: ValidationReport, declared: "DatasetInfo") -> None:
    """Write the statistics and what broke into ``dataset_info.json`` (atomically; the shards are untouched)."""
    from labdatasets.info import INFO_FILENAME
    from labdatasets.processing.validation import _utc_now as utc_now

    updated = dataclasses.replace(
        info,
        splits={n: dataclasses.replace(s, statistics=report.statistics[n]) for n, s in info.splits.items()},
        expectations=tuple(declared.expectations),
        group_key=declared.group_key if declared.group_key in info.features else info.group_key,
        validation={
            "checked_by": "validate",
            "checked_at": utc_now(),
            "violations": [v.to_json() for v in report.violations],
            "skipped": list(report.skipped),
        },
    )
    path = directory / INFO_FILENAME
    tmp = directory / f".{INFO_FILENAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(updated.to_json(), indent=2) + "\n", "utf-8")
    os.replace(tmp, path)


def validate(name: str, *, data_dir: str | os.PathLike[str] | None = None, write: bool = True) -> ValidationReport:
    """``labdatasets validate NAME[:VERSION]``: the builder's expectations on the prepared version (not rebuilt)."""
    import labdatasets

    b = labdatasets.builder(name, data_dir=data_dir)
    info = b.prepared_info()
    if info is None:
        raise PreparedDataError(
            f"{b.full_name} is not prepared in {b.data_dir}; 'labdatasets build {b.full_name}' builds it (and checks "
            "its expectations as it does)."
        )
    return validate_prepared(info, b.declared_info(), write=write)
