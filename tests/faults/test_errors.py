"""Inputs and environments that used to end in raw tracebacks or wrong blame (issue 9, point 7).

Each case runs through the command line (one ``error: ...`` line, no traceback) and checks the
message names the dataset, file or store and the next step, and that the error blames the
right party (a store credential is the store's, not the source's).
"""

from __future__ import annotations

import json
import logging

import pytest

import labdatasets
from labdatasets.cli import main
from labdatasets.errors import ConfigError, DatasetNameError, SnapshotError, SnapshotNotFoundError, SourceError


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def _one_clear_line(code: int, text: str, *words: str) -> bool:
    """Exit status 1, no traceback, and the error as the last line (warnings may come before it)."""
    lines = [line for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return code == 1 and last.startswith("error: ") and "Traceback" not in text and all(w in last for w in words)


CASES = [
    (["load", "product_a:" + "1" * 5000 + ".0.0"], ("at most 9 digits", "1.2.0")),
    (["info", "product_a:1." + "9" * 5000 + ".*"], ("at most 9 digits",)),
    (["load", "iris", "--data-dir", "s3://bucket/prepared"], ("LABDATASETS_SHARED_CACHE", "data_dir")),
]


def test_bad_arguments_are_one_clear_line(capsys, fault_outcome):
    results = [_one_clear_line(*_cli(capsys, *argv), *words) for argv, words in CASES]
    with pytest.raises(DatasetNameError):
        labdatasets.builder("product_a:" + "1" * 5000 + ".0.0")
    for bad in (123, ["a"], "gs://x/y"):
        with pytest.raises(ConfigError, match="data_dir"):
            labdatasets.load("iris", split="train", data_dir=bad)  # type: ignore[arg-type]
        results.append(True)
    with pytest.raises(ConfigError, match="format must be one of pandas"):
        labdatasets.load("iris", split="train", format="xyz")
    results.append(True)
    fault_outcome("5000-digit version, non-path data_dir, format='xyz'", tries=len(results), survived=sum(results),
                  unclear=len(results) - sum(results))


def test_a_damaged_pin_record_names_itself_and_says_restore_from_git(make_builder, monkeypatch, tmp_path, capsys, fault_outcome):
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    make_builder.tabular("bad_oid")
    record = labdatasets.builder("bad_oid:1.0.0").pin(progress=False)
    good = json.loads(record.path.read_text())
    edits = {
        "oid not hex": lambda d: d["sources"]["rows"]["objects"][0].update(oid="../../etc/passwd"),
        "oid missing": lambda d: d["sources"]["rows"]["objects"][0].pop("oid"),
        "size not a number": lambda d: d["sources"]["rows"]["objects"][0].update(size="lots"),
    }
    results = []
    for label, edit in edits.items():
        data = json.loads(json.dumps(good))
        edit(data)
        record.path.write_text(json.dumps(data))
        code, text = _cli(capsys, "build", "bad_oid:1.0.0", "--quiet")
        results.append(_one_clear_line(code, text.lower(), str(record.path).lower(), "restore it from git")
                       and ("not a sha256" in text or "oid not" not in label))
        assert not (tmp_path / "etc").exists()
    fault_outcome("pin record with a bad oid / missing field / bad size", tries=len(results), survived=sum(results),
                  unclear=len(results) - sum(results))


def test_store_credentials_blame_the_store_and_say_what_to_set(
    s3_env, s3_bucket, make_builder, monkeypatch, tmp_path, capsys, fault_outcome
):
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"s3://{s3_bucket}/store")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    make_builder.tabular("no_aws")
    with pytest.raises(SnapshotError) as info:
        labdatasets.builder("no_aws:1.0.0").pin(progress=False)
    message = str(info.value)
    ok = (not isinstance(info.value, SourceError) and "No AWS credentials" in message and "AWS_ACCESS_KEY_ID" in message
          and f"s3://{s3_bucket}/store" in message)
    code, text = _cli(capsys, "pin", "no_aws:1.0.0", "--quiet")
    ok_cli = _one_clear_line(code, text, "AWS_ACCESS_KEY_ID")
    assert ok and ok_cli, (message, text)
    assert not (tmp_path / "pins" / "no_aws").exists()
    fault_outcome("s3:// store with no AWS credentials", tries=2, survived=ok + ok_cli, unclear=2 - ok - ok_cli)


@pytest.fixture
def refused_google_credentials(tmp_path, monkeypatch):
    """A service-account key whose token endpoint (a fault proxy answering 401) refuses it."""
    from tests.proxy import Fault, FaultProxy
    from tests.sheets_server import service_account_info

    with FaultProxy("http://127.0.0.1:9", seed=1) as proxy:  # nothing upstream: every request is answered by a rule
        proxy.add(Fault("status", status=401))
        key = tmp_path / "revoked-key.json"
        key.write_text(json.dumps(service_account_info(f"{proxy.url}/token")))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "lab-test")
        yield proxy


def test_a_refused_google_credential_blames_the_gs_store_or_source(
    refused_google_credentials, make_builder, monkeypatch, tmp_path, capsys, fault_outcome
):
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    results = []
    # The store's credential: a pin of a local source into a gs:// store.
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", "gs://lab-revoked/store")
    make_builder.tabular("gs_refused")
    with pytest.raises(SnapshotError) as info:
        labdatasets.builder("gs_refused:1.0.0").pin(progress=False)
    results.append(not isinstance(info.value, SourceError) and "refused the credentials" in str(info.value)
                   and "gs://lab-revoked/store" in str(info.value) and "GOOGLE_APPLICATION_CREDENTIALS" in str(info.value))
    code, text = _cli(capsys, "pin", "gs_refused:1.0.0", "--quiet")
    results.append(_one_clear_line(code, text, "gs://lab-revoked/store"))
    # The source's credential: a GCS source pinned into the local store.
    monkeypatch.delenv("LABDATASETS_SNAPSHOT_STORE")
    name = make_builder.sources_only("gs_source_refused", '{"files": loaders.GCSSource("gs://lab-revoked/data/")}',
                                     doc="Files in a bucket.").name
    with pytest.raises(SourceError) as source_info:
        labdatasets.builder(name).pin(progress=False)
    results.append("access to gs://lab-revoked/data/ was refused" in str(source_info.value))
    assert refused_google_credentials.stats["status"] >= 2  # the token endpoint was asked, and refused
    fault_outcome("refused Google credential: gs:// store, then a GCS source", tries=len(results),
                  survived=sum(results), unclear=len(results) - sum(results))


def test_a_missing_object_names_the_store_it_was_pinned_to(s3_env, s3_bucket, make_builder, monkeypatch, tmp_path, capsys, fault_outcome):
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"s3://{s3_bucket}/store")
    make_builder.tabular("moved_store", write_source=True)
    record = labdatasets.builder("moved_store:1.0.0").pin(progress=False)
    assert record.snapshot_store == f"s3://{s3_bucket}/store"
    # Another machine, configured with another (empty) store, and the local source gone.
    monkeypatch.setenv("LABDATASETS_HOME", str(tmp_path / "machine-b"))
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"s3://{s3_bucket}/elsewhere")
    for csv in (tmp_path / "builders").rglob("rows.csv"):
        csv.unlink()
    with pytest.raises(SnapshotNotFoundError) as info:
        labdatasets.builder("moved_store:1.0.0").build(progress=False)
    message = str(info.value)
    ok = f"s3://{s3_bucket}/elsewhere" in message and f"LABDATASETS_SNAPSHOT_STORE=s3://{s3_bucket}/store" in message
    fault_outcome("snapshot object missing from the configured store", tries=1, survived=int(ok), unclear=int(not ok))


def test_a_load_that_builds_says_why_the_shared_cache_was_not_used(make_builder, monkeypatch, tmp_path, caplog, fault_outcome):
    monkeypatch.setenv("LABDATASETS_SHARED_CACHE", f"file://{tmp_path / 'shared'}")
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    make_builder.tabular("unpublished")
    labdatasets.builder("unpublished:1.0.0").pin(progress=False)
    with caplog.at_level(logging.WARNING, logger="labdatasets"):
        labdatasets.load("unpublished:1.0.0", split="train", progress=False)
    ok = "not published in the shared cache" in caplog.text and "labdatasets publish unpublished:1.0.0" in caplog.text
    fault_outcome("load builds because the version is not in the shared cache", tries=1, survived=int(ok), unclear=int(not ok))
