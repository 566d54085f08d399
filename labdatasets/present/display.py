"""Readable HTML summaries for notebooks.

``labdatasets.info("product_a")``, ``labdatasets.builder("product_a")`` and a
loaded split display themselves in Jupyter through ``_repr_html_``: what the
dataset is, who owns it, how to load it in one line, its features with their
docs, its splits, its versions with release notes, and (for a builder) the
pinned sources. The rows come from :mod:`labdatasets.present.summary`, as in the docs
catalog and ``labdatasets info``, so the three never disagree.

Example::

    >>> from IPython.display import HTML
    >>> HTML(info_html(labdatasets.info("iris")))
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING
from collections.abc import Sequence

from labdatasets.present import summary

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.info import DatasetInfo
    from labdatasets.prepared.dataset import Dataset, DatasetDict
    from labdatasets.pinning.record import PinRecord

__all__ = ["info_html", "dataset_html"]

_CELL = "text-align:left;vertical-align:top;padding:2px 10px 2px 0"


def _e(text: object) -> str:
    return html.escape(str(text))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, code_first: bool = False) -> str:
    head = "".join(f"<th style='{_CELL}'>{_e(h)}</th>" for h in headers)
    body = ""
    for row in rows:
        cells = [f"<code>{_e(c)}</code>" if code_first and i == 0 else _e(c) for i, c in enumerate(row)]
        body += "<tr>" + "".join(f"<td style='{_CELL}'>{c}</td>" for c in cells) + "</tr>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{_e(p.strip())}</p>" for p in text.strip().split("\n\n") if p.strip())


def info_html(info: "DatasetInfo", *, record: "PinRecord | None" = None) -> str:
    """The HTML summary of one dataset version; ``record`` adds its pinned sources."""
    group = f" <small style='color:#666'>({_e(info.group)})</small>" if info.group else ""
    parts = [f"<h3>{_e(info.full_name)}{group}</h3>"]
    first, _, rest = info.description.strip().partition("\n\n")
    if first:
        parts.append(_paragraphs(first))
    if rest:
        parts.append(f"<details><summary>More about the data</summary>{_paragraphs(rest)}</details>")
    about = summary.about_rows(info)
    if info.snapshot_id:
        about.append(("Snapshot", info.snapshot_id[:16]))
    if about:
        parts.append(
            "<table><tbody>"
            + "".join(f"<tr><td style='{_CELL}'><b>{_e(k)}</b></td><td style='{_CELL}'>{_e(v)}</td></tr>" for k, v in about)
            + "</tbody></table>"
        )
    parts.append(f"<p>Load it: <code>{_e(summary.load_line(info.full_name, info.splits))}</code></p>")

    parts.append("<h4>Features</h4>")
    parts.append(_table(["column", "type", "description"], summary.feature_rows(info.features), code_first=True))
    rules = summary.expectation_rows(info)
    if rules:
        parts.append(
            "<details><summary>Expectations (checked by every build)</summary>"
            + _table(["rule", "column", "severity"], rules)
            + "</details>"
        )
    parts.append("<h4>Splits</h4>")
    if info.splits:
        parts.append(_table(["split", "rows", "size"], summary.split_rows(info.splits)))
        parts.append(_statistics_html(info))
        broken = summary.violation_lines(info)
        if broken:
            parts.append(
                "<p><b>Expectations broken</b></p><ul>" + "".join(f"<li>{_e(line)}</li>" for line in broken) + "</ul>"
            )
    else:
        parts.append("<p><i>Not prepared on this machine yet; loading it builds it from its pins.</i></p>")
    if info.release_notes:
        latest = next(iter(info.release_notes))
        parts.append("<h4>Versions</h4>")
        parts.append(
            _table(["version", "release notes"], summary.version_rows(info.release_notes, current=info.version, latest=latest))
        )
    if record is not None:
        parts.append("<h4>Sources</h4>")
        parts.append(f"<p>Pinned on {_e(record.pinned_at[:10])} as snapshot <code>{_e(record.snapshot_id[:16])}</code>.</p>")
        parts.append(
            _table(["source", "kind", "location", "format", "objects", "rows", "size"], summary.source_rows(record), code_first=True)
        )
    if info.citation:
        parts.append(f"<details><summary>Citation</summary><pre>{_e(info.citation.strip())}</pre></details>")
    return "<div class='labdatasets-info'>" + "".join(parts) + "</div>"


def _statistics_html(info: "DatasetInfo") -> str:
    """Per split, a folded table of column statistics with a small inline SVG picture each."""
    from labdatasets.present.statistics import column_svg, statistics_rows

    out = []
    for i, split in enumerate(info.splits.values()):
        if split.statistics is None:
            continue
        columns = split.statistics.get("columns", {})
        body = ""
        for row in statistics_rows(split.statistics, with_sparklines=False):
            picture = column_svg(columns.get(row[0], {}))
            body += (
                f"<tr><td style='{_CELL}'><code>{_e(row[0])}</code></td><td style='{_CELL}'>{_e(row[1])}</td>"
                f"<td style='{_CELL}'>{_e(row[2])}</td><td style='{_CELL}'>{picture}</td></tr>"
            )
        head = "".join(f"<th style='{_CELL}'>{h}</th>" for h in ("column", "nulls", "values", ""))
        out.append(
            f"<details{' open' if i == 0 else ''}><summary>Statistics of <code>{_e(split.name)}</code> "
            f"({split.num_rows:,} rows)</summary><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details>"
        )
    return "".join(out)


HEAD_ROWS = 5
_CELL_CHARS = 60


def cell_text(value: object, feature: object = None) -> str:
    """A short text for one value: ``2 (gentoo)`` for a class label, ``<image 8x8, 81 B>`` for image bytes."""
    from labdatasets.prepared.decode import image_size

    kind = getattr(feature, "kind", "")
    if value is None:
        return "null"
    if kind == "class_label" and isinstance(value, int):
        names = getattr(feature, "names", [])
        return f"{value} ({names[value]})" if 0 <= value < len(names) else str(value)
    if isinstance(value, (bytes, bytearray)):
        size = image_size(bytes(value)) if kind == "image" else None
        what = "image" if kind == "image" else "bytes"
        return f"<{what} {size[0]}x{size[1]}, {len(value):,} B>" if size else f"<{what}, {len(value):,} B>"
    dtype = getattr(feature, "dtype", "")
    if isinstance(value, float) and dtype in ("float32", "float16"):
        # The shortest text that reads back as the same float32: 38.8, not 38.79999923706055.
        import numpy as np

        text = str(np.dtype(dtype).type(value))
    else:
        text = str(value)
    return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 3] + "..."


def head_rows(dataset: "Dataset", n: int = HEAD_ROWS) -> tuple[list[str], list[list[object]]]:
    """Column names and the first ``n`` rows as Python values (images still bytes)."""
    table = dataset.to_arrow().slice(0, n)
    return list(table.column_names), [list(row.values()) for row in table.to_pylist()]


def head_html(dataset: "Dataset", n: int = HEAD_ROWS) -> str:
    """The first rows as an HTML table: images as thumbnails, class labels with their names."""
    from labdatasets.prepared.decode import thumbnail_html

    features = dataset.features
    columns, rows = head_rows(dataset, n)
    head = "".join(f"<th style='{_CELL}'>{_e(c)}</th>" for c in columns)
    body = ""
    for row in rows:
        cells = []
        for name, value in zip(columns, row, strict=True):
            feature = features.get(name) if features else None
            if getattr(feature, "kind", "") == "image" and isinstance(value, (bytes, bytearray)):
                cells.append(thumbnail_html(bytes(value), encoding=getattr(feature, "encoding", "png")))
            else:
                cells.append(_e(cell_text(value, feature)))
        body += "<tr>" + "".join(f"<td style='{_CELL}'>{c}</td>" for c in cells) + "</tr>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def dataset_html(dataset: "Dataset") -> str:
    """A split's name, row count and first rows (thumbnails for images, names for class labels)."""
    name = dataset.info.full_name if dataset.info else "dataset"
    return (
        f"<div class='labdatasets-dataset'><b>{_e(name)}</b> split <code>{_e(dataset.split)}</code>: "
        f"{dataset.num_rows:,} rows<br/>{head_html(dataset)}</div>"
    )


def dataset_dict_html(splits: "DatasetDict") -> str:
    """A whole version: its splits with row counts, its features, and the first rows of its first split."""
    info = splits.info
    name = info.full_name if info else "dataset"
    rows = [[split, f"{len(value):,}", type(value).__name__] for split, value in splits.items()]
    parts = [f"<div class='labdatasets-dataset-dict'><b>{_e(name)}</b>: {len(splits)} splits"]
    parts.append(_table(["split", "rows", "type"], rows, code_first=True))
    if info is not None:
        parts.append(_table(["column", "type"], [r[:2] for r in summary.feature_rows(info.features)], code_first=True))
    first = next(iter(splits.values()), None)
    if first is not None and hasattr(first, "to_arrow") and hasattr(first, "features"):
        parts.append(f"<p>First rows of <code>{_e(next(iter(splits)))}</code> (<code>ds[{next(iter(splits))!r}]</code>):</p>")
        parts.append(head_html(first))
    return "".join(parts) + "</div>"
