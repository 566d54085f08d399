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
    from labdatasets.prepared.dataset import Dataset
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
    parts.append("<h4>Splits</h4>")
    if info.splits:
        parts.append(_table(["split", "rows", "size"], summary.split_rows(info.splits)))
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


def dataset_html(dataset: "Dataset") -> str:
    """A split's name, row count and first rows."""
    name = dataset.info.full_name if dataset.info else "dataset"
    head = dataset.head(5).to_html(max_cols=20, notebook=False)
    return (
        f"<div class='labdatasets-dataset'><b>{_e(name)}</b> split <code>{_e(dataset.split)}</code>: "
        f"{dataset.num_rows:,} rows<br/>{head}</div>"
    )
