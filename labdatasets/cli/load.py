"""``labdatasets load NAME``: load a version (pinning and building what is missing) and print a head."""

from __future__ import annotations

import argparse

from labdatasets.cli._common import add_beam_options, add_data_dir, beam_options

HELP = "load a dataset version and print its row counts and first rows"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("load", help=HELP, description=HELP)
    parser.add_argument("name", help="dataset[/config][:version]")
    parser.add_argument("--split", help="split to show, e.g. train or 'train[:10%%]' (default: all)")
    parser.add_argument("--head", type=int, default=5, help="rows to print per split (default 5)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_data_dir(parser)
    add_beam_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    import labdatasets

    data, info = labdatasets.load(
        args.name,
        split=args.split,
        data_dir=args.data_dir,
        with_info=True,
        beam_options=beam_options(args),
        workers=args.workers,
        progress=not args.quiet,
    )
    splits = data if isinstance(data, dict) else {args.split: data}
    print(f"{info.full_name}: " + ", ".join(f"{name} {len(ds):,} rows" for name, ds in splits.items()))
    with pd.option_context("display.max_columns", 12, "display.width", 160):
        for name, ds in splits.items():
            print()
            print(f"{name} (first {min(args.head, len(ds))} of {len(ds):,} rows)")
            print(ds.head(args.head).to_string(max_colwidth=40))
    return 0
