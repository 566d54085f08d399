"""Real servers on loopback for connector and store tests (imported by tests/conftest.py).

* ``s3_server``: moto in server mode (a real HTTP S3 endpoint); ``s3_env`` points boto3 at it.
* ``gcs_server``: gcp-storage-emulator; ``gcs_env`` sets ``STORAGE_EMULATOR_HOST``.
* ``sheets_server``: a small Sheets API v4 server (``tests/sheets_server.py``); ``sheets_env``
  gives the real gspread client a service account whose tokens come from it.
* ``mysql_url``: the MariaDB on 127.0.0.1:3306 (override with ``LABDATASETS_TEST_MYSQL_URL``).
  Without a server the MySQL tests skip with a reason saying how to point them at one,
  except under ``CI=true``, where they fail instead of skipping.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator, Mapping

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from tests.sheets_server import SheetsServer

__all__ = [
    "free_port", "s3_server", "s3_env", "s3_bucket", "gcs_server", "gcs_env", "gcs_bucket", "mysql_url", "mysql_database",
    "sheets_server", "sheets_env", "mysql_reader", "filled_bucket",
]

TEST_AWS_KEY = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example key id, never a real one
TEST_AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server on 127.0.0.1:{port} did not start")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3 server on loopback; yields its endpoint URL."""
    moto_server = pytest.importorskip("moto.server")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    _wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 (and labdatasets) at the moto server with fake credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_AWS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_AWS_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3_server


@pytest.fixture
def s3_bucket(s3_env: str) -> str:
    """A fresh, empty bucket on the moto server; yields its name."""
    import boto3

    name = f"lab-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_env).create_bucket(Bucket=name)
    return name


@contextlib.contextmanager
def filled_bucket(endpoint: str, bucket: str, objects: Mapping[str, bytes]) -> Iterator[Any]:
    """``bucket`` on the moto server holding ``objects`` (``{key: bytes}``); yields a boto3 client.

    For builders that name their real bucket: it is created unless the session's server has it
    already, and emptied afterwards so that the next test starts from nothing.
    """
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint)
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    try:
        yield client
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[str]:
    """gcp-storage-emulator on loopback (in memory); yields ``127.0.0.1:<port>``."""
    emulator = pytest.importorskip("gcp_storage_emulator.server")
    port = free_port()
    server = emulator.create_server("127.0.0.1", port, in_memory=True)
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    _wait_for_port(port)
    yield f"127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def gcs_env(gcs_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://{gcs_server}")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "lab-test")
    return gcs_server


@pytest.fixture
def gcs_bucket(gcs_env: str) -> str:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    name = f"lab-{uuid.uuid4().hex[:12]}"
    storage.Client(project="lab-test", credentials=AnonymousCredentials()).create_bucket(name)
    return name


def _mysql_base_url() -> str:
    return os.environ.get("LABDATASETS_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """SQLAlchemy URL of a reachable MySQL/MariaDB, or skip (fail under CI=true)."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    url = _mysql_base_url()
    try:
        engine = sqlalchemy.create_engine(url, pool_pre_ping=True)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        message = (
            f"no MySQL/MariaDB server at {url.split('@')[-1]} ({type(exc).__name__}); start one or set "
            "LABDATASETS_TEST_MYSQL_URL=mysql+pymysql://user:password@host:3306/database"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: MySQL tests must run, but {message}")
        pytest.skip(message)
    return url


@pytest.fixture
def mysql_database(mysql_url: str) -> Iterator[str]:
    """A fresh database for one test, dropped afterwards; yields its SQLAlchemy URL."""
    import sqlalchemy

    name = f"labtest_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(mysql_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    url = mysql_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        engine.dispose()


@pytest.fixture
def mysql_reader(mysql_url: str, mysql_database: str) -> Iterator[tuple[str, str]]:
    """A user with a password (``hunter2-s3cret``) who may only SELECT in ``mysql_database``.

    Yields ``(user, url_with_password)``, for tests that check the password never leaks.
    """
    import sqlalchemy

    user = f"lab_{uuid.uuid4().hex[:8]}"
    database = mysql_database.rsplit("/", 1)[1]
    engine = sqlalchemy.create_engine(mysql_url)
    with engine.begin() as conn:
        # %% because PyMySQL formats statements even without parameters
        conn.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY 'hunter2-s3cret'")
        conn.exec_driver_sql(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%%'")
    host = mysql_url.split("@", 1)[1].split("/", 1)[0]
    try:
        yield user, f"mysql+pymysql://{user}:hunter2-s3cret@{host}/{database}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'%%'")
        engine.dispose()


@pytest.fixture(scope="session")
def sheets_server() -> Iterator["SheetsServer"]:
    """The Sheets API test server on loopback (no emulator exists for Sheets)."""
    from tests.sheets_server import SheetsServer

    server = SheetsServer().start()
    yield server
    server.stop()


@pytest.fixture
def sheets_env(sheets_server, tmp_path, monkeypatch: pytest.MonkeyPatch):
    """Point gspread at the test server with a fresh service account (its tokens come from the server too)."""
    import json

    from tests.sheets_server import service_account_info

    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(service_account_info(f"{sheets_server.url}/token")))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("LABDATASETS_SHEETS_ENDPOINT", sheets_server.url)
    return sheets_server
