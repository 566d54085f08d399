"""``labdatasets lock NAME:VERSION``: build a version and write its output record (commit it)."""

from __future__ import annotations

import argparse

from labdatasets.cli._common import add_build_arguments, build_options, print_table

HELP = (
    "build a version (or reuse it) and write its output record snapshots/<name>/<version>.lock.json "
    "(row counts, fingerprints, shard sha256) next to its pin record; commit both"
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lock", help=HELP, description=HELP)
    parser.add_argument("name", help="dataset[/config][:version] (default: the latest version)")
    add_build_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import labdatasets
    from labdatasets.workflow.lock import lock_version

    b = labdatasets.builder(args.name, data_dir=args.data_dir)
    result = lock_version(b, build_options(args), progress=not args.quiet)
    verb = "wrote" if result.written else "unchanged:"
    print(f"{verb} {result.path} ({b.full_name})")
    print_table(
        ["split", "rows", "fingerprint"],
        [[name, f"{s.num_rows:,}", s.fingerprint[:16]] for name, s in sorted(result.record.splits.items())],
    )
    if result.written:
        print("commit it next to the pin record")
    return 0
