"""The ``labdatasets`` command line: one module per verb, each calling the library.

Every verb module defines ``add_parser(subparsers)`` and ``run(args) -> int``;
they add argument parsing and printing only, and call the same functions a
notebook calls. Errors from labdatasets are printed as one clear line on stderr
(no traceback unless ``--debug``) and exit with status 1.

Every verb accepts ``--json`` (one JSON document on stdout, keys documented in
docs/cli.md; progress and warnings stay on stderr) and ``--debug`` before or
after the verb.
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
    "validate": "validate",
    "publish": "publish",
    "export": "export",
    "diff": "diff",
    "new": "new",
    "docs": "docs",
    "check": "check",
    "cache": "cache",
    "completion": "completion",
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
    for sub in _all_subparsers(parser):
        add_common_options(sub)
    return parser


def _all_subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every verb's parser, nested ones (``cache prune``) included."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.append(sub)
                found.extend(_all_subparsers(sub))
    return found


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--json`` and ``--debug`` on a verb (SUPPRESS: an unset flag keeps what the top level parsed)."""
    known = parser._option_string_actions
    if "--json" not in known:
        parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document on stdout")
    if "--debug" not in known:
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks and debug logs")


def _error_text(exc: BaseException, verb: str | None) -> str:
    from labdatasets.present.redact import redact

    text = getattr(exc, "shell_message", None) or str(exc)
    if verb and verb not in ("load", "completion", "cache") and "'labdatasets load " in text:
        text = text.replace("'labdatasets load ", f"'labdatasets {verb} ")
    return redact(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.json = getattr(args, "json", False)
    debug = args.debug or os.environ.get("LABDATASETS_DEBUG") == "1"
    logging.captureWarnings(True)  # Python warnings go through logging, to stderr
    from labdatasets.errors import LabDatasetsError
    from labdatasets.present.redact import configure_logging, redact, redact_traceback

    # --debug turns up labdatasets' own loggers only; every line goes through the redacting filter.
    configure_logging(debug)
    try:
        return int(args.run(args) or 0)
    except LabDatasetsError as exc:
        if debug:
            print(redact_traceback(exc), file=sys.stderr, end="")  # ours, redacted; never a library's headers
        from labdatasets.cli._common import use_colour

        text = _error_text(exc, args.verb)
        if args.json:
            from labdatasets.cli._common import print_json

            print_json({"error": {"type": type(exc).__name__, "message": text}})
        label = "\033[31merror\033[0m" if use_colour(sys.stderr) else "error"
        print(f"{label}: {text}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `labdatasets list | head`
        sys.stdout = open(os.devnull, "w")
        return 0
    except Exception as exc:  # noqa: BLE001 - a bug: still never print a raw, unredacted traceback
        if debug:
            print(redact_traceback(exc), file=sys.stderr, end="")
        print(
            f"error: unexpected {type(exc).__name__}: {redact(exc)}. This is a bug in labdatasets; rerun with "
            "--debug for the traceback and report it with the command you ran.",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
