"""Google Sheets sources: a range of a worksheet, read with gspread, stored as typed Parquet.

Example::

    SheetsSource("1AbC...xyz", worksheet="Labels", range="A1:D500",
                 column_types={"sample_id": "string", "label": "string", "confidence": "float64"})
    SheetsSource("1AbC...xyz", worksheet="Raw", header=False, columns=["a", "b", "c"])

The first row of the range is the header (``header=True``), or ``header=N``
takes row ``N`` (1-based, within the range) and the rows after it, or
``header=False`` with ``columns=[...]`` names the columns. Cells are read
unformatted (numbers as numbers; dates as the text the sheet shows), empty
cells become nulls, short rows are padded, and ``column_types`` fixes the Arrow
type of any column (otherwise it is inferred from the values, so give types for
columns that may be empty or mixed). The pin records the spreadsheet id and
title, the worksheet and its id, the range the API resolved, the time, the row
count, the schema and a content hash of the values, which ``status`` compares.

Credentials: a service account, from ``GOOGLE_APPLICATION_CREDENTIALS`` or
gspread's ``~/.config/gspread/service_account.json``, else Application Default
Credentials; the scope is read-only. ``LABDATASETS_SHEETS_ENDPOINT`` sends the
Sheets API calls elsewhere (a proxy, or the test server in ``tests/``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from collections.abc import Mapping, Sequence

import gspread
import requests
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import AuthorizedSession

from labdatasets.errors import DeclarationError, SourceAuthError, SourceError, SourceNotFoundError, SourceUnavailableError
from labdatasets.loaders.base import PinContext, Source, SourceState, SourceStatus, describe_options
from labdatasets.pinning.record import SourcePin, utc_now
from labdatasets.present.redact import redact
from labdatasets.pinning.table_writer import ContentHasher, TableSnapshotWriter

__all__ = ["SheetsSource", "SCOPES", "ENDPOINT_ENV"]

SCOPES = ("https://www.googleapis.com/auth/spreadsheets.readonly",)
SHEETS_API = "https://sheets.googleapis.com"
ENDPOINT_ENV = "LABDATASETS_SHEETS_ENDPOINT"


class _EndpointSession(AuthorizedSession):
    """An authorized session that sends Sheets API calls to another endpoint."""

    def __init__(self, credentials: Any, endpoint: str):
        super().__init__(credentials)
        self._endpoint = endpoint.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(SHEETS_API):
            url = self._endpoint + url[len(SHEETS_API) :]
        return super().request(method, url, *args, **kwargs)


def _credentials() -> Any:
    """Service-account or application-default credentials with the read-only Sheets scope."""
    from google.oauth2 import service_account

    for path in (os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"), str(Path(gspread.auth.DEFAULT_SERVICE_ACCOUNT_FILENAME))):
        if path and Path(path).expanduser().is_file():
            return service_account.Credentials.from_service_account_file(str(Path(path).expanduser()), scopes=list(SCOPES))
    import google.auth

    credentials, _ = google.auth.default(scopes=list(SCOPES))
    return credentials


def _client() -> gspread.Client:
    credentials = _credentials()
    endpoint = os.environ.get(ENDPOINT_ENV)
    session = _EndpointSession(credentials, endpoint) if endpoint else AuthorizedSession(credentials)
    return gspread.Client(credentials, session=session)


class SheetsSource(Source):
    """A range of a Google Sheets worksheet; see the module docstring.

    Args:
        spreadsheet: the spreadsheet key (the long id in its URL).
        worksheet: the worksheet title (default: the first worksheet).
        range: an A1 range within the worksheet, e.g. ``"A1:D500"`` (default: all of it).
        header: True (first row), a 1-based row number within the range, or False.
        columns: column names when ``header=False``.
        column_types: dtypes by column, e.g. ``{"id": "int64", "score": "float64"}``.
    """

    kind = "sheets"
    empty_is_null = True  # an empty cell is NULL (see table())

    def __init__(
        self,
        spreadsheet: str,
        *,
        worksheet: str | None = None,
        range: str | None = None,
        header: bool | int = True,
        columns: Sequence[str] | None = None,
        column_types: Mapping[str, str] | None = None,
    ):
        if header is False and not columns:
            raise DeclarationError(f"SheetsSource({spreadsheet!r}, header=False) needs columns=[...] to name the columns")
        if header is not False and columns:
            raise DeclarationError(
                f"SheetsSource({spreadsheet!r}): columns= names the columns of a range without a header; add header=False"
            )
        if not isinstance(header, bool) and (not isinstance(header, int) or header < 1):
            raise DeclarationError(
                f"SheetsSource({spreadsheet!r}): header= is True, False or a 1-based row number within the range, got {header!r}"
            )
        self.spreadsheet = spreadsheet
        self.worksheet = worksheet
        self.range = range
        self.header = header
        self.columns = list(columns) if columns else None
        self.column_types = dict(column_types) if column_types else None

    def describe(self) -> dict[str, Any]:
        return describe_options(
            {
                "spreadsheet": self.spreadsheet,
                "worksheet": self.worksheet,
                "range": self.range,
                "header": None if self.header is True else self.header,
                "columns": self.columns,
                "column_types": self.column_types,
            }
        )

    # ------------------------------------------------------------------ reading
    def _fail(self, exc: BaseException, label: str) -> SourceError:
        where = f"spreadsheet {self.spreadsheet}" + (f" worksheet {self.worksheet!r}" if self.worksheet else "")
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(exc, (auth_exceptions.RefreshError, auth_exceptions.DefaultCredentialsError, PermissionError)) or status in (401, 403):
            return SourceAuthError(
                f"{label}: access to {where} was refused ({type(exc).__name__}). Share the sheet with the service "
                "account in GOOGLE_APPLICATION_CREDENTIALS (read access is enough), or check those credentials.",
                source=where,
            )
        if isinstance(exc, (gspread.exceptions.SpreadsheetNotFound, gspread.exceptions.WorksheetNotFound)) or status in (400, 404):
            return SourceNotFoundError(
                f"{label}: {where}" + (f" range {self.range!r}" if self.range else "") + f" does not exist ({redact(exc)}). "
                "Check the key, worksheet title and range in _sources().",
                source=where,
            )
        if isinstance(exc, requests.ConnectionError) or (status is not None and status >= 500):
            return SourceUnavailableError(f"{label}: cannot reach Google Sheets for {where}: {redact(exc)}. Try again later.", source=where)
        return SourceError(f"{label}: reading {where} failed: {redact(exc)}", source=where)

    def _fetch(self, label: str) -> tuple[list[list[Any]], dict[str, Any]]:
        """The raw cell values of the range and what identifies them."""
        try:
            spreadsheet = _client().open_by_key(self.spreadsheet)
            sheet = spreadsheet.worksheet(self.worksheet) if self.worksheet else spreadsheet.get_worksheet(0)
            result = sheet.get(
                self.range,
                value_render_option=gspread.utils.ValueRenderOption.unformatted,
                date_time_render_option=gspread.utils.DateTimeOption.formatted_string,
            )
        except (gspread.exceptions.GSpreadException, auth_exceptions.GoogleAuthError, requests.RequestException, PermissionError) as exc:
            raise self._fail(exc, label) from exc
        meta = {
            "spreadsheet_id": spreadsheet.id,
            "title": spreadsheet.title,
            "worksheet": sheet.title,
            "sheet_id": sheet.id,
            "range": getattr(result, "range", None) or self.range,
            "read_at": utc_now(),
        }
        return [list(row) for row in result], meta

    def table(self, values: list[list[Any]], label: str) -> Any:
        """Cell values -> a typed Arrow table (header, padding, nulls, column_types)."""
        import pyarrow as pa

        from labdatasets.features import dtype_to_arrow

        if self.header is False:
            names, rows = list(self.columns or []), values
        else:
            at = 0 if self.header is True else int(self.header) - 1
            if len(values) <= at:
                raise SourceError(f"{label}: the range has no header row {at + 1}; it has {len(values)} rows", source=self.spreadsheet)
            names, rows = [str(v).strip() for v in values[at]], values[at + 1 :]
        blanks = [i + 1 for i, n in enumerate(names) if n == ""]
        if blanks or len(set(names)) != len(names):
            raise SourceError(
                f"{label}: header cells must be unique and non-empty (empty: columns {blanks}; names: {names}); "
                "fix the sheet's header row or pass header=False with columns=[...]",
                source=self.spreadsheet,
            )
        types = {k: dtype_to_arrow(v) for k, v in (self.column_types or {}).items()}
        unknown = sorted(set(types) - set(names))
        if unknown:
            raise SourceError(f"{label}: column_types names columns the sheet does not have: {unknown}; it has {names}", source=self.spreadsheet)
        width = len(names)
        extra = [row[width:] for row in rows if len(row) > width and any(c != "" for c in row[width:])]
        if extra:
            raise SourceError(
                f"{label}: some rows have values right of the header ({extra[0]}); widen the header or the range",
                source=self.spreadsheet,
            )
        arrays = []
        for i, name in enumerate(names):
            # The API leaves out trailing empty cells of a row; an empty cell is a null.
            column = [(row[i] if i < len(row) and row[i] != "" else None) for row in rows]
            try:
                target = types.get(name)
                if target is not None and (pa.types.is_string(target) or pa.types.is_large_string(target)):
                    column = [None if v is None else (str(v) if not isinstance(v, float) or not v.is_integer() else str(int(v))) for v in column]
                array = pa.array(column)
                if pa.types.is_null(array.type) and target is None:
                    array = array.cast(pa.string())  # an empty column: text until told otherwise
                arrays.append(array if target is None or array.type.equals(target) else array.cast(target))
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                raise SourceError(
                    f"{label}: column {name!r} holds values that do not fit "
                    f"{types.get(name) or 'one type'} ({exc}); set column_types={{{name!r}: ...}} or clean the sheet",
                    source=self.spreadsheet,
                ) from exc
        return pa.Table.from_arrays(arrays, names=names)

    # ------------------------------------------------------------------ the contract
    def pin(self, ctx: PinContext) -> SourcePin:
        values, meta = self._fetch(ctx.label)
        table = self.table(values, ctx.label)
        with TableSnapshotWriter(ctx.store, table.schema, label=ctx.label) as writer:
            writer.write(table)
            return writer.finish_pin(f"{meta['worksheet']}.parquet", kind=self.kind, location=self.describe(), metadata=meta)

    def status(self, pinned: SourcePin, ctx: PinContext) -> SourceStatus:
        try:
            values, _ = self._fetch(ctx.label)
            table = self.table(values, ctx.label)
        except (SourceNotFoundError, SourceAuthError, SourceUnavailableError) as exc:
            return SourceStatus(ctx.label, self.kind, SourceState.UNAVAILABLE, (str(exc),))
        except SourceError as exc:
            return SourceStatus(ctx.label, self.kind, SourceState.CHANGED, (str(exc),))
        hasher = ContentHasher(table.schema)
        hasher.write(table)
        hasher.flush()
        details = []
        pinned_names = [f["name"] for f in pinned.schema]
        if pinned_names != table.column_names:
            details.append(f"columns: {pinned_names} pinned, {table.column_names} now")
        if pinned.num_rows != table.num_rows:
            details.append(f"rows: {pinned.num_rows:,} pinned, {table.num_rows:,} now")
        if not details and hasher.hexdigest() != pinned.metadata.get("content_sha256"):
            details.extend(_changed_cells(pinned, table, ctx) or ["values: same shape, different values"])
        return SourceStatus(ctx.label, self.kind, SourceState.CHANGED if details else SourceState.UNCHANGED, tuple(details))


def _changed_cells(pinned: SourcePin, table: Any, ctx: PinContext, limit: int = 5) -> list[str]:
    """Which cells differ, when the pinned copy is on this machine (first ``limit``)."""
    import pyarrow.parquet as pq

    oid = pinned.objects[0].oid
    if not ctx.store.has_locally(oid):
        return []
    old = pq.read_table(ctx.store.local_path(oid))
    if old.schema.names != table.schema.names:
        return []
    changes = []
    for name in table.column_names:
        before, after = old[name].to_pylist(), table[name].to_pylist()
        for row, (a, b) in enumerate(zip(before, after, strict=False)):
            if a != b:
                changes.append(f"values: column {name!r} row {row + 1}: {a!r} pinned, {b!r} now")
    more = f" (and {len(changes) - limit} more)" if len(changes) > limit else ""
    return changes[:limit] + ([f"values: {len(changes)} cells changed{more}"] if len(changes) > limit else [])
