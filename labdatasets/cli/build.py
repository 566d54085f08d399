"""``labdatasets build NAME[:VERSION]``: run the Beam processing from the pins."""

from __future__ import annotations

import argparse

from labdatasets.cli._common import add_build_arguments, build_options, print_json, print_splits, print_violations, splits_json

HELP = "build (prepare) a dataset version from its pinned snapshots with Apache Beam"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("build", help=HELP, description=HELP)
    parser.add_argument("name", help="dataset[/config][:version] (default: the latest version)")
    parser.add_argument("--overwrite", action="store_true", help="rebuild even if already prepared")
    add_build_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import labdatasets

    b = labdatasets.builder(args.name, data_dir=args.data_dir)
    path = b.build(options=build_options(args), overwrite=args.overwrite, progress=not args.quiet)
    info = b.info
    if args.json:
        print_json({"name": b.full_name, "prepared_dir": str(path), "splits": splits_json(info)})
        return 0
    print(f"prepared {b.full_name} in {path}")
    print_splits(info)
    print_violations(info)
    return 0
