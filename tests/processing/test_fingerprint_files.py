"""Content fingerprints read back from Parquet shards, and the sink that hashes what is written through it."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from labdatasets.processing.fingerprint import HashingSink, content_fingerprint, fingerprint_tables


def test_shards_read_back_give_the_fingerprint_of_their_rows_in_order(tmp_path):
    table = pa.table({"id": np.arange(1000), "s": [f"v{i % 7}" for i in range(1000)]})
    paths = []
    for i, part in enumerate((table.slice(0, 300), table.slice(300, 1), table.slice(301))):
        paths.append(tmp_path / f"shard-{i}.parquet")
        pq.write_table(part, paths[-1], row_group_size=128)  # several row groups per shard
    assert content_fingerprint(paths) == fingerprint_tables(table.schema, [table])
    assert content_fingerprint(paths[::-1]) != content_fingerprint(paths)  # shard order is row order
    assert content_fingerprint(paths[:1]) == fingerprint_tables(table.schema, [table.slice(0, 300)])
    assert content_fingerprint([]) == fingerprint_tables(pa.schema([]), [])
    other = tmp_path / "other.parquet"
    pq.write_table(table.cast(pa.schema([("id", pa.int32()), ("s", pa.string())])), other)
    assert content_fingerprint([other]) != content_fingerprint(paths)  # the schema counts


def test_the_hashing_sink_counts_hashes_and_passes_bytes_on():
    raw = io.BytesIO()
    sink = HashingSink(raw)
    assert sink.writable() is True and sink.closed is False and sink.tell() == 0
    assert sink.write(b"abc") == 3 and sink.write(memoryview(b"defg")) == 4
    sink.flush()
    assert (sink.tell(), sink.size, raw.getvalue()) == (7, 7, b"abcdefg")
    assert sink.digest.hexdigest() == hashlib.sha256(b"abcdefg").hexdigest()
    sink.close()
    assert sink.closed is True and not raw.closed  # the owner of raw closes it
    alone = HashingSink()
    alone.write(b"x")
    alone.flush()  # nothing to pass on
    assert alone.size == 1 and alone.raw is None
