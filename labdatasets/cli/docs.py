"""``labdatasets docs``: write (or check) the dataset catalog and error reference under docs/."""

from __future__ import annotations

import argparse

from labdatasets.cli._common import add_beam_options, build_options

HELP = "write the dataset catalog and error reference under docs/ (--check: fail if out of date)"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("docs", help=HELP, description=HELP)
    parser.add_argument("--root", help="the repository checkout (default: found from the current folder)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if docs/ is out of date")
    parser.add_argument(
        "--build",
        nargs="*",
        metavar="NAME[:VERSION]",
        help="first build these versions (all pinned versions of a NAME; with no value, every pinned version "
        "without current split sizes) and record their split sizes in the builder's splits.json",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_beam_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labdatasets.workflow import catalog

    root = catalog.find_checkout(args.root)
    if args.check:
        stale = catalog.stale(root)
        if args.json:
            from labdatasets.cli._common import print_json

            print_json({"up_to_date": not stale, "stale": [str(rel) for rel in stale]})
            return 1 if stale else 0
        if stale:
            print("docs/ is out of date with the builders; run 'labdatasets docs' and commit:")
            for rel in stale:
                print(f"  {rel}")
            return 1
        print("docs/ is up to date")
        return 0
    recorded = []
    if args.build is not None:
        catalog.check_imported_from(root)
        for b in catalog.versions_to_record(args.build):
            path = catalog.record_splits(b, build_options(args), progress=not args.quiet)
            recorded.append({"name": b.full_name, "path": str(path.relative_to(root))})
            if not args.json:
                print(f"recorded the split sizes of {b.full_name} in {path.relative_to(root)}")
    changed = catalog.write(root)
    if args.json:
        from labdatasets.cli._common import print_json

        print_json(
            {
                "recorded": recorded,
                "written": [str(rel) for rel in changed if (root / rel).exists()],
                "removed": [str(rel) for rel in changed if not (root / rel).exists()],
            }
        )
        return 0
    for rel in changed:
        print(f"wrote {rel}" if (root / rel).exists() else f"removed {rel}")
    if not changed:
        print("docs/ is up to date")
    return 0
