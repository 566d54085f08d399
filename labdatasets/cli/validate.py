"""``labdatasets validate NAME[:VERSION]``: check expectations and compute statistics on prepared data."""

from __future__ import annotations

import argparse

from labdatasets.cli._common import add_data_dir, print_json, print_table

HELP = "check a prepared version against its builder's expectations and record its statistics, without rebuilding"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("validate", help=HELP, description=HELP)
    parser.add_argument("name", help="dataset[/config][:version] (default: the latest version)")
    parser.add_argument("--no-write", action="store_true", help="do not store the statistics in dataset_info.json")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_data_dir(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labdatasets.prepared.validate import validate
    from labdatasets.present.statistics import statistics_rows

    report = validate(args.name, data_dir=args.data_dir, write=not args.no_write)
    if args.json:
        print_json(
            {
                "name": report.full_name,
                "ok": report.ok,
                "statistics": report.statistics,
                "violations": [v.to_json() for v in report.violations],
                "skipped": report.skipped,
            }
        )
        return 0 if report.ok else 1
    for split, statistics in report.statistics.items():
        print(f"split {split}: {statistics['num_rows']:,} rows")
        print_table(["column", "nulls", "values", "shape"], statistics_rows(statistics))
        print()
    for violation in report.violations:
        print(f"{violation.severity.upper()}: {violation.message(report.full_name)}")
    for text in report.skipped:
        print(f"SKIPPED: {text}")
    status = "ok" if report.ok else f"FAILED: {len(report.errors)} expectation(s) broken"
    print(f"validated {report.full_name}; {len(report.warnings)} warning(s); {status}")
    return 0 if report.ok else 1
