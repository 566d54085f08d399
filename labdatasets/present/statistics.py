"""Showing split statistics: text rows, terminal sparklines, inline SVG, and what moved between versions.

The statistics themselves are JSON (see :mod:`labdatasets.processing.statistics`),
stored per split in ``dataset_info.json``. This module turns them into what
``labdatasets info`` prints, what the notebook summary draws (small inline SVG
histograms and class bars: no plotting library) and the catalog's tables, and
compares two versions' statistics for ``labdatasets diff``. Nothing here
imports pyarrow, numpy or Beam.

Example::

    >>> rows = statistics_rows(info.splits["train"].statistics)
    >>> rows[0]
    ['bill_length_mm', '2 (0.6%)', '32.1 .. 59.6, mean 43.9 ± 5.46', '▁▃▆█▆▃▁']
"""

from __future__ import annotations

import dataclasses
import html
import math
from typing import Any
from collections.abc import Mapping, Sequence

__all__ = [
    "statistics_rows",
    "sparkline",
    "histogram_svg",
    "class_bars_svg",
    "column_svg",
    "StatChange",
    "compare_statistics",
    "number",
]

_BLOCKS = "▁▂▃▄▅▆▇█"
_BAR = "#4c78a8"


def number(value: Any) -> str:
    """A short, readable number: ``12``, ``3.142``, ``1.2e+09``, ``-0.00012``."""
    if value is None:
        return "-"
    if isinstance(value, bool) or isinstance(value, int):
        return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    if isinstance(value, str):
        return value
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e7 or magnitude < 1e-4:
        return f"{value:.3g}"
    if value == int(value) and magnitude < 1e7:
        return f"{int(value):,}"
    return f"{value:,.4g}" if magnitude < 1000 else f"{value:,.1f}"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def _nulls(column: Mapping[str, Any], rows: int) -> str:
    nulls = int(column.get("nulls", 0))
    if not nulls:
        return "0"
    return f"{nulls:,} ({nulls / rows:.1%})" if rows else f"{nulls:,}"


def _top(values: Sequence[Sequence[Any]], total: int, exact: bool, n: int = 3) -> str:
    shown = ", ".join(f"{v!r} {_share(int(c), total)}" for v, c in values[:n])
    return shown + ("" if exact else " (approx.)")


def summary_text(column: Mapping[str, Any]) -> str:
    """One line about a column's values (no nulls: they have their own cell)."""
    kind = column.get("kind")
    count = int(column.get("count", 0))
    if kind == "number":
        if not count:
            return "no values"
        text = f"{number(column['min'])} .. {number(column['max'])}, mean {number(column['mean'])} ± {number(column['std'])}"
        extra = [f"{column[k]:,} {k}" for k in ("nan", "inf") if column.get(k)]
        return text + (f" ({', '.join(extra)})" if extra else "")
    if kind == "text":
        if not count:
            return "no values"
        approx = "" if column.get("distinct_exact", True) else "~"
        length = column.get("length", {})
        top = column.get("top", [])
        if top:
            frequent = f"top {_top(top, count, column.get('top_exact', True))}"
        else:
            frequent = "every value distinct" if column.get("distinct") == count else "no frequent value"
        return f"{approx}{column['distinct']:,} distinct; {frequent}; length {number(length.get('min'))}..{number(length.get('max'))}"
    if kind == "class_label":
        classes = column.get("classes", {})
        ranked = sorted(classes.items(), key=lambda item: -item[1])
        empty = [name for name, c in classes.items() if not c]
        text = ", ".join(f"{name} {_share(c, count)}" for name, c in ranked if c)
        return text + (f"; no rows of {', '.join(empty)}" if empty else "")
    if kind == "image":
        if "width" not in column:
            return f"{column.get('unreadable', 0):,} unreadable" if column.get("unreadable") else "no images"
        sizes = _top(column.get("sizes", []), count, True)
        unreadable = f"; {column['unreadable']:,} unreadable" if column.get("unreadable") else ""
        return f"sizes {sizes}{unreadable}"
    if kind == "temporal":
        return f"{column['min']} .. {column['max']}" if column.get("min") is not None else "no values"
    return f"{count:,} values"


def sparkline(column: Mapping[str, Any]) -> str:
    """The column's histogram (numbers, image widths) or class counts as one line of block characters."""
    counts: list[int] = []
    if column.get("kind") == "number" and column.get("histogram"):
        counts = list(column["histogram"]["counts"])
    elif column.get("kind") == "class_label":
        counts = list(column.get("classes", {}).values())
    elif column.get("kind") == "image" and column.get("width", {}).get("histogram"):
        counts = list(column["width"]["histogram"]["counts"])
    if len(counts) < 2 or not max(counts):
        return ""
    top = max(counts)
    return "".join(" " if not c else _BLOCKS[min(len(_BLOCKS) - 1, int(c / top * (len(_BLOCKS) - 1) + 0.999))] for c in counts)


def statistics_rows(statistics: Mapping[str, Any] | None, *, with_sparklines: bool = True) -> list[list[str]]:
    """``[column, nulls, values(, shape)]`` per column of one split's statistics."""
    if not statistics:
        return []
    rows = int(statistics.get("num_rows", 0))
    out = []
    for name, column in statistics.get("columns", {}).items():
        row = [name, _nulls(column, rows), summary_text(column)]
        if with_sparklines:
            row.append(sparkline(column))
        out.append(row)
    return out


# ----------------------------------------------------------------------------------------- SVG
def _e(text: object) -> str:
    return html.escape(str(text))


def histogram_svg(histogram: Mapping[str, Any], *, width: int = 160, height: int = 36) -> str:
    """An inline SVG bar chart of a histogram (``start``, ``width``, ``counts``), with a tooltip per bar."""
    counts = list(histogram.get("counts", []))
    if not counts:
        return ""
    top = max(counts) or 1
    bar = width / len(counts)
    start, step = float(histogram["start"]), float(histogram["width"])
    bars = []
    for i, c in enumerate(counts):
        h = 0 if not c else max(1.0, c / top * (height - 2))
        low, high = start + i * step, start + (i + 1) * step
        bars.append(
            f"<rect x='{i * bar:.1f}' y='{height - h:.1f}' width='{max(bar - 1, 0.5):.1f}' height='{h:.1f}' fill='{_BAR}'>"
            f"<title>{_e(number(low))} .. {_e(number(high))}: {c:,}</title></rect>"
        )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"role='img' aria-label='histogram'>{''.join(bars)}</svg>"
    )


def class_bars_svg(counts: Mapping[str, int], *, width: int = 220, row: int = 14, limit: int = 12) -> str:
    """Horizontal bars, one per class (or value), labelled with its name and share."""
    items = list(counts.items())[:limit]
    if not items:
        return ""
    total = sum(int(c) for _, c in counts.items()) or 1
    top = max(int(c) for _, c in items) or 1
    label_w = 90
    bar_w = width - label_w - 40
    parts = []
    for i, (name, c) in enumerate(items):
        y = i * row
        w = int(c) / top * bar_w
        parts.append(
            f"<text x='{label_w - 4}' y='{y + row - 3}' font-size='10' text-anchor='end'>{_e(str(name)[:14])}</text>"
            f"<rect x='{label_w}' y='{y + 2}' width='{w:.1f}' height='{row - 4}' fill='{_BAR}'><title>{_e(name)}: {int(c):,}</title></rect>"
            f"<text x='{label_w + w + 3:.1f}' y='{y + row - 3}' font-size='10'>{int(c) / total:.0%}</text>"
        )
    height = row * len(items)
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"role='img' aria-label='class counts'>{''.join(parts)}</svg>"
    )


def column_svg(column: Mapping[str, Any]) -> str:
    """The picture of one column: a histogram for numbers and image widths, bars for classes and top values."""
    kind = column.get("kind")
    if kind == "number" and column.get("histogram"):
        return histogram_svg(column["histogram"])
    if kind == "class_label":
        return class_bars_svg(column.get("classes", {}))
    if kind == "text" and column.get("top"):
        return class_bars_svg({str(v): int(c) for v, c in column["top"][:6]})
    if kind == "image" and column.get("sizes"):
        return class_bars_svg({str(v): int(c) for v, c in column["sizes"][:6]})
    return ""


# ----------------------------------------------------------------------------------------- compare
@dataclasses.dataclass(frozen=True)
class StatChange:
    """One thing that moved in a split's statistics between two versions."""

    split: str
    column: str
    what: str
    old: Any
    new: Any
    detail: str = ""

    def format(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.split}.{self.column}: {self.what} {number(self.old) if not isinstance(self.old, list) else self.old} -> " \
               f"{number(self.new) if not isinstance(self.new, list) else self.new}{detail}"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


MEAN_SHIFT = 0.1  # in standard deviations of the older version
NULL_SHARE_STEP = 0.01
CLASS_SHARE_STEP = 0.05


def _compare_column(split: str, name: str, old: Mapping[str, Any], new: Mapping[str, Any], rows: tuple[int, int]) -> list[StatChange]:
    out = []
    old_share = old.get("nulls", 0) / rows[0] if rows[0] else 0.0
    new_share = new.get("nulls", 0) / rows[1] if rows[1] else 0.0
    if abs(new_share - old_share) >= NULL_SHARE_STEP:
        out.append(StatChange(split, name, "null share", f"{old_share:.1%}", f"{new_share:.1%}"))
    if old.get("kind") != new.get("kind"):
        return out
    kind = old.get("kind")
    if kind == "number" and old.get("count") and new.get("count"):
        spread = float(old.get("std") or 0.0) or abs(float(old["mean"])) or 1.0
        shift = (float(new["mean"]) - float(old["mean"])) / spread
        if abs(shift) >= MEAN_SHIFT:
            out.append(StatChange(split, name, "mean", old["mean"], new["mean"], f"{shift:+.2f} std"))
        if new.get("std") is not None and old.get("std") and abs(float(new["std"]) / float(old["std"]) - 1) >= 0.25:
            out.append(StatChange(split, name, "std", old["std"], new["std"]))
    elif kind == "class_label":
        oc, nc = old.get("classes", {}), new.get("classes", {})
        appeared = sorted(c for c, n in nc.items() if n and not oc.get(c))
        vanished = sorted(c for c, n in oc.items() if n and not nc.get(c))
        if appeared:
            out.append(StatChange(split, name, "new classes", [], appeared))
        if vanished:
            out.append(StatChange(split, name, "vanished classes", vanished, []))
        old_total, new_total = sum(oc.values()) or 1, sum(nc.values()) or 1
        for c in sorted(set(oc) & set(nc)):
            a, b = oc[c] / old_total, nc[c] / new_total
            if oc[c] and nc[c] and abs(b - a) >= CLASS_SHARE_STEP:
                out.append(StatChange(split, name, f"share of {c!r}", f"{a:.1%}", f"{b:.1%}"))
    elif kind == "text" and old.get("top_exact") and new.get("top_exact"):
        ov = {str(v) for v, _ in old.get("top", [])}
        nv = {str(v) for v, _ in new.get("top", [])}
        if old.get("distinct", 0) <= len(old.get("top", [])) and new.get("distinct", 0) <= len(new.get("top", [])):
            if nv - ov:
                out.append(StatChange(split, name, "new values", [], sorted(nv - ov)))
            if ov - nv:
                out.append(StatChange(split, name, "vanished values", sorted(ov - nv), []))
    return out


def compare_statistics(old: Mapping[str, Mapping[str, Any] | None], new: Mapping[str, Mapping[str, Any] | None]) -> list[StatChange]:
    """What moved between two versions' statistics, split by split, for the columns both have.

    Shifted means (by at least :data:`MEAN_SHIFT` of the older standard deviation)
    and much changed spreads, null shares moving by a point or more, classes
    that appeared or vanished (and class shares moving by 5 points), and values of
    a low-cardinality text column that appeared or vanished.
    """
    changes: list[StatChange] = []
    for split in [s for s in new if s in old]:
        a, b = old[split], new[split]
        if not a or not b:
            continue
        rows = (int(a.get("num_rows", 0)), int(b.get("num_rows", 0)))
        for name, column in b.get("columns", {}).items():
            before = a.get("columns", {}).get(name)
            if before is not None:
                changes.extend(_compare_column(split, name, before, column, rows))
    return changes
