"""Pin two SQL sources of one MariaDB table in one consistent snapshot, as a whole process.

For paired whole-process timing beside the ``mysql`` client (run them in turn, A B A B,
and compare medians), for example with GNU time::

    /usr/bin/time -v python benchmarks/pin_two_sources.py bench_orders_1000000 1000000
    /usr/bin/time -v mysql -h 127.0.0.1 -u root --batch --quick test -e 'SELECT * FROM bench_orders_1000000' > /dev/null

The table is the one ``bench_loading.py`` generates (``TABLE_SQL``; ids 1..rows). The
two sources split it by id and read on one connection inside ``START TRANSACTION WITH
CONSISTENT SNAPSHOT, READ ONLY`` (the wire reader). Prints one JSON line to stderr:
the seconds of the pin itself, this process's CPU seconds and peak RSS, the rows and
both sources' content hashes. The store is a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table")
    parser.add_argument("rows", type=int)
    parser.add_argument("--mysql-url", default="mysql+pymysql://root@127.0.0.1:3306/test")
    args = parser.parse_args(argv)

    from labdatasets.loaders.base import PinContext, PinSession
    from labdatasets.loaders.sql import SQLSource
    from labdatasets.stores import Snapshots

    folder = Path(tempfile.mkdtemp(prefix="pin-two-sources-"))
    try:
        store = Snapshots(f"file://{folder}")
        half = args.rows // 2
        sources = {
            "first": SQLSource(f"SELECT * FROM {args.table} WHERE id <= {half} ORDER BY id", url=args.mysql_url),
            "second": SQLSource(f"SELECT * FROM {args.table} WHERE id > {half} ORDER BY id", url=args.mysql_url),
        }
        start = time.perf_counter()
        with PinSession(sources) as session:
            pins = {
                name: source.pin(PinContext(
                    store=store, base_dir=folder, label=name, progress=lambda total, desc: (lambda n: None), session=session
                ))
                for name, source in sorted(sources.items())
            }
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "rows": sum(p.num_rows for p in pins.values()),
        "snapshots": len({repr(p.metadata.get("snapshot")) for p in pins.values()}),
        "content_sha256": {name: p.metadata["content_sha256"] for name, p in pins.items()},
    }), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
