"""``labdatasets publish NAME:VERSION``: upload a prepared version to the shared cache."""

from __future__ import annotations

import argparse

from labdatasets.cli._common import add_build_arguments, build_options, print_table

HELP = "upload a prepared version (building it first if needed) to the shared cache (LABDATASETS_SHARED_CACHE)"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("publish", help=HELP, description=HELP)
    parser.add_argument("name", help="dataset[/config][:version] (default: the latest version)")
    parser.add_argument("--shared-cache", metavar="URI", help="s3://, gs:// or file:// URI (default: LABDATASETS_SHARED_CACHE)")
    add_build_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import labdatasets
    from labdatasets.config import settings
    from labdatasets.present.redact import redact
    from labdatasets.prepared.shared_cache import publish

    b = labdatasets.builder(args.name, settings=settings(data_dir=args.data_dir, shared_cache=args.shared_cache))
    result = publish(b, build_options(args), progress=not args.quiet)
    release = result.release
    if args.json:
        from labdatasets.cli._common import print_json

        print_json(
            {
                "name": release.full_name,
                "shared_cache": redact(result.cache_uri),
                "created": result.created,
                "uploaded_bytes": result.uploaded_bytes,
                "published_at": release.published_at,
                "fingerprints": dict(release.fingerprints),
            }
        )
        return 0
    if result.created:
        print(f"published {release.full_name} to {redact(result.cache_uri)} ({result.uploaded_bytes:,} bytes uploaded)")
    else:
        print(f"{release.full_name} was already published to {redact(result.cache_uri)} on {release.published_at}; nothing changed")
    print_table(["split", "fingerprint"], [[name, fp[:16]] for name, fp in release.fingerprints.items()])
    return 0
