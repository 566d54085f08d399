"""``labdatasets list``: every dataset, its group, versions (pinned, prepared here, published) and one line about it."""

from __future__ import annotations

import argparse
from typing import Any

from labdatasets.cli._common import add_data_dir, print_json, print_table
from labdatasets.naming import DatasetReference

HELP = "list the registered datasets and which versions are pinned, prepared here and published"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list", help=HELP, description=HELP)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--names", action="store_true", help="print only the dataset names, one a line (imports no builder)")
    parser.add_argument("--offline", action="store_true", help="do not ask the shared cache what is published")
    add_data_dir(parser)
    parser.set_defaults(run=run)


def _marks(state: dict[str, Any]) -> str:
    marks = [m for m, on in (("pinned", state["pinned"]), ("prepared", state["prepared"]), ("published", state["published"])) if on]
    return f" ({', '.join(marks)})" if marks else ""


def run(args: argparse.Namespace) -> int:
    from labdatasets import registry
    from labdatasets.builder import describe_builder
    from labdatasets.workflow.cache import cache_report
    from labdatasets.config import settings

    if args.names:
        if args.json:
            print_json(registry.list_datasets())
        else:
            print("\n".join(registry.list_datasets()))
        return 0
    report = cache_report(settings(data_dir=args.data_dir), check_published=not args.offline)
    states = {e.full_name: e for e in report.entries}
    rows: list[dict[str, Any]] = []
    for name in registry.list_datasets():
        cls = registry.builder_cls(name)
        configs = [c.name for c in cls.BUILDER_CONFIGS]
        versions = [str(v) for v in cls.versions(configs[0] if configs else None)]
        detail: list[dict[str, Any]] = []
        config_names: list[str | None] = list(configs) or [None]
        for config in config_names:
            for version in cls.versions(config):
                full = str(DatasetReference(name, config, str(version)))
                entry = states.get(full)
                detail.append(
                    {
                        "name": full,
                        "config": config,
                        "version": str(version),
                        "pinned": bool(entry and entry.pinned),
                        "prepared": bool(entry and entry.prepared),
                        "published": entry.published if entry else (None if report.shared_cache is None or args.offline else False),
                    }
                )
        rows.append(
            {
                "name": name,
                "group": cls.group(),
                "latest": versions[0],
                "versions": versions,
                "configs": configs,
                "description": describe_builder(cls),
                "status": detail,
            }
        )
    if args.json:
        print_json(rows)
        return 0
    print_table(
        ["dataset", "group", "versions", "description"],
        [
            [
                r["name"] + (f" ({', '.join(r['configs'])})" if r["configs"] else ""),
                r["group"],
                ", ".join(
                    d["version"] + (f"/{d['config']}" if d["config"] and len(r["configs"]) > 1 else "") + _marks(d)
                    for d in r["status"]
                ),
                r["description"],
            ]
            for r in rows
        ],
    )
    return 0
