"""The facts a dataset summary shows, as plain rows of text.

One source for the three places that describe a dataset, so that they never
disagree: the docs catalog (Markdown, :mod:`labdatasets.workflow.catalog`), the notebook
summary (HTML, :mod:`labdatasets.present.display`) and ``labdatasets info`` (text).

Example::

    >>> info = labdatasets.info("iris")
    >>> feature_rows(info.features)[0]
    ['sample', 'int64, required', 'Row number in the UCI file']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections.abc import Iterable, Mapping

from labdatasets.present.redact import redact_mapping

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.info import DatasetInfo
    from labdatasets.features import Features
    from labdatasets.pinning.record import PinRecord

__all__ = [
    "human_bytes",
    "about_rows",
    "feature_rows",
    "version_rows",
    "split_rows",
    "source_rows",
    "location_text",
    "load_line",
    "expectation_rows",
    "violation_lines",
]


def human_bytes(num: int) -> str:
    """``34725`` -> ``'33.9 KiB'``."""
    if num < 1024:
        return f"{int(num)} B"
    size = num / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} TiB"


def about_rows(info: "DatasetInfo") -> list[tuple[str, str]]:
    """``(label, value)`` pairs for what is set among owners, key, supervised keys, homepage, license."""
    rows = []
    if info.owners:
        rows.append(("Owners", ", ".join(info.owners)))
    if info.key_columns:
        rows.append(("Key", ", ".join(info.key_columns)))
    if info.supervised_keys:
        rows.append(("Supervised keys", f"{info.supervised_keys[0]} -> {info.supervised_keys[1]}"))
    if info.homepage:
        rows.append(("Homepage", info.homepage))
    if info.license:
        rows.append(("License", info.license))
    return rows


def feature_rows(features: "Features") -> list[list[str]]:
    """``[column, type, description]`` per feature; ``required`` marks columns that cannot be null."""
    return [[name, f.describe() + ("" if f.nullable else ", required") + _classes(f), f.doc] for name, f in features.items()]


def class_names_text(names: "list[str]", limit: int = 12) -> str:
    """``Adelie, Chinstrap, Gentoo``; a long list keeps its first and last names: ``0, 1, ..., 99``."""
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[: limit - 2]) + ", ..., " + names[-1]


def _classes(feature: Any) -> str:
    names = getattr(feature, "names", None) if getattr(feature, "kind", "") == "class_label" else None
    return f": {class_names_text(names)}" if names else ""


def version_rows(release_notes: Mapping[str, str], current: str | None = None, latest: str | None = None) -> list[list[str]]:
    """``[version, release notes]`` newest first, marking the latest and the current version."""
    rows = []
    for version, notes in release_notes.items():
        marks = [m for m, on in (("latest", version == latest), ("this version", version == current)) if on]
        rows.append([version + (f" ({', '.join(marks)})" if marks else ""), notes])
    return rows


def split_rows(splits: Mapping[str, Any]) -> list[list[str]]:
    """``[split, rows, size]`` from :class:`~labdatasets.info.SplitInfo` objects or recorded dicts."""
    rows = []
    for name, s in splits.items():
        num_rows, num_bytes = (s["num_rows"], s["num_bytes"]) if isinstance(s, Mapping) else (s.num_rows, s.num_bytes)
        rows.append([name, f"{num_rows:,}", human_bytes(num_bytes)])
    return rows


def location_text(location: Mapping[str, Any]) -> str:
    """A secret-free one-line location: ``path=data/x.csv, glob=*.png``."""
    return ", ".join(f"{k}={v}" for k, v in redact_mapping(dict(location)).items())


def source_rows(record: "PinRecord") -> list[list[str]]:
    """``[source, kind, location, format, objects, rows, size]`` per pinned source."""
    return [
        [
            name,
            pin.kind,
            location_text(pin.location),
            pin.format,
            f"{len(pin.objects):,}",
            "-" if pin.num_rows is None else f"{pin.num_rows:,}",
            human_bytes(pin.num_bytes),
        ]
        for name, pin in record.sources.items()
    ]


def load_line(full_name: str, splits: Iterable[str] = ()) -> str:
    """The one line that loads a version: ``labdatasets.load("product_a:1.2.0", split="train")``.

    ``splits`` are the version's split names when known; the line loads ``train``
    (else the first split), or every split when none is known.
    """
    names = list(splits)
    split = "train" if "train" in names else next(iter(names), None)
    return f'labdatasets.load("{full_name}"' + (f', split="{split}"' if split else "") + ")"


def expectation_rows(info: "DatasetInfo") -> list[list[str]]:
    """``[rule, column, severity]`` for every rule a build of ``info`` checks, the implied ones included."""
    from labdatasets.errors import LabDatasetsError
    from labdatasets.expectations import resolve

    try:
        rules = resolve(
            info.features, key=info.key_columns, group_key=info.group_key, declared=info.expectations, where=info.full_name
        )
    except LabDatasetsError as exc:
        return [[f"cannot apply: {exc}", "", "error"]]
    return [[rule.describe(), rule.column or ", ".join(info.key_columns), rule.severity] for rule in rules]


def violation_lines(info: "DatasetInfo") -> list[str]:
    """One line per broken rule recorded for a prepared version (warnings of its build, or what ``validate`` found)."""
    from labdatasets.expectations import Violation

    found = (info.validation or {}).get("violations", ())
    return [f"{v['severity']}: {Violation.from_json(v).message()}" for v in found]
