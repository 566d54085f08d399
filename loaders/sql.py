"""SQL sources: a query or a table on a database that SQLAlchemy can name (MySQL first).

Example::

    SQLSource("SELECT id, amount, created_at FROM orders WHERE created_at < '2026-01-01'",
              connection="warehouse")
    SQLSource(table="customers", connection="warehouse")          # ordered by its primary key
    SQLSource(table="readings", url="sqlite:///tmp/lab.db")        # quick local tests

Connections are named, never spelled out with a password in a builder. A name
resolves, in order, to the environment variable ``LABDATASETS_CONNECTION_<NAME>``
(a full SQLAlchemy URL, e.g. from the CI's secret store) or to
``[connections.<name>] url = ...`` in the config file, whose optional
``password_env = "VAR"`` names an environment variable that holds the password.

What a pin guarantees
---------------------
* **One consistent snapshot.** All SQL sources of one pin that use the same
  connection read inside ONE transaction opened with ``START TRANSACTION WITH
  CONSISTENT SNAPSHOT, READ ONLY`` (shared through the pin's
  :class:`~labdatasets.loaders.base.PinSession`), so two tables pinned together
  agree with each other even while the database is being written.
* **Read-only.** The session is read-only on the server side: a query that would
  write (say, through a stored function) fails the pin.
* **Exact types.** Columns get Arrow types from the result's wire metadata
  (see :mod:`labdatasets.loaders._mysql_types`): DECIMAL stays decimal, unsigned
  stays unsigned, DATETIME has no zone and TIMESTAMP is UTC.
* **Flat memory.** Rows stream from a server-side cursor into Parquet row groups
  of 65,536 rows (:mod:`labdatasets.pinning.table_writer`); the whole result is never held.
* **Recorded.** The pin record keeps the query text, the server version, the row
  count, the schema and a content hash of the rows (``status`` compares it), and
  how the rows were read: ``transaction``, and for rows read in the pin's shared
  transaction its ``snapshot`` (on MySQL the server connection and the time the
  snapshot was taken), the same for every source read in that one snapshot.

Two readers, one result
-----------------------
Against ``mysql --batch`` on the same table (``benchmarks/bench_loading.py``; the
figures are in benchmarks/README.md), PyMySQL is several times slower even with no
per-value conversion and vectorised Arrow casts, mysqlclient's raw ``fetch_row`` is
closer but needs C headers to install, and connectorx, reading straight into Arrow
batches, keeps pace including the Parquet write. So:

* **connectorx** reads a MySQL result when the pin has no other SQL source on
  the same connection. A single SELECT is consistent on its own (InnoDB reads
  one snapshot per statement), and connectorx's session is made read-only and
  UTC with ``SET SESSION TRANSACTION READ ONLY`` and ``time_zone`` before the
  query. Types are still decided by our own metadata probe and every batch is
  cast to them with safe casts, so a value connectorx could not carry exactly
  fails loudly instead of being rounded; column types connectorx cannot read
  exactly (wide DECIMAL, TIME, BIT, GEOMETRY) use the streaming reader instead.
* **The streaming reader** reads when several SQL sources share the connection,
  since connectorx opens its own sessions and cannot join the shared snapshot.
  The query runs through a PyMySQL server-side cursor on the session's
  connection; its rows are then read off the wire straight into Arrow
  (:mod:`labdatasets.loaders._mysql_wire`: packets cut in a short loop, the
  fields of a whole batch located with numpy, no Python object per value),
  several times faster than PyMySQL's own row parser, which remains for
  connections whose text is not UTF-8.

Both give the same Parquet bytes for the same rows (a test checks it), so the
reader is an implementation detail of a pin, recorded in its metadata.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator, Mapping, Sequence
from urllib.parse import quote

from labdatasets.errors import (
    ConfigError,
    DeclarationError,
    MissingDependencyError,
    SourceAuthError,
    SourceError,
    SourceNotFoundError,
    SourceUnavailableError,
)
from labdatasets.loaders.base import PinContext, Source, SourceState, SourceStatus, describe_options
from labdatasets.pinning.record import SourcePin
from labdatasets.present.redact import ambiguous_password, redact, redact_url, register_secret, url_password
from labdatasets.pinning.table_writer import ContentHasher, TableSnapshotWriter

try:
    import sqlalchemy
except ImportError as exc:  # pragma: no cover - exercised by the registry's extra hint
    raise MissingDependencyError.for_extra("sqlalchemy", "mysql", "labdatasets.loaders.SQLSource") from exc

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from labdatasets.loaders._mysql_types import MySQLColumn

__all__ = ["SQLSource", "connection_url"]

logger = logging.getLogger(__name__)

ENV_PREFIX = "LABDATASETS_CONNECTION_"
_MYSQL_DIALECTS = ("mysql", "mariadb")
# URL query options connectorx understands the same way PyMySQL does; any other option
# (TLS files, unix sockets, option files) keeps the result on the streaming reader.
_FAST_URL_OPTIONS = {"charset"}

# connectorx batches are re-cut into 65,536-row row groups anyway; smaller batches keep what
# its reader thread buffers ahead of a slower Parquet writer small (peaks: benchmarks/README.md).
CONNECTORX_BATCH_ROWS = 16_384
# How connectorx reads, as pin records say it: InnoDB gives one statement one consistent read view.
CONNECTORX_TRANSACTION = "one statement in its own session (SET SESSION TRANSACTION READ ONLY)"
# Rows fetched per round trip by the streaming readers: each row is a Python tuple until
# it is converted, so smaller batches keep the peak lower (the Parquet row groups stay 65,536).
STREAM_BATCH_ROWS = 16_384

# MySQL error numbers -> what the user should be told.
_AUTH_ERRORS = {1044, 1045, 1142, 1143, 1227, 1370, 1698}
_NOT_FOUND_ERRORS = {1049, 1051, 1054, 1146, 1305}
_UNAVAILABLE_ERRORS = {1040, 1053, 1205, 1213, 2002, 2003, 2005, 2006, 2013, 2055}


def env_var_for(connection: str) -> str:
    """``warehouse`` -> ``LABDATASETS_CONNECTION_WAREHOUSE``."""
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", connection).upper()


def connection_url(connection: str, settings: Any) -> str:
    """The SQLAlchemy URL (with its password) of a named connection. Never log it.

    Raises :class:`~labdatasets.errors.ConfigError` naming both places to define it.
    """
    from_env = os.environ.get(env_var_for(connection))
    if from_env:
        register_secret(url_password(from_env))  # scrubbed from every message and log line from now on
        _refuse_ambiguous(from_env, connection, env_var_for(connection))
        return from_env
    table = (settings.connections if settings is not None else {}).get(connection)
    if not table or not table.get("url"):
        where = settings.config_file if settings is not None else "the config file"
        raise ConfigError(
            f"No SQL connection named {connection!r}: set {env_var_for(connection)} to its SQLAlchemy URL, or add "
            f'[connections.{connection}] url = "mysql+pymysql://user@host:3306/database" to {where}'
        )
    try:
        url = sqlalchemy.engine.make_url(table["url"])
    except sqlalchemy.exc.ArgumentError as exc:
        raise ConfigError(
            f"[connections.{connection}] url in {settings.config_file} is not a SQLAlchemy URL "
            f"({redact_url(table['url'])}); write it as mysql+pymysql://user@host:3306/database"
        ) from exc
    register_secret(url_password(table["url"]))
    _refuse_ambiguous(table["url"], connection, f"[connections.{connection}] url")
    password_env = table.get("password_env")
    if password_env:
        if password_env not in os.environ:
            raise ConfigError(
                f"[connections.{connection}] password_env names {password_env}, which is not set in the environment"
            )
        register_secret(os.environ[password_env])
        url = url.set(password=os.environ[password_env])
    return url.render_as_string(hide_password=False)


def _refuse_ambiguous(url: str, connection: str, where: str) -> None:
    if ambiguous_password(url):
        raise ConfigError(
            f"The URL of connection {connection!r} ({where}) has a raw '@' in its password, so SQLAlchemy would "
            "take part of the password for the host name. Percent-encode the password (@ is %40, % is %25, "
            "# is %23, ? is %3F, a space is %20), or keep it out of the URL with password_env in the config file."
        )


def _translate(exc: BaseException, what: str, where: str) -> SourceError:
    """One place where driver errors become labdatasets errors (secret-free)."""
    orig = getattr(exc, "orig", None) or exc
    code = orig.args[0] if getattr(orig, "args", None) and isinstance(orig.args[0], int) else None
    text = redact(orig.args[1] if code is not None and len(orig.args) > 1 else orig)
    if code is None:
        found = re.search(r"ERROR (\d{4})", text)  # connectorx: "MySqlError { ERROR 1045 (28000): ..."
        code = int(found.group(1)) if found else None
    lowered = text.lower()
    if code in _AUTH_ERRORS or "access denied" in lowered or "permission denied" in lowered:
        return SourceAuthError(
            f"{what}: the database refused the credentials of {where}: {text}. Check the user and password of the "
            "connection (environment or config file) and that the user may SELECT what the source reads.",
            source=where,
        )
    if isinstance(exc, sqlalchemy.exc.NoSuchTableError):
        return SourceNotFoundError(f"{what}: table {text} does not exist on {where}. Fix table= in _sources().", source=where)
    if code in _NOT_FOUND_ERRORS or "no such table" in lowered or "unable to open database" in lowered or "doesn't exist" in lowered:
        return SourceNotFoundError(f"{what}: not found on {where}: {text}. Fix the table or query in _sources().", source=where)
    if code in _UNAVAILABLE_ERRORS or isinstance(orig, (ConnectionError, TimeoutError)) or "can't connect" in lowered:
        return SourceUnavailableError(
            f"{what}: cannot reach {where}: {text}. Check that the server is up and reachable, then try again.",
            source=where,
        )
    if code == 1792 or "read only" in lowered or "read-only" in lowered or "readonly" in lowered:
        return SourceError(
            f"{what}: the query tried to write, and pins read only ({where}): {text}. Pin a SELECT that changes nothing.",
            source=where,
        )
    return SourceError(f"{what}: the query failed on {where}: {text}", source=where)


class _Session:
    """One database connection inside one read-only, consistent-snapshot transaction.

    Shared by every SQL source of a pin that uses the same connection (see the
    module docstring); closing it ends the transaction without writing anything.
    """

    def __init__(self, url: str, where: str, what: str):
        self.where = where
        self.unread = False  # a streamed MySQL result is being read (see stream_mysql and close)
        parsed = sqlalchemy.engine.make_url(url)
        self.is_mysql = parsed.get_backend_name() in _MYSQL_DIALECTS
        if self.is_mysql and parsed.get_driver_name() != "pymysql":
            # The streaming reader needs PyMySQL's wire metadata (charset, flags).
            parsed = parsed.set(drivername=f"{parsed.get_backend_name()}+pymysql")
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") and "uri" not in parsed.query:
            # Read-only at the file level, and a missing file is an error instead of a new empty database.
            parsed = parsed.set(database=f"file:{parsed.database}", query={**parsed.query, "mode": "ro", "uri": "true"})
        self.url = parsed
        connect_args: dict[str, Any] = {}
        if self.is_mysql:
            import pymysql.converters

            # Encoders only: values come back as the server's text, converted a column at a time.
            connect_args = {"conv": {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}}
        try:
            self.engine = sqlalchemy.create_engine(
                parsed, poolclass=sqlalchemy.pool.NullPool, connect_args=connect_args, isolation_level="AUTOCOMMIT"
            )
            self.conn = self.engine.connect()
            self.dialect = self.engine.dialect.name
            self._begin()
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise _translate(exc, what, where) from exc
        except ImportError as exc:
            if parsed.get_backend_name() in _MYSQL_DIALECTS:
                raise MissingDependencyError.for_extra(exc.name or "pymysql", "mysql", f"{what} ({where})") from exc
            raise MissingDependencyError(
                f"{what} ({where}) needs the database driver {exc.name!r}, which is not installed; pip install it",
                package=exc.name or "",
            ) from exc

    def _begin(self) -> None:
        sql = self.conn.exec_driver_sql
        # Names the transaction in pin records: every source read in it records the same value.
        self.snapshot: dict[str, Any] = {"started_at": _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z")}
        if self.is_mysql:
            sql("SET SESSION time_zone = '+00:00'")
            sql("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            version, connection_id, started = sql("SELECT VERSION(), CONNECTION_ID(), UTC_TIMESTAMP(6)").one()
            self.server_version = str(version)
            self.transaction = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"
            self.snapshot = {"connection_id": int(connection_id), "started_at": str(started).replace(" ", "T") + "Z"}
        elif self.dialect == "sqlite":
            import sqlite3

            sql("PRAGMA query_only = ON")
            sql("BEGIN")  # a read transaction: later statements see the same database
            self.server_version = f"SQLite {sqlite3.sqlite_version}"
            self.transaction = "BEGIN (PRAGMA query_only)"
        elif self.dialect == "postgresql":
            sql("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            self.server_version = str(sql("SELECT version()").scalar())
            self.transaction = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        else:
            self.conn.exec_driver_sql("BEGIN")
            info = self.engine.dialect.server_version_info
            self.server_version = f"{self.dialect} {'.'.join(map(str, info))}" if info else self.dialect
            self.transaction = "BEGIN"

    @property
    def database(self) -> str | None:
        return self.url.database

    def _dbapi(self) -> Any:
        """The driver's own connection under SQLAlchemy's (PyMySQL's, for the wire metadata)."""
        raw = self.conn.connection.dbapi_connection
        if raw is None:
            raise SourceUnavailableError(f"{self.where}: the database connection was closed while pinning; pin again.")
        return raw

    # ------------------------------------------------------------------ metadata
    def probe(self, query: str) -> "list[MySQLColumn] | None":
        """The result's column metadata without reading a row (MySQL), or None."""
        if not self.is_mysql:
            return None
        from labdatasets.loaders._mysql_types import MySQLColumn

        raw = self._dbapi()
        cursor = raw.cursor()
        try:
            # The newline ends a trailing "-- comment" in the query before the closing parenthesis.
            cursor.execute(f"SELECT * FROM ({query}\n) AS _labdatasets_probe LIMIT 0")
            return [MySQLColumn.from_pymysql(f) for f in cursor._result.fields]
        except Exception as exc:  # noqa: BLE001 - any probe failure: read the fields from the query itself
            if getattr(exc, "args", None) and exc.args and exc.args[0] in (_AUTH_ERRORS | _NOT_FOUND_ERRORS | _UNAVAILABLE_ERRORS):
                raise
            logger.debug("metadata probe failed (%s); using the query's own metadata", redact(exc))
            return None
        finally:
            cursor.close()

    def primary_key(self, table: str) -> list[str]:
        schema, _, name = table.rpartition(".")
        inspector = sqlalchemy.inspect(self.conn)
        return list(inspector.get_pk_constraint(name, schema=schema or None).get("constrained_columns") or [])

    def column_types(self, table: str) -> dict[str, Any]:
        schema, _, name = table.rpartition(".")
        return {c["name"]: c["type"] for c in sqlalchemy.inspect(self.conn).get_columns(name, schema=schema or None)}

    # ------------------------------------------------------------------ rows
    #: Read MySQL rows off the wire into Arrow (:mod:`labdatasets.loaders._mysql_wire`) rather
    #: than through PyMySQL's row parser; both give the same tables.
    wire_reader = True

    def stream_mysql(self, query: str, columns: "list[MySQLColumn] | None", batch_rows: int) -> Iterator["pa.Table"]:
        """Rows of a MySQL query through a server-side cursor, a batch at a time."""
        import pymysql.cursors
        import pyarrow as pa

        from labdatasets.loaders._mysql_types import MySQLColumn, arrow_schema, text_to_arrow

        from labdatasets.loaders import _mysql_wire

        raw = self._dbapi()
        cursor = raw.cursor(pymysql.cursors.SSCursor)
        self.unread = True  # until the result is read to its end (see close())
        try:
            cursor.execute(query)
            wire = [MySQLColumn.from_pymysql(f) for f in cursor._result.fields]
            columns = columns or wire
            schema = arrow_schema(columns)
            self.last_schema = schema
            if self.wire_reader and len(wire) == len(columns) and _mysql_wire.supported(raw):
                yield from _mysql_wire.read_result(raw, cursor._result, columns, schema)
                return
            while True:
                rows = cursor.fetchmany(batch_rows)
                if not rows:
                    break
                values = list(zip(*rows, strict=True))
                yield pa.Table.from_arrays(
                    [text_to_arrow(values[i], c, schema.field(i).type) for i, c in enumerate(columns)], schema=schema
                )
        finally:
            cursor.close()
            self.unread = False

    def stream_generic(self, query: str, types: Mapping[str, "pa.DataType"], batch_rows: int) -> Iterator["pa.Table"]:
        """Rows of any SQLAlchemy database; types from ``types`` or else from the first batch."""
        import pyarrow as pa

        result = self.conn.execution_options(stream_results=True).exec_driver_sql(query)
        try:
            names = list(result.keys())
            schema: pa.Schema | None = None
            while True:
                rows = result.fetchmany(batch_rows)
                columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
                if schema is None:
                    arrays = [_generic_array(c, types.get(n), n) for n, c in zip(names, columns, strict=True)]
                    schema = self.last_schema = pa.schema([pa.field(n, a.type) for n, a in zip(names, arrays, strict=True)])
                else:
                    arrays = [_generic_array(c, schema.field(i).type, n) for i, (n, c) in enumerate(zip(names, columns, strict=True))]
                if not rows:
                    break
                yield pa.Table.from_arrays(arrays, schema=schema)
        finally:
            result.close()

    def close(self) -> None:
        try:
            if self.unread:
                # An error (a full disk) stopped reading a streamed MySQL result: the connection cannot run
                # another statement (PyMySQL fails or waits for the rest); dropping it ends the read-only transaction.
                self.conn.invalidate()
            else:
                self.conn.exec_driver_sql("ROLLBACK")  # read-only: nothing to keep
        except Exception:  # noqa: BLE001 - the connection may be gone already
            pass
        finally:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - as above: never hide the error that ended the pin
                pass
            self.engine.dispose()


def _connectorx_batches(url: sqlalchemy.engine.URL, query: str, schema: "pa.Schema") -> Iterator["pa.Table"]:
    """The result read by connectorx into Arrow batches, cast (safely) to ``schema``."""
    import connectorx
    import pyarrow as pa

    auth = quote(url.username or "", safe="")
    if url.password:
        auth += ":" + quote(str(url.password), safe="")
    cx_url = f"mysql://{auth}@{url.host or 'localhost'}:{url.port or 3306}/{url.database or ''}"
    reader = connectorx.read_sql(
        cx_url,
        query,
        return_type="arrow_stream",
        batch_size=CONNECTORX_BATCH_ROWS,
        pre_execution_query=["SET SESSION TRANSACTION READ ONLY", "SET SESSION time_zone = '+00:00'"],
    )
    for batch in reader:
        if batch.num_columns != len(schema):
            raise SourceError(f"connectorx returned {batch.num_columns} columns, the probe {len(schema)}")
        yield pa.Table.from_arrays([batch.column(i).cast(schema.field(i).type) for i in range(len(schema))], schema=schema)


class SQLSource(Source):
    """A query, or a whole table, on a SQL database; see the module docstring.

    Args:
        query: the SELECT to pin (a string, or a SQLAlchemy selectable compiled for
            the connection's dialect). Give it an ORDER BY so that ``status`` compares
            rows in a stable order.
        table: instead of ``query``, a table (``name`` or ``schema.name``), read in
            primary-key order.
        columns: with ``table``, the columns to read (default: all).
        order_by: with ``table``, the ordering columns (default: the primary key).
        connection: the name of a connection in the environment or config file.
        url: an explicit SQLAlchemy URL instead of ``connection`` (tests, SQLite files).
        column_types: dtypes for columns whose type the database does not report
            (SQLite), e.g. ``{"score": "float64"}``.
        fast: allow the connectorx reader (see the module docstring); the result is the same.
    """

    kind = "sql"
    empty_is_null = True  # a missing value is NULL

    def __init__(
        self,
        query: Any = None,
        *,
        table: str | None = None,
        columns: Sequence[str] | None = None,
        order_by: str | Sequence[str] | None = None,
        connection: str | None = None,
        url: str | None = None,
        column_types: Mapping[str, str] | None = None,
        fast: bool = True,
    ):
        if (query is None) == (table is None):
            raise DeclarationError("SQLSource takes exactly one of query= or table=; declare one of them in _sources()")
        if (connection is None) == (url is None):
            raise DeclarationError(
                f"SQLSource({table or 'query'}) takes exactly one of connection= (a name) or url=; prefer connection="
            )
        if (columns or order_by) and table is None:
            raise DeclarationError("SQLSource: columns= and order_by= go with table=; write them into the query instead")
        if url is not None and url_password(url):
            # Builder code is committed and reviewed in the open: a password there is a leak already.
            raise ConfigError(
                f"SQLSource url= holds a password ({redact_url(url)}); builder code is committed, so it never "
                "names one. Use connection='NAME' and set LABDATASETS_CONNECTION_NAME to the full URL (from "
                'the CI\'s secret store), or add [connections.NAME] url = "mysql+pymysql://user@host:3306/db" and '
                'password_env = "VAR" to the config file (see docs/configuration.md, "Passwords")'
            )
        self.query = query
        self.table = table
        self.columns = list(columns) if columns else None
        self.order_by = [order_by] if isinstance(order_by, str) else (list(order_by) if order_by else None)
        self.connection = connection
        self.url = url
        self.column_types = dict(column_types) if column_types else None
        self.fast = fast

    def describe(self) -> dict[str, Any]:
        query = self.query if isinstance(self.query, str) or self.query is None else str(self.query)
        return describe_options(
            {
                "connection": self.connection,
                "url": redact_url(self.url) if self.url else None,
                "query": query,
                "table": self.table,
                "columns": self.columns,
                "order_by": self.order_by,
                "column_types": self.column_types,
            }
        )

    # ------------------------------------------------------------------ plumbing
    def _where(self) -> str:
        return f"connection {self.connection!r}" if self.connection else redact_url(self.url)

    def _url(self, ctx: PinContext) -> str:
        return self.url or connection_url(self.connection, ctx.settings)  # type: ignore[arg-type]

    def _session(self, ctx: PinContext):
        url = self._url(ctx)
        return ctx.shared(("sql", url), lambda: _Session(url, self._where(), ctx.label))

    def _shares_connection(self, ctx: PinContext) -> bool:
        mine = self._url(ctx)
        for peer in ctx.peers().values():
            if isinstance(peer, SQLSource) and peer is not self:
                try:
                    if peer._url(ctx) == mine:
                        return True
                except ConfigError:
                    continue  # that peer fails on its own turn, with its own message
        return False

    def _query_text(self, session: _Session) -> str:
        if self.query is not None:
            if isinstance(self.query, str):
                return self.query.strip().rstrip(";").strip()
            compiled = self.query.compile(dialect=session.engine.dialect, compile_kwargs={"literal_binds": True})
            return str(compiled)
        name = self.table or ""  # __init__ took exactly one of query= and table=
        table = sqlalchemy.table(name.rpartition(".")[2], schema=name.rpartition(".")[0] or None)
        columns: list[Any] = [sqlalchemy.column(c) for c in self.columns] if self.columns else [sqlalchemy.text("*")]
        order = self.order_by or session.primary_key(name)
        if not order:
            logger.warning(
                "%s: table %s has no primary key and the source no order_by; rows are read in the server's order",
                self._where(), self.table,
            )
        statement = sqlalchemy.select(*columns).select_from(table).order_by(*[sqlalchemy.column(c) for c in order])
        return " ".join(str(statement.compile(dialect=session.engine.dialect)).split())

    def _declared_types(self, session: _Session) -> dict[str, "pa.DataType"]:
        from labdatasets.features import dtype_to_arrow

        types: dict[str, Any] = {}
        if self.table is not None and not session.is_mysql:
            types.update(_reflected_arrow_types(session.column_types(self.table)))
        types.update({k: dtype_to_arrow(v) for k, v in (self.column_types or {}).items()})
        return types

    def _read(self, ctx: PinContext, session: _Session, query: str) -> tuple[Iterator["pa.Table"], "pa.Schema | None", str]:
        """Batches of the result, the schema if known up front, and the reader's name."""
        from labdatasets.loaders._mysql_types import arrow_schema, fast_path_blockers

        batch_rows = STREAM_BATCH_ROWS
        if not session.is_mysql:
            return session.stream_generic(query, self._declared_types(session), batch_rows), None, "sqlalchemy"
        columns = session.probe(query)
        schema = arrow_schema(columns) if columns else None
        if schema is not None and self.column_types:
            raise ConfigError(f"{ctx.label}: column_types= is for databases that do not report types; MySQL does")
        reason = None
        if not self.fast:
            reason = "fast=False"
        elif columns is None:
            reason = "the query cannot be probed as a derived table"
        elif self._shares_connection(ctx):
            reason = "another SQL source of this pin shares the connection (one consistent snapshot)"
        elif set(session.url.query) - _FAST_URL_OPTIONS:
            reason = f"URL options {sorted(set(session.url.query) - _FAST_URL_OPTIONS)}"
        elif fast_path_blockers(columns):
            reason = f"columns connectorx cannot read exactly: {', '.join(fast_path_blockers(columns))}"
        else:
            try:
                import connectorx
            except ImportError:
                reason = "connectorx is not installed"
            else:
                logger.info("%s: reading with connectorx %s", ctx.label, connectorx.__version__)
                # Outside the session's transaction: recorded as such (see _run).
                return _connectorx_batches(session.url, query, schema), schema, f"connectorx {connectorx.__version__}"
        from importlib.metadata import version

        logger.info("%s: reading with the streaming reader (%s)", ctx.label, reason)
        return session.stream_mysql(query, columns, batch_rows), schema, f"pymysql {version('PyMySQL')}"

    def _run(self, ctx: PinContext, sink_factory: Any) -> tuple[Any, "pa.Schema", dict[str, Any]]:
        """Read the result into a sink; translate every database error once, here."""
        import pyarrow as pa

        what = ctx.label
        with self._session(ctx) as session:
            try:
                query = self._query_text(session)
                batches, schema, reader = self._read(ctx, session, query)
                sink = None
                try:
                    for table in batches:
                        if sink is None:
                            schema = schema or table.schema
                            sink = sink_factory(schema)
                        sink.write(table)
                    if sink is None:  # no rows: the schema is still known
                        schema = schema or getattr(session, "last_schema", None) or pa.schema([])
                        sink = sink_factory(schema)
                    if hasattr(sink, "drain"):  # a writer storing in the background: its errors are raised here
                        sink.drain()
                except BaseException:
                    if sink is not None and hasattr(sink, "abort"):
                        sink.abort()
                    raise
            except SourceError as exc:
                if exc.source:
                    raise
                # Raised below the connector (type mapping, wire reader), which does not know the source: name it.
                cls = type(exc) if type(exc).__init__ is SourceError.__init__ else SourceError
                raise cls(f"{what}: {exc} ({self._where()})", source=self._where()) from exc
            except ConfigError:
                raise
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise SourceError(
                    f"{what}: a value of the result does not fit its column's type exactly ({redact(exc)}); "
                    "nothing was stored. Cast or clean the column in the query (for example NULLIF(d, '0000-00-00')).",
                    source=self._where(),
                ) from exc
            except (sqlalchemy.exc.SQLAlchemyError, ConnectionError, OSError, RuntimeError) as exc:
                # RuntimeError: how connectorx reports server errors ("MySqlError { ERROR 1045 ... }").
                raise _translate(exc, what, self._where()) from exc
            except Exception as exc:  # noqa: BLE001 - DBAPI errors have no common base class
                if type(exc).__module__.split(".")[0] in ("pymysql", "sqlite3", "pyo3_runtime", "psycopg", "psycopg2"):
                    raise _translate(exc, what, self._where()) from exc
                raise
            metadata = {
                "query": query,
                "dialect": session.dialect,
                "server_version": session.server_version,
                "database": session.database,
                "transaction": session.transaction,
                "snapshot": session.snapshot,
                "reader": reader,
            }
            if reader.startswith("connectorx"):  # its own connection: one statement, not the shared snapshot
                metadata["transaction"] = CONNECTORX_TRANSACTION
                del metadata["snapshot"]
        return sink, schema, metadata

    # ------------------------------------------------------------------ the contract
    def pin(self, ctx: PinContext) -> SourcePin:
        progress = ctx.progress(None, f"pin {ctx.label}")
        name = f"{(self.table or 'query').replace('.', '_')}.parquet"
        writer, _, metadata = self._run(
            ctx,
            lambda schema: TableSnapshotWriter(ctx.store, schema, label=ctx.label, progress=progress, background=True),
        )
        with writer:  # a failure while storing drops the partial file
            pin = writer.finish_pin(name, kind=self.kind, location=self.describe(), metadata=metadata)
        logger.info("%s: pinned %d rows from %s", ctx.label, writer.rows, self._where())
        return pin

    def status(self, pinned: SourcePin, ctx: PinContext) -> SourceStatus:
        try:
            hasher, schema, _ = self._run(ctx, ContentHasher)
        except (SourceNotFoundError, SourceUnavailableError, SourceAuthError) as exc:
            return SourceStatus(ctx.label, self.kind, SourceState.UNAVAILABLE, (str(exc),))
        hasher.flush()
        details = []
        if pinned.num_rows != hasher.rows:
            details.append(f"rows: {pinned.num_rows:,} pinned, {hasher.rows:,} now")
        pinned_schema = pinned.arrow()
        if pinned_schema is not None and not pinned_schema.equals(schema):
            details.append(f"schema: pinned {_short_schema(pinned_schema)}, now {_short_schema(schema)}")
        expected = pinned.metadata.get("content_sha256")
        if expected and expected != hasher.hexdigest() and not details:
            details.append(f"content: same row count, different rows (sha256 {expected[:12]} pinned, {hasher.hexdigest()[:12]} now)")
        elif expected and expected != hasher.hexdigest():
            details.append(f"content: sha256 {expected[:12]} pinned, {hasher.hexdigest()[:12]} now")
        return SourceStatus(ctx.label, self.kind, SourceState.CHANGED if details else SourceState.UNCHANGED, tuple(details))


def _short_schema(schema: "pa.Schema") -> str:
    return "(" + ", ".join(f"{f.name}: {f.type}" for f in schema) + ")"


def _generic_array(values: Sequence[Any], target: "pa.DataType | None", name: str) -> "pa.Array":
    import pyarrow as pa

    try:
        array = pa.array(list(values))
        return array if target is None or array.type.equals(target) else array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise SourceError(
            f"column {name!r}: the database returned values that do not fit {target} (the type taken from the "
            f"first rows or the table): {exc}. Set column_types={{{name!r}: 'dtype'}} on the SQLSource."
        ) from exc


def _reflected_arrow_types(columns: Mapping[str, Any]) -> dict[str, "pa.DataType"]:
    """SQLAlchemy reflected column types -> Arrow, for databases whose results carry no types."""
    import pyarrow as pa

    out: dict[str, pa.DataType] = {}
    for name, sa_type in columns.items():
        try:
            python_type = sa_type.python_type
        except NotImplementedError:
            continue
        import datetime
        import decimal

        mapping = {
            int: pa.int64(), float: pa.float64(), str: pa.string(), bytes: pa.binary(), bool: pa.bool_(),
            datetime.datetime: pa.timestamp("us"), datetime.date: pa.date32(),
        }
        if python_type is decimal.Decimal and getattr(sa_type, "precision", None):
            out[name] = pa.decimal128(sa_type.precision, sa_type.scale or 0)
        elif python_type in mapping:
            out[name] = mapping[python_type]
    return out

