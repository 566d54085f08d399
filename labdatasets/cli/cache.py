"""``labdatasets cache``: what this machine holds per version; ``cache prune`` frees space.

``labdatasets cache`` lists, per dataset version, whether it is pinned, how many
of its snapshot objects are in the local store (fetched), the size of its
prepared splits and whether the shared cache holds a release (published).
``labdatasets cache prune --older-than 30d --max-size 10GB [--dry-run]`` removes
prepared versions and fetched objects, least recently used first. It never
deletes a pin record, the snapshot store's own copy of an object, or anything
in the shared cache.
"""

from __future__ import annotations

import argparse

from labdatasets.cli._common import add_data_dir, print_json, print_table

HELP = "list what is pinned, fetched, prepared and published per version, with sizes (prune: free space)"
PRUNE_HELP = "remove prepared data and fetched snapshot objects by age and/or total size (never pins or published data)"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cache", help=HELP, description=HELP)
    add_data_dir(parser)
    parser.add_argument("--offline", action="store_true", help="do not ask the shared cache what is published")
    parser.set_defaults(run=run)
    sub = parser.add_subparsers(dest="cache_command", metavar="[prune]")
    prune = sub.add_parser("prune", help=PRUNE_HELP, description=PRUNE_HELP)
    prune.add_argument("--older-than", metavar="AGE", help="remove what was not used for AGE (e.g. 30d, 12h, 2w)")
    prune.add_argument("--max-size", metavar="SIZE", help="then remove the least recently used until at most SIZE remains (e.g. 10GB)")
    prune.add_argument("--dry-run", action="store_true", help="print what would be removed; remove nothing")
    add_data_dir(prune)
    prune.set_defaults(run=run_prune)


def _settings(args: argparse.Namespace):  # noqa: ANN202 - Settings, imported lazily
    from labdatasets.config import settings

    return settings(data_dir=args.data_dir)


def run(args: argparse.Namespace) -> int:
    from labdatasets.workflow.cache import cache_report
    from labdatasets.present.redact import redact
    from labdatasets.present.summary import human_bytes

    report = cache_report(_settings(args), check_published=not args.offline)
    if args.json:
        print_json(report.to_json())
        return 0
    print(f"prepared data: {report.data_dir}")
    store_note = " (the snapshot store itself: its objects are never pruned)" if report.store_is_primary else f" (a cache of {redact(report.snapshot_store)})"
    print(f"local store:   {report.local_store}{store_note}")
    print(f"shared cache:  {redact(report.shared_cache) if report.shared_cache else 'none configured'}")
    print()

    def published(value: bool | None) -> str:
        return "-" if value is None else ("yes" if value else "no")

    rows = [
        [
            e.full_name,
            "yes" if e.pinned else "no",
            f"{e.fetched_objects}/{e.objects} {human_bytes(e.fetched_bytes)}" if e.pinned else "-",
            (human_bytes(e.prepared_bytes) if e.prepared else "-")
            + (f" (+{human_bytes(e.partial_bytes)} partial)" if e.partial_bytes else ""),
            (e.last_used or "")[:10] if e.prepared or e.partial_bytes else "",
            published(e.published),
        ]
        for e in report.entries
    ]
    print_table(["version", "pinned", "fetched", "prepared", "last used", "published"], rows)
    totals = report.to_json()
    print()
    print(
        f"total: {human_bytes(totals['prepared_bytes'])} prepared, {human_bytes(totals['fetched_bytes'])} of snapshot objects"
        + (f" ({report.other_objects} objects no known pin names)" if report.other_objects else "")
    )
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from labdatasets.workflow.cache import parse_age, parse_size, prune
    from labdatasets.present.summary import human_bytes

    report = prune(
        _settings(args),
        older_than=parse_age(args.older_than) if args.older_than else None,
        max_size=parse_size(args.max_size) if args.max_size else None,
        dry_run=args.dry_run,
    )
    if args.json:
        print_json(report.to_json())
        return 0
    verb = "would remove" if report.dry_run else "removed"
    if report.removed:
        print_table(
            ["kind", "what", "size", "last used"],
            [[i.kind, i.name[:16] if i.kind == "object" else i.name, human_bytes(i.size), (i.last_used or "")[:10]] for i in report.removed],
        )
        print()
    for line in report.kept:
        print(f"kept {line}")
    print(f"{verb} {len(report.removed)} item(s), {human_bytes(report.freed_bytes)}; {human_bytes(report.remaining_bytes)} remain")
    return 0
