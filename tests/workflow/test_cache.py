"""``labdatasets cache``: what is pinned, fetched, prepared and published; pruning never touches
pin records, a store's primary copy or a published release."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import labdatasets
from labdatasets.workflow.cache import cache_report, parse_age, parse_size, prune
from labdatasets.config import settings
from labdatasets.errors import ConfigError
from labdatasets.prepared.shared_cache import publish, published

pytestmark = pytest.mark.slow


def test_parse_age_and_size():
    assert parse_age("30d") == 30 * 86400 and parse_age("12h") == 43200 and parse_age("2w") == 14 * 86400
    assert parse_age("90") == 90 * 86400
    assert parse_size("10GB") == 10 * 10**9 and parse_size("500MiB") == 500 * 2**20 and parse_size("123") == 123
    for bad, parse in (("soon", parse_age), ("ten GB", parse_size)):
        with pytest.raises(ConfigError, match="e.g."):
            parse(bad)


def _age(path: Path, days: float) -> None:
    stamp = time.time() - days * 86400
    os.utime(path, (stamp, stamp))


def test_report_and_prune_prepared_by_age(make_builder):
    make_builder.tabular("toy_cache_a")
    make_builder.tabular("toy_cache_b")
    a, b = labdatasets.builder("toy_cache_a"), labdatasets.builder("toy_cache_b")
    a.build(progress=False)
    b.build(progress=False)
    report = cache_report(check_published=False)
    entries = {e.full_name: e for e in report.entries}
    ea = entries["toy_cache_a:1.0.0"]
    assert ea.pinned and ea.prepared and ea.prepared_bytes > 0 and ea.fetched_objects == ea.objects >= 1
    assert ea.objects_are_primary and report.store_is_primary  # nothing configured: the local store is the store
    _age(a.prepared_dir, 40)
    dry = prune(older_than=parse_age("30d"), dry_run=True)
    assert [i.name for i in dry.removed] == ["toy_cache_a:1.0.0"] and a.prepared_dir.is_dir()
    done = prune(older_than=parse_age("30d"))
    assert [i.name for i in done.removed] == ["toy_cache_a:1.0.0"] and done.freed_bytes == ea.prepared_bytes
    assert not a.prepared_dir.exists() and b.prepared_dir.is_dir()
    assert a.pin_record() is not None  # the pin record stays
    store = Path(settings().local_store[len("file://"):])
    assert all(store.joinpath("objects", o.oid[:2], o.oid[2:]).is_file() for p in a.pin_record().sources.values() for o in p.objects)
    # a load marks its version used: it survives the next prune, and the pruned one comes back
    _age(b.prepared_dir, 40)
    assert len(labdatasets.load("toy_cache_b", split="train")) > 0
    assert prune(older_than=parse_age("30d")).removed == []
    assert len(labdatasets.load("toy_cache_a", split="train", download=True)) > 0


def test_prune_by_size_removes_least_recently_used_first(make_builder):
    for name in ("toy_size_a", "toy_size_b", "toy_size_c"):
        make_builder.tabular(name)
        labdatasets.builder(name).build(progress=False)
    for days, name in ((3, "toy_size_a"), (1, "toy_size_b"), (2, "toy_size_c")):
        _age(labdatasets.builder(name).prepared_dir, days)
    sizes = {e.full_name: e.prepared_bytes for e in cache_report(check_published=False).entries}
    keep = sizes["toy_size_b:1.0.0"]
    report = prune(max_size=keep)
    assert [i.name for i in report.removed] == ["toy_size_a:1.0.0", "toy_size_c:1.0.0"]
    assert report.remaining_bytes <= keep


def test_prune_needs_a_limit():
    with pytest.raises(ConfigError, match="--older-than"):
        prune()


def test_fetched_objects_of_a_remote_store_are_pruned_but_never_the_primary_copy(make_builder, tmp_path, monkeypatch):
    primary = tmp_path / "primary-store"
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"file://{primary}")
    make_builder.tabular("toy_remote")
    b = labdatasets.builder("toy_remote")
    b.build(progress=False)
    report = cache_report(check_published=False)
    entry = next(e for e in report.entries if e.full_name == "toy_remote:1.0.0")
    assert not report.store_is_primary and not entry.objects_are_primary and entry.fetched_objects == entry.objects >= 1
    record = b.pin_record()
    oids = [o.oid for p in record.sources.values() for o in p.objects] + [o.oid for o in record.code_files]
    local = Path(settings().local_store[len("file://"):])
    for oid in oids:
        _age(local / "objects" / oid[:2] / oid[2:], 60)
    done = prune(older_than=parse_age("30d"))
    assert sorted(i.name for i in done.removed if i.kind == "object") == sorted(oids)
    assert not any((local / "objects" / o[:2] / o[2:]).exists() for o in oids)
    assert all((primary / "objects" / o[:2] / o[2:]).is_file() for o in oids)  # the primary copy stays
    # a fetched object whose primary copy is gone is the only copy: kept
    from labdatasets.pinning.pin import snapshots_for

    for oid in oids:
        snapshots_for(b).local_path(oid)  # fetched again, verified, into the local store
    for oid in oids:
        os.chmod(primary / "objects" / oid[:2] / oid[2:], 0o644)
        (primary / "objects" / oid[:2] / oid[2:]).unlink()
        _age(local / "objects" / oid[:2] / oid[2:], 60)
    kept = prune(older_than=parse_age("30d"))
    assert not [i for i in kept.removed if i.kind == "object"] and any("only copy" in k for k in kept.kept)


def test_published_release_survives_a_prune(make_builder, tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{shared}")
    make_builder.tabular("toy_pub")
    b = labdatasets.builder("toy_pub")
    publish(b, progress=False)
    entry = next(e for e in cache_report().entries if e.full_name == "toy_pub:1.0.0")
    assert entry.published is True and entry.prepared
    shared_files = sorted(p for p in shared.rglob("*") if p.is_file())
    done = prune(max_size=0)
    assert [i.name for i in done.removed] == ["toy_pub:1.0.0"] and not b.prepared_dir.exists()
    assert sorted(p for p in shared.rglob("*") if p.is_file()) == shared_files
    assert published(labdatasets.builder("toy_pub")) is not None
    df = labdatasets.load("toy_pub", split="test", format="pandas")  # downloaded again, verified
    assert len(df) > 0


def test_a_shared_cache_inside_the_data_dir_is_never_pruned(make_builder, tmp_path, monkeypatch, lab_home):
    data_dir = lab_home / "prepared"
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{data_dir}/shared")
    make_builder.tabular("toy_inside")
    publish(labdatasets.builder("toy_inside"), progress=False)
    (data_dir / "shared" / "fake" / "1.0.0").mkdir(parents=True)
    (data_dir / "shared" / "fake" / "1.0.0" / "dataset_info.json").write_text("{}")
    done = prune(max_size=0)
    assert [i.name for i in done.removed] == ["toy_inside:1.0.0"]
    assert (data_dir / "shared" / "fake" / "1.0.0" / "dataset_info.json").is_file()
