"""``labdatasets export NAME:VERSION``: write a prepared version as a tensorflow-datasets dataset."""

from __future__ import annotations

import argparse

from labdatasets.cli._common import add_data_dir

HELP = "write a prepared version as a tensorflow-datasets (tfds) dataset folder (ArrayRecord or TFRecord)"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help=HELP, description=HELP)
    parser.add_argument("name", help="dataset[/config][:version]")
    parser.add_argument(
        "--format",
        choices=["array_record", "tfrecord"],
        default="array_record",
        help="array_record: random access with tfds.data_source, no TensorFlow; tfrecord: tf.data with tfds.load",
    )
    parser.add_argument("--out", metavar="DIR", help="the tfds data_dir to write into (default: <data dir>/_tfds)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_data_dir(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import labdatasets
    from labdatasets.prepared.export import export_tfds, require_export_dependencies

    require_export_dependencies(args.format)  # before a build that could not be exported
    b = labdatasets.builder(args.name, data_dir=args.data_dir)
    b.download_and_prepare(progress=not args.quiet)
    path = export_tfds(b, data_dir=args.out, file_format=args.format, progress=not args.quiet)
    if args.json:
        from labdatasets.cli._common import print_json

        print_json({"name": b.full_name, "format": args.format, "path": str(path)})
        return 0
    print(f"exported {b.full_name} as a tfds dataset ({args.format}) in {path}")
    print("read it with tensorflow-datasets:")
    print("  import tensorflow_datasets as tfds")
    if args.format == "array_record":
        print(f"  tfds.builder_from_directory({str(path)!r}).as_data_source(split='train')")
    else:
        root = path.parents[2 if b.config_name else 1]  # <root>/<name>[/<config>]/<version>
        print(f"  tfds.load({b.full_name!r}, data_dir={str(root)!r}, split='train')")
    return 0
