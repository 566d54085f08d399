"""shop_orders pins from MySQL: seeded from its dummy data into MariaDB, pinned, built, loaded, checked."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

import labdatasets
from labdatasets.cli import main

sqlalchemy = pytest.importorskip("sqlalchemy")
pytestmark = pytest.mark.slow

DUMMY = Path(labdatasets.builder("shop_orders").module_dir()) / "dummy_data" / "warehouse.sql"


def load_dummy_warehouse(url: str) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        for statement in DUMMY.read_text().split(";"):
            body = "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip()
            if body:
                conn.exec_driver_sql(body.replace("%", "%%"))
    engine.dispose()


def expected_rows(url: str) -> list[dict]:
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT o.order_id, o.amount, c.country, o.channel FROM orders o JOIN customers c USING (customer_id) "
            "WHERE o.placed_at >= '2026-01-01' AND o.placed_at < '2026-04-01' ORDER BY o.order_id"
        ).fetchall()
    engine.dispose()
    return [{"order_id": r[0], "amount": r[1], "country": r[2], "channel": ["web", "app", "store"].index(r[3])} for r in rows]


@pytest.fixture
def warehouse(mysql_database, mysql_reader, monkeypatch, tmp_path):
    """The dummy warehouse behind the 'warehouse' connection, reached with a password."""
    load_dummy_warehouse(mysql_database)
    _, url = mysql_reader
    monkeypatch.setenv("LABDATASETS_CONNECTION_WAREHOUSE", url)
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))  # never into the repository's snapshots/
    return mysql_database


def test_pin_build_load_status(warehouse, capsys):
    assert main(["pin", "shop_orders:1.0.0", "--quiet"]) == 0
    out = capsys.readouterr().out
    record = labdatasets.builder("shop_orders").pin_record()
    pin = record.sources["orders"]
    assert pin.location == {"connection": "warehouse", "query": pin.metadata["query"]}
    assert pin.metadata["query"].startswith("SELECT o.order_id") and pin.metadata["server_version"]
    assert pin.metadata["reader"].startswith("connectorx")  # the only SQL source of its pin
    expected = expected_rows(warehouse)
    assert pin.num_rows == len(expected) == 35

    data = labdatasets.load("shop_orders:1.0.0")
    got = sorted(data["train"].to_arrow().to_pylist() + data["test"].to_arrow().to_pylist(), key=lambda r: r["order_id"])
    assert [{k: r[k] for k in ("order_id", "amount", "country", "channel")} for r in got] == expected
    assert all(isinstance(r["amount"], Decimal) for r in got)
    assert {r["month"] for r in got} == {1, 2, 3}

    assert main(["status", "shop_orders"]) == 0
    assert "every source matches its pin" in capsys.readouterr().out
    engine = sqlalchemy.create_engine(warehouse)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE orders SET amount = amount + 1 WHERE order_id = 1030")
    engine.dispose()
    assert main(["status", "shop_orders", "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["changed"] and report["sources"][0]["state"] == "changed"
    assert report["sources"][0]["details"][0].startswith("content: same row count, different rows")
    # status changed nothing: the pinned version still loads its own data
    again = labdatasets.load("shop_orders:1.0.0", split="train", format="arrow")
    assert again.num_rows == data["train"].to_arrow().num_rows
    assert "hunter2" not in out


def test_info_pin_and_errors_never_show_the_password(warehouse, capsys, caplog, monkeypatch):
    import logging

    caplog.set_level(logging.DEBUG)
    assert main(["info", "shop_orders"]) == 0
    assert main(["pin", "shop_orders", "--quiet"]) == 0
    assert main(["info", "shop_orders", "--json"]) == 0
    out, err = capsys.readouterr()
    record_text = next(Path(labdatasets.builder("shop_orders").pin_record_path()).parent.glob("*.json")).read_text()
    for text in (out, err, caplog.text, record_text):
        assert "hunter2" not in text

    # a refused password: one clear line naming the source, without the password
    from labdatasets.loaders.sql import connection_url

    url = connection_url("warehouse", None)
    monkeypatch.setenv("LABDATASETS_CONNECTION_WAREHOUSE", url.replace("hunter2-s3cret", "hunter2-wrong"))
    assert main(["status", "shop_orders"]) == 2
    out, err = capsys.readouterr()
    assert "unavailable" in out or "refused" in out
    assert "hunter2" not in out + err and "connection 'warehouse'" in out
