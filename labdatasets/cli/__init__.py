"""The ``labdatasets`` command line: one module per verb, each calling the library.

Every verb module defines ``add_parser(subparsers)`` and ``run(args) -> int``;
they add argument parsing and printing only, and call the same functions a
notebook calls. Errors from labdatasets are printed as one clear line (no
traceback unless ``--debug``) and exit with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from labdatasets._version import __version__

__all__ = ["main", "VERBS"]

# verb -> module under labdatasets.cli, in the order shown by --help
VERBS = {
    "list": "list_",
    "info": "info",
    "pin": "pin",
    "status": "status",
    "build": "build",
    "lock": "lock",
    "load": "load",
    "verify": "verify",
    "publish": "publish",
    "export": "export",
    "diff": "diff",
    "new": "new",
    "docs": "docs",
    "check": "check",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labdatasets",
        description="The lab's private dataset registry: pin sources, build with Beam, load in one line.",
    )
    parser.add_argument("--version", action="version", version=f"labdatasets {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    subparsers = parser.add_subparsers(dest="verb", metavar="COMMAND")
    subparsers.required = True
    for module_name in VERBS.values():
        module = importlib.import_module(f"labdatasets.cli.{module_name}")
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("LABDATASETS_DEBUG") == "1"
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from labdatasets.errors import LabDatasetsError
    from labdatasets.present.redact import redact

    try:
        return int(args.run(args) or 0)
    except LabDatasetsError as exc:
        if debug:
            raise
        print(f"error: {redact(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `labdatasets list | head`
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
