"""Readable HTML summaries for notebooks (``DatasetInfo._repr_html_``, ``Dataset._repr_html_``)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.builder import DatasetInfo
    from labdatasets.dataset import Dataset

__all__ = ["info_html", "dataset_html"]


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def info_html(info: "DatasetInfo") -> str:
    parts = [f"<h3>{html.escape(info.full_name)}</h3>"]
    if info.description:
        parts.append(f"<p>{html.escape(info.description.splitlines()[0])}</p>")
    meta = []
    if info.owners:
        meta.append(("Owners", ", ".join(info.owners)))
    if info.key_columns:
        meta.append(("Key", ", ".join(info.key_columns)))
    if info.license:
        meta.append(("License", info.license))
    if info.homepage:
        meta.append(("Homepage", info.homepage))
    if info.snapshot_id:
        meta.append(("Snapshot", info.snapshot_id[:16]))
    if meta:
        parts.append(_table(["", ""], [[f"<b>{html.escape(k)}</b>", html.escape(v)] for k, v in meta]))
    parts.append("<h4>Features</h4>")
    parts.append(
        _table(
            ["column", "type", "description"],
            [[f"<code>{html.escape(n)}</code>", html.escape(f.describe()), html.escape(f.doc)] for n, f in info.features.items()],
        )
    )
    parts.append("<h4>Splits</h4>")
    if info.splits:
        parts.append(
            _table(["split", "rows", "size"], [[html.escape(n), f"{s.num_rows:,}", f"{s.num_bytes / 1024:,.1f} KiB"] for n, s in info.splits.items()])
        )
    else:
        parts.append("<p><i>not prepared on this machine yet</i></p>")
    if info.release_notes:
        parts.append("<h4>Versions</h4>")
        parts.append(_table(["version", "release notes"], [[html.escape(v), html.escape(n)] for v, n in info.release_notes.items()]))
    return "<div class='labdatasets-info'>" + "".join(parts) + "</div>"


def dataset_html(dataset: "Dataset") -> str:
    name = dataset.info.full_name if dataset.info else "dataset"
    head = dataset.head(5).to_html(max_cols=20, notebook=False)
    return (
        f"<div class='labdatasets-dataset'><b>{html.escape(name)}</b> split <code>{html.escape(dataset.split)}</code>: "
        f"{dataset.num_rows:,} rows<br/>{head}</div>"
    )
