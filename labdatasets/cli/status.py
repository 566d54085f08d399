"""``labdatasets status NAME[:VERSION]``: does each live source still match its pin?

Exit status: 0 when every source matches its pin, 2 when any source changed or
could not be checked, 1 on an error (no pin record, bad name).
"""

from __future__ import annotations

import argparse

from labdatasets.cli._common import print_json, print_table

HELP = "check whether each live source still matches its pin (changes nothing; exit 2 if any changed)"
CHANGED_EXIT = 2


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help=HELP, description=HELP)
    parser.add_argument("name", help="dataset[/config][:version] (default: the latest version)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import labdatasets
    from labdatasets.present.redact import redact
    from labdatasets.pinning.status import SourceState, status

    b = labdatasets.builder(args.name)
    report = status(b)
    if args.json:
        print_json(
            {
                "name": report.name,
                "snapshot_id": report.record.snapshot_id,
                "changed": report.changed,
                "sources": [
                    {"name": s.name, "kind": s.kind, "state": s.state, "details": [redact(d) for d in s.details]}
                    for s in report.sources
                ],
            }
        )
        return CHANGED_EXIT if report.changed else 0
    print(f"{report.name}: pinned {report.record.pinned_at} as snapshot {report.record.snapshot_id[:16]}")
    rows = []
    for s in report.sources:
        details = [redact(d) for d in s.details] or [""]
        rows.append([s.name, s.kind, s.state, details[0]])
        rows.extend(["", "", "", d] for d in details[1:])
    print_table(["source", "kind", "state", "details"], rows)
    if any(s.state is SourceState.CHANGED for s in report.sources):
        print(f"live sources changed since the pin; to use the new data, bump VERSION and run 'labdatasets pin {b.name}'")
    if any(s.state in (SourceState.UNAVAILABLE, SourceState.UNKNOWN) for s in report.sources):
        print("some sources could not be checked (see details); the pinned data itself is unaffected")
    if report.changed:
        return CHANGED_EXIT
    print("every source matches its pin")
    return 0
