"""``labdatasets pin NAME:VERSION``: store every source's bytes and write the pin record."""

from __future__ import annotations

import argparse

from labdatasets.cli._common import print_table

HELP = "pin the sources of a dataset version into the snapshot store and write its pin record"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("pin", help=HELP, description=HELP)
    parser.add_argument("name", help="dataset[/config][:version] (default: the latest version)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import labdatasets

    b = labdatasets.builder(args.name)
    record = b.pin(progress=not args.quiet)
    if args.json:
        from labdatasets.cli._common import print_json

        print_json(
            {
                "name": record.full_name,
                "snapshot_id": record.snapshot_id,
                "pin_record": str(record.path),
                "sources": {
                    n: {"kind": p.kind, "format": p.format, "objects": len(p.objects), "num_rows": p.num_rows, "num_bytes": p.num_bytes}
                    for n, p in record.sources.items()
                },
            }
        )
        return 0
    print(f"pinned {record.full_name}: snapshot {record.snapshot_id}")
    print(f"pin record: {record.path}")
    print_table(
        ["source", "kind", "format", "objects", "rows", "bytes"],
        [[n, p.kind, p.format, len(p.objects), p.num_rows if p.num_rows is not None else "-", f"{p.num_bytes:,}"] for n, p in record.sources.items()],
    )
    return 0
