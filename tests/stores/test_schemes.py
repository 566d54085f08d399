"""Which store serves which URI (labdatasets/stores/schemes.py)."""

from __future__ import annotations

import pytest

from labdatasets.errors import ConfigError, MissingDependencyError
from labdatasets.stores import LocalStore, known_stores, open_store, register_store, schemes


@pytest.fixture(autouse=True)
def registry():
    """Each test registers what it likes; the registry and the cache of opened stores are restored after it."""
    known, opened = dict(schemes._KNOWN), dict(schemes._opened)
    yield
    schemes._KNOWN.clear()
    schemes._KNOWN.update(known)
    schemes._opened.clear()
    schemes._opened.update(opened)


def test_the_built_in_schemes():
    assert dict(known_stores) == {
        "file": ("labdatasets.stores.local:LocalStore", None),
        "gs": ("labdatasets.stores.gcs:GCSStore", "gcs"),
        "s3": ("labdatasets.stores.s3:S3Store", "s3"),
    }
    with pytest.raises(TypeError):
        known_stores["ftp"] = ("x:Y", None)  # type: ignore[index]


def test_each_scheme_opens_its_store(tmp_path, s3_env, gcs_env):
    from labdatasets.stores.gcs import GCSStore
    from labdatasets.stores.s3 import S3Store

    local = open_store(f"file://{tmp_path / 'store'}")
    assert type(local) is LocalStore and local.root == tmp_path / "store"
    s3 = open_store("s3://bucket/lab/snapshots")
    assert type(s3) is S3Store and (s3.bucket, s3.prefix) == ("bucket", "lab/snapshots")
    gs = open_store("gs://bucket/lab")
    assert type(gs) is GCSStore and (gs.bucket_name, gs.prefix) == ("bucket", "lab")


def test_a_plain_path_is_a_local_store_at_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = open_store("rel/store")
    assert store.uri == f"file://{tmp_path / 'rel' / 'store'}" and store.root == tmp_path / "rel" / "store"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert open_store("~/snapshots").uri == f"file://{tmp_path / 'home' / 'snapshots'}"
    assert open_store(str(tmp_path / "a" / ".." / "b")).uri == f"file://{tmp_path / 'b'}"


def test_the_scheme_is_what_comes_before_the_first_separator(tmp_path):
    store = open_store(f"file://{tmp_path}/odd://name")
    assert type(store) is LocalStore and store.root == tmp_path / "odd:" / "name"


def test_a_store_is_opened_once_per_uri(tmp_path):
    first = open_store(f"file://{tmp_path / 'one'}")
    assert open_store(f"file://{tmp_path / 'one'}") is first
    assert open_store(str(tmp_path / "one")) is first  # the same store by its path
    assert open_store(f"file://{tmp_path / 'two'}") is not first


def test_an_unknown_scheme_fails_clearly_listing_the_known_ones():
    with pytest.raises(ConfigError) as info:
        open_store("ftp://host/store")
    assert str(info.value) == "No snapshot store for scheme 'ftp'; known schemes: file, gs, s3"
    assert "ftp://host/store" not in schemes._opened


def test_a_registered_scheme_opens_its_class(tmp_path):
    register_store("lab", "labdatasets.stores.local:LocalStore")
    assert known_stores["lab"] == ("labdatasets.stores.local:LocalStore", None)
    store = open_store(f"lab://{tmp_path / 'x'}")
    assert type(store) is LocalStore and store.uri == f"lab://{tmp_path / 'x'}"
    register_store("lab", "labdatasets.stores.local:LocalStore", extra="local")  # the same class again: fine
    assert known_stores["lab"] == ("labdatasets.stores.local:LocalStore", "local")


def test_a_scheme_is_not_taken_over_by_accident():
    with pytest.raises(ConfigError) as info:
        register_store("s3", "mylab.stores:MinioStore")
    assert str(info.value) == (
        "Cannot register mylab.stores:MinioStore for s3:// snapshot stores: that scheme is already served by "
        "labdatasets.stores.s3:S3Store. Pick another scheme, or pass clobber=True to replace the backend."
    )
    assert known_stores["s3"] == ("labdatasets.stores.s3:S3Store", "s3")
    register_store("s3", "mylab.stores:MinioStore", extra="minio", clobber=True)
    assert known_stores["s3"] == ("mylab.stores:MinioStore", "minio")


def test_a_backend_whose_sdk_is_missing_names_the_extra_to_install(tmp_path, monkeypatch):
    (tmp_path / "lab_broken_store.py").write_text("import lab_no_such_sdk_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    register_store("broken", "lab_broken_store:Store", extra="broken")
    with pytest.raises(MissingDependencyError) as info:
        open_store("broken://bucket/x")
    assert (info.value.package, info.value.extra) == ("lab_no_such_sdk_xyz", "broken")
    assert str(info.value).startswith("The broken:// snapshot store needs the optional package 'lab_no_such_sdk_xyz'")
    assert "pip install 'labdatasets[broken]'" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)


def test_a_missing_backend_without_an_extra_is_the_import_error_itself():
    register_store("mine", "lab_no_such_backend_xyz:Store")
    with pytest.raises(ModuleNotFoundError) as info:
        open_store("mine://x")
    assert not isinstance(info.value, MissingDependencyError) and info.value.name == "lab_no_such_backend_xyz"
