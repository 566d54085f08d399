"""Tampering with a real shared cache (file:// and moto s3://) by someone who can write to it.

A release record is a ref in the cache: whoever can write the cache can rewrite it (on S3 a
PutObject without If-None-Match does). Nothing in it is believed: its names are checked before
any filesystem call, and its content is checked against the committed output record.
"""

from __future__ import annotations

import io
import json
import logging
import os
import uuid
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import labdatasets
from labdatasets.cli import main
from labdatasets.stores import open_store
from labdatasets.stores.base import ref_key
from labdatasets.errors import PreparedDataError
from tests.helpers import sample_rows
from tests.processing.test_code import write_tabular

pytestmark = pytest.mark.slow


@pytest.fixture(params=["file", "s3"])
def cache_uri(request, tmp_path, monkeypatch) -> str:
    if request.param == "file":
        uri = f"file://{tmp_path / 'shared-cache'}"
    else:
        uri = f"s3://{request.getfixturevalue('s3_bucket')}/lab/prepared"
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", uri)
    return uri


def new_machine(tmp_path: Path, monkeypatch, lab_home: Path) -> Path:
    home = tmp_path / "machine-b"
    monkeypatch.setenv("LABDATASETS_HOME", str(home))
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(lab_home / "pins"))  # the same committed records
    return home


def overwrite_ref(store, name: str, data: bytes) -> None:
    """What an attacker with write access does: replace the release record, bypassing write-once."""
    if store.scheme == "file":
        path = store.root / ref_key(name)
        os.chmod(path, 0o644)
        path.write_bytes(data)
    else:
        store.client.put_object(Bucket=store.bucket, Key=store._under_prefix(ref_key(name)), Body=data)


def published_toy(name: str, make_builder, lab_home) -> tuple:
    make_builder.tabular(name, rows=sample_rows(400))
    assert main(["publish", name, "--quiet"]) == 0
    store = open_store(os.environ["LABDATASETS_SHARED_CACHE"])
    ref = f"prepared/{name}/1.0.0.json"
    release = json.loads(store.get_ref(ref))
    good = labdatasets.builder(name).as_dataset(split="train").to_arrow().to_pydict()
    return store, ref, release, good


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "other_name"])
def test_a_release_file_entry_outside_the_pattern_is_refused_before_any_write(
    kind, cache_uri, make_builder, lab_home, tmp_path, monkeypatch, caplog
):
    store, ref, release, good = published_toy("toy_escape", make_builder, lab_home)
    tag = uuid.uuid4().hex[:8]
    evil = {
        "dotdot": f"../../../../escape-{tag}.parquet",
        "absolute": str(tmp_path / f"escape-{tag}.parquet"),
        "other_name": f"escape-{tag}.py",
    }[kind]
    info = json.loads(store.get_bytes(release["dataset_info"]))
    shard = info["splits"]["train"]["shards"][0]
    original = shard["filename"]
    shard["filename"] = evil
    release["dataset_info"] = store.add_bytes(json.dumps(info).encode()).oid
    release["files"] = [dict(f, path=evil) if f["path"] == original else f for f in release["files"]]
    overwrite_ref(store, ref, json.dumps(release).encode())

    new_machine(tmp_path, monkeypatch, lab_home)
    with caplog.at_level(logging.WARNING):
        got = labdatasets.load("toy_escape", split="train", format="arrow").to_pydict()
    assert got == good  # built from the pins instead
    assert not [p for p in tmp_path.rglob(f"escape-{tag}*")], "a release record wrote outside its folder"
    assert "refused" in caplog.text and "toy_escape:1.0.0" in caplog.text


def test_a_release_with_other_rows_is_never_served(cache_uri, make_builder, lab_home, tmp_path, monkeypatch, caplog):
    store, ref, release, good = published_toy("toy_swap", make_builder, lab_home)
    info = json.loads(store.get_bytes(release["dataset_info"]))
    shard = info["splits"]["train"]["shards"][0]
    table = pq.read_table(io.BytesIO(store.get_bytes(shard["sha256"])))
    forged = table.set_column(1, "value", pc.negate(table["value"]))  # same ids, same count, other values
    sink = io.BytesIO()
    pq.write_table(forged, sink)
    added = store.add_bytes(sink.getvalue())
    old = shard["sha256"]
    shard.update(sha256=added.oid, num_bytes=added.size)
    release["dataset_info"] = store.add_bytes(json.dumps(info).encode()).oid
    release["files"] = [dict(f, oid=added.oid, size=added.size) if f["oid"] == old else f for f in release["files"]]
    overwrite_ref(store, ref, json.dumps(release).encode())  # snapshot id and code fingerprint unchanged

    new_machine(tmp_path, monkeypatch, lab_home)
    with caplog.at_level(logging.WARNING):
        got = labdatasets.load("toy_swap", split="train", format="arrow").to_pydict()
    assert got == good
    assert "output record" in caplog.text


def test_a_version_without_a_committed_output_record_is_not_taken_from_the_cache(
    cache_uri, make_builder, lab_home, tmp_path, monkeypatch, caplog
):
    store, ref, release, good = published_toy("toy_unvouched", make_builder, lab_home)
    lock = lab_home / "pins" / "toy_unvouched" / "1.0.0.lock.json"
    assert lock.is_file()  # publish wrote it (to be committed)
    lock.unlink()
    new_machine(tmp_path, monkeypatch, lab_home)
    with caplog.at_level(logging.INFO):
        got = labdatasets.load("toy_unvouched", split="train", format="arrow").to_pydict()
    assert got == good
    assert "no output record" in caplog.text  # it says why it built


NOISE = """

import numpy as np

_clean = tidy


def tidy(table):
    return _clean(table).set_column(1, "value", pa.array(np.random.default_rng().random(table.num_rows), pa.float32()))
"""


def test_a_build_elsewhere_that_differs_from_the_committed_record_is_never_kept(
    cache_uri, make_builder, lab_home, tmp_path, monkeypatch, capsys
):
    write_tabular(make_builder, "toy_elsewhere", version="1.0.0", extra=NOISE)  # not reproducible
    assert main(["lock", "toy_elsewhere", "--quiet"]) == 0
    lock_path = lab_home / "pins" / "toy_elsewhere" / "1.0.0.lock.json"
    committed = lock_path.read_text()

    home = new_machine(tmp_path, monkeypatch, lab_home)  # builds other random values
    with pytest.raises(PreparedDataError, match=r"other data than its output record .*1\.0\.0\.lock\.json"):
        labdatasets.load("toy_elsewhere", split="train")
    assert not (home / "prepared" / "toy_elsewhere" / "1.0.0").exists()  # never kept, never served
    assert main(["publish", "toy_elsewhere", "--quiet"]) != 0
    assert "1.0.0.lock.json" in capsys.readouterr().err
    assert open_store(cache_uri).get_ref("prepared/toy_elsewhere/1.0.0.json") is None
    assert lock_path.read_text() == committed  # nothing rewrites a committed record
