"""The contract every source connector keeps, as a mixin of tests (the fsspec pattern).

A connector's test module subclasses :class:`SourceContract` and provides fixtures:

* ``source``: a Source reading live data that the fixture seeded;
* ``expected``: the rows that pinning ``source`` must capture (a ``pyarrow.Table``),
  or None for opaque ``files`` sources (then ``expected_files``: ``{path: bytes}``);
* ``change_source``: a callable that changes the live data;
* ``missing_source``: a Source pointing at something that does not exist.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from labdatasets.errors import SourceError
from labdatasets.stores.hashing import sha256_file
from labdatasets.pinning.tabular import iter_batches

SECRET_MARKERS = ("s3cret", "hunter2", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI")


def read_pinned(pin, snapshots):
    schema = pin.arrow()
    tables = []
    for obj in pin.objects:
        path = snapshots.local_path(obj.oid)
        tables.extend(iter_batches(path, pin.format, pin.read_options, schema, relpath=obj.path))
    return pa.concat_tables(tables) if tables else schema.empty_table()


class SourceContract:
    expected_files: dict | None = None

    def test_pin_stores_every_object_verified(self, source, ctx, snapshots):
        pin = source.pin(ctx)
        assert pin.kind == source.kind and pin.objects
        for obj in pin.objects:
            path = snapshots.local_path(obj.oid)
            assert sha256_file(path) == obj.oid and path.stat().st_size == obj.size
        assert pin.num_bytes == sum(o.size for o in pin.objects)
        assert pin.pinned_at.endswith("Z")

    def test_pinned_rows_equal_the_source(self, source, ctx, snapshots, expected):
        pin = source.pin(ctx)
        got = read_pinned(pin, snapshots)
        if expected is None:
            assert pin.format == "files"
            assert dict(zip(got["path"].to_pylist(), got["data"].to_pylist(), strict=True)) == self.expected_files
            return
        assert pin.num_rows == expected.num_rows == got.num_rows
        assert got.select(expected.column_names).to_pylist() == expected.to_pylist()
        assert [f["name"] for f in pin.schema] == got.column_names

    def test_pinning_again_stores_nothing_new(self, source, ctx, snapshots, local_store):
        first = source.pin(ctx)
        before = set(local_store.iter_oids())
        second = source.pin(ctx)
        assert second.manifest_oid == first.manifest_oid
        assert set(local_store.iter_oids()) == before

    def test_status_follows_the_live_source(self, source, ctx, change_source):
        pin = source.pin(ctx)
        assert source.status(pin, ctx).state == "unchanged"
        change_source()
        status = source.status(pin, ctx)
        assert status.state == "changed" and status.details

    def test_description_has_no_secrets(self, source, ctx):
        pin = source.pin(ctx)
        text = repr(source.describe()) + repr(pin.to_json())
        for marker in SECRET_MARKERS:
            assert marker not in text

    def test_missing_source_fails_clearly_and_stores_nothing(self, missing_source, ctx, snapshots, local_store):
        with pytest.raises(SourceError) as info:
            missing_source.pin(ctx)
        assert "contract:1.0.0 source 'data'" in str(info.value)
        assert list(local_store.iter_oids()) == []
