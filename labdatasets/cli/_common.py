"""Arguments and printing shared by the verbs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from collections.abc import Sequence

__all__ = ["add_data_dir", "add_beam_options", "beam_options", "print_table", "print_splits", "print_json"]


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


def beam_options(args: argparse.Namespace) -> dict[str, Any] | None:
    options: dict[str, Any] = {}
    if args.runner:
        options["runner"] = args.runner
    for item in args.beam_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            from labdatasets.errors import ConfigError

            raise ConfigError(f"--beam-option expects KEY=VALUE, got {item!r}")
        options[key.lstrip("-")] = value
    return options or None


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, file: Any = None) -> None:
    file = file or sys.stdout
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=file)


def print_splits(info: Any) -> None:
    """The prepared splits of a DatasetInfo: rows, bytes and content fingerprint."""
    print_table(
        ["split", "rows", "bytes", "fingerprint"],
        [[s.name, f"{s.num_rows:,}", f"{s.num_bytes:,}", s.fingerprint[:16]] for s in info.splits.values()],
    )


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    print()
