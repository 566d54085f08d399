"""``labdatasets info NAME``: description, versions, features, sources and their pins, splits."""

from __future__ import annotations

import argparse

from labdatasets.cli._common import add_data_dir, print_json, print_splits, print_table

HELP = "describe a dataset version: features, versions, sources, pins and splits"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help=HELP, description=HELP)
    parser.add_argument("name", help="dataset[/config][:version]")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_data_dir(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import labdatasets
    from labdatasets.present import summary
    from labdatasets.present.statistics import statistics_rows
    from labdatasets.present.redact import redact_mapping

    b = labdatasets.builder(args.name, data_dir=args.data_dir)
    info = b.info
    record = b.pin_record()
    declared = {name: {"kind": s.kind, **redact_mapping(s.describe())} for name, s in b.sources().items()}
    if args.json:
        data = info.to_json()
        data["sources"] = declared
        data["pin"] = redact_mapping(record.to_json()) if record else None
        data["prepared_dir"] = str(b.prepared_dir) if b.is_prepared() else None
        print_json(data)
        return 0
    print(f"{b.full_name}  ({info.group or 'external'})")
    print()
    print(info.description.strip())
    print()
    for label, value in summary.about_rows(info):
        print(f"{label.lower() + ':':<17}{value}")
    print()
    print_table(["version", "release notes"], [[v + (" *" if v == str(b.version) else ""), n] for v, n in info.release_notes.items()])
    print()
    print_table(["feature", "type", "description"], summary.feature_rows(info.features))
    print()
    print("expectations (checked by every build):")
    print_table(["rule", "column", "severity"], summary.expectation_rows(b.declared_info()))
    print()
    if record is None:
        print(f"sources (not pinned yet; run 'labdatasets pin {b.full_name}'):")
        for name, desc in declared.items():
            print(f"  {name}: {desc}")
    else:
        print(f"pinned {record.pinned_at} as snapshot {record.snapshot_id[:16]} ({record.path})")
        print_table(["source", "kind", "location", "format", "objects", "rows", "size"], summary.source_rows(record))
    print()
    if info.splits:
        print(f"prepared in {b.prepared_dir}")
        print_splits(info)
        for split in info.splits.values():
            print()
            if split.statistics is None:
                print(f"split {split.name}: no statistics (built before they existed; 'labdatasets validate {b.full_name}' adds them)")
                continue
            print(f"split {split.name}: statistics of {split.num_rows:,} rows")
            print_table(["column", "nulls", "values", "shape"], statistics_rows(split.statistics))
        lines = summary.violation_lines(info)
        if lines:
            print()
            checked_by = (info.validation or {}).get("checked_by", "build")
            print(f"expectations broken (found by {checked_by}):")
            for line in lines:
                print(f"  {line}")
    else:
        print(f"not prepared in {b.data_dir} (run 'labdatasets build {b.full_name}')")
    return 0
