"""Reading pinned tabular objects: the format a file's name implies, the schema and row count a pin records,
and build-time reads that give exactly the pinned rows, with the pinned types, in file order."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labdatasets.errors import DeclarationError, SourceError, SourceNotFoundError
from labdatasets.pinning import tabular
from labdatasets.pinning.tabular import files_schema, format_for_path, inspect, iter_batches, read_table


def pinned_then_read(paths, fmt, read_options, batch_rows=65_536):
    """What a pin records (schema, rows) and what a build later reads from the same objects with that schema."""
    schema, rows = inspect(paths, fmt, read_options)
    got = pa.concat_tables(
        [t for p in paths for t in iter_batches(p, fmt, read_options, schema, relpath=p.name, batch_rows=batch_rows)]
    )
    assert got.schema == schema and got.num_rows == rows
    return schema, got


def test_a_files_extension_names_its_format():
    names = {
        "rows.csv": "csv", "ROWS.TSV": "csv", "a/b.jsonl": "jsonl", "x.NDJSON": "jsonl", "p.parquet": "parquet",
        "p.pq": "parquet", "photo.png": "files", "README": "files", "rows.csv.gz": "files",
    }
    assert {name: format_for_path(name) for name in names} == names
    assert tabular.FORMATS == ("csv", "jsonl", "parquet", "files")


def test_opaque_files_are_their_path_and_bytes(tmp_path):
    path = tmp_path / "cat.png"
    path.write_bytes(b"\x89PNG\x00\xff")
    schema, rows = inspect([path, path], "files", {})
    assert (schema, rows) == (files_schema(), 2)
    assert [f.nullable for f in schema] == [False, False]
    for relpath, name in (("images/cat.png", "images/cat.png"), ("", "cat.png")):
        (table,) = iter_batches(path, "files", {}, schema, relpath=relpath)
        assert table.schema == files_schema()
        assert table.to_pylist() == [{"path": name, "data": b"\x89PNG\x00\xff"}]
    (table,) = iter_batches(path, "files", {}, schema)  # no relpath: the file's name
    assert table["path"].to_pylist() == ["cat.png"]


def test_csv_nulls_empty_strings_and_text_that_looks_like_null(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text('id,name,score\n1,,0.5\n2,"",\n3,NA,2.5\n')
    # a database or spreadsheet source: an empty cell is NULL in every column; "" and NA are text
    schema, got = pinned_then_read([path], "csv", {"empty_is_null": True, "column_types": {"name": "string"}})
    assert got.to_pylist() == [
        {"id": 1, "name": None, "score": 0.5}, {"id": 2, "name": "", "score": None}, {"id": 3, "name": "NA", "score": 2.5},
    ]
    # a plain CSV: an empty text cell is an empty string, unless the pin says strings can be null
    _, got = pinned_then_read([path], "csv", {"column_types": {"name": "string"}})
    assert got["name"].to_pylist() == ["", "", "NA"] and got["score"].to_pylist() == [0.5, None, 2.5]
    # strings_can_be_null: Arrow's null spellings ("", NA, ...) read as NULL in text columns too
    _, got = pinned_then_read([path], "csv", {"column_types": {"name": "string"}, "strings_can_be_null": True})
    assert got["name"].to_pylist() == [None, None, None]


def test_csv_delimiter_and_declared_column_types_are_kept_from_pin_to_build(tmp_path):
    path = tmp_path / "scores.tsv"
    path.write_text("code\tscore\tn\n007\t1.5\t3\n010\t2\t4\n")
    options = {"delimiter": "\t", "column_types": {"code": "string", "score": "float32"}}
    schema, got = pinned_then_read([path], "csv", options)
    assert schema == pa.schema([("code", pa.string()), ("score", pa.float32()), ("n", pa.int64())])
    assert got.to_pylist() == [{"code": "007", "score": 1.5, "n": 3}, {"code": "010", "score": 2.0, "n": 4}]
    whole = read_table(path, "csv", options)
    assert whole.equals(got)
    assert read_table(path, "csv", options, schema).equals(got)  # the pinned schema alone gives the same table


def test_a_build_reads_with_the_pinned_schema_not_what_the_file_would_infer(tmp_path):
    """Years later, a file read with the recorded schema gets the recorded types and column order."""
    csv = tmp_path / "rows.csv"
    csv.write_text("b,a\n1,x\n2,y\n")
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"b": 1, "a": "x"}\n{"b": 2, "a": "y"}\n')
    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"b": pa.array([1, 2], pa.int32()), "a": ["x", "y"]}), parquet)
    pinned = pa.schema([("a", pa.string()), ("b", pa.float64())])
    want = [{"a": "x", "b": 1.0}, {"a": "y", "b": 2.0}]
    for path, fmt in ((csv, "csv"), (jsonl, "jsonl"), (parquet, "parquet")):
        whole = read_table(path, fmt, {}, pinned)
        assert whole.schema == pinned and whole.to_pylist() == want, fmt
        streamed = pa.concat_tables(iter_batches(path, fmt, {}, pinned, batch_rows=1))
        assert streamed.schema == pinned and streamed.to_pylist() == want, fmt


def test_an_unknown_tabular_format_asks_for_a_known_one(tmp_path):
    path = tmp_path / "rows.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(DeclarationError, match=r"'xlsx' is not a tabular format; declare format= as one of csv, jsonl, parquet"):
        read_table(path, "xlsx", {})
    with pytest.raises(DeclarationError, match="'xlsx' is not a format of pinned objects; .* csv, jsonl, parquet, files"):
        list(iter_batches(path, "xlsx", {}, pa.schema([("a", pa.string())])))


def test_the_files_of_one_source_add_up_and_must_share_their_schema(tmp_path):
    parts = []
    for i, rows in enumerate(([1, 2], [3], [4, 5, 6])):
        parts.append(tmp_path / f"part-{i}.parquet")
        pq.write_table(pa.table({"id": rows, "name": [f"n{r}" for r in rows]}), parts[-1])
    schema, got = pinned_then_read(parts, "parquet", {}, batch_rows=2)
    assert got["id"].to_pylist() == [1, 2, 3, 4, 5, 6]
    assert schema.metadata is None  # the writer's pandas/arrow notes are not part of the recorded schema
    csvs = []
    for i, text in enumerate(("id,name\n1,a\n", "id,name\n2,b\n3,c\n", "name,id\nd,4\n")):
        csvs.append(tmp_path / f"part-{i}.csv")
        csvs[-1].write_text(text)
    _, got = pinned_then_read(csvs[:2], "csv", {})
    assert got.to_pylist() == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
    with pytest.raises(SourceError, match=r"file 3 \(part-2.csv\) has schema name: string\nid: int64 but the first file has id: int64"):
        inspect(csvs, "csv", {})
    odd = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"id": ["x"], "name": ["n"]}), odd)
    with pytest.raises(SourceError, match=r"file 2 \(odd.parquet\)[\s\S]* every file of one source must have the same columns "
                       "and types: fix the odd file or split it into its own source$"):
        inspect([parts[0], odd], "parquet", {})
    with pytest.raises(SourceNotFoundError, match="^the source matched no files; check its path or pattern$"):
        inspect([], "csv", {})


def test_json_lines_longer_than_a_piece_and_blank_trailing_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(tabular, "JSONL_PIECE", 64)
    path = tmp_path / "rows.jsonl"
    lines = [json.dumps({"id": i, "text": "x" * (i * 50)}) for i in range(6)]  # lines longer than a piece
    path.write_text("\n".join(lines) + "\n\n  \n")
    pieces = list(tabular._jsonl_pieces(path))  # JSONL_PIECE bytes at a time
    assert b"".join(pieces) == path.read_bytes()
    assert all(p.endswith(b"\n") for p in pieces)
    assert len(pieces) >= len(lines) // 2  # a piece at a time, never the whole file
    schema, got = pinned_then_read([path], "jsonl", {}, batch_rows=4)
    assert got.to_pylist() == [{"id": i, "text": "x" * (i * 50)} for i in range(6)]
    last = tmp_path / "last.jsonl"
    last.write_bytes(b'{"id": 1}\n{"id": 2}')  # no line break at the end: the last row still counts
    assert inspect([last], "jsonl", {})[1] == 2


def test_json_lines_batches_hold_at_most_batch_rows(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"id": i}) + "\n" for i in range(10)))
    schema, _ = inspect([path], "jsonl", {})
    sizes = [t.num_rows for t in iter_batches(path, "jsonl", {}, schema, batch_rows=4)]
    assert sizes == [4, 4, 2]


def test_declared_column_types_that_are_not_arrow_names(tmp_path):
    path = tmp_path / "payments.csv"
    path.write_text("id,amount,paid_at\n1,12.50,2026-01-02T10:00:00Z\n2,0.01,\n")
    options = {"column_types": {"amount": "decimal128(12, 2)", "paid_at": "timestamp[us, UTC]"}}
    schema, got = pinned_then_read([path], "csv", options)
    assert schema.field("amount").type == pa.decimal128(12, 2)
    assert schema.field("paid_at").type == pa.timestamp("us", tz="UTC")
    assert read_table(path, "csv", options).equals(got)
    assert str(got["amount"][0]) == "12.50" and got["paid_at"][1].as_py() is None


def test_text_that_looks_like_another_type_keeps_the_pinned_type(tmp_path):
    """Dummy data (or a later file) read with the pinned schema: "007" stays text, a date stays a string."""
    pinned = pa.schema([("code", pa.string()), ("day", pa.string()), ("n", pa.int64())])
    csv = tmp_path / "rows.csv"
    csv.write_text("code,day,n\n007,2026-01-02,1\n010,,2\n")
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"code": "007", "day": "2026-01-02", "n": 1}\n{"code": "010", "day": null, "n": 2}\n')
    for path, fmt, options, empty in (
        (csv, "csv", {}, ""), (csv, "csv", {"empty_is_null": True}, None), (jsonl, "jsonl", {}, None)
    ):
        want = [{"code": "007", "day": "2026-01-02", "n": 1}, {"code": "010", "day": empty, "n": 2}]
        assert read_table(path, fmt, options, pinned).to_pylist() == want, (fmt, options)
        assert pa.concat_tables(iter_batches(path, fmt, options, pinned)).to_pylist() == want, (fmt, options)


def test_later_files_of_a_source_are_read_with_the_first_files_types(tmp_path):
    """A later file whose scores happen to be whole numbers is not a different schema."""
    first, later = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("id,score\n1,0.5\n")
    later.write_text("id,score\n2,2\n")
    schema, got = pinned_then_read([first, later], "csv", {})
    assert schema.field("score").type == pa.float64() and got["score"].to_pylist() == [0.5, 2.0]
    odd = tmp_path / "c.csv"
    odd.write_text("id,score\n3,high\n")  # fails at pin time, not in a build later
    with pytest.raises(pa.ArrowInvalid, match="high"):
        inspect([first, odd], "csv", {})
    first, later = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text('{"id": 1, "score": 0.5}\n')
    later.write_text('{"id": 2, "score": 2}\n')
    schema, got = pinned_then_read([first, later], "jsonl", {})
    assert schema.field("score").type == pa.float64() and got["score"].to_pylist() == [0.5, 2.0]


def test_json_lines_fields_outside_the_pinned_schema_are_not_read(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": 1, "note": "x"}\n{"id": 2}\n')
    pinned = pa.schema([("id", pa.int64())])
    assert read_table(path, "jsonl", {}, pinned).to_pylist() == [{"id": 1}, {"id": 2}]
    assert pa.concat_tables(iter_batches(path, "jsonl", {}, pinned)).to_pylist() == [{"id": 1}, {"id": 2}]


def test_an_empty_json_lines_file_is_an_error_not_an_empty_source(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"")
    with pytest.raises(pa.ArrowInvalid, match="Empty JSON file"):
        inspect([path], "jsonl", {})


def test_csv_batches_are_whole_blocks_cut_once_they_reach_batch_rows(tmp_path, monkeypatch):
    """A build holds one batch of a CSV at a time: about batch_rows rows, never the whole file."""
    monkeypatch.setattr(tabular, "CSV_BLOCK", 1024)
    path = tmp_path / "rows.csv"
    line = "{:06d},abcdefgh\n"  # 16 bytes a row: 64 rows a block (63 after the header)
    path.write_text("number,namelong\n" + "".join(line.format(i) for i in range(2000)))
    schema, _ = inspect([path], "csv", {"column_types": {"number": "string"}})
    per_block = 1024 // 16
    for batch_rows in (128, 129, 500):
        sizes = [t.num_rows for t in iter_batches(path, "csv", {}, schema, batch_rows=batch_rows)]
        assert sum(sizes) == 2000 and len(sizes) > 1, batch_rows
        assert all(batch_rows <= n < batch_rows + per_block for n in sizes[:-1]), (batch_rows, sizes)
