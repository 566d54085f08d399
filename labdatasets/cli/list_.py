"""``labdatasets list``: every dataset, its group, versions and one line about it."""

from __future__ import annotations

import argparse
from typing import Any

from labdatasets.cli._common import print_json, print_table

HELP = "list the registered datasets"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list", help=HELP, description=HELP)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from labdatasets import registry
    from labdatasets.builder import describe_builder

    rows: list[dict[str, Any]] = []
    for name in registry.list_datasets():
        cls = registry.builder_cls(name)
        versions = [str(v) for v in cls.versions()]
        configs = [c.name for c in cls.BUILDER_CONFIGS]
        rows.append(
            {
                "name": name,
                "group": cls.group(),
                "latest": versions[0],
                "versions": versions,
                "configs": configs,
                "description": describe_builder(cls),
            }
        )
    if args.json:
        print_json(rows)
        return 0
    print_table(
        ["dataset", "group", "versions", "description"],
        [
            [r["name"] + (f" ({', '.join(r['configs'])})" if r["configs"] else ""), r["group"], ", ".join(r["versions"]), r["description"]]
            for r in rows
        ],
    )
    return 0
