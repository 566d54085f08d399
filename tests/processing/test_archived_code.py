"""Archived processing code, without a build: which builder builds a version, and the checked copy it is imported from.

``product_a:1.0.0`` must be rebuilt with the code it was pinned with, even after the builder
moved on. These tests call :mod:`labdatasets.processing.code` directly on a pinned toy
builder (a pin of a small CSV, no Beam), so each runs in milliseconds; the whole path
through ``load`` is covered by ``test_code.py`` and ``faults/test_tamper_code.py``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys

import pytest

import labdatasets
from labdatasets.errors import LabDatasetsError, ProcessingError
from labdatasets.pinning.pin import snapshots_for
from labdatasets.pinning.record import PinRecord
from labdatasets.processing import code
from labdatasets.stores.hashing import sha256_file
from tests.processing.test_code import write_tabular

LEAF = "{name}_dataset_builder.py"


@pytest.fixture(autouse=True)
def forget_archived_modules():
    """Each test imports archived code as a new Python process would: none imported yet."""
    yield
    for module in [m for m in sys.modules if m.startswith(code.ARCHIVE_PACKAGE_PREFIX)]:
        del sys.modules[module]


def moved_on(make_builder, name: str, *, helper: bool = False):
    """``name:1.0.0`` pinned with its code archived, then the builder moved on to 1.1.0 (other code)."""
    write_tabular(make_builder, name, version="1.0.0")
    if helper:
        (make_builder.root / name / "sub" / "deep").mkdir(parents=True)
        (make_builder.root / name / "sub" / "deep" / "helpers.py").write_text("SCALE = 1\n")
    record = labdatasets.builder(name).pin(progress=False)
    write_tabular(make_builder, name, version="1.1.0", supported=["1.0.0"], factor="3.0")
    old = labdatasets.builder(f"{name}:1.0.0")
    return old, record, snapshots_for(old)


def edited(record: PinRecord, change) -> PinRecord:
    """The record as a hand edit of its committed JSON would leave it."""
    data = json.loads(record.path.read_text())
    change(data)
    record.path.write_text(json.dumps(data, indent=2))
    return PinRecord.read(record.path)


def test_the_current_code_builds_its_own_version_and_its_files_reach_the_store(make_builder, lab_home):
    write_tabular(make_builder, "toy_arch_same", version="1.0.0")
    builder = labdatasets.builder("toy_arch_same")
    record = builder.pin(progress=False)
    store = snapshots_for(builder)
    assert record.code_files
    assert code.processing_builder(builder, record, store) is builder
    assert all(store.has(entry.oid) for entry in record.code_files)


def test_a_fresh_store_gets_the_pinned_code_from_the_checkout_when_it_still_matches(make_builder, lab_home, tmp_path, monkeypatch):
    write_tabular(make_builder, "toy_arch_fresh", version="1.0.0")
    builder = labdatasets.builder("toy_arch_fresh")
    record = builder.pin(progress=False)
    monkeypatch.setenv("LABDATASETS_HOME", str(tmp_path / "other-machine"))  # another machine: an empty store
    fresh = labdatasets.builder("toy_arch_fresh")
    store = snapshots_for(fresh)
    assert not any(store.has(entry.oid) for entry in record.code_files)
    code.ensure_code_archived(fresh, record, store)
    for entry in record.code_files:
        assert store.has(entry.oid)
        assert sha256_file(store.local_path(entry.oid, context="test")) == entry.oid


def test_the_newest_version_with_changed_code_builds_with_the_code_as_it_is_and_warns(make_builder, lab_home, caplog):
    write_tabular(make_builder, "toy_arch_newest", version="1.0.0")
    record = labdatasets.builder("toy_arch_newest").pin(progress=False)
    write_tabular(make_builder, "toy_arch_newest", version="1.0.0", factor="5.0")  # edited, VERSION not bumped
    builder = labdatasets.builder("toy_arch_newest")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="labdatasets"):
        assert code.processing_builder(builder, record, snapshots_for(builder)) is builder
    now = type(builder).code_fingerprint()
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"The processing code of toy_arch_newest:1.0.0 changed since it was pinned (pinned {record.code_fingerprint[:12]}, "
        f"now {now[:12]}); building it with the code as it is. 'labdatasets check' fails until VERSION is bumped and "
        "the new version pinned."
    ]
    assert code.expected_fingerprint(builder, record) == type(builder).code_fingerprint()


def test_an_older_version_is_built_by_its_archived_class(make_builder, lab_home):
    old, record, store = moved_on(make_builder, "toy_arch_old")
    current_cls = type(old)
    processing = code.processing_builder(old, record, store)
    archived = type(processing)
    assert archived is not current_cls and archived.name == current_cls.name
    assert archived.__module__ == f"{code.ARCHIVE_PACKAGE_PREFIX}{record.code_fingerprint[:16]}.toy_arch_old_dataset_builder"
    assert archived.code_fingerprint() == record.code_fingerprint == code.expected_fingerprint(old, record)
    assert str(processing.version) == "1.0.0" and processing.config_name == old.config_name
    assert processing.settings is old.settings
    assert archived.pins_root() == current_cls.pins_root()  # the same dataset's records
    assert labdatasets.builder("toy_arch_old").__class__ is current_cls  # the registry keeps today's builder
    root = lab_home / "code" / record.code_fingerprint
    assert (root / LEAF.format(name="toy_arch_old")).is_file() and (root / ".complete").is_file()
    assert not list(root.rglob("*.pyc")), "bytecode beside the checked copy would be imported unchecked later"
    assert code.processing_builder(old, record, store).__class__ is archived  # imported once per process


def test_a_helper_module_in_a_subfolder_is_archived_and_copied_with_the_builder(make_builder, lab_home):
    old, record, store = moved_on(make_builder, "toy_arch_helper", helper=True)
    assert {entry.path for entry in record.code_files} == {"sub/deep/helpers.py", LEAF.format(name="toy_arch_helper")}
    root = code._materialize(old, record, store)
    helper = root / "sub" / "deep" / "helpers.py"
    assert helper.read_text() == "SCALE = 1\n"
    helper.write_text("SCALE = 2\n")
    assert code.copy_problems(root, record) == [
        f"archived code copy {helper}: changed since it was written (not the committed code)"
    ]


def test_an_older_version_without_archived_code_names_the_ways_out(make_builder, lab_home):
    old, record, store = moved_on(make_builder, "toy_arch_nocode")
    record = edited(record, lambda data: data.update(code_files=[]))
    with pytest.raises(ProcessingError) as info:
        code.processing_builder(old, record, store)
    now = type(labdatasets.builder("toy_arch_nocode")).code_fingerprint()
    assert str(info.value) == (
        f"toy_arch_nocode:1.0.0 was pinned with processing code {record.code_fingerprint[:12]}, and the builder's code "
        f"has changed since (now {now[:12]}). Its pin record keeps no copy of that code, so it cannot be rebuilt "
        "exactly: load it from the shared cache (set LABDATASETS_SHARED_CACHE), or check out the commit that released it."
    )


def test_the_copy_is_checked_every_time_and_written_again_when_edited(make_builder, lab_home, caplog):
    old, record, store = moved_on(make_builder, "toy_arch_copy")
    root = code._materialize(old, record, store)
    assert root == code.code_copy_dir(old, record) == lab_home / "code" / record.code_fingerprint
    leaf = root / LEAF.format(name="toy_arch_copy")
    good = leaf.read_bytes()

    assert code._materialize(old, record, store) == root  # an intact copy is kept as it is
    assert code.copy_problems(root, record) == []

    leaf.write_bytes(good + b"\n# edited on disk\n")
    (root / "stray.py").write_text("x = 1\n")
    (root / "__pycache__").mkdir()
    problems = code.copy_problems(root, record)
    assert any(str(leaf) in p and "changed since it was written" in p for p in problems)
    assert any("stray.py" in p and "not in the pin record's code_files" in p for p in problems)
    with caplog.at_level(logging.WARNING, logger="labdatasets"):
        assert code._materialize(old, record, store) == root
    assert "not the committed code" in caplog.text and "toy_arch_copy:1.0.0" in caplog.text
    assert leaf.read_bytes() == good and not (root / "stray.py").exists() and not (root / "__pycache__").exists()
    assert [p.name for p in root.parent.iterdir()] == [root.name], "no .replaced or .incomplete folder is left"

    leaf.unlink()
    assert code.copy_problems(root, record) == [f"archived code copy {leaf}: missing"]
    code._materialize(old, record, store)
    assert leaf.read_bytes() == good


def test_a_copy_with_a_stray_python_file_is_not_the_committed_code(make_builder, lab_home):
    old, record, store = moved_on(make_builder, "toy_arch_stray")
    root = code._materialize(old, record, store)
    (root / "sub").mkdir()
    (root / "sub" / "extra.py").write_text("x = 1\n")
    (root / "notes.txt").write_text("not code\n")
    assert code.copy_problems(root, record) == [f"archived code copy {root / 'sub' / 'extra.py'}: not in the pin record's code_files"]


def test_an_archived_file_missing_from_every_store_says_where_to_point(make_builder, lab_home):
    old, record, store = moved_on(make_builder, "toy_arch_gone")
    missing = record.code_files[0]
    object_path = store.local_path(missing.oid, context="test")
    object_path.chmod(0o644)
    object_path.unlink()
    with pytest.raises(ProcessingError) as info:
        code._materialize(old, record, store)
    message = str(info.value)
    assert message.startswith(
        f"toy_arch_gone:1.0.0 must be rebuilt with the processing code it was released with "
        f"({record.code_fingerprint[:12]}), but its file {missing.path!r} is in neither the snapshot store nor the "
        "shared cache. Point LABDATASETS_SNAPSHOT_STORE at the lab's store, or set LABDATASETS_SHARED_CACHE to load "
        f"its published data. (Snapshot object {missing.oid[:12]} (toy_arch_gone:1.0.0 archived code file {missing.path!r})"
    ), message
    assert not (lab_home / "code").exists() or not any((lab_home / "code").iterdir()), "nothing half-written is left"


def test_files_that_do_not_add_up_to_the_pinned_fingerprint_mean_an_edited_record(make_builder, lab_home):
    old, record, store = moved_on(make_builder, "toy_arch_sum")
    record = edited(record, lambda data: data.update(code_fingerprint="ab" * 32))
    with pytest.raises(ProcessingError) as info:
        code._materialize(old, record, store)
    assert str(info.value) == (
        "The archived code files of toy_arch_sum:1.0.0 do not add up to its pinned code fingerprint abababababab; "
        "its pin record was edited. Restore it from git."
    )
    assert not any((lab_home / "code").iterdir()), "the failed copy is removed"


def pinned_as_code(record: PinRecord, store, folder, paths: list[str]) -> tuple[PinRecord, str]:
    """``record`` as if ``paths`` (under ``folder``) had been archived as its code; and their fingerprint."""
    entries = []
    for rel in paths:
        info = store.add_file(folder / rel)
        entries.append({"path": rel, "oid": info.oid, "size": info.size})
    fingerprint = code.fingerprint_code(folder, paths)
    return edited(record, lambda data: data.update(code_files=entries, code_fingerprint=fingerprint)), fingerprint


@pytest.mark.parametrize("fingerprint", ["../../etc", "AB" * 32, "ab" * 31])
def test_a_bad_code_fingerprint_is_refused_before_a_folder_is_named(fingerprint, make_builder, lab_home):
    old, record, _ = moved_on(make_builder, "toy_arch_fp")
    with pytest.raises(LabDatasetsError, match="restore it from git"):
        edited(record, lambda data: data.update(code_fingerprint=fingerprint))  # reading the record refuses it
    forged = dataclasses.replace(record, code_fingerprint=fingerprint)  # and so does the copy's folder name
    with pytest.raises(LabDatasetsError) as info:
        code.code_copy_dir(old, forged)
    assert f"Pin record {record.path} " in str(info.value) and repr(fingerprint) in str(info.value)
    assert not (lab_home / "code").exists()


def test_archived_code_without_the_builder_class_is_refused(make_builder, lab_home):
    old, record, store = moved_on(make_builder, "toy_arch_class")
    root = code._materialize(old, record, store)
    (root / "__init__.py").write_text("")  # an archived package with an __init__.py is imported through it
    leaf = root / LEAF.format(name="toy_arch_class")
    leaf.write_text("X = 1\n")
    record, fingerprint = pinned_as_code(record, store, root, [e.path for e in record.code_files] + ["__init__.py"])
    with pytest.raises(ProcessingError) as info:
        code.load_archived_builder(old, record, store)
    copy = lab_home / "code" / fingerprint
    assert str(info.value) == (
        f"The archived code of toy_arch_class:1.0.0 ({copy}) defines no builder class 'Builder' named 'toy_arch_class'."
    )
    package = sys.modules[f"{code.ARCHIVE_PACKAGE_PREFIX}{fingerprint[:16]}"]
    assert package.__file__ == str(copy / "__init__.py")  # the folder's own __init__.py made the package


def test_archived_code_that_no_longer_imports_is_a_clear_error(make_builder, lab_home):
    old, record, store = moved_on(make_builder, "toy_arch_import")
    tmp = lab_home / "edit"
    tmp.mkdir()
    leaf = tmp / LEAF.format(name="toy_arch_import")
    leaf.write_text("import labdatasets_module_that_is_gone\n")
    record, fingerprint = pinned_as_code(record, store, tmp, [leaf.name])
    with pytest.raises(ProcessingError) as error:
        code.load_archived_builder(old, record, store)
    root = lab_home / "code" / fingerprint
    assert str(error.value) == (
        f"The processing code toy_arch_import:1.0.0 was released with (archived in {root}) no longer imports: "
        "ModuleNotFoundError: No module named 'labdatasets_module_that_is_gone'. Load its published data from the "
        "shared cache, or rebuild it in an environment of that time."
    )


def test_is_newest_asks_the_builders_own_config(make_builder):
    source = '''
import labdatasets as lds
from labdatasets import features as F, loaders


class Builder(lds.DatasetBuilder):
    name = "toy_arch_configs"
    VERSION = "1.0.0"
    RELEASE_NOTES = {"1.0.0": "first", "2.0.0": "small", "1.5.0": "small"}
    BUILDER_CONFIGS = [
        lds.BuilderConfig("full", description="every row"),
        lds.BuilderConfig("small", description="fewer rows", version="2.0.0", supported_versions=["1.5.0"]),
    ]

    def _info(self):
        return lds.DatasetInfo(features=F.Features({"id": F.Value("int64")}), key="id")

    def _sources(self):
        return {"rows": loaders.LocalSource("rows.csv")}

    def _process(self, sources):
        return {"train": sources["rows"]}
'''
    make_builder.write("toy_arch_configs", source)
    assert code.is_newest(labdatasets.builder("toy_arch_configs/small:2.0.0"))
    assert not code.is_newest(labdatasets.builder("toy_arch_configs/small:1.5.0"))
    assert code.is_newest(labdatasets.builder("toy_arch_configs/full:1.0.0"))


def test_the_checked_copy_keeps_no_bytecode_and_logs_what_it_replaced(make_builder, lab_home, caplog):
    old, record, store = moved_on(make_builder, "toy_arch_log", helper=True)
    root = code._materialize(old, record, store)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"unchecked")
    assert code._materialize(old, record, store) == root
    assert not (root / "__pycache__").exists(), "bytecode is never trusted: it is removed even from an intact copy"

    for name in ["a.py", "b.py", "c.py"]:
        (root / name).write_text("")
    (root / "sub" / "deep" / "helpers.py").write_text("edited\n")
    problems = code.copy_problems(root, record)
    assert len(problems) == 4
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="labdatasets"):
        code._materialize(old, record, store)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"The archived code of toy_arch_log:1.0.0 in {root} is not the committed code ({'; '.join(problems[:3])}); "
        "writing it again from the snapshot store"
    ]


def test_a_half_written_copy_of_another_process_is_never_mixed_with_ours(make_builder, lab_home):
    old, record, store = moved_on(make_builder, "toy_arch_race")
    root = code.code_copy_dir(old, record)
    root.mkdir(parents=True)
    (root / "partial.py").write_text("")  # another process's folder, in place but not complete
    assert code._materialize(old, record, store) == root
    assert [p.name for p in root.parent.iterdir()] == [root.name], "our own copy was removed, not left beside it"


@pytest.mark.parametrize("path", ["../escape.py", "/abs/escape.py", "sub/../../escape.py"])
def test_a_forged_code_path_is_refused_before_anything_is_written(path, make_builder, lab_home):
    old, record, store = moved_on(make_builder, "toy_arch_path")
    entry = dataclasses.replace(record.code_files[0], path=path)
    forged = dataclasses.replace(record, code_files=(entry, *record.code_files[1:]))
    with pytest.raises(ProcessingError) as info:
        code._materialize(old, forged, store)
    assert str(info.value).startswith(f"Pin record {record.path} ")
    assert not (lab_home / "code").exists()


def test_a_forged_code_oid_is_refused_before_anything_is_written(make_builder, lab_home):
    old, record, store = moved_on(make_builder, "toy_arch_oid")
    entry = dataclasses.replace(record.code_files[0], oid="../../x")
    forged = dataclasses.replace(record, code_files=(entry, *record.code_files[1:]))
    with pytest.raises(ProcessingError) as info:
        code._materialize(old, forged, store)
    assert str(info.value).startswith(f"Pin record {record.path} ")
    assert not (lab_home / "code").exists()


def test_a_fresh_machine_whose_checkout_no_longer_matches_names_the_code_file(make_builder, lab_home, tmp_path, monkeypatch):
    write_tabular(make_builder, "toy_arch_drift", version="1.0.0")
    record = labdatasets.builder("toy_arch_drift").pin(progress=False)
    monkeypatch.setenv("LABDATASETS_HOME", str(tmp_path / "other-machine"))
    fresh = labdatasets.builder("toy_arch_drift")
    leaf = make_builder.root / "toy_arch_drift" / LEAF.format(name="toy_arch_drift")
    leaf.write_text(leaf.read_text() + "\n# edited after the pin\n")
    with pytest.raises(LabDatasetsError) as info:
        code.ensure_code_archived(fresh, record, snapshots_for(fresh))
    assert f"(toy_arch_drift:1.0.0 code file {leaf.name!r})" in str(info.value)


def test_processing_builder_puts_the_code_in_a_fresh_store(make_builder, lab_home, tmp_path, monkeypatch):
    write_tabular(make_builder, "toy_arch_fresh2", version="1.0.0")
    record = labdatasets.builder("toy_arch_fresh2").pin(progress=False)
    monkeypatch.setenv("LABDATASETS_HOME", str(tmp_path / "other-machine"))
    fresh = labdatasets.builder("toy_arch_fresh2")
    store = snapshots_for(fresh)
    assert code.processing_builder(fresh, record, store) is fresh
    assert all(store.has(entry.oid) for entry in record.code_files)


def test_an_old_version_pinned_under_a_later_versions_code_is_built_as_itself(make_builder, lab_home):
    write_tabular(make_builder, "toy_arch_ver", version="1.1.0", supported=["1.0.0"])
    record = labdatasets.builder("toy_arch_ver:1.0.0").pin(progress=False)
    write_tabular(make_builder, "toy_arch_ver", version="1.2.0", supported=["1.1.0", "1.0.0"], factor="3.0")
    old = labdatasets.builder("toy_arch_ver:1.0.0")
    processing = code.processing_builder(old, record, snapshots_for(old))
    assert type(processing) is not type(old) and str(processing.version) == "1.0.0"


def test_the_archived_builder_keeps_the_config(make_builder, lab_home):
    configs = (
        "\nBuilder.BUILDER_CONFIGS = [lds.BuilderConfig('full', description='all rows'), "
        "lds.BuilderConfig('half', description='the same rows')]\n"
    )
    write_tabular(make_builder, "toy_arch_cfg", version="1.0.0", extra=configs)
    record = labdatasets.builder("toy_arch_cfg/half:1.0.0").pin(progress=False)
    write_tabular(make_builder, "toy_arch_cfg", version="1.1.0", supported=["1.0.0"], factor="3.0", extra=configs)
    old = labdatasets.builder("toy_arch_cfg/half:1.0.0")
    processing = code.processing_builder(old, record, snapshots_for(old))
    assert type(processing) is not type(old) and processing.config_name == "half"
