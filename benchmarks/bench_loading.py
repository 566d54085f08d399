"""Loading-layer benchmarks: SQL pins, many small objects, a 1 GB local file pin, a 1 GB fetch from S3.

One run measures each path and its anchors on the same machine, in the same
run, and prints ratios (the issue's targets are ratios). Every measured step
runs in its own process, so its peak memory (max RSS) is its own.

    python benchmarks/bench_loading.py                       # everything, 1M rows
    python benchmarks/bench_loading.py --sql-rows 1000000 5000000 --skip-file --skip-s3
    python benchmarks/bench_loading.py --dvc /tmp/dvc-venv/bin/dvc   # compare with dvc add
    python benchmarks/bench_loading.py --skip-sql --skip-file --skip-s3   # 2000 small objects only

Needs: MariaDB on 127.0.0.1:3306 (root, no password; ``--mysql-url``), the
``mysql`` client, ``labdatasets[all,test]`` (moto for the S3 endpoint) and
about 3 GB of free disk under ``--workdir``. The data is generated here (the
SQL table with MariaDB's SEQUENCE engine); nothing large is committed. Results
also go to ``benchmarks/results/loading-<time>.json`` (not committed).

Times are of the operation itself (interpreter start and imports excluded, as
they are for ``mysql``'s own start-up); peak memory includes everything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable

TABLE_SQL = """
DROP TABLE IF EXISTS {table};
CREATE TABLE {table} (
  id BIGINT NOT NULL PRIMARY KEY,
  user_id INT UNSIGNED NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  qty SMALLINT NOT NULL,
  score DOUBLE,
  name VARCHAR(64) NOT NULL,
  code CHAR(8) NOT NULL,
  created_at DATETIME NOT NULL,
  day DATE NOT NULL,
  note TEXT,
  attrs JSON,
  updated_at DATETIME(6) NULL
) ENGINE=InnoDB;
INSERT INTO {table}
SELECT seq, (seq * 2654435761) % 4294967296, ROUND(((seq * 7919) % 1000000) / 100, 2), CAST(seq % 60000 AS SIGNED) - 30000,
       IF(seq % 10 = 0, NULL, (seq % 1000) / 7.0), CONCAT('customer ', seq % 50000), LPAD(HEX(seq % 4294967295), 8, '0'),
       TIMESTAMP('2020-01-01') + INTERVAL (seq * 37) SECOND, DATE('2020-01-01') + INTERVAL (seq % 2000) DAY,
       IF(seq % 7 = 0, NULL, REPEAT(CONCAT('note ', seq, ' '), 1 + seq % 4)),
       CONCAT('{{"k": ', seq % 100, ', "tags": ["a", "b"]}}'),
       IF(seq % 3 = 0, NULL, TIMESTAMP('2021-06-01') + INTERVAL (seq * 1001) MICROSECOND)
FROM seq_1_to_{rows};
"""

# Each child prints one JSON line: {"seconds": ..., "peak_mb": ..., ...}.
CHILD_PRELUDE = """
import json, resource, sys, time
def report(seconds, **extra):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, **extra}))
"""

PIN_SQL = CHILD_PRELUDE + """
from pathlib import Path
from labdatasets.loaders.base import PinContext
from labdatasets.loaders.sql import SQLSource
from labdatasets.stores import Snapshots
import pyarrow, pyarrow.parquet, sqlalchemy, pymysql, connectorx  # imports are not the pin
store = Snapshots("file://" + sys.argv[1])
ctx = PinContext(store=store, base_dir=Path(sys.argv[1]), label="bench", progress=lambda t, d: (lambda n: None))
source = SQLSource(table=sys.argv[3], url=sys.argv[2], fast=sys.argv[4] == "fast")
start = time.perf_counter()
pin = source.pin(ctx)
report(time.perf_counter() - start, rows=pin.num_rows, bytes=pin.num_bytes, reader=pin.metadata["reader"])
"""

PIN_SQL_MULTI = CHILD_PRELUDE + """
from pathlib import Path
from labdatasets.loaders.base import PinContext, PinSession
from labdatasets.loaders import sql
from labdatasets.loaders.sql import SQLSource
from labdatasets.stores import Snapshots
import pyarrow, pyarrow.parquet, sqlalchemy, pymysql, numpy  # imports are not the pin
store = Snapshots("file://" + sys.argv[1])
url, table, rows = sys.argv[2], sys.argv[3], int(sys.argv[4])
sql._Session.wire_reader = sys.argv[5] == "wire"
half = rows // 2
sources = {
    "first": SQLSource(f"SELECT * FROM {table} WHERE id <= {half} ORDER BY id", url=url),
    "second": SQLSource(f"SELECT * FROM {table} WHERE id > {half} ORDER BY id", url=url),
}
start = time.perf_counter()
with PinSession(sources) as session:
    pins = {
        name: source.pin(PinContext(store=store, base_dir=Path(sys.argv[1]), label=name,
                                    progress=lambda t, d: (lambda n: None), session=session))
        for name, source in sorted(sources.items())
    }
seconds = time.perf_counter() - start
snapshots = {repr(p.metadata.get("snapshot")) for p in pins.values()}
assert len(snapshots) == 1, snapshots  # one consistent snapshot for both sources
report(seconds, rows=sum(p.num_rows for p in pins.values()), reader=pins["first"].metadata["reader"])
"""

PANDAS_SQL = CHILD_PRELUDE + """
import pandas, sqlalchemy, pyarrow
engine = sqlalchemy.create_engine(sys.argv[1])
start = time.perf_counter()
df = pandas.read_sql(f"SELECT * FROM {sys.argv[2]}", engine)
df.to_parquet(sys.argv[3])
report(time.perf_counter() - start, rows=len(df))
"""

CONNECTORX_SQL = CHILD_PRELUDE + """
import connectorx, pyarrow.parquet as pq
start = time.perf_counter()
table = connectorx.read_sql(sys.argv[1], f"SELECT * FROM {sys.argv[2]}", return_type="arrow")
pq.write_table(table, sys.argv[3])
report(time.perf_counter() - start, rows=table.num_rows)
"""

PIN_FILE = CHILD_PRELUDE + """
from pathlib import Path
from labdatasets.loaders.base import PinContext
from labdatasets.loaders.local import LocalSource
from labdatasets.stores import Snapshots
import pyarrow  # imports are not the pin
store = Snapshots("file://" + sys.argv[2])
ctx = PinContext(store=store, base_dir=Path(sys.argv[1]).parent, label="bench", progress=lambda t, d: (lambda n: None))
start = time.perf_counter()
pin = LocalSource(sys.argv[1], format="files").pin(ctx)
report(time.perf_counter() - start, bytes=pin.num_bytes)
"""

HASH_FILE = CHILD_PRELUDE + """
from labdatasets.stores.hashing import sha256_file
start = time.perf_counter()
sha256_file(sys.argv[1])
report(time.perf_counter() - start)
"""

S3_SETUP = CHILD_PRELUDE + """
import boto3
from labdatasets.stores import open_store
boto3.client("s3").create_bucket(Bucket="bench")
store = open_store("s3://bench/snapshots")
start = time.perf_counter()
info = store.add_file(sys.argv[1])
report(time.perf_counter() - start, oid=info.oid, bytes=info.size)
"""

S3_BOTO3 = CHILD_PRELUDE + """
import boto3, hashlib
from labdatasets.stores.hashing import sha256_file
client = boto3.client("s3")
key = "snapshots/objects/" + sys.argv[1][:2] + "/" + sys.argv[1][2:]
start = time.perf_counter()
client.download_file("bench", key, sys.argv[2])
seconds = time.perf_counter() - start
sha256_file(sys.argv[2])
report(seconds, verified_seconds=time.perf_counter() - start)
"""

S3_SINGLE_GET = CHILD_PRELUDE + """
import boto3, hashlib
client = boto3.client("s3")
key = "snapshots/objects/" + sys.argv[1][:2] + "/" + sys.argv[1][2:]
start = time.perf_counter()
body = client.get_object(Bucket="bench", Key=key)["Body"]
digest = hashlib.sha256()
with open(sys.argv[2], "wb") as out:
    while chunk := body.read(8 << 20):
        digest.update(chunk)
        out.write(chunk)
report(time.perf_counter() - start)
"""

S3_FETCH = CHILD_PRELUDE + """
from labdatasets.stores import Snapshots
snaps = Snapshots("s3://bench/snapshots", "file://" + sys.argv[2])
start = time.perf_counter()
path = snaps.local_path(sys.argv[1])
report(time.perf_counter() - start, bytes=path.stat().st_size)
"""


OBJECTS_FILL = CHILD_PRELUDE + """
import boto3, concurrent.futures, os
client = boto3.client("s3")
client.create_bucket(Bucket=sys.argv[1])
count = int(sys.argv[2])
noise = os.urandom(1 << 16)
def put(i):
    size = 2_000 + (i * 7919) % 38_000  # 2-40 KB, like small PNGs
    client.put_object(Bucket=sys.argv[1], Key=f"images/{i:05d}.png", Body=noise[i % 4096 : i % 4096 + size])
    return size
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    total = sum(pool.map(put, range(count)))
report(0.0, bytes=total)
"""

OBJECTS_BOTO3 = CHILD_PRELUDE + """
import boto3, botocore.config, concurrent.futures, hashlib
client = boto3.client("s3", config=botocore.config.Config(max_pool_connections=16))
start = time.perf_counter()
keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[1], Prefix="images/")
        for o in page.get("Contents", [])]
def get(key):
    return hashlib.sha256(client.get_object(Bucket=sys.argv[1], Key=key)["Body"].read()).hexdigest()
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    digests = list(pool.map(get, keys))
report(time.perf_counter() - start, objects=len(digests))
"""

OBJECTS_PIN = CHILD_PRELUDE + """
from pathlib import Path
from labdatasets.loaders.base import PinContext
from labdatasets.loaders.s3 import S3Source
from labdatasets.stores import Snapshots
import pyarrow  # imports are not the pin
store = Snapshots("file://" + sys.argv[2])
ctx = PinContext(store=store, base_dir=Path(sys.argv[2]), label="bench", progress=lambda t, d: (lambda n: None))
source = S3Source(f"s3://{sys.argv[1]}/images/", glob="*.png")
source.client  # as the boto3 anchor, the client exists before the clock starts
start = time.perf_counter()
pin = source.pin(ctx)
report(time.perf_counter() - start, objects=len(pin.objects))
"""


def child(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run([PY, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, env=env, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark step failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed_command(argv: list[str], *, stdout: int | None = subprocess.DEVNULL) -> dict:
    """Wall time and peak RSS of an external command (GNU time)."""
    fd, name = tempfile.mkstemp(suffix=".time")
    os.close(fd)
    start = time.perf_counter()
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", name, *argv], check=True, stdout=stdout)
    seconds = time.perf_counter() - start
    peak_kb = int(Path(name).read_text().split()[-1])
    os.unlink(name)
    return {"seconds": seconds, "peak_mb": peak_kb / 1024}


def mysql_args(url: str) -> tuple[list[str], str]:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    args = ["mysql", "-h", u.host or "127.0.0.1", "-P", str(u.port or 3306), "-u", u.username or "root"]
    if u.password:
        args.append(f"-p{u.password}")
    return args, u.database or "test"


def sql_section(url: str, sizes: list[int], workdir: Path, with_pandas: bool, row_reader_max: int) -> list[dict]:
    base, database = mysql_args(url)
    rows_out = []
    for rows in sizes:
        table = f"bench_orders_{rows}"
        print(f"\n== SQL: generating {rows:,} rows in {database}.{table} ...", flush=True)
        subprocess.run(base + [database], input=TABLE_SQL.format(table=table, rows=rows), text=True, check=True)
        subprocess.run(base + [database, "-e", f"ANALYZE TABLE {table}"], check=True, stdout=subprocess.DEVNULL)
        results = {}
        # Warm the buffer pool once so that every reader reads from memory.
        timed_command(base + ["--batch", "--quick", database, "-e", f"SELECT * FROM {table}"])
        results["mysql --batch --quick > /dev/null"] = timed_command(base + ["--batch", "--quick", database, "-e", f"SELECT * FROM {table}"])
        results["labdatasets pin (connectorx reader)"] = child(PIN_SQL, str(workdir / f"store-{rows}-fast"), url, table, "fast")
        results["labdatasets pin, 2 sources in one snapshot (wire reader)"] = child(
            PIN_SQL_MULTI, str(workdir / f"store-{rows}-multi"), url, table, str(rows), "wire"
        )
        shutil.rmtree(workdir / f"store-{rows}-multi", ignore_errors=True)
        if rows <= row_reader_max:
            results["same, PyMySQL's row reader (before issue 11)"] = child(
                PIN_SQL_MULTI, str(workdir / f"store-{rows}-multi"), url, table, str(rows), "pymysql"
            )
            shutil.rmtree(workdir / f"store-{rows}-multi", ignore_errors=True)
        results["connectorx -> Arrow -> Parquet (whole table)"] = child(CONNECTORX_SQL, "mysql" + url[url.index("://") :].replace("+pymysql", ""), table, str(workdir / "cx.parquet"))
        if with_pandas:
            results["pandas.read_sql (PyMySQL) + to_parquet"] = child(PANDAS_SQL, url, table, str(workdir / "pd.parquet"))
        anchor = results["mysql --batch --quick > /dev/null"]["seconds"]
        pin = results["labdatasets pin (connectorx reader)"]["seconds"]
        print(f"\n{rows:,} rows x 12 columns")
        print(f"{'path':58s} {'time':>8s} {'peak':>9s} {'x mysql':>8s}")
        for name, r in results.items():
            print(f"{name:58s} {r['seconds']:7.2f}s {r['peak_mb']:7.0f}MB {r['seconds'] / anchor:7.2f}x")
        multi = results["labdatasets pin, 2 sources in one snapshot (wire reader)"]["seconds"]
        print(f"target: pin within 1.5x of mysql --batch -> {pin / anchor:.2f}x")
        print(f"target: multi-source pin in one snapshot within 2x of mysql --batch -> {multi / anchor:.2f}x")
        if with_pandas:
            print(f"target: pin at least 6x faster than pandas+PyMySQL -> {results['pandas.read_sql (PyMySQL) + to_parquet']['seconds'] / pin:.1f}x")
        rows_out.append({"rows": rows, "results": results})
        subprocess.run(base + [database, "-e", f"DROP TABLE {table}"], check=True)
        shutil.rmtree(workdir / f"store-{rows}-fast", ignore_errors=True)
    if len(rows_out) > 1:
        peaks = ", ".join(
            "{:,} rows: {:.0f} MB".format(r["rows"], r["results"]["labdatasets pin (connectorx reader)"]["peak_mb"])
            for r in rows_out
        )
        print(f"\npin peak memory by size: {peaks}")
    return rows_out


def make_file(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as fh:
        for i in range(size >> 20):
            fh.write(block[i % 256 :] + block[: i % 256])  # distinct blocks, cheap to make


def file_section(workdir: Path, size: int, dvc: str | None) -> dict:
    print(f"\n== 1 GB local file: writing {size / 1e9:.1f} GB of test data ...", flush=True)
    big = workdir / "big.bin"
    make_file(big, size)
    results = {}
    timed_command(["cat", str(big)])  # warm the page cache: every path reads from memory
    results["cp"] = timed_command(["cp", str(big), str(workdir / "copy.bin")])
    os.unlink(workdir / "copy.bin")
    results["sha256 (hashlib)"] = child(HASH_FILE, str(big))
    results["labdatasets pin (LocalSource)"] = child(PIN_FILE, str(big), str(workdir / "file-store"))
    if dvc:
        repo = workdir / "dvc-repo"
        repo.mkdir()
        shutil.copy(big, repo / "big.bin")  # dvc add works inside its repository
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        subprocess.run([dvc, "init", "-q"], cwd=repo, check=True)
        timed_command(["cat", str(repo / "big.bin")])
        results["dvc add"] = _dvc_add(dvc, repo)
        shutil.rmtree(repo)
    cp_hash = results["cp"]["seconds"] + results["sha256 (hashlib)"]["seconds"]
    pin = results["labdatasets pin (LocalSource)"]["seconds"]
    print(f"\n{'path':40s} {'time':>8s} {'peak':>9s}")
    for name, r in results.items():
        print(f"{name:40s} {r['seconds']:7.2f}s {r['peak_mb']:7.0f}MB")
    print(f"target: pin within 1.2x of cp + sha256 ({cp_hash:.2f}s) -> {pin / cp_hash:.2f}x")
    dvc_seconds = results["dvc add"]["seconds"] if "dvc add" in results else 7.2
    source = "measured" if "dvc add" in results else "reference figure from the issue, not measured here"
    print(f"target: at least 2x faster than dvc add ({dvc_seconds:.2f}s, {source}) -> {dvc_seconds / pin:.1f}x")
    shutil.rmtree(workdir / "file-store", ignore_errors=True)
    return {"results": results, "big": str(big)}


def _dvc_add(dvc: str, repo: Path) -> dict:
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        return timed_command([dvc, "add", "-q", "big.bin"])
    finally:
        os.chdir(cwd)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_section(workdir: Path, big: Path) -> dict:
    port = free_port()
    server = subprocess.Popen(
        [str(Path(PY).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    env = dict(
        os.environ, AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY="benchmark-only",
        AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL_S3=f"http://127.0.0.1:{port}",
    )
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        print(f"\n== S3 (moto server on loopback): uploading {big.stat().st_size / 1e9:.1f} GB ...", flush=True)
        setup = child(S3_SETUP, str(big), env=env)
        results = {"upload (S3Store, multipart, SHA-256 per part)": setup}
        results["boto3 download_file"] = child(S3_BOTO3, setup["oid"], str(workdir / "boto3.bin"), env=env)
        os.unlink(workdir / "boto3.bin")
        results["labdatasets fetch (verified, cached)"] = child(S3_FETCH, setup["oid"], str(workdir / "fetch-cache"), env=env)
        shutil.rmtree(workdir / "fetch-cache", ignore_errors=True)
        one_stream = dict(env, LABDATASETS_TRANSFER_WORKERS="1")
        results["labdatasets fetch, LABDATASETS_TRANSFER_WORKERS=1"] = child(S3_FETCH, setup["oid"], str(workdir / "fetch-cache"), env=one_stream)
        # The endpoint's ceiling for context: one streaming GET, no ranges (moto serves ranges slowly).
        results["one streaming GET + sha256 (endpoint ceiling)"] = child(S3_SINGLE_GET, setup["oid"], str(workdir / "single.bin"), env=env)
        os.unlink(workdir / "single.bin")
        size_mb = big.stat().st_size / (1 << 20)
        print(f"\n{'path':50s} {'time':>8s} {'MB/s':>8s} {'peak':>9s}")
        for name, r in results.items():
            print(f"{name:50s} {r['seconds']:7.2f}s {size_mb / r['seconds']:8.0f} {r['peak_mb']:7.0f}MB")
        boto3_verified = results["boto3 download_file"]["verified_seconds"]
        print(f"{'boto3 download_file + sha256 (same guarantee)':50s} {boto3_verified:7.2f}s {size_mb / boto3_verified:8.0f}")
        fetch = results["labdatasets fetch (verified, cached)"]["seconds"]
        print(f"labdatasets fetch vs boto3 download_file: {results['boto3 download_file']['seconds'] / fetch:.2f}x the speed")
        shutil.rmtree(workdir / "fetch-cache", ignore_errors=True)
        return {"results": results}
    finally:
        server.terminate()
        server.wait(timeout=30)


def start_moto(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [str(Path(PY).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.1)
    server.terminate()
    raise RuntimeError("moto_server did not start")


def objects_section(workdir: Path, count: int, delays: list[float]) -> dict:
    """Pin ``count`` small objects from moto, directly and behind a delaying proxy, beside threaded boto3."""
    port = free_port()
    server = start_moto(port)
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ, AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY="benchmark-only",
        AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL_S3=endpoint,
    )
    out: dict = {"count": count, "runs": []}
    try:
        print(f"\n== {count:,} small objects in S3 (moto server on loopback): uploading ...", flush=True)
        out["bytes"] = child(OBJECTS_FILL, "bench-objects", str(count), env=env)["bytes"]
        for delay in delays:
            proxy = None
            run_env = env
            if delay:
                # The proxy runs as its own process (its work is not the measured process's).
                proxy = subprocess.Popen(
                    [PY, "-m", "tests.proxy", "--upstream", endpoint, "--delay", str(delay), "--lifetime", "3600"],
                    cwd=REPO, stdout=subprocess.PIPE, text=True,
                )
                assert proxy.stdout is not None
                run_env = dict(env, AWS_ENDPOINT_URL_S3=proxy.stdout.readline().split()[-1])
            try:
                results = {
                    "boto3, 16 threads, GET + sha256": child(OBJECTS_BOTO3, "bench-objects", env=run_env),
                    "labdatasets pin (S3Source, prefix)": child(OBJECTS_PIN, "bench-objects", str(workdir / "objects-store"), env=run_env),
                }
            finally:
                shutil.rmtree(workdir / "objects-store", ignore_errors=True)
                if proxy is not None:
                    proxy.terminate()
                    proxy.wait(timeout=30)
            anchor = results["boto3, 16 threads, GET + sha256"]["seconds"]
            where = f"behind a proxy adding {delay * 1000:.0f} ms to every request" if delay else "direct"
            print(f"\n{count:,} objects ({out['bytes'] / 1e6:.0f} MB), {where}")
            print(f"{'path':40s} {'time':>8s} {'peak':>9s} {'x boto3':>8s}")
            for name, r in results.items():
                print(f"{name:40s} {r['seconds']:7.2f}s {r['peak_mb']:7.0f}MB {r['seconds'] / anchor:7.2f}x")
            print(f"target: pin within 1.2x of threaded boto3 -> {results['labdatasets pin (S3Source, prefix)']['seconds'] / anchor:.2f}x")
            out["runs"].append({"delay": delay, "results": results})
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mysql-url", default="mysql+pymysql://root@127.0.0.1:3306/test")
    parser.add_argument("--sql-rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--no-pandas", action="store_true", help="skip the slow pandas anchor")
    parser.add_argument("--file-bytes", type=int, default=1 << 30)
    parser.add_argument("--dvc", help="path of a dvc executable (install it into a throwaway venv)")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temporary folder under /work or /tmp)")
    parser.add_argument("--skip-sql", action="store_true")
    parser.add_argument("--skip-file", action="store_true")
    parser.add_argument("--skip-s3", action="store_true")
    parser.add_argument("--skip-objects", action="store_true")
    parser.add_argument("--objects", type=int, default=2000, help="small objects to pin (default 2000)")
    parser.add_argument("--object-delays", type=float, nargs="+", default=[0.0, 0.020],
                        help="seconds a proxy adds to every request (0: direct); default 0 0.020")
    parser.add_argument("--row-reader-max", type=int, default=1_000_000,
                        help="also time PyMySQL's row reader (the pre-issue-11 path) up to this many rows")
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="labdatasets-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count()}
    try:
        if not args.skip_sql:
            report["sql"] = sql_section(args.mysql_url, args.sql_rows, workdir, not args.no_pandas, args.row_reader_max)
        if not args.skip_objects:
            report["objects"] = objects_section(workdir, args.objects, args.object_delays)
        big = None
        if not args.skip_file:
            report["file"] = file_section(workdir, args.file_bytes, args.dvc)
            big = Path(report["file"]["big"])
        if not args.skip_s3:
            if big is None:
                big = workdir / "big.bin"
                make_file(big, args.file_bytes)
            report["s3"] = s3_section(workdir, big)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out = REPO / "benchmarks" / "results" / f"loading-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
