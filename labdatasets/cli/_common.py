"""Arguments and printing shared by the verbs."""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.processing.options import BuildOptions

__all__ = [
    "add_build_arguments",
    "add_data_dir",
    "add_beam_options",
    "build_options",
    "print_table",
    "print_splits",
    "print_json",
    "jsonable",
    "splits_json",
    "table_width",
    "use_colour",
    "fit_widths",
]

ELLIPSIS = "..."
MIN_COLUMN = 6


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="prepared-data folder (default: LABDATASETS_DATA_DIR or the local cache)")


def add_beam_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runner", help="Beam runner (default DirectRunner), e.g. DataflowRunner, FlinkRunner")
    parser.add_argument(
        "--beam-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Beam pipeline option, repeatable (e.g. --beam-option temp_location=gs://bucket/tmp)",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="run the DirectRunner with N worker processes (multi-processing mode)"
    )


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """What every verb that may build takes: ``--quiet``, ``--data-dir`` and the Beam options (:func:`build_options`)."""
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_data_dir(parser)
    add_beam_options(parser)


def build_options(args: argparse.Namespace) -> BuildOptions:
    """``--runner``, ``--beam-option KEY=VALUE`` (repeatable) and ``--workers`` as one value."""
    from labdatasets.processing.options import BuildOptions

    options: dict[str, Any] = {}
    if args.runner:
        options["runner"] = args.runner
    for item in args.beam_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            from labdatasets.errors import ConfigError

            raise ConfigError(f"--beam-option expects KEY=VALUE, got {item!r}")
        options[key.lstrip("-")] = value
    return BuildOptions.of(options, getattr(args, "workers", None))


def _isatty(file: Any) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):
        return False


def table_width(file: Any = None) -> int | None:
    """The width tables must fit: the terminal's when ``file`` is one, else ``COLUMNS`` if set, else None (no limit).

    In a pipe (``labdatasets list | grep ...``) nothing is cut unless ``COLUMNS`` asks for it.
    """
    file = file or sys.stdout
    if _isatty(file):
        return shutil.get_terminal_size().columns
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else None


def use_colour(file: Any = None) -> bool:
    """Colour only on a terminal, never with ``NO_COLOR`` set or ``TERM=dumb`` (https://no-color.org)."""
    file = file or sys.stdout
    return _isatty(file) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def fit_widths(widths: Sequence[int], headers: Sequence[str], limit: int | None, gap: int = 2) -> list[int]:
    """Shrink the widest columns until the row fits ``limit`` characters (never below a header or 6)."""
    out = list(widths)
    if limit is None:
        return out
    floors = [min(w, max(len(h), MIN_COLUMN)) for w, h in zip(out, headers, strict=True)]
    while sum(out) + gap * (len(out) - 1) > limit:
        shrinkable = [i for i, w in enumerate(out) if w > floors[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: out[i])
        excess = sum(out) + gap * (len(out) - 1) - limit
        others = [out[i] for i in shrinkable if i != widest]
        target = max(floors[widest], out[widest] - excess, max(others, default=0))
        out[widest] = target if target < out[widest] else out[widest] - 1
    return out


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - len(ELLIPSIS))] + ELLIPSIS


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, file: Any = None) -> None:
    """An aligned text table; long cells are cut (``...``) so each line fits the terminal (see :func:`table_width`)."""
    file = file or sys.stdout
    cells = [[" ".join(str(c).split("\n")) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    widths = fit_widths(widths, headers, table_width(file))
    bold, plain = ("\033[1m", "\033[0m") if use_colour(file) else ("", "")
    header = "  ".join(_cut(h, w).ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    print(f"{bold}{header}{plain}", file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for row in cells:
        print("  ".join(_cut(c, w).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=file)


def print_splits(info: Any) -> None:
    """The prepared splits of a DatasetInfo: rows, bytes and content fingerprint."""
    print_table(
        ["split", "rows", "bytes", "fingerprint"],
        [[s.name, f"{s.num_rows:,}", f"{s.num_bytes:,}", s.fingerprint[:16]] for s in info.splits.values()],
    )


def splits_json(info: Any) -> dict[str, Any]:
    """``{split: {"num_rows", "num_bytes", "fingerprint"}}`` of a prepared DatasetInfo (the ``--json`` form)."""
    return {s.name: {"num_rows": s.num_rows, "num_bytes": s.num_bytes, "fingerprint": s.fingerprint} for s in info.splits.values()}


def jsonable(value: Any) -> Any:
    """``value`` with what JSON lacks made plain: bytes as base64, paths and dates as strings, arrays as lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (Path, datetime.date, datetime.datetime, datetime.time, datetime.timedelta)):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return jsonable(value.tolist())
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def print_json(data: Any) -> None:
    json.dump(jsonable(data), sys.stdout, indent=2, default=str)
    print()


def print_violations(info: Any) -> None:
    """The expectations a prepared version breaks, as recorded by its build or by ``validate``: one line each."""
    from labdatasets.expectations import Violation

    for data in (info.validation or {}).get("violations", ()):
        violation = Violation.from_json(data)
        print(f"{violation.severity.upper()}: {violation.message(info.full_name)}")
