"""``verify`` on a prepared version made once per session (no Beam): what it finds, says and repairs.

Each test damages its own copy (:mod:`tests.prepared.world`) of one pinned, prepared,
locked and published version: a flipped byte (same length), a missing or edited file,
a renamed column, a damaged snapshot object or archived code copy. Whatever the
damage, ``verify`` reports it by file, ``repair`` puts back the committed bytes
without touching the good files, and nothing damaged is served.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys

import pyarrow.parquet as pq
import pytest

import labdatasets
from labdatasets.cli import main
from labdatasets.errors import PreparedDataError, SnapshotNotFoundError
from labdatasets.prepared.verify import VerifyReport, rebuild_and_compare, repair_prepared, verify
from tests.faults._tamper import flip, offset_of
from tests.prepared.world import NAME

FULL = f"{NAME}:1.0.0"
FETCHED = "fetched again from the shared cache or rebuilt from the pins"


def object_path(home, oid: str, store: str = "store"):
    """Where a file:// store keeps ``oid``: ``<home>/store/objects/ab/cdef...`` (``store=""``: ``home`` is the store)."""
    return home / store / "objects" / oid[:2] / oid[2:]


def damage(path, data: bytes | None = None) -> None:
    """Flip the first byte of ``path`` (same length), or write ``data`` there."""
    os.chmod(path, 0o644)
    if data is None:
        raw = bytearray(path.read_bytes())
        raw[0] ^= 0xFF
        data = bytes(raw)
    path.write_bytes(data)


def snapshot(directory) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def rows(split: str = "train") -> dict:
    return labdatasets.builder(NAME).as_dataset(split=split).to_arrow().to_pydict()


def test_an_intact_version_verifies_clean_and_counts_what_it_checked(world):
    b = world.builder()
    record = b.require_pin_record()
    report = verify(b, progress=False)
    objects = sum(len(p.objects) for p in record.sources.values()) + len(record.code_files)
    assert (report.problems, report.repaired, report.notes) == ([], [], [])
    assert report.ok and report.name == FULL
    assert report.objects_checked == objects == 2  # the CSV and the builder module
    assert report.files_checked == 3  # two shards and dataset_info.json
    assert report.rebuilt == {}


def test_verify_report_is_ok_only_without_problems():
    assert VerifyReport("x:1.0.0").ok
    assert VerifyReport("x:1.0.0", repaired=["a"], notes=["b"]).ok
    assert not VerifyReport("x:1.0.0", problems=["a"]).ok


def test_same_length_corruption_of_a_shard_is_found_named_and_never_served(world, capsys):
    b = world.builder()
    shard = world.shard()
    size = shard.stat().st_size
    flip(shard, offset_of(shard, "data_page"))
    assert shard.stat().st_size == size

    report = verify(b, progress=False)
    assert report.problems == [f"prepared file {shard.name}: corrupted"] and not report.ok
    assert report.repaired == [] and report.files_checked == 3
    with pytest.raises(PreparedDataError, match=shard.name):
        rows()
    assert main(["verify", NAME, "--quiet"]) == 1
    out = capsys.readouterr().out
    assert FULL in out and f"{shard.name}: corrupted" in out and "--repair" in out
    assert verify(b, progress=False).problems == report.problems  # a check changes nothing
    assert rows("test")  # the other split is still served


@pytest.mark.parametrize("damage_kind", ["flipped", "missing", "renamed_column"])
def test_repair_fetches_the_committed_bytes_and_keeps_the_good_files(damage_kind, world):
    world.use_cache()
    b = world.builder()
    shard = world.shard()
    before = snapshot(b.prepared_dir)
    good = rows()
    if damage_kind == "flipped":
        flip(shard, offset_of(shard, "footer"))
        what = "corrupted"
    elif damage_kind == "missing":
        shard.unlink()
        what = "missing"
    else:
        table = pq.read_table(shard)
        os.chmod(shard, 0o644)
        pq.write_table(table.rename_columns(["id", "value", "label", "txt", "value_x2"]), shard)
        what = "corrupted"
    test_shard = world.shard("test")
    test_inode = test_shard.stat().st_ino

    report = verify(b, repair=True, progress=False)
    assert report.problems == [] and report.ok
    assert report.repaired == [f"prepared file {shard.name}: {what}; {FETCHED}"]
    assert snapshot(b.prepared_dir) == before
    assert verify(world.builder(), progress=False).ok
    assert rows() == good
    assert test_shard.stat().st_ino != test_inode  # the folder was replaced as a whole, by a verified one


def test_a_renamed_column_with_a_matching_dataset_info_is_caught_by_the_output_record(world):
    """Someone rewrites a shard and its sha256 and size in dataset_info.json: the committed rows decide."""
    b = world.builder()
    shard = world.shard()
    table = pq.read_table(shard)
    os.chmod(shard, 0o644)
    pq.write_table(table.rename_columns(["id", "value", "label", "txt", "value_x2"]), shard)
    from labdatasets.stores.hashing import sha256_file

    info_path = b.prepared_dir / "dataset_info.json"
    os.chmod(info_path, 0o644)
    data = json.loads(info_path.read_text())
    entry = data["splits"]["train"]["shards"][0]
    entry.update(sha256=sha256_file(shard), num_bytes=shard.stat().st_size)
    info_path.write_text(json.dumps(data, indent=2))

    report = verify(b, progress=False)
    assert not report.ok
    assert any(p.startswith("split 'train': its rows have fingerprint") for p in report.problems), report.problems


def test_an_unreadable_dataset_info_is_a_problem_and_is_repaired(world):
    b = world.builder()
    info_path = b.prepared_dir / "dataset_info.json"
    good = info_path.read_bytes()
    damage(info_path, b"{not json")
    report = verify(b, progress=False)
    with pytest.raises(PreparedDataError) as unreadable:
        world.builder().prepared_info()
    assert report.problems == [f"dataset_info.json: {unreadable.value}"]
    assert report.files_checked == 0  # nothing could be listed

    world.use_cache()
    report = verify(world.builder(), repair=True, progress=False)
    assert report.ok and len(report.repaired) == 1
    assert report.repaired[0].startswith("dataset_info.json: ") and report.repaired[0].endswith(FETCHED)
    assert info_path.read_bytes() == good


def test_an_edited_row_count_is_a_problem(world):
    b = world.builder()
    info_path = b.prepared_dir / "dataset_info.json"
    os.chmod(info_path, 0o644)
    data = json.loads(info_path.read_text())
    data["splits"]["train"]["num_rows"] -= 1
    info_path.write_text(json.dumps(data))
    report = verify(b, progress=False)
    assert not report.ok and any("dataset_info.json" in p for p in report.problems)


def test_a_version_not_prepared_here_is_a_note_not_a_problem(world):
    b = world.builder()
    shutil.rmtree(b.prepared_dir)
    report = verify(b, progress=False)
    assert report.ok and report.problems == []
    assert report.notes == [f"not prepared in {b.data_dir}"]
    assert report.files_checked == 0 and report.objects_checked == 2
    repaired = verify(b, repair=True, progress=False)  # nothing to repair: nothing is fetched or built
    assert repaired.repaired == [] and not b.prepared_dir.exists()


def source_object(world):
    record = world.builder().require_pin_record()
    (obj,) = record.sources["rows"].objects
    return obj, f"source 'rows' object {obj.path!r} ({obj.oid[:12]})"


def test_a_corrupted_snapshot_object_is_found_quarantined_and_fetched_again(world):
    obj, label = source_object(world)
    path = object_path(world.home, obj.oid)
    good = path.read_bytes()
    damage(path)
    b = world.builder()
    report = verify(b, progress=False)
    assert report.problems == [f"{label}: corrupted"]
    assert report.objects_checked == 2

    report = verify(b, repair=True, progress=False)
    assert report.problems == [] and report.repaired == [f"{label}: corrupted, fetched a verified copy"]
    assert path.read_bytes() == good  # from the pinned local file, which still hashes to the oid
    (kept,) = (world.home / "store" / "quarantine").iterdir()
    assert kept.name.startswith(obj.oid) and kept.read_bytes() != good  # the damaged bytes are kept aside
    assert verify(b, progress=False).ok


def test_a_missing_snapshot_object_is_fetched_again_from_its_source(world):
    obj, label = source_object(world)
    path = object_path(world.home, obj.oid)
    good = path.read_bytes()
    os.chmod(path, 0o644)
    path.unlink()
    b = world.builder()
    report = verify(b, progress=False)
    assert report.problems == [f"{label}: missing"] and report.repaired == []

    report = verify(b, repair=True, progress=False)
    assert report.problems == [] and report.repaired == [f"{label}: missing, fetched a verified copy"]
    assert path.read_bytes() == good
    assert not (world.home / "store" / "quarantine").exists()  # nothing damaged to keep aside


def test_an_object_that_cannot_be_fetched_again_stays_a_problem(world):
    obj, label = source_object(world)
    path = object_path(world.home, obj.oid)
    damage(path)
    source = type(world.builder()).module_dir() / "data" / "rows.csv"
    original = source.read_bytes()
    try:
        source.write_bytes(original + b"999,9.5,neg,changed since the pin\n")  # the source moved on
        report = verify(world.builder(), repair=True, progress=False)
    finally:
        source.write_bytes(original)
    assert report.repaired == []
    (problem,) = report.problems
    assert problem.startswith(f"{label}: corrupted and could not be repaired: Snapshot object {obj.oid[:12]} ({FULL} {label}) ")
    assert "its local source no longer holds the pinned bytes" in problem


def test_an_object_only_in_the_configured_store_is_a_note(world, tmp_path, monkeypatch):
    """A separate snapshot store: an object not cached on this machine is fine; one in neither is missing."""
    primary = tmp_path / "primary"
    shutil.copytree(world.home / "store", primary)
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"file://{primary}")
    obj, label = source_object(world)
    path = object_path(world.home, obj.oid)
    os.chmod(path, 0o644)
    path.unlink()
    report = verify(world.builder(), progress=False)
    assert report.ok and report.notes == [f"{label}: not cached on this machine; it is in file://{primary}"]

    gone = object_path(primary, obj.oid, store="")
    os.chmod(gone, 0o644)
    gone.unlink()
    report = verify(world.builder(), progress=False)
    assert report.problems == [f"{label}: missing"] and report.notes == []


def no_bucket_message(bucket: str, uri: str) -> str:
    return (
        f"The snapshot store's bucket '{bucket}' does not exist ({uri}). Create the bucket, or correct the store's "
        "URI (LABDATASETS_SNAPSHOT_STORE, or LABDATASETS_SHARED_CACHE for the shared prepared cache)."
    )


@pytest.mark.parametrize("repair", [False, True])
def test_a_missing_bucket_is_reported_once_not_each_object_as_missing(repair, world, s3_env, monkeypatch):
    """The configured store's bucket does not exist (moto's server): one cause, said once, with what to do."""
    import uuid

    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"s3://{bucket}/lab")
    record = world.builder().require_pin_record()
    oids = [o.oid for p in record.sources.values() for o in p.objects] + [f.oid for f in record.code_files]
    for oid in oids:  # neither object is cached on this machine: both are asked of the store
        os.chmod(object_path(world.home, oid), 0o644)
        object_path(world.home, oid).unlink()
    report = verify(world.builder(), repair=repair, progress=False)
    assert report.problems == [no_bucket_message(bucket, f"s3://{bucket}/lab")]
    assert (report.repaired, report.notes, report.objects_checked) == ([], [], 2)
    assert not report.ok


def test_a_corrupted_object_that_cannot_be_repaired_from_a_missing_bucket_says_why_once(world, s3_env, monkeypatch):
    import uuid

    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"s3://{bucket}/lab")
    record = world.builder().require_pin_record()
    labels = []
    for entry in record.code_files:
        labels.append(f"code file {entry.path!r} ({entry.oid[:12]})")
        damage(object_path(world.home, entry.oid))
    for obj in record.sources["rows"].objects:
        labels.append(f"source 'rows' object {obj.path!r} ({obj.oid[:12]})")
        damage(object_path(world.home, obj.oid))
    report = verify(world.builder(), progress=False)
    assert sorted(report.problems) == sorted(f"{label}: corrupted" for label in labels)  # the store is not asked

    report = verify(world.builder(), repair=True, progress=False)
    assert report.problems[0] == no_bucket_message(bucket, f"s3://{bucket}/lab")
    assert sorted(report.problems[1:]) == sorted(
        f"{label}: corrupted and could not be repaired: the snapshot store's bucket does not exist" for label in labels
    )
    assert report.repaired == []


def test_a_damaged_code_object_is_named_and_repaired_from_the_builder_folder(world):
    record = world.builder().require_pin_record()
    (entry,) = record.code_files
    label = f"code file {entry.path!r} ({entry.oid[:12]})"
    damage(object_path(world.home, entry.oid))
    assert verify(world.builder(), progress=False).problems == [f"{label}: corrupted"]
    report = verify(world.builder(), repair=True, progress=False)
    assert report.repaired == [f"{label}: corrupted, fetched a verified copy"] and report.ok


def test_a_damaged_archived_code_copy_is_found_and_written_again(world):
    from labdatasets.pinning.pin import snapshots_for
    from labdatasets.processing.code import _materialize

    b = world.builder()
    record = b.require_pin_record()
    copy = _materialize(b, record, snapshots_for(b))  # what a build of a version whose code moved on writes
    (entry,) = record.code_files
    good = (copy / entry.path).read_bytes()
    damage(copy / entry.path, good + b"\nEVIL = 1\n")
    report = verify(b, progress=False)
    assert report.problems == [f"archived code copy {copy / entry.path}: changed since it was written (not the committed code)"]
    assert report.files_checked == 3 + 1

    report = verify(b, repair=True, progress=False)
    assert report.ok and report.repaired == [
        f"archived code copy {copy / entry.path}: changed since it was written (not the committed code); "
        "written again from the snapshot store"
    ]
    assert (copy / entry.path).read_bytes() == good


def test_an_archived_code_copy_that_cannot_be_written_again_stays_a_problem(world):
    from labdatasets.pinning.pin import snapshots_for
    from labdatasets.processing.code import _materialize

    b = world.builder()
    record = b.require_pin_record()
    copy = _materialize(b, record, snapshots_for(b))
    (entry,) = record.code_files
    damage(copy / entry.path, b"EVIL = 1\n")
    stored = object_path(world.home, entry.oid)
    damage(stored)  # the store's copy is damaged too, and the builder's own file no longer matches it
    module = type(b).module_dir() / entry.path
    original = module.read_bytes()
    try:
        module.write_bytes(original + b"\n# edited\n")
        report = verify(b, repair=True, progress=False)
    finally:
        module.write_bytes(original)
    label = f"code file {entry.path!r} ({entry.oid[:12]})"
    assert f"{label}: corrupted and could not be repaired: Snapshot object {entry.oid[:12]} ({FULL} {label}) " in "\n".join(
        report.problems
    )
    assert any(
        p.startswith(f"archived code copy {copy / entry.path}: changed") and "; could not be written again: " in p
        for p in report.problems
    ), report.problems


def test_a_version_without_a_pin_record_cannot_be_verified(world):
    b = world.builder()
    os.chmod(b.pin_record_path(), 0o644)
    b.pin_record_path().unlink()
    with pytest.raises(SnapshotNotFoundError, match=NAME):
        verify(world.builder(), progress=False)


def test_repair_prepared_takes_the_verified_release_from_the_shared_cache(world):
    world.use_cache()
    b = world.builder()
    before = snapshot(b.prepared_dir)
    info_before = b.prepared_info()
    damage(world.shard())
    assert b.info is not None  # cached on the builder: a repair must drop it
    path = repair_prepared(b, progress=False)
    assert path == b.prepared_dir and snapshot(path) == before
    assert "info" not in b.__dict__ or b.info.splits == info_before.splits



# ----------------------------------------------------------------------------- verify --rebuild
def test_the_recorded_fingerprints_come_from_the_prepared_data_else_the_shared_cache(world, tmp_path, monkeypatch):
    from labdatasets.prepared.shared_cache import published
    from labdatasets.prepared.verify import _recorded_fingerprints

    b = world.builder()
    fingerprints = {n: s.fingerprint for n, s in b.prepared_info().splits.items()}
    assert _recorded_fingerprints(b) == (fingerprints, f"the prepared data in {b.prepared_dir}")
    shutil.rmtree(b.prepared_dir)
    assert _recorded_fingerprints(world.builder()) is None
    world.use_cache()
    release = published(world.builder())
    assert _recorded_fingerprints(world.builder()) == (fingerprints, f"the shared cache ({release.published_at})")


def test_rebuild_with_nothing_recorded_says_so_without_building(world):
    b = world.builder()
    shutil.rmtree(b.prepared_dir)
    report = verify(b, rebuild=True, progress=False)
    assert report.problems == [
        f"nothing recorded to compare a rebuild with: {FULL} is neither prepared here nor published in the shared "
        "cache (build or load it first)"
    ]
    assert report.rebuilt == {} and not b.prepared_dir.exists()
    alone = rebuild_and_compare(world.builder())
    assert alone.name == FULL and alone.problems == report.problems


@pytest.mark.slow  # imports Beam (its pipeline options)
def test_rebuild_uses_the_options_it_is_given(world):
    from labdatasets.errors import ConfigError
    from labdatasets.processing.options import BuildOptions

    remote = BuildOptions.of({"runner": "DataflowRunner"})
    with pytest.raises(ConfigError, match="remote runner needs a place its workers can write to"):
        verify(world.builder(), rebuild=True, options=remote, progress=False)
    assert verify(world.builder(), progress=False).ok  # the prepared data is untouched
    with pytest.raises(ConfigError, match="remote runner needs a place its workers can write to"):
        repair_prepared(world.builder(), remote, progress=False)  # no shared cache: it builds, with these options
    assert verify(world.builder(), progress=False).ok


@pytest.mark.slow
def test_rebuild_on_a_new_machine_compares_with_the_shared_cache_and_names_each_split(world, tmp_path, monkeypatch):
    """A machine with no home yet: pins from the repository, objects from the snapshot store, fingerprints
    from the shared cache. One recorded fingerprint is edited and one split is added: both are named."""
    from labdatasets.prepared.shared_cache import published
    from labdatasets.stores.base import ref_key

    world.use_cache()
    ref = world.shared / ref_key(f"prepared/{NAME}/1.0.0.json")
    data = json.loads(ref.read_text())
    good = dict(data["fingerprints"])
    del data["fingerprints"]["test"]
    data["fingerprints"]["validation"] = "1" * 64
    os.chmod(ref, 0o644)
    ref.write_text(json.dumps(data))
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(world.home / "pins"))
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"file://{world.home / 'store'}")
    home = tmp_path / "new-machine" / "home"
    monkeypatch.setenv("LABDATASETS_HOME", str(home))
    b = world.builder()
    release = published(b)
    monkeypatch.delenv("LABDATASETS_PROGRESS")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    report = rebuild_and_compare(b)  # progress shown by default
    assert f"build {FULL}" in terminal.getvalue()
    assert report.rebuilt == good
    where = f"the shared cache ({release.published_at})"
    assert report.problems == [
        f"rebuilt split 'test': fingerprint {good['test'][:16]} differs from missing recorded in {where}; the "
        "version is not reproducible here (compare the environment in its dataset_info.json with this machine's)",
        f"rebuilt split 'validation': fingerprint missing differs from {'1' * 16} recorded in {where}; the "
        "version is not reproducible here (compare the environment in its dataset_info.json with this machine's)",
    ]
    assert f"rebuilt split 'train': fingerprint {good['train'][:16]} matches {where}" in report.notes
    assert not b.prepared_dir.exists()  # the rebuild happened in a temporary folder, removed afterwards
    assert not [p for p in home.iterdir() if p.name.startswith("rebuild-")]


def test_a_pin_record_without_a_processing_fingerprint_still_has_its_code_objects_checked(world):
    """Records written before processing fingerprints existed name code files but no fingerprint: no copy to check."""
    world.pin_without_processing_fingerprint()
    record = world.builder().require_pin_record()
    assert record.code_files and record.code_fingerprint is None
    (entry,) = record.code_files
    damage(object_path(world.home, entry.oid))
    report = verify(world.builder(), progress=False)
    assert report.problems == [f"code file {entry.path!r} ({entry.oid[:12]}): corrupted"]
    assert report.objects_checked == 2 and report.files_checked == 3


def test_a_pinned_source_the_builder_no_longer_declares_is_checked_without_its_file(world):
    world.edit_builder('{"rows": loaders.LocalSource(', '{"renamed": loaders.LocalSource(')
    obj, label = source_object(world)
    assert verify(world.builder(), progress=False).ok
    path = object_path(world.home, obj.oid)
    os.chmod(path, 0o644)
    path.unlink()
    report = verify(world.builder(), repair=True, progress=False)  # nothing says where its bytes came from
    (problem,) = report.problems
    assert problem.startswith(f"{label}: missing and could not be repaired: ") and report.repaired == []


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("progress", [True, False, None])
def test_repair_shows_its_download_on_a_terminal_unless_told_not_to(progress, world, monkeypatch):
    world.use_cache()
    monkeypatch.delenv("LABDATASETS_PROGRESS")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    b = world.builder()
    damage(world.shard())
    if progress is None:
        repair_prepared(b)  # the default: shown
    else:
        repair_prepared(b, progress=progress)
    assert (f"download {FULL}" in terminal.getvalue()) is (progress is not False)
    assert verify(world.builder(), progress=False).ok


@pytest.mark.parametrize("progress", [True, False])
def test_verify_repair_passes_the_progress_switch_on(progress, world, monkeypatch):
    world.use_cache()
    monkeypatch.delenv("LABDATASETS_PROGRESS")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    damage(world.shard())
    assert verify(world.builder(), repair=True, progress=progress).ok
    assert (f"download {FULL}" in terminal.getvalue()) is progress


@pytest.mark.slow
def test_without_a_shared_cache_repair_rebuilds_from_the_pins(world, monkeypatch):
    """Beam: the rebuild holds the committed rows (maybe in other bytes); the builder forgets the old info."""
    from labdatasets.stores.hashing import sha256_file

    b = world.builder()
    good = rows()
    assert b.info.splits["train"].num_rows == len(good["id"])  # read, and kept by the builder
    flip(world.shard(), offset_of(world.shard(), "data_page"))
    monkeypatch.delenv("LABDATASETS_PROGRESS")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    report = verify(b, repair=True, progress=False)
    assert FULL not in terminal.getvalue()  # quiet, as asked
    assert report.ok and report.repaired == [f"prepared file {world.shard().name}: corrupted; {FETCHED}"]
    assert rows() == good
    # Beam writes other bytes for the same rows than this world's writer: the info must be the new one
    assert b.info.splits["train"].shards[0].sha256 == sha256_file(world.shard())
    assert verify(world.builder(), progress=False).ok


def test_a_repair_that_leaves_damage_behind_says_so(world):
    """The rebuild returned, yet the folder is still damaged (another process wrote it meanwhile): never reported repaired."""
    b = world.builder()
    shard = world.shard()
    flip(shard, offset_of(shard, "data_page"))
    b.build = lambda **kwargs: b.prepared_dir  # a build that changed nothing
    report = verify(b, repair=True, progress=False)
    assert report.repaired == [] and report.problems == [f"prepared file {shard.name}: corrupted; still damaged after a repair"]

    def build_that_removes(**kwargs):
        shutil.rmtree(b.prepared_dir)
        return b.prepared_dir

    b.build = build_that_removes
    report = verify(b, repair=True, progress=False)
    assert report.problems == ["not prepared; still damaged after a repair"]


def test_an_output_record_of_another_pin_record_stops_verify(world):
    """The pin record was edited after the output record was written: the committed records disagree."""
    from labdatasets.pinning.outputs import OutputRecordError

    path = world.builder().pin_record_path()
    os.chmod(path, 0o644)
    data = json.loads(path.read_text())
    data["pinned_at"] = "2000-01-01T00:00:00Z"
    path.write_text(json.dumps(data, indent=2))
    with pytest.raises(OutputRecordError):
        verify(world.builder(), progress=False)
    shutil.rmtree(world.builder().prepared_dir)  # nothing prepared here: the committed records still must agree
    with pytest.raises(OutputRecordError):
        verify(world.builder(), progress=False)


def test_a_repair_from_the_cache_leaves_the_builder_with_the_new_info(world):
    """The cache holds the committed rows in other bytes (another pyarrow): the builder's info is the downloaded one."""
    from labdatasets.stores import open_store
    from labdatasets.stores.base import ref_key
    from labdatasets.stores.hashing import sha256_file

    world.use_cache()
    store = open_store(world.cache_uri)
    ref = world.shared / ref_key(f"prepared/{NAME}/1.0.0.json")
    release = json.loads(ref.read_text())
    info = json.loads(store.get_bytes(release["dataset_info"]))
    entry = info["splits"]["train"]["shards"][0]
    sink = io.BytesIO()
    pq.write_table(pq.read_table(io.BytesIO(store.get_bytes(entry["sha256"]))), sink, compression="gzip")
    added = store.add_bytes(sink.getvalue())
    old = entry["sha256"]
    entry.update(sha256=added.oid, num_bytes=added.size)
    release["dataset_info"] = store.add_bytes(json.dumps(info).encode()).oid
    release["files"] = [dict(f, oid=added.oid, size=added.size) if f["oid"] == old else f for f in release["files"]]
    os.chmod(ref, 0o644)
    ref.write_text(json.dumps(release))

    b = world.builder()
    assert b.info.splits["train"].shards[0].sha256 == old  # read, and kept by the builder
    damage(world.shard())
    repair_prepared(b, progress=False)
    assert sha256_file(world.shard()) == added.oid
    assert b.info.splits["train"].shards[0].sha256 == added.oid
