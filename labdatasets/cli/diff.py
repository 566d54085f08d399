"""``labdatasets diff OLD NEW``: schema, rows per split, rows by key and changed values of two versions."""

from __future__ import annotations

import argparse

from labdatasets.cli._common import add_build_arguments, build_options, print_json

HELP = "compare two dataset versions: schema, rows per split, rows added/removed by key, changed values"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("diff", help=HELP, description=HELP)
    parser.add_argument("old", help="dataset[/config]:version, e.g. product_a:1.0.0")
    parser.add_argument("new", help="dataset[/config]:version, e.g. product_a:1.2.0")
    parser.add_argument("--examples", type=int, default=5, help="keys and values shown per change (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--no-build", action="store_true", help="fail instead of building a version that is not prepared")
    add_build_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labdatasets.prepared.diff import diff_versions

    result = diff_versions(
        args.old,
        args.new,
        data_dir=args.data_dir,
        build=not args.no_build,
        examples=args.examples,
        options=build_options(args),
        progress=not args.quiet,
    )
    if args.json:
        print_json(result.to_json(examples=args.examples))
    else:
        print(result.format(examples=args.examples))
    return 0
