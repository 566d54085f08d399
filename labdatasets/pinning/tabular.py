"""Reading pinned objects as Arrow: CSV, JSON lines, Parquet and opaque files.

Tabular objects are read with the exact Arrow schema recorded at pin time, so
type inference can never drift between the pin and a build years later.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable, Iterator, Mapping

from labdatasets.errors import DeclarationError, SourceError, SourceNotFoundError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["FORMATS", "TABULAR_FORMATS", "format_for_path", "inspect", "iter_batches", "files_schema"]

TABULAR_FORMATS = ("csv", "jsonl", "parquet")
FORMATS = TABULAR_FORMATS + ("files",)
BATCH_ROWS = 65_536
_EXTENSIONS = {
    ".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet",
}


def format_for_path(path: str | Path) -> str:
    """The format a file extension implies; ``files`` (opaque bytes) when unknown."""
    return _EXTENSIONS.get(Path(path).suffix.lower(), "files")


def files_schema() -> "pa.Schema":
    import pyarrow as pa

    return pa.schema([pa.field("path", pa.string(), nullable=False), pa.field("data", pa.binary(), nullable=False)])


def _csv_options(read_options: Mapping[str, Any], schema: "pa.Schema | None"):
    import pyarrow.csv as pcsv

    parse = pcsv.ParseOptions(delimiter=read_options.get("delimiter", ","))
    column_types = dict(zip(schema.names, schema.types, strict=True)) if schema is not None else read_options.get("column_types")
    if read_options.get("empty_is_null"):
        # An empty cell is NULL, in every column; a quoted "" stays an empty string, and "NA" is text.
        convert = pcsv.ConvertOptions(
            column_types=column_types, null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False
        )
    else:
        convert = pcsv.ConvertOptions(
            column_types=column_types, strings_can_be_null=bool(read_options.get("strings_can_be_null", False))
        )
    return parse, convert


def read_table(path: Path, fmt: str, read_options: Mapping[str, Any], schema: "pa.Schema | None" = None) -> "pa.Table":
    """Read one tabular object whole (pin-time inspection and small objects)."""
    if fmt == "csv":
        import pyarrow.csv as pcsv

        column_types = read_options.get("column_types")
        if schema is None and column_types:
            from labdatasets.features import dtype_to_arrow

            read_options = {**read_options, "column_types": {k: dtype_to_arrow(v) for k, v in column_types.items()}}
        parse, convert = _csv_options(read_options, schema)
        table = pcsv.read_csv(path, parse_options=parse, convert_options=convert)
    elif fmt == "jsonl":
        import pyarrow.json as pjson

        options = pjson.ParseOptions(explicit_schema=schema) if schema is not None else None
        table = pjson.read_json(path, parse_options=options)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path, schema=schema)
    else:
        raise DeclarationError(f"{fmt!r} is not a tabular format; declare format= as one of {', '.join(TABULAR_FORMATS)}")
    if schema is not None and table.schema != schema:
        table = table.select(schema.names).cast(schema)
    return table


JSONL_PIECE = 16 << 20
# Arrow's streaming CSV reader reads a few dozen blocks ahead of its consumer: 4 MiB blocks keep that
# memory well below what 16 MiB blocks take, at the same speed (benchmarks/README.md).
CSV_BLOCK = 4 << 20


def _csv_reader(path: Path, read_options: Mapping[str, Any], schema: "pa.Schema | None") -> Any:
    """A streaming CSV reader with the options :func:`read_table` uses (types inferred from the first block, as there)."""
    import pyarrow.csv as pcsv

    column_types = read_options.get("column_types")
    if schema is None and column_types:
        from labdatasets.features import dtype_to_arrow

        read_options = {**read_options, "column_types": {k: dtype_to_arrow(v) for k, v in column_types.items()}}
    parse, convert = _csv_options(read_options, schema)
    return pcsv.open_csv(path, parse_options=parse, convert_options=convert)


def _inspect_csv(path: Path, read_options: Mapping[str, Any], schema: "pa.Schema | None") -> tuple["pa.Schema", int]:
    """Schema and rows of a CSV file, one block in memory at a time."""
    reader = _csv_reader(path, read_options, schema)  # types inferred from the first block, as read_csv does
    rows = 0
    for batch in reader:
        rows += batch.num_rows
    found = reader.schema
    if schema is not None and found != schema:
        found = schema if found.names == schema.names else found
    return found, rows


def _jsonl_pieces(path: Path, size: int | None = None) -> Iterator[bytes]:
    """The file in pieces of about ``size`` bytes (``JSONL_PIECE``), each ending at a line break."""
    size = size or JSONL_PIECE  # read here, not when the module is imported: tests set a small piece
    with open(path, "rb") as fh:
        rest = b""
        while True:
            chunk = fh.read(size)
            if not chunk:
                break
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            rest = data[cut:]
            yield data[:cut]
        if rest.strip():
            yield rest


def _read_jsonl_piece(piece: bytes, schema: "pa.Schema | None") -> "pa.Table":
    import pyarrow as pa
    import pyarrow.json as pjson

    options = pjson.ParseOptions(explicit_schema=schema) if schema is not None else None
    table = pjson.read_json(pa.BufferReader(piece), parse_options=options)
    if schema is not None and table.schema != schema:
        table = table.select(schema.names).cast(schema)
    return table


def _inspect_jsonl(path: Path, read_options: Mapping[str, Any], schema: "pa.Schema | None") -> tuple["pa.Schema", int]:
    """Schema and rows of a JSON-lines file, a piece at a time.

    Types are inferred per piece; when every piece agrees, that is the type a
    whole-file read infers too. If they do not (a column of ints that turns
    into floats further on), the whole file is read once to infer the types as
    a whole-file read does, so a pin records the same schema either way.
    """
    found = None
    rows = 0
    for piece in _jsonl_pieces(path):
        table = _read_jsonl_piece(piece, schema)
        rows += table.num_rows
        if found is None:
            found = table.schema
        elif table.schema != found:
            whole = read_table(path, "jsonl", read_options, schema)
            return whole.schema, whole.num_rows
    if found is None:  # an empty file
        whole = read_table(path, "jsonl", read_options, schema)
        return whole.schema, whole.num_rows
    return found, rows


def inspect(paths: Iterable[Path], fmt: str, read_options: Mapping[str, Any]) -> tuple["pa.Schema", int]:
    """Schema and row count of the objects of one source (all must share the schema)."""
    import pyarrow.parquet as pq

    if fmt == "files":
        return files_schema(), sum(1 for _ in paths)
    schema = None
    rows = 0
    for index, path in enumerate(paths):
        if fmt == "parquet":
            meta = pq.ParquetFile(path)
            this_schema, n = meta.schema_arrow, meta.metadata.num_rows
        elif fmt == "csv":
            this_schema, n = _inspect_csv(path, read_options, schema)
        else:
            this_schema, n = _inspect_jsonl(path, read_options, schema)
        if schema is None:
            schema = this_schema
        elif this_schema != schema:
            raise SourceError(
                f"file {index + 1} ({path.name}) has schema {this_schema} but the first file has {schema}; every file "
                "of one source must have the same columns and types: fix the odd file or split it into its own source"
            )
        rows += n
    if schema is None:
        raise SourceNotFoundError("the source matched no files; check its path or pattern")
    return schema.remove_metadata(), rows


def iter_batches(
    path: Path, fmt: str, read_options: Mapping[str, Any], schema: "pa.Schema", *, relpath: str = "", batch_rows: int = BATCH_ROWS
) -> Iterator["pa.Table"]:
    """Yield the rows of one pinned object as tables of about ``batch_rows`` rows, in the pinned schema.

    A Parquet or JSON-lines table holds at most ``batch_rows`` rows; a CSV table holds whole blocks
    of the file, cut once they reach ``batch_rows`` rows (so up to one block more).
    """
    import pyarrow as pa

    if fmt == "files":
        yield pa.table({"path": [relpath or path.name], "data": [path.read_bytes()]}, schema=files_schema())
        return
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetFile(path, memory_map=True) as pf:
            for batch in pf.iter_batches(batch_size=batch_rows):
                # dummy data read with the real source's pinned schema may hold the columns in another order
                yield pa.Table.from_batches([batch]).select(schema.names).cast(schema)
        return
    if fmt == "csv":
        import pyarrow.csv as pcsv

        parse, convert = _csv_options(read_options, schema)
        reader = pcsv.open_csv(
            path, read_options=pcsv.ReadOptions(block_size=CSV_BLOCK), parse_options=parse, convert_options=convert
        )
        pending: list[pa.RecordBatch] = []
        count = 0
        for batch in reader:
            pending.append(batch)
            count += batch.num_rows
            if count >= batch_rows:
                yield pa.Table.from_batches(pending).select(schema.names).cast(schema)
                pending, count = [], 0
        if pending:
            yield pa.Table.from_batches(pending).select(schema.names).cast(schema)
        return
    if fmt == "jsonl":
        for piece in _jsonl_pieces(path):
            table = _read_jsonl_piece(piece, schema)
            for offset in range(0, table.num_rows, batch_rows):
                yield table.slice(offset, batch_rows)
        return
    raise DeclarationError(f"{fmt!r} is not a format of pinned objects; declare format= as one of {', '.join(FORMATS)}")
