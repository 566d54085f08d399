"""``labdatasets check``: the pull-request gate (run in CI; see labdatasets/check.py)."""

from __future__ import annotations

import argparse

HELP = "fail when a builder's processing or pins changed without a new VERSION and RELEASE_NOTES (the PR gate)"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check", help=HELP, description=HELP)
    parser.add_argument("names", nargs="*", metavar="NAME", help="datasets to check (default: all)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labdatasets.workflow.check import check

    report = check(args.names or None)
    if args.json:
        from labdatasets.cli._common import print_json

        print_json(
            {
                "ok": report.ok,
                "checked": [str(c) for c in report.checked],
                "findings": [{"level": f.level, "message": f.message} for f in report.findings],
            }
        )
        return 0 if report.ok else 1
    for finding in report.findings:
        print(f"{finding.level.upper()}: {finding.message}")
    status = "ok" if report.ok else f"FAILED: {len(report.errors)} error(s)"
    print(f"checked {len(report.checked)} versions; {len(report.warnings)} warning(s); {status}")
    return 0 if report.ok else 1
