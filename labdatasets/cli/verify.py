"""``labdatasets verify NAME:VERSION``: re-hash snapshot objects and prepared files."""

from __future__ import annotations

import argparse

from labdatasets.cli._common import add_build_arguments, build_options

HELP = (
    "re-hash a version's snapshot objects and prepared files (--repair fixes what it can; --rebuild rebuilds "
    "from the pins and compares content fingerprints)"
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("verify", help=HELP, description=HELP)
    parser.add_argument("name", help="dataset[/config][:version]")
    parser.add_argument("--repair", action="store_true", help="quarantine and re-fetch corrupted objects; rebuild damaged prepared files")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="rebuild from the pins in a temporary folder and compare each split's fingerprint with the recorded one",
    )
    add_build_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import labdatasets
    from labdatasets.prepared.verify import verify

    b = labdatasets.builder(args.name, data_dir=args.data_dir)
    report = verify(
        b,
        repair=args.repair,
        rebuild=args.rebuild,
        options=build_options(args),
        progress=not args.quiet,
    )
    if args.json:
        from labdatasets.cli._common import print_json

        print_json(
            {
                "name": report.name,
                "ok": not report.problems,
                "objects_checked": report.objects_checked,
                "files_checked": report.files_checked,
                "notes": list(report.notes),
                "repaired": list(report.repaired),
                "problems": list(report.problems),
            }
        )
        return 1 if report.problems else 0
    print(f"{report.name}: checked {report.objects_checked} snapshot objects and {report.files_checked} prepared files")
    for line in report.notes:
        print(f"  note: {line}")
    for line in report.repaired:
        print(f"  repaired: {line}")
    for line in report.problems:
        print(f"  PROBLEM: {line}")
    if report.problems:
        if not args.repair:
            print(f"run 'labdatasets verify --repair {b.full_name}' to fix what can be fixed")
        return 1
    print("ok")
    return 0
