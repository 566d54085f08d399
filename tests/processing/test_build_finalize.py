"""A build's last steps, after the pipeline ran: collect what the workers wrote, check it, finalize it (no Beam run).

The workers' output is written here by the pipeline's own shard writer and ledger step
(:func:`workers_write`, the functions ``WriteSplits`` runs in each worker) from the rows
the world's builder gives (:mod:`tests.prepared.world`), so these tests take a second,
not a Beam build's seconds each. What a user relies on: a build keeps what the workers
wrote and nothing else; a shard that is not what its worker wrote, or data that is not
what the committed output record says, fails naming the file or the version, and the
previous prepared version stays in place.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import platform
import sys
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tqdm

import labdatasets
from labdatasets.errors import ConfigError, LabDatasetsError, PreparedDataError, ProcessingError
from labdatasets.info import INFO_FILENAME
from labdatasets.processing import build as build_module
from labdatasets.processing.build import (
    _beam_error_message,
    _check_against_output_record,
    _collect,
    _finalize,
    _Job,
    _original_error,
    _staging_dir,
    record_bytes,
    shard_paths,
)
from labdatasets.processing.fingerprint import content_fingerprint
from labdatasets.processing.ledger import LEDGER_FILENAME, key_digest, tally_records, tally_table
from labdatasets.stores.hashing import sha256_file
from tests.prepared.world import NAME, prepared_rows

FULL = f"{NAME}:1.0.0"


# ------------------------------------------------------------------------------------------------ helpers
def workers_write(out_dir: str, builder, tables: dict[str, pa.Table], *, checker: Any = None) -> list[str]:
    """Write ``tables`` as a build's workers do: shards and manifests by the shard writer, the ledger by its step."""
    from labdatasets.processing.pipeline_io import _write_shard, _written, _WriteLedger
    from labdatasets.processing.tables import bucket_slices

    declared = builder.declared_info()
    sort_columns = declared.key_columns
    items: list[Any] = [{"stage": "seed", "origins": {}}]
    for split, table in tables.items():
        items += tally_records(tally_table("entry", [split], [table.num_rows], [key_digest(table, sort_columns)], split_digests=[None]))
        parts = [(0, table)] if builder.NUM_SHARDS == 1 else bucket_slices(table, sort_columns, builder.NUM_SHARDS, salt="shard")
        for index, part in parts:
            if part.num_rows:
                for output in _write_shard(out_dir, builder.name, builder.NUM_SHARDS, sort_columns, split, index, [part], checker=checker):
                    items += _written(output)
    list(_WriteLedger(out_dir, checker).process((None, items)))
    return list(tables)


def builder_rows(builder) -> dict[str, pa.Table]:
    return prepared_rows(builder)


def job_for(builder, out_dir: str, *, flags=(), progress_dir=None, spill_dir=None) -> _Job:
    record = builder.require_pin_record()
    return _Job(builder, record, builder.declared_info(), out_dir, list(flags), ("", None), progress_dir, spill_dir)


def files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def manifests_of(directory: Path) -> dict[str, dict[str, Any]]:
    from labdatasets.processing.pipeline_io import MANIFEST_DIR

    return {m["filename"]: m for m in (json.loads(p.read_text()) for p in sorted((directory / MANIFEST_DIR).glob("*.json")))}


@pytest.fixture
def rebuild(world, monkeypatch):
    """``rebuild(change=None)``: build the world's version again (overwrite) with its workers' output written by
    :func:`workers_write`; ``change(out_dir, tables)`` may alter the rows before, or the files after, they write."""

    def run(change=None):
        def pipeline(job, builder):
            tables = builder_rows(job.builder)
            if change is not None:
                tables = change(Path(job.out_dir), tables) or tables
            splits = workers_write(job.out_dir, job.builder, tables, checker=job.checker)
            if change is not None:
                change(Path(job.out_dir), None)
            return splits

        monkeypatch.setattr(build_module, "_run_pipeline_here_or_isolated", pipeline)
        return build_module.build(world.builder(), overwrite=True, progress=False)

    return run


# ------------------------------------------------------------------------------------------------ whole finalization
def test_a_build_keeps_what_the_workers_wrote_and_agrees_with_its_output_record(world, rebuild):
    b = world.builder()
    before = b.prepared_info()
    final = rebuild()
    assert final == b.prepared_dir
    info = labdatasets.builder(NAME).prepared_info()
    names = sorted(p.name for p in final.iterdir())
    assert names == [INFO_FILENAME, f"{NAME}-test-00000-of-00001.parquet", f"{NAME}-train-00000-of-00001.parquet"]
    for split in ("train", "test"):
        got, was = info.splits[split], before.splits[split]
        assert (got.num_rows, got.fingerprint) == (was.num_rows, was.fingerprint)
        [shard] = got.shards
        assert (shard.sha256, shard.num_bytes) == (sha256_file(final / shard.filename), (final / shard.filename).stat().st_size)
    assert not list(final.parent.glob(".incomplete.*"))


def test_a_build_whose_shard_changed_after_its_worker_wrote_it_fails_naming_it_and_keeps_the_previous_version(world, rebuild):
    b = world.builder()
    before = files(b.prepared_dir)
    name = f"{NAME}-train-00000-of-00001.parquet"

    def other_bytes_same_rows(out_dir, tables):
        if tables is None:  # after the workers: another writer's bytes (no compression) for the same rows
            pq.write_table(pq.read_table(out_dir / name), out_dir / name, compression="none")

    with pytest.raises(PreparedDataError) as raised:
        rebuild(other_bytes_same_rows)
    rows = builder_rows(b)["train"].num_rows
    assert str(raised.value).startswith(f"Shard {name} of {FULL} is not what the pipeline wrote ({rows} rows, sha256 ")
    assert str(raised.value).endswith("); build again.")
    assert files(b.prepared_dir) == before
    assert not list(b.prepared_dir.parent.glob(".incomplete.*"))


def test_a_build_that_gives_other_rows_than_its_output_record_is_not_kept(world, rebuild):
    from labdatasets.pinning.outputs import lock_path

    b = world.builder()
    before = files(b.prepared_dir)
    rows = builder_rows(b)["train"].num_rows

    def one_row_less(out_dir, tables):
        if tables is not None:
            return {**tables, "train": tables["train"].slice(1)}
        return None

    with pytest.raises(PreparedDataError) as raised:
        rebuild(one_row_less)
    message = str(raised.value)
    assert message.startswith(
        f"Building {FULL} here gave other data than its output record {lock_path(b)} says "
        f"(dataset_info.json: split 'train' has {rows - 1} rows, committed {rows}; "
    )
    assert "It was not kept. The same pins and processing must give the committed rows: " in message
    assert f"run 'labdatasets verify --rebuild {FULL}', or load the version from the shared cache." in message
    assert files(b.prepared_dir) == before
    assert not list(b.prepared_dir.parent.glob(".incomplete.*"))


# ------------------------------------------------------------------------------------------------ _collect
def test_collect_reads_the_manifests_and_ledger_beside_the_shards_and_removes_them(world, tmp_path):
    b = world.builder()
    out = tmp_path / "incomplete"
    out.mkdir()
    workers_write(str(out), b, builder_rows(b))
    progress, spill = out / ".progress", out / ".spill"
    for d in (progress / "written", spill / "train"):
        d.mkdir(parents=True)
        (d / "x").write_text("1")
    shards = {n: data for n, data in files(out).items() if n.endswith(".parquet")}
    expected = manifests_of(out)
    ledger = json.loads((out / LEDGER_FILENAME).read_text())["records"]
    manifests, records = _collect(job_for(b, str(out), progress_dir=progress, spill_dir=spill), out, staged=False, progress=False)
    assert manifests == expected and sorted(manifests) == sorted(shards)
    assert records == ledger and {r["stage"] for r in records} == {"seed", "entry", "written"}
    assert files(out) == shards  # manifests, ledger, progress and spill folders gone; the shards untouched
    assert sorted(p.name for p in out.iterdir()) == sorted(shards)


def test_collect_of_a_folder_the_workers_wrote_nothing_to_finds_nothing(world, tmp_path):
    assert _collect(job_for(world.builder(), str(tmp_path)), tmp_path, staged=False, progress=False) == ({}, [])


def test_collect_copies_staged_shards_here_verified_and_cleans_the_staging_area(world, tmp_path):
    b = world.builder()
    staging, here = tmp_path / "staging", tmp_path / "here"
    here.mkdir()
    workers_write(str(staging), b, builder_rows(b))
    staged = files(staging)
    expected = manifests_of(staging)
    ledger = json.loads((staging / LEDGER_FILENAME).read_text())["records"]
    spill = tmp_path / "spill"
    spill.mkdir()
    manifests, records = _collect(job_for(b, str(staging), spill_dir=spill), here, staged=True, progress=False)
    assert manifests == expected and records == ledger
    assert files(here) == {n: staged[n] for n in expected}  # byte for byte
    assert not [p for p in staging.rglob("*") if p.is_file()] and not spill.exists()


def test_collect_refuses_a_staged_shard_that_changed_after_its_worker_hashed_it(world, tmp_path):
    b = world.builder()
    staging, here = tmp_path / "staging", tmp_path / "here"
    here.mkdir()
    workers_write(str(staging), b, builder_rows(b))
    name = f"{NAME}-train-00000-of-00001.parquet"
    written = manifests_of(staging)[name]["sha256"]
    raw = bytearray((staging / name).read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same length
    (staging / name).write_bytes(bytes(raw))
    with pytest.raises(PreparedDataError) as raised:
        _collect(job_for(b, str(staging)), here, staged=True, progress=False)
    assert str(raised.value) == (
        f"Shard {name} of {FULL} changed between the worker that wrote it to {staging} and this machine "
        f"(sha256 {written[:12]} written, {sha256_file(staging / name)[:12]} read); build again."
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("progress", [True, False])
def test_collect_shows_the_bytes_it_copies_on_a_terminal_when_asked(world, tmp_path, monkeypatch, progress):
    b = world.builder()
    staging, here = tmp_path / "staging", tmp_path / "here"
    here.mkdir()
    workers_write(str(staging), b, builder_rows(b))
    monkeypatch.delenv("LABDATASETS_PROGRESS", raising=False)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    _collect(job_for(b, str(staging)), here, staged=True, progress=progress)
    shown = terminal.getvalue()
    if progress:  # the bar counts up to the bytes of every shard, then clears its line
        total = sum(p.stat().st_size for p in here.iterdir())
        assert f"collect {FULL}:" in shown and f"/{tqdm.tqdm.format_sizeof(total, divisor=1024)} " in shown
    else:
        assert shown == ""


def test_collect_reads_an_object_store_staging_area_with_the_jobs_options(world, tmp_path, s3_server, monkeypatch):
    """A remote build's store options (endpoint, keys) may come only from --beam-option: collecting uses them too."""
    import boto3
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    from tests.servers import TEST_AWS_KEY, TEST_AWS_SECRET

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    bucket = f"lab-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server, aws_access_key_id=TEST_AWS_KEY, aws_secret_access_key=TEST_AWS_SECRET,
                 region_name="us-east-1").create_bucket(Bucket=bucket)
    flags = [f"--s3_endpoint_url={s3_server}", f"--s3_access_key_id={TEST_AWS_KEY}",
             f"--s3_secret_access_key={TEST_AWS_SECRET}", "--s3_region_name=us-east-1"]
    b = world.builder()
    staging = f"s3://{bucket}/tmp/labdatasets/{NAME}-1.0.0-abc"
    FileSystems.set_options(PipelineOptions(flags))  # as on the workers
    try:
        workers_write(staging, b, builder_rows(b))
    finally:
        FileSystems.set_options(PipelineOptions([]))
    here = tmp_path / "here"
    here.mkdir()
    try:
        manifests, records = _collect(job_for(b, staging, flags=flags), here, staged=True, progress=False)
    finally:
        FileSystems.set_options(PipelineOptions([]))
    assert sorted(manifests) == sorted(p.name for p in here.iterdir()) and len(manifests) == 2
    assert {r["stage"] for r in records} == {"seed", "entry", "written"}
    for name, manifest in manifests.items():
        assert sha256_file(here / name) == manifest["sha256"]


def test_collect_of_a_staging_area_without_a_ledger_gives_no_records(world, tmp_path):
    b = world.builder()
    staging, here = tmp_path / "staging", tmp_path / "here"
    here.mkdir()
    workers_write(str(staging), b, builder_rows(b))
    (staging / LEDGER_FILENAME).unlink()
    manifests, records = _collect(job_for(b, str(staging)), here, staged=True, progress=False)
    assert records == [] and len(manifests) == 2


def test_collect_removes_a_staged_ledger_without_records(world, tmp_path):
    """A ledger step that got no reports still writes ``{"records": []}``: it must not stay behind in temp_location."""
    from labdatasets.processing.pipeline_io import _WriteLedger

    b = world.builder()
    staging, here = tmp_path / "staging", tmp_path / "here"
    here.mkdir()
    workers_write(str(staging), b, builder_rows(b))
    list(_WriteLedger(str(staging)).process((None, [])))  # the ledger step's own file, with no records
    assert json.loads((staging / LEDGER_FILENAME).read_text()) == {"records": []}
    manifests, records = _collect(job_for(b, str(staging)), here, staged=True, progress=False)
    assert records == [] and len(manifests) == 2
    assert not [p for p in staging.rglob("*") if p.is_file()]  # shards, manifests and the empty ledger gone


# ------------------------------------------------------------------------------------------------ _finalize
def finalize(builder, directory: Path, splits, manifests):
    record = builder.require_pin_record()
    return _finalize(builder, record, builder.declared_info(), directory, list(splits), manifests)


def test_finalize_records_every_shard_as_written_and_where_the_data_came_from(world, tmp_path):
    import apache_beam

    from labdatasets._version import __version__

    b = world.builder()
    workers_write(str(tmp_path), b, builder_rows(b))
    manifests = manifests_of(tmp_path)
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    info = finalize(b, tmp_path, ["train", "test"], manifests)
    declared = b.declared_info()
    assert info.features == declared.features and info.key_columns == declared.key_columns
    assert info.snapshot_id == b.require_pin_record().snapshot_id
    assert info.code_fingerprint == type(b).code_fingerprint()
    assert info.environment == {
        "labdatasets": __version__, "pyarrow": pa.__version__, "apache_beam": apache_beam.__version__,
        "python": platform.python_version(),
    }
    assert info.data_dir is None
    assert datetime.datetime.fromisoformat(info.prepared_at.replace("Z", "+00:00")) >= started
    assert list(info.splits) == ["train", "test"]
    for split, rows in ((s, t.num_rows) for s, t in builder_rows(b).items()):
        got = info.splits[split]
        [shard] = got.shards
        path = tmp_path / shard.filename
        assert shard.filename == f"{NAME}-{split}-00000-of-00001.parquet"
        assert (shard.num_rows, shard.num_bytes, shard.sha256) == (rows, path.stat().st_size, sha256_file(path))
        assert (got.name, got.num_rows, got.num_bytes) == (split, rows, path.stat().st_size)
        # a one-shard split: the fingerprint its worker computed from the rows, the same as the file's
        assert got.fingerprint == manifests[shard.filename]["fingerprint"] == content_fingerprint([path])
        assert got.fingerprint == b.prepared_info().splits[split].fingerprint  # the rows the world's build gives


def test_finalize_of_several_shards_fingerprints_the_split_from_its_files(world, tmp_path, monkeypatch):
    b = world.builder()
    monkeypatch.setattr(type(b), "NUM_SHARDS", 3)
    workers_write(str(tmp_path), b, builder_rows(b))
    info = finalize(b, tmp_path, ["train", "test"], manifests_of(tmp_path))
    for split in ("train", "test"):
        paths = shard_paths(tmp_path, NAME, split, 3)
        got = info.splits[split]
        assert [s.filename for s in got.shards] == [p.name for p in paths]
        assert [(s.num_rows, s.num_bytes, s.sha256) for s in got.shards] == [
            (pq.ParquetFile(p).metadata.num_rows, p.stat().st_size, sha256_file(p)) for p in paths
        ]
        assert got.num_rows == sum(s.num_rows for s in got.shards) and got.num_bytes == sum(s.num_bytes for s in got.shards)
        assert got.fingerprint == content_fingerprint(paths)


@pytest.mark.parametrize("num_shards", [1, 2])
def test_finalize_writes_an_empty_split_as_readable_files_of_the_declared_schema(world, tmp_path, monkeypatch, num_shards):
    b = world.builder()
    monkeypatch.setattr(type(b), "NUM_SHARDS", num_shards)
    info = finalize(b, tmp_path, ["empty"], {})
    paths = shard_paths(tmp_path, NAME, "empty", num_shards)
    schema = b.declared_info().features.arrow_schema()
    for path, shard in zip(paths, info.splits["empty"].shards, strict=True):
        table = pq.read_table(path)
        assert table.num_rows == 0 and table.schema.equals(schema)
        assert (shard.filename, shard.num_rows, shard.num_bytes, shard.sha256) == (path.name, 0, path.stat().st_size, sha256_file(path))
    assert info.splits["empty"].num_rows == 0 and info.splits["empty"].fingerprint == content_fingerprint(paths)


def test_finalize_hashes_a_shard_no_worker_reported(world, tmp_path):
    b = world.builder()
    workers_write(str(tmp_path), b, builder_rows(b))
    name = f"{NAME}-train-00000-of-00001.parquet"
    manifests = {k: v for k, v in manifests_of(tmp_path).items() if k != name}
    split = finalize(b, tmp_path, ["train"], manifests).splits["train"]
    [shard] = split.shards
    assert (shard.sha256, shard.num_rows) == (sha256_file(tmp_path / name), builder_rows(b)["train"].num_rows)
    assert split.fingerprint == content_fingerprint([tmp_path / name])
    (tmp_path / name).write_bytes((tmp_path / name).read_bytes()[:-8])  # its footer cut off
    with pytest.raises(PreparedDataError) as raised:
        finalize(b, tmp_path, ["train"], manifests)
    assert str(raised.value) == (
        f"Shard {name} of {FULL} is not what the pipeline wrote (no report; found an unreadable file); build again."
    )


@pytest.mark.parametrize(
    "change",
    ["other bytes, same rows", "another row count in the manifest", "another sha256 in the manifest", "not a Parquet file"],
)
def test_finalize_refuses_a_shard_that_is_not_what_its_worker_reported(world, tmp_path, change):
    b = world.builder()
    workers_write(str(tmp_path), b, builder_rows(b))
    name = f"{NAME}-train-00000-of-00001.parquet"
    path = tmp_path / name
    manifests = manifests_of(tmp_path)
    written = manifests[name]
    if change == "other bytes, same rows":
        pq.write_table(pq.read_table(path), path, compression="none")
    elif change == "another row count in the manifest":
        written["num_rows"] -= 1
    elif change == "another sha256 in the manifest":
        written["sha256"] = "0" * 64
        written["num_bytes"] += 1
    else:
        path.write_bytes(path.read_bytes()[: written["num_bytes"] // 2])
    with pytest.raises(PreparedDataError) as raised:
        finalize(b, tmp_path, ["train"], manifests)
    message = str(raised.value)
    assert message.startswith(f"Shard {name} of {FULL} is not what the pipeline wrote ({written['num_rows']} rows, sha256 {written['sha256'][:12]}; found ")
    rows = builder_rows(b)["train"].num_rows
    found = "an unreadable file" if change == "not a Parquet file" else f"{rows} rows, {sha256_file(path)[:12]}"
    assert message.endswith(f"found {found}); build again.")


def test_shard_paths_name_every_shard_of_a_split_in_order(tmp_path):
    assert [p.name for p in shard_paths(tmp_path, "toy", "train", 3)] == [
        "toy-train-00000-of-00003.parquet", "toy-train-00001-of-00003.parquet", "toy-train-00002-of-00003.parquet"
    ]
    assert {p.parent for p in shard_paths(tmp_path, "toy", "train", 3)} == {tmp_path}


def test_record_bytes_is_the_size_of_every_pinned_source(world):
    record = world.builder().require_pin_record()
    assert record_bytes(record) == (type(world.builder()).module_dir() / "data" / "rows.csv").stat().st_size > 0


# ------------------------------------------------------------------------------------------------ the output record
def test_a_build_that_agrees_with_the_output_record_or_that_it_does_not_cover_passes(world):
    from labdatasets.pinning.outputs import lock_path

    b = world.builder()
    record = b.require_pin_record()
    info = b.prepared_info()
    _check_against_output_record(b, record, info)
    changed = dataclasses.replace(info, splits={**info.splits, "train": dataclasses.replace(info.splits["train"], num_rows=1)})
    _check_against_output_record(b, record, dataclasses.replace(changed, snapshot_id="0" * 64))  # another snapshot
    _check_against_output_record(b, record, dataclasses.replace(changed, code_fingerprint="0" * 64))  # other code
    lock_path(b).chmod(0o644)
    lock_path(b).unlink()
    _check_against_output_record(b, record, changed)  # no output record yet


def test_a_build_whose_output_record_was_written_for_another_pin_record_is_refused(world):
    from labdatasets.pinning.outputs import OutputRecordError, lock_path

    b = world.builder()
    info = b.prepared_info()
    path = b.pin_record_path()
    path.chmod(0o644)
    data = json.loads(path.read_text())
    data["code_fingerprint"] = None  # as a record written before processing fingerprints: another pin record
    path.write_text(json.dumps(data))
    b = labdatasets.builder(NAME)
    with pytest.raises(OutputRecordError, match=f"is not the one {lock_path(b)} was written for"):
        _check_against_output_record(b, b.require_pin_record(), info)


def test_a_build_that_differs_from_the_output_record_names_at_most_five_differences(world):
    from labdatasets.pinning.outputs import lock_path, read_lock

    b = world.builder()
    record = b.require_pin_record()
    info = b.prepared_info()
    splits = {
        name: dataclasses.replace(
            s, num_rows=s.num_rows + 1, fingerprint="f" * 64,
            shards=tuple(dataclasses.replace(shard, num_rows=shard.num_rows + 1) for shard in s.shards),
        )
        for name, s in info.splits.items()
    }
    with pytest.raises(PreparedDataError) as raised:
        _check_against_output_record(b, record, dataclasses.replace(info, splits=splits))
    message = str(raised.value)
    lock = read_lock(b, record)
    assert message.startswith(f"Building {FULL} here gave other data than its output record {lock_path(b)} says (dataset_info.json: ")
    assert message.count("dataset_info.json: split ") == 5  # of 6
    assert message.endswith(
        f"). It was not kept. The same pins and processing must give the committed rows: compare this machine's "
        f"libraries with the record's built_with {dict(lock.built_with)}, run 'labdatasets verify --rebuild {FULL}', "
        "or load the version from the shared cache."
    )


# ------------------------------------------------------------------------------------------------ staging, errors
def test_the_staging_folder_is_under_temp_location_and_new_for_each_build(world, tmp_path):
    b = world.builder()
    assert _staging_dir(b, ["--runner=DirectRunner"], True) is None  # a local runner writes into the incomplete folder
    with pytest.raises(ConfigError) as raised:
        _staging_dir(b, ["--runner=DataflowRunner"], False)
    assert str(raised.value) == (
        f"Building {FULL} on a remote runner needs a place its workers can write to: pass --beam-option "
        "temp_location=gs://BUCKET/tmp (or s3://BUCKET/tmp); the splits are written there and then copied to this machine."
    )
    names = set()
    for temp_location, local in ((f"{tmp_path}", True), (f"{tmp_path}/", False), (f"{tmp_path}//", False), (f"{tmp_path}X", False)):
        parent, _, name = _staging_dir(b, [f"--temp_location={temp_location}"], local).rpartition("/")
        assert parent == f"{temp_location.rstrip('/')}/labdatasets"
        assert name.startswith(f"{NAME}-1.0.0-") and len(name) == len(f"{NAME}-1.0.0-") + 12
        names.add(name)
    assert len(names) == 4  # a new folder for each build


def test_the_staging_folder_of_a_config_has_no_slash_in_its_name(tmp_path):
    class Named:  # _staging_dir reads the builder's full name only
        full_name = "toy/small:1.0.0"

    staging = _staging_dir(Named(), [f"--temp_location={tmp_path}"], False)
    assert staging.rpartition("/")[2].startswith("toy--small-1.0.0-")


def test_the_labdatasets_error_behind_a_beam_error_is_found_through_causes_and_contexts():
    original = ProcessingError("toy:1.0.0: bad row")
    try:
        try:
            raise original
        except ProcessingError as exc:
            raise RuntimeError("wrapped by Beam") from exc
    except RuntimeError as exc:
        by_cause = exc
    try:
        try:
            raise original
        except ProcessingError:
            raise ValueError("raised while handling it")  # noqa: B904 - the implicit context is the point
    except ValueError as exc:
        by_context = exc
    assert _original_error(by_cause) is original and _original_error(by_context) is original
    assert _original_error(original) is original
    plain = RuntimeError("no labdatasets error")
    loop = RuntimeError("a cycle")
    plain.__context__, loop.__context__ = loop, plain
    assert _original_error(plain) is None  # a cycle of contexts ends
    assert isinstance(original, LabDatasetsError)


def test_a_beam_error_is_one_line_naming_the_step():
    text = (
        "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n    g()\n"
        "RuntimeError: first [while running 'Read rows']\n\n"
        "KeyError: second [while running 'Tidy']\n"
        "ValueError: bad value 3 [while running 'Write splits/Conform train']"
    )
    assert _beam_error_message(RuntimeError(text)) == "ValueError: bad value 3 (in step 'Write splits/Conform train')"
    assert _beam_error_message(RuntimeError("  disk full  ")) == "disk full"
    assert _beam_error_message(KeyError()) == "KeyError"
    assert _beam_error_message(RuntimeError("Traceback (most recent call last):\n  File \"x\"")) == "RuntimeError"
