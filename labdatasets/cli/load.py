"""``labdatasets load NAME``: load a version (pinning and building what is missing) and print a head."""

from __future__ import annotations

import argparse

from labdatasets.cli._common import add_build_arguments, build_options, print_json

HELP = "load a dataset version and print its row counts and first rows"


def non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of rows, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more rows, got {value}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("load", help=HELP, description=HELP)
    parser.add_argument("name", help="dataset[/config][:version]")
    parser.add_argument("--split", help="split to show, e.g. train or 'train[:10%%]' (default: all)")
    parser.add_argument("--head", type=non_negative, default=5, help="rows to print per split (default 5)")
    add_build_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import labdatasets

    # load() checks --split against the version's split names before it builds anything
    data, info = labdatasets.load(
        args.name,
        split=args.split,
        data_dir=args.data_dir,
        with_info=True,
        options=build_options(args),
        progress=not args.quiet,
    )
    splits = dict(data) if args.split is None else {args.split: data}
    if args.json:
        print_json(
            {
                "name": info.full_name,
                "splits": {
                    name: {"num_rows": len(ds), "head": ds[: args.head].to_arrow().to_pylist()} for name, ds in splits.items()
                },
            }
        )
        return 0
    from labdatasets.cli._common import print_table
    from labdatasets.present.display import cell_text, head_rows

    print(f"{info.full_name}: " + ", ".join(f"{name} {len(ds):,} rows" for name, ds in splits.items()))
    for name, ds in splits.items():
        print()
        print(f"{name} (first {min(args.head, len(ds))} of {len(ds):,} rows)")
        columns, rows = head_rows(ds, args.head)
        features = info.features
        print_table(columns, [[cell_text(v, features.get(c)) for c, v in zip(columns, row, strict=True)] for row in rows])
    return 0
