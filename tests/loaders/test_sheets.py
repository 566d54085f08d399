"""SheetsSource: the real gspread client against the Sheets API test server."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

pytest.importorskip("gspread")

from labdatasets.errors import SourceAuthError, SourceError, SourceNotFoundError  # noqa: E402
from labdatasets.loaders.sheets import SheetsSource  # noqa: E402
from tests.loaders.contract import SECRET_MARKERS, SourceContract, read_pinned  # noqa: E402

LABELS = [
    ["sample_id", "label", "confidence", "reviewed"],
    ["S-001", "cat", 0.9, True],
    ["S-002", "dog", 0.75],  # trailing empty cell left out, as the API does
    ["S-003", "", 1, False],
    ["007", "bird", 0.5, True],
]


def new_key() -> str:
    return "1" + uuid.uuid4().hex + "xYz"


class TestSheetsRange(SourceContract):
    @pytest.fixture
    def key(self, sheets_env):
        key = new_key()
        sheets_env.add(key, "Annotation round 3", {"Readme": [["notes"]], "Labels": [row[:] for row in LABELS]})
        return key

    @pytest.fixture
    def source(self, key):
        return SheetsSource(key, worksheet="Labels", range="A1:D10", column_types={"sample_id": "string", "confidence": "float64"})

    @pytest.fixture
    def expected(self):
        return pa.table(
            {
                "sample_id": ["S-001", "S-002", "S-003", "007"],
                "label": ["cat", "dog", None, "bird"],
                "confidence": [0.9, 0.75, 1.0, 0.5],
                "reviewed": [True, None, False, True],
            }
        )

    @pytest.fixture
    def change_source(self, sheets_env, key):
        def change():
            sheets_env.spreadsheets[key]["sheets"]["Labels"]["rows"][2][2] = 0.8

        return change

    @pytest.fixture
    def missing_source(self, sheets_env):
        return SheetsSource(new_key(), worksheet="Labels")


def test_pin_records_ids_range_time_and_uses_a_read_only_token(sheets_env, ctx):
    key = new_key()
    sheets_env.add(key, "Annotation round 3", {"Labels": [row[:] for row in LABELS]})
    pin = SheetsSource(key, worksheet="Labels", range="A1:D10").pin(ctx)
    meta = pin.metadata
    assert meta["spreadsheet_id"] == key and meta["title"] == "Annotation round 3"
    assert meta["worksheet"] == "Labels" and meta["sheet_id"] == 1000 and meta["range"] == "'Labels'!A1:D10"
    assert meta["read_at"].endswith("Z") and pin.num_rows == 4
    assert pin.location == {"spreadsheet": key, "worksheet": "Labels", "range": "A1:D10"}
    assert sheets_env.token_requests[-1]["scope"] == "https://www.googleapis.com/auth/spreadsheets.readonly"
    values_calls = [r for r in sheets_env.requests if "/values/" in r["path"]]
    assert values_calls[-1]["query"]["valueRenderOption"] == ["UNFORMATTED_VALUE"]


def test_header_row_number_and_headerless_ranges(sheets_env, ctx, snapshots):
    key = new_key()
    sheets_env.add(key, "Raw", {"Raw": [["exported 2026-11-01"], ["a", "b"], [1, "x"], [2, "y"]]})
    pin = SheetsSource(key, header=2).pin(ctx)
    assert read_pinned(pin, snapshots).to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    pin = SheetsSource(key, range="A3:B4", header=False, columns=["n", "s"], column_types={"n": "int32"}).pin(ctx)
    got = read_pinned(pin, snapshots)
    assert got.schema.field("n").type == pa.int32() and got.to_pylist() == [{"n": 1, "s": "x"}, {"n": 2, "s": "y"}]
    with pytest.raises(ValueError, match="needs columns"):
        SheetsSource(key, header=False)


def test_status_names_the_changed_cells(sheets_env, ctx):
    key = new_key()
    sheets_env.add(key, "Labels", {"Labels": [row[:] for row in LABELS]})
    source = SheetsSource(key, column_types={"sample_id": "string", "confidence": "float64"})
    pin = source.pin(ctx)
    assert source.status(pin, ctx).state == "unchanged"
    sheets_env.spreadsheets[key]["sheets"]["Labels"]["rows"][2][1] = "wolf"
    status = source.status(pin, ctx)
    assert status.details == ("values: column 'label' row 2: 'dog' pinned, 'wolf' now",)
    sheets_env.spreadsheets[key]["sheets"]["Labels"]["rows"].append(["S-009", "cow", 0.1, True])
    assert source.status(pin, ctx).details == ("rows: 4 pinned, 5 now",)


def test_errors_name_the_sheet_and_keep_secrets_out(sheets_env, ctx, caplog):
    caplog.set_level(logging.DEBUG)
    key, forbidden = new_key(), new_key()
    sheets_env.add(key, "Labels", {"Labels": [row[:] for row in LABELS]})
    sheets_env.add(forbidden, "Secret", {"Sheet1": [["a"], [1]]}, forbidden=True)
    cases = [
        (SheetsSource(new_key()), SourceNotFoundError),
        (SheetsSource(key, worksheet="Nope"), SourceNotFoundError),
        (SheetsSource(forbidden), SourceAuthError),
        (SheetsSource(key, column_types={"missing": "int64"}), SourceError),
        (SheetsSource(key, column_types={"label": "int64"}), SourceError),
    ]
    for source, error in cases:
        with pytest.raises(error) as info:
            source.pin(ctx)
        assert "contract:1.0.0 source 'data'" in str(info.value)
    pin = SheetsSource(key).pin(ctx)
    account = json.loads(Path(__import__("os").environ["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
    text = json.dumps(pin.to_json()) + caplog.text
    for secret in (account["private_key_id"], "PRIVATE KEY", *sheets_env.tokens, *SECRET_MARKERS):
        assert secret not in text


def test_bad_credentials_are_an_auth_error(sheets_env, ctx, monkeypatch, tmp_path):
    key = new_key()
    sheets_env.add(key, "Labels", {"Labels": [["a"], [1]]})
    from tests.sheets_server import service_account_info

    bad = service_account_info(f"{sheets_env.url}/no-token-here")
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "bad.json"))
    with pytest.raises(SourceAuthError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        SheetsSource(key).pin(ctx)


def test_the_server_run_by_hand_serves_a_csv_to_a_sheets_source(ctx, snapshots, tmp_path, monkeypatch):
    """``python -m tests.sheets_server`` as the authoring guide tells a newcomer to run it."""
    import os
    import signal
    import subprocess
    import sys

    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("sample_id,label\nS-001,cat\nS-002,dog\n")
    credentials = tmp_path / "sa.json"
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.sheets_server", "--sheet", f"KEY1/Labels={csv_file}", "--credentials", str(credentials)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        assert server.stdout is not None
        exports = dict(server.stdout.readline().strip().removeprefix("export ").split("=", 1) for _ in range(2))
        assert "Serving KEY1/Labels" in server.stdout.readline()
        assert exports["GOOGLE_APPLICATION_CREDENTIALS"] == str(credentials)
        assert exports["LABDATASETS_SHEETS_ENDPOINT"].startswith("http://127.0.0.1:")
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        pin = SheetsSource("KEY1", worksheet="Labels").pin(ctx)
        assert read_pinned(pin, snapshots).to_pylist() == [
            {"sample_id": "S-001", "label": "cat"},
            {"sample_id": "S-002", "label": "dog"},
        ]
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)
    assert server.returncode == 0
