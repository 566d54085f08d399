"""The dataset record types: ``DatasetInfo``, ``SplitInfo``, ``ShardInfo`` and ``dataset_info.json``.

They need no builder (tfds keeps ``dataset_info.py`` apart from ``dataset_builder.py``
for the same reason): a builder returns a :class:`DatasetInfo` from ``_info()``, a
build completes it with its splits and writes it as ``dataset_info.json``, and
reading, verifying or diffing prepared data reads it back.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any
from collections.abc import Mapping, Sequence

from labdatasets import safe_names
from labdatasets.errors import PreparedDataError
from labdatasets.expectations import Expectation, rule_from_json
from labdatasets.features import Features
from labdatasets.naming import DatasetReference

__all__ = ["DatasetInfo", "SplitInfo", "ShardInfo", "INFO_FILENAME"]

INFO_FILENAME = "dataset_info.json"


_INFO_HINT = "The prepared folder is damaged."


@dataclasses.dataclass(frozen=True)
class ShardInfo:
    """One Parquet file of a prepared split."""

    filename: str
    num_rows: int
    num_bytes: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class SplitInfo:
    """A prepared split: its files, row count and content fingerprint."""

    name: str
    num_rows: int
    num_bytes: int
    shards: tuple[ShardInfo, ...]
    fingerprint: str
    #: Per-column statistics computed by the build (see labdatasets.processing.statistics);
    #: None for a version prepared before statistics existed (``labdatasets validate`` adds them).
    statistics: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "num_rows": self.num_rows,
            "num_bytes": self.num_bytes,
            "fingerprint": self.fingerprint,
            "shards": [dataclasses.asdict(s) for s in self.shards],
        }
        if self.statistics is not None:
            out["statistics"] = dict(self.statistics)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SplitInfo":
        return cls(
            name=data["name"],
            num_rows=int(data["num_rows"]),
            num_bytes=int(data["num_bytes"]),
            fingerprint=data["fingerprint"],
            shards=tuple(
                ShardInfo(
                    filename=safe_names.shard_filename(s["filename"], where=INFO_FILENAME, error=PreparedDataError, hint=_INFO_HINT),
                    num_rows=int(s["num_rows"]),
                    num_bytes=int(s["num_bytes"]),
                    sha256=safe_names.check_oid(s["sha256"], where=INFO_FILENAME, error=PreparedDataError, hint=_INFO_HINT),
                )
                for s in data["shards"]
            ),
            statistics=data.get("statistics"),
        )


@dataclasses.dataclass
class DatasetInfo:
    """What a dataset is: returned by ``_info()`` and completed when the version is prepared.

    Args:
        features: the columns of every split (:class:`labdatasets.features.Features`).
        description: what the data is; defaults to the builder's docstring.
        key: column(s) that identify a row; prepared splits are sorted by it and
            ``diff`` matches rows by it.
        owners: who to ask about the data (emails or team names).
        citation, homepage, license: shown in the docs catalog.
        supervised_keys: ``(input, target)`` column names, as in tfds.
        group_key: a column whose rows must all land in one split (one customer,
            patient or session); every build checks it (see labdatasets.expectations).
        expectations: rules the data of every split must meet (``labdatasets.expectations``),
            checked by every build; ``nullable=False`` and ``key`` add their own.
    """

    features: Features
    description: str = ""
    key: str | Sequence[str] | None = None
    owners: Sequence[str] = ()
    citation: str = ""
    homepage: str = ""
    license: str = ""
    supervised_keys: tuple[str, str] | None = None
    group_key: str | None = None
    expectations: Sequence["Expectation"] = ()
    # Filled in by the builder.
    name: str = ""
    group: str = ""
    version: str = ""
    config: str | None = None
    config_description: str = ""
    release_notes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Filled in when the version is prepared.
    splits: dict[str, SplitInfo] = dataclasses.field(default_factory=dict)
    snapshot_id: str | None = None
    code_fingerprint: str | None = None
    prepared_at: str | None = None
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: What the last check of the expectations found (by the build or ``validate``): ``checked_by``,
    #: ``checked_at`` and ``violations`` (warnings after a build; any after ``validate``).
    validation: Mapping[str, Any] | None = None
    data_dir: Path | None = None

    @property
    def key_columns(self) -> tuple[str, ...]:
        if self.key is None:
            return ()
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)

    @property
    def full_name(self) -> str:
        return str(DatasetReference(self.name, self.config, self.version))

    @property
    def num_rows(self) -> int:
        return sum(s.num_rows for s in self.splits.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "version": self.version,
            "config": self.config,
            "config_description": self.config_description,
            "description": self.description,
            "key": list(self.key_columns),
            "owners": list(self.owners),
            "citation": self.citation,
            "homepage": self.homepage,
            "license": self.license,
            "supervised_keys": list(self.supervised_keys) if self.supervised_keys else None,
            "release_notes": dict(self.release_notes),
            "features": self.features.to_json(),
            "splits": {name: s.to_json() for name, s in self.splits.items()},
            "snapshot_id": self.snapshot_id,
            "code_fingerprint": self.code_fingerprint,
            "prepared_at": self.prepared_at,
            "environment": dict(self.environment),
            **({"group_key": self.group_key} if self.group_key else {}),
            **({"expectations": [r.to_json() for r in self.expectations]} if self.expectations else {}),
            **({"validation": dict(self.validation)} if self.validation is not None else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, data_dir: Path | None = None) -> "DatasetInfo":
        key = data.get("key") or None
        return cls(
            features=Features.from_json(data["features"]),
            description=data.get("description", ""),
            key=tuple(key) if key else None,
            owners=tuple(data.get("owners", ())),
            citation=data.get("citation", ""),
            homepage=data.get("homepage", ""),
            license=data.get("license", ""),
            supervised_keys=(data["supervised_keys"][0], data["supervised_keys"][1]) if data.get("supervised_keys") else None,
            name=data.get("name", ""),
            group=data.get("group", ""),
            version=data.get("version", ""),
            config=data.get("config"),
            config_description=data.get("config_description", ""),
            release_notes=data.get("release_notes", {}),
            splits={
                safe_names.split_name(name, where=INFO_FILENAME, error=PreparedDataError, hint=_INFO_HINT): SplitInfo.from_json(s)
                for name, s in data.get("splits", {}).items()
            },
            snapshot_id=data.get("snapshot_id"),
            code_fingerprint=data.get("code_fingerprint"),
            prepared_at=data.get("prepared_at"),
            environment=data.get("environment", {}),
            group_key=data.get("group_key"),
            expectations=tuple(rule_from_json(r) for r in data.get("expectations", ())),
            validation=data.get("validation"),
            data_dir=data_dir,
        )

    @classmethod
    def read(cls, directory: Path) -> "DatasetInfo":
        path = directory / INFO_FILENAME
        try:
            return cls.from_json(json.loads(path.read_text("utf-8")), data_dir=directory)
        except FileNotFoundError:
            raise
        except PreparedDataError as exc:
            raise PreparedDataError(
                f"{path}: {exc} Load the version again (load repairs it) or run 'labdatasets verify --repair'."
            ) from exc
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PreparedDataError(
                f"Cannot read {path}: {type(exc).__name__}: {exc}; load the version again (load repairs it) or run "
                "'labdatasets verify --repair'."
            ) from exc

    def __repr__(self) -> str:
        splits = ", ".join(f"{n}: {s.num_rows:,}" for n, s in self.splits.items()) or "not prepared"
        return f"DatasetInfo({self.full_name}, {len(self.features)} features, splits: {splits})"

    def _repr_html_(self) -> str:
        from labdatasets.present.display import info_html

        return info_html(self)
