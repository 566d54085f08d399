"""``pin``: immutable pin records, never overwritten; what a failing source leaves behind; fetching pinned objects.

Pinning a small local CSV takes a fraction of a second: no Beam here.
"""

from __future__ import annotations

import io
import logging
import os
import sys

import pytest

import labdatasets
from labdatasets.errors import ConfigError, PinExistsError, SnapshotNotFoundError, SourceError, SourceNotFoundError
from labdatasets.pinning.pin import ensure_objects, pin_builder, pin_context, snapshots_for
from labdatasets.pinning.record import PinRecord
from labdatasets.stores.hashing import canonical_json
from tests.helpers import rows_csv, sample_rows

FAILING = '''
import threading

import labdatasets as lds
from labdatasets import features as F, loaders
from labdatasets.errors import ConfigError

STARTED, RELEASE = threading.Event(), threading.Event()


class Failing(loaders.LocalSource):
    """A local source whose pin fails the way ``how`` says."""

    def __init__(self, path, how):
        super().__init__(path)
        self.how = how

    def pin(self, ctx):
        if self.how == "crash":
            raise RuntimeError("socket closed by https://reader:s3cr3t@db.lab.example/rows")
        if self.how == "config":
            raise ConfigError("no connection named 'warehouse' in the config file")
        if self.how == "wait":  # a slow source: the pin holds its lock meanwhile
            STARTED.set()
            RELEASE.wait(60)
        return super().pin(ctx)


class Builder(lds.DatasetBuilder):
    """Pins two sources: a good one and one that fails."""

    name = {name!r}
    VERSION = "1.0.0"
    RELEASE_NOTES = {{"1.0.0": "first"}}
    PIN_INSTRUCTIONS = {instructions!r}

    def _info(self):
        return lds.DatasetInfo(features=F.Features({{"id": F.Value("int64")}}))

    def _sources(self):
        return {{"a_good": loaders.LocalSource("data/rows.csv"), "b_bad": Failing({bad_path!r}, {how!r})}}

    def _process(self, sources):
        raise NotImplementedError
'''


def failing(make_builder, name: str, how: str, *, instructions: str | None = None, bad_path: str = "data/rows.csv"):
    code = FAILING.format(name=name, how=how, instructions=instructions, bad_path=bad_path)
    return make_builder.write(name, code, {"data/rows.csv": rows_csv(sample_rows(5))})


def stored_objects(lab_home) -> set[str]:
    objects = lab_home / "store" / "objects"
    return {p.parent.name + p.name for p in objects.rglob("*") if p.is_file()} if objects.is_dir() else set()


def test_pin_writes_a_record_of_every_source_and_stores_its_manifests(make_builder, lab_home, caplog):
    make_builder.tabular("toy_pin", rows=sample_rows(10))
    b = labdatasets.builder("toy_pin")
    with caplog.at_level(logging.INFO):
        record = pin_builder(b, progress=False)
    assert "pinning toy_pin:1.0.0 source 'rows'" in [r.getMessage() for r in caplog.records]
    path = lab_home / "pins" / "toy_pin" / "1.0.0.json"
    assert record.path is not None and os.fspath(record.path) == os.fspath(path) and path.is_file()
    assert record == PinRecord.read(path)
    assert (record.dataset, record.config, record.version) == ("toy_pin", None, "1.0.0")
    assert sorted(record.sources) == ["rows"] and record.sources["rows"].kind == "local"
    assert record.code_fingerprint == type(b).code_fingerprint()
    assert record.labdatasets_version == labdatasets.__version__ and record.pinned_at
    assert [f.path for f in record.code_files] == ["toy_pin_dataset_builder.py"]
    assert record.snapshot_store is None  # a local store is this machine's business
    store = snapshots_for(b)
    (obj,) = record.sources["rows"].objects
    assert store.get_bytes(obj.oid) == (type(b).module_dir() / "data" / "rows.csv").read_bytes()
    manifest = store.add_bytes(canonical_json(record.sources["rows"].manifest()))
    assert not manifest.written  # pin stored it already
    assert not store.add_bytes(record.manifest_bytes()).written
    assert (
        f"Pin record written to {path} (this machine only). Copy it to the repository's snapshots/ and open a pull "
        "request so that everyone gets the same data."
    ) in [r.getMessage() for r in caplog.records]


def test_a_second_pin_never_overwrites_the_pinned_record(make_builder, lab_home):
    make_builder.tabular("toy_pin2", rows=sample_rows(10))
    b = labdatasets.builder("toy_pin2")
    first = pin_builder(b, progress=False)
    path = lab_home / "pins" / "toy_pin2" / "1.0.0.json"
    pinned = path.read_bytes()
    (type(b).module_dir() / "data" / "rows.csv").write_text(rows_csv(sample_rows(12)))  # the source moved on
    with pytest.raises(PinExistsError) as exc:
        pin_builder(labdatasets.builder("toy_pin2"), progress=False)
    assert str(exc.value) == (
        f"toy_pin2:1.0.0 is already pinned ({path}). A pinned version never changes; to change its data, bump "
        "VERSION, add a RELEASE_NOTES entry and pin the new version."
    )
    assert path.read_bytes() == pinned and PinRecord.read(path) == first


def test_a_record_written_meanwhile_by_another_process_is_never_overwritten(make_builder, lab_home):
    make_builder.tabular("toy_pin_race", rows=sample_rows(10))
    pin_builder(labdatasets.builder("toy_pin_race"), progress=False)
    path = lab_home / "pins" / "toy_pin_race" / "1.0.0.json"
    pinned = path.read_bytes()
    late = labdatasets.builder("toy_pin_race")
    late.pin_record = lambda: None  # it looked before the other process wrote its record
    with pytest.raises(PinExistsError, match=rf"toy_pin_race:1\.0\.0 was pinned by another process meanwhile \({path}\)"):
        pin_builder(late, progress=False)
    assert path.read_bytes() == pinned


def test_pins_outside_the_home_are_written_without_the_machine_only_warning(make_builder, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "repo-snapshots"))
    make_builder.tabular("toy_pin_repo", rows=sample_rows(10))
    with caplog.at_level(logging.WARNING):
        record = pin_builder(labdatasets.builder("toy_pin_repo"), progress=False)
    assert os.fspath(record.path) == os.fspath(tmp_path / "repo-snapshots" / "toy_pin_repo" / "1.0.0.json")
    assert "this machine only" not in caplog.text


def test_a_failing_source_writes_no_record_and_keeps_its_message(make_builder, lab_home):
    failing(make_builder, "toy_pin_missing", "ok", bad_path="data/nowhere.csv")
    b = labdatasets.builder("toy_pin_missing")
    with pytest.raises(SourceNotFoundError) as exc:
        pin_builder(b, progress=False)
    assert "How to pin" not in str(exc.value) and "data/nowhere.csv" in str(exc.value)
    assert b.pin_record() is None and not b.pin_record_path().exists()
    assert stored_objects(lab_home)  # the good source's object stays: immutable, reused by a retry


def test_a_failing_source_says_how_to_pin_when_the_builder_says(make_builder, lab_home):
    failing(make_builder, "toy_pin_howto", "ok", instructions="ask data-eng@lab.example for the export", bad_path="data/nowhere.csv")
    b = labdatasets.builder("toy_pin_howto")
    with pytest.raises(SourceNotFoundError) as exc:
        pin_builder(b, progress=False)
    message = str(exc.value)
    assert message.endswith(" How to pin toy_pin_howto: ask data-eng@lab.example for the export")
    assert "data/nowhere.csv" in message and "nowhere.csv" in exc.value.source
    assert isinstance(exc.value.__cause__, SourceNotFoundError)
    assert not b.pin_record_path().exists()


def test_an_unexpected_source_error_becomes_a_redacted_source_error(make_builder, lab_home):
    failing(make_builder, "toy_pin_crash", "crash", instructions="never shown for a crash")
    b = labdatasets.builder("toy_pin_crash")
    with pytest.raises(SourceError) as exc:
        pin_builder(b, progress=False)
    message = str(exc.value)
    assert message.startswith("toy_pin_crash:1.0.0 source 'b_bad' failed while pinning: ")
    assert message.endswith(". No pin record was written.") and "socket closed by" in message
    assert "s3cr3t" not in message and "s3cr3t" not in exc.value.source
    assert "data/rows.csv" in exc.value.source
    assert isinstance(exc.value.__cause__, RuntimeError)
    assert not b.pin_record_path().exists()


def test_a_labdatasets_error_from_a_source_is_raised_as_it_is(make_builder, lab_home):
    failing(make_builder, "toy_pin_config", "config", instructions="not for config errors")
    b = labdatasets.builder("toy_pin_config")
    with pytest.raises(ConfigError) as exc:
        pin_builder(b, progress=False)
    assert str(exc.value) == "no connection named 'warehouse' in the config file"
    assert not b.pin_record_path().exists()


def test_sources_are_pinned_in_name_order_and_each_gets_its_own_context(make_builder, lab_home):
    failing(make_builder, "toy_pin_order", "crash")
    b = labdatasets.builder("toy_pin_order")
    store = snapshots_for(b)
    ctx = pin_context(b, "b_bad", store, progress=False)
    assert ctx.label == "toy_pin_order:1.0.0 source 'b_bad'"
    assert ctx.base_dir == type(b).module_dir() and ctx.store is store and ctx.settings is b.settings
    assert ctx.session is None
    ctx.progress(10, "x")(10)  # a callback taking byte counts
    with pytest.raises(SourceError):
        pin_builder(b, progress=False)
    from labdatasets.stores.hashing import sha256_file

    assert sha256_file(type(b).module_dir() / "data" / "rows.csv") in stored_objects(lab_home)  # 'a_good' came first


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_pin_context_passes_the_session_and_the_progress_switch(make_builder, monkeypatch):
    from labdatasets.loaders.base import PinSession

    make_builder.tabular("toy_pin_ctx", rows=sample_rows(10))
    b = labdatasets.builder("toy_pin_ctx")
    session = PinSession({})
    monkeypatch.delenv("LABDATASETS_PROGRESS")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)  # bars are shown on a terminal unless switched off
    ctx = pin_context(b, "rows", snapshots_for(b), progress=True, session=session)
    assert ctx.session is session
    ctx.progress(4, "pin shown")(4)
    quiet = pin_context(b, "rows", snapshots_for(b), progress=False)
    quiet.progress(4, "pin hidden")(4)
    assert "pin shown" in terminal.getvalue() and "pin hidden" not in terminal.getvalue()


def test_the_snapshot_store_is_named_in_the_record_only_when_it_is_shared(make_builder, s3_bucket, s3_env, monkeypatch):
    uri = f"s3://{s3_bucket}/lab/snapshots"
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", uri)
    make_builder.tabular("toy_pin_s3", rows=sample_rows(10))
    b = labdatasets.builder("toy_pin_s3")
    record = pin_builder(b, progress=False)
    assert record.snapshot_store == uri
    (obj,) = record.sources["rows"].objects
    assert snapshots_for(b).primary_has(obj.oid)


# ----------------------------------------------------------------------------- ensure_objects
def pinned(make_builder, name: str):
    make_builder.tabular(name, rows=sample_rows(10))
    b = labdatasets.builder(name)
    record = pin_builder(b, progress=False)
    (obj,) = record.sources["rows"].objects
    return b, record, obj


def drop(store_root, oid: str) -> None:
    path = store_root / "objects" / oid[:2] / oid[2:]
    os.chmod(path, 0o644)
    path.unlink()


def test_ensure_objects_fetches_a_missing_object_from_its_pinned_local_file(make_builder, lab_home):
    b, record, obj = pinned(make_builder, "toy_ensure")
    drop(lab_home / "store", obj.oid)
    store = snapshots_for(b)
    assert not store.has_locally(obj.oid)
    ensure_objects(b, record, store, progress=False)
    assert store.has_locally(obj.oid) and store.verify_local(obj.oid)


def test_ensure_objects_for_remote_runners_checks_the_configured_store(make_builder, lab_home, tmp_path, monkeypatch):
    primary = tmp_path / "primary"
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"file://{primary}")
    b, record, obj = pinned(make_builder, "toy_ensure_remote")
    store = snapshots_for(b)
    drop(lab_home / "store", obj.oid)  # pinning kept a copy on this machine too
    assert store.primary_has(obj.oid) and not store.has_locally(obj.oid)
    ensure_objects(b, record, store, local=False, progress=False)
    assert not store.has_locally(obj.oid)  # the configured store has it: nothing to do
    ensure_objects(b, record, store, progress=False)
    assert store.has_locally(obj.oid)  # a local runner reads this machine's copy
    drop(lab_home / "store", obj.oid)
    drop(primary, obj.oid)
    ensure_objects(b, record, store, local=False, progress=False)
    assert store.primary_has(obj.oid) and store.has_locally(obj.oid)  # from the pinned file, verified, to both


def test_an_object_nowhere_says_where_the_version_was_pinned(make_builder, lab_home, s3_bucket, s3_env, monkeypatch, tmp_path):
    uri = f"s3://{s3_bucket}/lab/snapshots"
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", uri)
    b, record, obj = pinned(make_builder, "toy_ensure_where")
    (type(b).module_dir() / "data" / "rows.csv").write_text(rows_csv(sample_rows(11)))  # the pinned bytes are gone
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"file://{tmp_path / 'other'}")
    drop(lab_home / "store", obj.oid)  # this machine's cached copy
    b = labdatasets.builder("toy_ensure_where")
    with pytest.raises(SnapshotNotFoundError) as exc:
        ensure_objects(b, record, snapshots_for(b), progress=False)
    message = str(exc.value)
    assert f"The pin record says toy_ensure_where:1.0.0 was pinned to {uri}: set LABDATASETS_SNAPSHOT_STORE={uri}" in message
    assert "toy_ensure_where:1.0.0 source 'rows' object 'rows.csv'" in message

    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", uri)
    s3 = snapshots_for(labdatasets.builder("toy_ensure_where"))
    s3._primary.client.delete_object(Bucket=s3_bucket, Key=s3._primary._under_prefix(f"objects/{obj.oid[:2]}/{obj.oid[2:]}"))
    with pytest.raises(SnapshotNotFoundError) as exc:  # pinned to the store it reads: no advice to switch
        ensure_objects(labdatasets.builder("toy_ensure_where"), record, s3, progress=False)
    assert "The pin record says" not in str(exc.value)



def recorded_bars(monkeypatch) -> list:
    """Progress bars drawn on a (pretend) terminal, to read what they counted."""
    from tqdm import tqdm

    from labdatasets.present import progress as progress_module

    bars: list[tqdm] = []

    class Recorded(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(progress_module, "_tqdm", lambda: Recorded)
    monkeypatch.delenv("LABDATASETS_PROGRESS")
    monkeypatch.setattr(sys, "stderr", Terminal())
    return bars


@pytest.mark.parametrize("progress", [True, False, None])
def test_ensure_objects_counts_what_it_fetches_on_a_terminal(progress, make_builder, lab_home, monkeypatch):
    b, record, obj = pinned(make_builder, f"toy_ensure_bar_{progress}".lower())
    drop(lab_home / "store", obj.oid)
    bars = recorded_bars(monkeypatch)
    store = snapshots_for(b)
    if progress is None:
        ensure_objects(b, record, store)
    else:
        ensure_objects(b, record, store, progress=progress)
    assert store.has_locally(obj.oid)
    if progress is False:
        assert bars == []
    else:
        (bar,) = bars
        assert bar.desc == f"fetch {b.full_name} source 'rows'" and bar.total == bar.n == obj.size


@pytest.mark.parametrize("progress", [True, None])
def test_pin_shows_its_progress_on_a_terminal_by_default(progress, make_builder, monkeypatch):
    make_builder.tabular(f"toy_pin_bar_{progress}".lower(), rows=sample_rows(10))
    b = labdatasets.builder(f"toy_pin_bar_{progress}".lower())
    bars = recorded_bars(monkeypatch)
    record = pin_builder(b) if progress is None else pin_builder(b, progress=progress)
    (obj,) = record.sources["rows"].objects
    assert [(bar.desc, bar.total, bar.n) for bar in bars] == [(f"pin {b.full_name} source 'rows'", obj.size, obj.size)]


TWO_SOURCES = '''
import labdatasets as lds
from labdatasets import features as F, loaders


class Builder(lds.DatasetBuilder):
    """Two local sources."""

    name = {name!r}
    VERSION = "1.0.0"
    RELEASE_NOTES = {{"1.0.0": "first"}}

    def _info(self):
        return lds.DatasetInfo(features=F.Features({{"id": F.Value("int64")}}))

    def _sources(self):
        return {sources}

    def _process(self, sources):
        raise NotImplementedError
'''


def test_ensure_objects_fetches_every_source_after_one_that_is_complete(make_builder, lab_home):
    files = {"data/a.csv": rows_csv(sample_rows(3)), "data/b.csv": rows_csv(sample_rows(4))}
    sources = '{"a": loaders.LocalSource("data/a.csv"), "b": loaders.LocalSource("data/b.csv")}'
    make_builder.write("toy_two", TWO_SOURCES.format(name="toy_two", sources=sources), files)
    b = labdatasets.builder("toy_two")
    record = pin_builder(b, progress=False)
    (second,) = record.sources["b"].objects
    drop(lab_home / "store", second.oid)
    store = snapshots_for(b)
    ensure_objects(b, record, store, progress=False)  # 'a' has everything: 'b' is still fetched
    assert store.has_locally(second.oid)


def test_ensure_objects_uses_no_mirror_for_a_source_the_builder_no_longer_declares(make_builder, lab_home):
    files = {"data/a.csv": rows_csv(sample_rows(3))}
    make_builder.write("toy_gone", TWO_SOURCES.format(name="toy_gone", sources='{"a": loaders.LocalSource("data/a.csv")}'), files)
    b = labdatasets.builder("toy_gone")
    record = pin_builder(b, progress=False)
    (obj,) = record.sources["a"].objects
    drop(lab_home / "store", obj.oid)
    renamed = TWO_SOURCES.format(name="toy_gone", sources='{"renamed": loaders.LocalSource("data/a.csv")}')
    make_builder.write("toy_gone", renamed, files)
    b = labdatasets.builder("toy_gone")
    with pytest.raises(SnapshotNotFoundError, match=r"toy_gone:1\.0\.0 source 'a' object 'a\.csv'"):
        ensure_objects(b, record, snapshots_for(b), progress=False)


def test_a_second_pin_of_the_same_version_waits_for_the_first(make_builder, lab_home, monkeypatch):
    """Two processes (here: threads) pinning one version: the second waits on the first's lock, here in vain."""
    import threading

    from labdatasets.errors import LabDatasetsError

    failing(make_builder, "toy_pin_wait", "wait")
    module = sys.modules[type(labdatasets.builder("toy_pin_wait")).__module__]
    first = threading.Thread(target=lambda: pin_builder(labdatasets.builder("toy_pin_wait"), progress=False))
    first.start()
    try:
        assert module.STARTED.wait(60)  # the first pin is reading its sources, holding the lock
        monkeypatch.setenv("LABDATASETS_LOCK_TIMEOUT", "0.2")
        with pytest.raises(LabDatasetsError) as exc:
            pin_builder(labdatasets.builder("toy_pin_wait"), progress=False)
        assert str(exc.value).startswith("Gave up after 0s waiting for another process pinning toy_pin_wait:1.0.0 (lock ")
    finally:
        module.RELEASE.set()
        first.join(60)
    assert labdatasets.builder("toy_pin_wait").pin_record() is not None  # the first one's record


def test_a_config_is_pinned_under_its_own_name(make_builder, lab_home):
    make_builder.tabular(
        "toy_pin_cfg", rows=sample_rows(10),
        edits={'    VERSION = ': '    BUILDER_CONFIGS = [lds.BuilderConfig("small")]\n    VERSION = '},
    )
    b = labdatasets.builder("toy_pin_cfg/small")
    record = pin_builder(b, progress=False)
    assert (record.dataset, record.config, record.version) == ("toy_pin_cfg", "small", "1.0.0")
    assert os.fspath(record.path) == os.fspath(lab_home / "pins" / "toy_pin_cfg" / "small" / "1.0.0.json")
    with pytest.raises(PinExistsError, match=r"toy_pin_cfg/small:1\.0\.0 is already pinned"):
        pin_builder(labdatasets.builder("toy_pin_cfg/small"), progress=False)
