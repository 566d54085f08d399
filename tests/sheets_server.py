"""A small Sheets API v4 server on loopback, for driving the real gspread client in tests.

It serves what gspread calls to read a range: the OAuth token endpoint a
service account uses (``POST /token``), spreadsheet metadata
(``GET /v4/spreadsheets/<id>``) and values (``GET /v4/spreadsheets/<id>/values/<range>``),
with Google's error bodies, A1 ranges, and the Sheets habit of leaving out
trailing empty cells and rows. Every API call must carry the issued token.

By hand (to try a ``SheetsSource`` builder without a Google account), serve CSV
files as worksheets until Ctrl-C::

    python -m tests.sheets_server --sheet SHEETKEY/Labels=dummy_data/labels.csv \
        --credentials /tmp/sheets-sa.json

It prints the two variables to export in the shell that runs ``labdatasets pin``
or ``load`` (``GOOGLE_APPLICATION_CREDENTIALS`` for a throwaway service account
whose tokens the server issues, and ``LABDATASETS_SHEETS_ENDPOINT``); the builder's
``SheetsSource("SHEETKEY", worksheet="Labels")`` then reads the CSV's cells.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

__all__ = ["SheetsServer", "service_account_info"]

_RANGE = re.compile(r"^(?P<c1>[A-Z]+)?(?P<r1>\d+)?(?::(?P<c2>[A-Z]+)?(?P<r2>\d+)?)?$")


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def _col_letters(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def split_range(text: str) -> tuple[str, str]:
    """``'My Sheet'!A1:B2`` -> (``My Sheet``, ``A1:B2``)."""
    if "!" in text:
        sheet, _, cells = text.rpartition("!")
    else:
        sheet, cells = text, ""
    if sheet.startswith("'") and sheet.endswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    return sheet, cells


class SheetsServer:
    """Holds spreadsheets and serves them; ``requests`` records what the clients asked."""

    def __init__(self) -> None:
        self.spreadsheets: dict[str, dict[str, Any]] = {}
        self.tokens: set[str] = set()
        self.requests: list[dict[str, Any]] = []
        self.token_requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "SheetsServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, key: str, title: str, sheets: dict[str, list[list[Any]]], *, forbidden: bool = False) -> None:
        self.spreadsheets[key] = {
            "title": title,
            "forbidden": forbidden,
            "sheets": {name: {"id": 1000 + i, "rows": rows} for i, (name, rows) in enumerate(sheets.items())},
        }

    # ------------------------------------------------------------------ HTTP
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, reason: str) -> None:
                self._send(status, {"error": {"code": status, "message": message, "status": reason}})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                if urlparse(self.path).path != "/token" or "assertion" not in form:
                    return self._error(400, "bad token request", "INVALID_ARGUMENT")
                claims = json.loads(base64.urlsafe_b64decode(form["assertion"][0].split(".")[1] + "=="))
                server.token_requests.append(claims)
                token = "ya29." + secrets.token_urlsafe(16)
                server.tokens.add(token)
                self._send(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

            def do_GET(self) -> None:  # noqa: N802
                parsed = urlparse(self.path)
                auth = self.headers.get("Authorization", "")
                server.requests.append({"path": unquote(parsed.path), "query": parse_qs(parsed.query), "authorization": auth})
                if not auth.startswith("Bearer ") or auth[len("Bearer ") :] not in server.tokens:
                    return self._error(401, "Request is missing required authentication credential.", "UNAUTHENTICATED")
                parts = parsed.path.split("/")
                if len(parts) < 4 or parts[1:3] != ["v4", "spreadsheets"]:
                    return self._error(404, "Not found", "NOT_FOUND")
                key = unquote(parts[3])
                book = server.spreadsheets.get(key)
                if book is None:
                    return self._error(404, "Requested entity was not found.", "NOT_FOUND")
                if book["forbidden"]:
                    return self._error(403, "The caller does not have permission", "PERMISSION_DENIED")
                if len(parts) == 4:
                    return self._send(200, self._metadata(key, book))
                if len(parts) == 6 and parts[4] == "values":
                    return self._values(book, unquote(parts[5]))
                return self._error(404, "Not found", "NOT_FOUND")

            def _metadata(self, key: str, book: dict[str, Any]) -> dict[str, Any]:
                sheets = []
                for index, (name, sheet) in enumerate(book["sheets"].items()):
                    rows = sheet["rows"]
                    sheets.append(
                        {
                            "properties": {
                                "sheetId": sheet["id"], "title": name, "index": index, "sheetType": "GRID",
                                "gridProperties": {"rowCount": max(len(rows), 1000), "columnCount": max((len(r) for r in rows), default=26)},
                            }
                        }
                    )
                return {"spreadsheetId": key, "properties": {"title": book["title"], "locale": "en_US"}, "sheets": sheets}

            def _values(self, book: dict[str, Any], text: str) -> None:
                sheet_name, cells = split_range(text)
                sheet = book["sheets"].get(sheet_name)
                match = _RANGE.match(cells)
                if sheet is None or match is None:
                    return self._error(400, f"Unable to parse range: {text}", "INVALID_ARGUMENT")
                rows = sheet["rows"]
                width = max((len(r) for r in rows), default=0)
                c1 = _col_index(match["c1"]) if match["c1"] else 0
                r1 = int(match["r1"]) - 1 if match["r1"] else 0
                c2 = _col_index(match["c2"]) if match["c2"] else (c1 if cells and ":" not in cells else width - 1)
                r2 = int(match["r2"]) - 1 if match["r2"] else (r1 if cells and ":" not in cells else len(rows) - 1)
                values = [list(row[c1 : c2 + 1]) for row in rows[r1 : r2 + 1]]
                for row in values:  # the API leaves out trailing empty cells and rows
                    while row and row[-1] in ("", None):
                        row.pop()
                while values and not values[-1]:
                    values.pop()
                resolved = f"'{sheet_name}'!{_col_letters(c1)}{r1 + 1}:{_col_letters(max(c2, c1))}{max(r2, r1) + 1}"
                body: dict[str, Any] = {"range": resolved, "majorDimension": "ROWS"}
                if values:
                    body["values"] = values
                self._send(200, body)

        return Handler


def service_account_info(token_uri: str) -> dict[str, Any]:
    """A service-account key file's content with a fresh RSA key (never a real account)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "type": "service_account",
        "project_id": "lab-test",
        "private_key_id": secrets.token_hex(20),
        "private_key": pem.decode(),
        "client_email": "labdatasets-test@lab-test.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "token_uri": token_uri,
    }


def main(argv: list[str] | None = None) -> None:
    """Serve CSV files as worksheets on 127.0.0.1 until interrupted (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m tests.sheets_server", description=main.__doc__)
    parser.add_argument(
        "--sheet", action="append", default=[], metavar="KEY/WORKSHEET=FILE.csv",
        help="serve FILE.csv as worksheet WORKSHEET of spreadsheet KEY (repeat for more)",
    )
    parser.add_argument(
        "--credentials", required=True, metavar="PATH", help="where to write the throwaway service-account key file"
    )
    args = parser.parse_args(argv)
    server = SheetsServer()
    books: dict[str, dict[str, list[list[Any]]]] = {}
    for spec in args.sheet:
        target, sep, path = spec.partition("=")
        key, slash, worksheet = target.partition("/")
        if not (sep and slash and key and worksheet and path):
            parser.error(f"--sheet takes KEY/WORKSHEET=FILE.csv, got {spec!r}")
        with open(path, newline="", encoding="utf-8") as fh:
            books.setdefault(key, {})[worksheet] = [list(row) for row in csv.reader(fh)]
    for key, sheets in books.items():
        server.add(key, key, sheets)
    with open(args.credentials, "w", encoding="utf-8") as fh:
        json.dump(service_account_info(f"{server.url}/token"), fh)
    server.start()
    print(f"export GOOGLE_APPLICATION_CREDENTIALS={args.credentials}")
    print(f"export LABDATASETS_SHEETS_ENDPOINT={server.url}")
    print("Serving " + ", ".join(f"{k}/{w}" for k, s in books.items() for w in s) + "; Ctrl-C stops.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
