"""Pin-time inspection and build-time reads of CSV and JSON lines stream: the same schema and rows as a
whole-file read, one block or piece in memory at a time."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from labdatasets.pinning import tabular
from labdatasets.pinning.tabular import inspect, iter_batches, read_table


def test_a_csv_of_many_blocks_is_inspected_as_a_whole_read_sees_it(tmp_path):
    path = tmp_path / "rows.csv"
    lines = ["id,x,name,when"] + [f"{i},{i / 7:.5f},name {i % 13},2026-01-{1 + i % 28:02d}" for i in range(80_000)]
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 2 << 20  # several of the reader's 1 MiB blocks
    schema, rows = inspect([path], "csv", {})
    whole = read_table(path, "csv", {})
    assert (schema, rows) == (whole.schema, whole.num_rows) == (schema, 80_000)
    assert pa.concat_tables(iter_batches(path, "csv", {}, schema, batch_rows=7_000)).equals(whole)


@pytest.mark.parametrize("drift", [False, True])
def test_json_lines_are_inspected_and_read_in_pieces(tmp_path, monkeypatch, drift):
    monkeypatch.setattr(tabular, "JSONL_PIECE", 4096)  # many pieces
    path = tmp_path / "rows.jsonl"
    with path.open("w") as fh:
        for i in range(3000):
            # with drift, 'v' is an integer in the first pieces and a float further on
            value = i + 0.5 if drift and i > 2500 else i
            fh.write(json.dumps({"id": i, "v": value, "s": f"x{i}"}) + "\n")
    schema, rows = inspect([path], "jsonl", {})
    whole = read_table(path, "jsonl", {})
    assert (schema, rows) == (whole.schema, whole.num_rows)
    assert schema.field("v").type == (pa.float64() if drift else pa.int64())
    streamed = pa.concat_tables(iter_batches(path, "jsonl", {}, schema, batch_rows=500))
    assert streamed.equals(read_table(path, "jsonl", {}, schema))


def test_json_lines_pieces_end_at_line_breaks(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 22}\n{"a": 333}')  # no line break at the end
    pieces = list(tabular._jsonl_pieces(path, size=5))
    assert b"".join(pieces) == path.read_bytes()
    assert all(p.endswith(b"\n") for p in pieces[:-1])
