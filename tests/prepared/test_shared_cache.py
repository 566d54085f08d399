"""The shared prepared cache: publish once, load verified elsewhere, fall back to building."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import labdatasets
from labdatasets import registry
from labdatasets.processing import build
from labdatasets.cli import main
from labdatasets.errors import ConfigError, PreparedDataError
from labdatasets.prepared.shared_cache import publish, published
from tests.processing.test_code import PRODUCT_A, moved_on_product_a, write_tabular

pytestmark = pytest.mark.slow


@pytest.fixture
def shared(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "shared-cache"
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{path}")
    return path


def new_machine(tmp_path: Path, monkeypatch, lab_home: Path, name: str = "machine-b") -> Path:
    """Another machine: its own home (empty store, nothing prepared), the same pin records."""
    home = tmp_path / name
    monkeypatch.setenv("LABDATASETS_HOME", str(home))
    if not os.environ.get("LABDATASETS_PINS_DIR"):
        monkeypatch.setenv("LABDATASETS_PINS_DIR", str(lab_home / "pins"))
    return home


def no_build(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("this load must not build")

    monkeypatch.setattr(build, "_build_locked", refuse)


def fingerprints(info) -> dict[str, str]:
    return {n: s.fingerprint for n, s in info.splits.items()}


def test_publish_then_load_elsewhere_downloads_verified_data_without_beam(shared, lab_home, tmp_path, subprocess_env, capsys):
    assert main(["publish", "product_a:1.2.0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"published product_a:1.2.0 to file://{shared}" in out and "train" in out
    assert main(["publish", "product_a:1.2.0", "--quiet"]) == 0
    again = capsys.readouterr().out
    assert "product_a:1.2.0 was already published" in again and "nothing changed" in again
    release = published(labdatasets.builder("product_a:1.2.0"))
    assert release is not None and len(release.files) == 2
    assert sorted(p.relative_to(shared).as_posix() for p in (shared / "refs").rglob("*.json")) == [
        "refs/prepared/product_a/1.2.0.json"
    ]

    env = dict(subprocess_env, LABDATASETS_HOME=str(tmp_path / "machine-b"), LABDATASETS_PROGRESS="1")
    code = textwrap.dedent(
        """
        import json, sys, labdatasets
        data, info = labdatasets.load("product_a:1.2.0", with_info=True)
        print(json.dumps({"rows": info.num_rows, "fps": {n: s.fingerprint for n, s in info.splits.items()},
                          "beam": "apache_beam" in sys.modules}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"rows": 344, "fps": dict(release.fingerprints), "beam": False}
    assert "download product_a:1.2.0" in proc.stderr  # the progress bar


def test_an_old_version_is_served_from_the_shared_cache_after_the_builder_moved_on(
    restore_product_a, shared, pins_copy, lab_home, tmp_path, monkeypatch, make_builder
):
    original = registry.builder_cls("product_a")
    publish(labdatasets.builder("product_a:1.0.0"), progress=False)
    make_builder.write(
        "product_a",
        moved_on_product_a(),
        {"data/penguins_raw_2007_2009.csv": (PRODUCT_A / "data" / "penguins_raw_2007_2009.csv").read_bytes()},
    )
    new_machine(tmp_path, monkeypatch, lab_home)  # an empty store: 1.0.0's code and data are only in the cache
    no_build(monkeypatch)
    data, info = labdatasets.load("product_a:1.0.0", with_info=True)
    assert info.num_rows == 224 and "delta_15n" not in data["train"].column_names
    assert info.code_fingerprint == original.code_fingerprint() != registry.builder_cls("product_a").code_fingerprint()


def test_a_corrupted_shared_object_is_never_used_and_the_version_is_built(shared, lab_home, tmp_path, monkeypatch, make_builder, caplog):
    make_builder.tabular("toy_shared")
    result = publish(labdatasets.builder("toy_shared"), progress=False)
    assert result.created
    oid = result.release.files[0][1]
    obj = shared / "objects" / oid[:2] / oid[2:]
    os.chmod(obj, 0o644)
    obj.write_bytes(obj.read_bytes()[:-10] + b"0123456789")

    new_machine(tmp_path, monkeypatch, lab_home)
    with caplog.at_level(logging.WARNING, logger="labdatasets.prepared.shared_cache"):
        data, info = labdatasets.load("toy_shared", with_info=True)
    assert fingerprints(info) == dict(result.release.fingerprints)  # built from the pins instead
    assert "Could not use the shared cache for toy_shared:1.0.0" in caplog.text and "corrupted" in caplog.text


def test_a_release_of_other_processing_is_not_used(shared, lab_home, tmp_path, monkeypatch, make_builder, caplog):
    write_tabular(make_builder, "toy_dev", version="1.0.0")
    publish(labdatasets.builder("toy_dev"), progress=False)
    write_tabular(make_builder, "toy_dev", version="1.0.0", factor="3.0")  # working on the newest version
    new_machine(tmp_path, monkeypatch, lab_home)
    with caplog.at_level(logging.WARNING):
        df = labdatasets.load("toy_dev", split="train", format="pandas")
    assert (df["value_x2"] == 3 * df["value"].astype("float64")).all()
    assert "building it from the pins instead" in caplog.text
    with pytest.raises(PreparedDataError, match="its processing changed without a new VERSION, so it is not published"):
        publish(labdatasets.builder("toy_dev"), progress=False)


def test_publishing_other_content_for_a_published_version_is_refused(shared, lab_home, tmp_path, monkeypatch, make_builder):
    noise = '''

import numpy as np

_clean = tidy


def tidy(table):
    return _clean(table).set_column(1, "value", pa.array(np.random.default_rng().random(table.num_rows), pa.float32()))
'''
    write_tabular(make_builder, "toy_random", version="1.0.0", extra=noise)
    first = publish(labdatasets.builder("toy_random"), progress=False)
    new_machine(tmp_path, monkeypatch, lab_home)
    lock = lab_home / "pins" / "toy_random" / "1.0.0.lock.json"
    with pytest.raises(PreparedDataError, match="other data than its output record"):
        labdatasets.builder("toy_random").build()  # the committed record catches a build of other rows
    lock.unlink()  # without it, the release record is what stops it
    labdatasets.builder("toy_random").build()  # not from the cache: builds different random values
    with pytest.raises(PreparedDataError, match="already published .* with other content"):
        publish(labdatasets.builder("toy_random"), progress=False)
    assert published(labdatasets.builder("toy_random")) == first.release  # never overwritten
    assert not lock.exists()  # and no output record of the refused build


def test_publish_needs_a_shared_cache(make_builder):
    make_builder.tabular("toy_nocache")
    with pytest.raises(ConfigError, match="set LABDATASETS_SHARED_CACHE"):
        publish(labdatasets.builder("toy_nocache"), progress=False)


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_a_shared_cache_in_a_bucket(scheme, request, make_builder, lab_home, tmp_path, monkeypatch):
    bucket = request.getfixturevalue("s3_bucket" if scheme == "s3" else "gcs_bucket")
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"{scheme}://{bucket}/lab/prepared")
    make_builder.tabular("toy_bucket_cache")
    result = publish(labdatasets.builder("toy_bucket_cache"), progress=False)
    built = labdatasets.info("toy_bucket_cache")
    new_machine(tmp_path, monkeypatch, lab_home)
    no_build(monkeypatch)
    data, info = labdatasets.load("toy_bucket_cache", with_info=True)
    assert fingerprints(info) == fingerprints(built) and info.num_rows == 100
    assert result.created and result.cache_uri.startswith(f"{scheme}://")
    assert dict(published(labdatasets.builder("toy_bucket_cache")).fingerprints) == fingerprints(built)


def test_damaged_prepared_files_are_never_published(shared, make_builder):
    make_builder.tabular("toy_damaged_publish")
    b = labdatasets.builder("toy_damaged_publish")
    b.build(progress=False)
    shard = next(b.prepared_dir.glob("*-train-*.parquet"))
    shard.write_bytes(b"garbage")
    with pytest.raises(PreparedDataError) as info:
        publish(b, progress=False)
    message = str(info.value)
    assert f"prepared file {shard.name}: corrupted" in message and "nothing was published" in message
    assert "labdatasets verify --repair toy_damaged_publish:1.0.0" in message
    assert published(b) is None


@pytest.mark.parametrize("config, named", [("small", "digits/small:1.0.0"), (None, "digits:1.0.0")])
def test_a_refused_release_record_names_the_version_with_its_config(config, named):
    from labdatasets.errors import SnapshotError
    from labdatasets.prepared.shared_cache import RELEASE_FORMAT, Release

    data = {
        "release_format": RELEASE_FORMAT, "dataset": "digits", "config": config, "version": "1.0.0",
        "files": [{"path": "../../escape.parquet", "oid": "0" * 64, "size": 1}], "dataset_info": "0" * 64,
    }
    with pytest.raises(SnapshotError, match=f"The release record of {named} in the shared cache"):
        Release.from_json(data)
