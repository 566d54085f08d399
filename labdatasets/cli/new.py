"""``labdatasets new GROUP/NAME``: scaffold a builder, its test, dummy data and docs page."""

from __future__ import annotations

import argparse
import sys

HELP = "scaffold datasets/GROUP/NAME/: builder, test, dummy data and docs page (passes its own test)"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from labdatasets.workflow.scaffold import SOURCES

    parser = subparsers.add_parser("new", help=HELP, description=HELP)
    parser.add_argument("spec", metavar="GROUP/NAME", help="e.g. products/product_b or text_classification/reviews")
    parser.add_argument(
        "--source", choices=SOURCES, default="local", help="the kind of source _sources() starts with (default local)"
    )
    parser.add_argument("--root", help="the repository checkout (default: found from the current folder)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labdatasets.registry import repository_root
    from labdatasets.workflow.checkout import find_checkout
    from labdatasets.workflow.scaffold import create_dataset, parse_spec

    root = find_checkout(args.root)
    written = create_dataset(root, args.spec, source=args.source)
    group, name = parse_spec(args.spec)
    folder = "/".join(("datasets", *group, name))
    if args.json:
        from labdatasets.cli._common import print_json

        print_json({"name": name, "folder": folder, "written": [str(p.relative_to(root)) for p in written]})
        return 0
    print(f"created {folder}/")
    for path in written:
        print(f"  {path.relative_to(root)}")
    print(
        f"""
next steps (CONTRIBUTING.md has the details):
  1. fill in every TODO(author) in {folder}/{name}_dataset_builder.py and README.md
  2. make dummy_data/ look like the real source, then set SPLITS in the test
  3. python -m pytest {folder}
  4. labdatasets pin {name}:1.0.0
     writes snapshots/{name}/1.0.0.json, the pin record to commit
  5. labdatasets docs --build {name}:1.0.0
     records the split sizes and writes docs/catalog/{name}.md
  6. labdatasets check
     the pull-request gate; then commit everything and open the pull request"""
    )
    if repository_root() != root:
        print(
            f"\nnote: this Python imports builders from {repository_root()}; run 'pip install -e {root}' "
            "so that the new builder is found.",
            file=sys.stderr,
        )
    return 0
