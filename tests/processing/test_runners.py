"""Builds on other runner modes: DirectRunner multi-processing, and output through Beam's S3 filesystem."""

from __future__ import annotations

import json

import pytest

import labdatasets
from labdatasets.cli import main
from labdatasets.errors import ConfigError
from labdatasets.processing.options import BuildOptions
from tests.helpers import sample_rows
from tests.servers import TEST_AWS_KEY, TEST_AWS_SECRET

pytestmark = pytest.mark.slow


def split_fingerprints(builder) -> dict[str, str]:
    return {name: s.fingerprint for name, s in builder.info.splits.items()}


def test_pipeline_options_from_workers_and_flags():
    flags, runner = BuildOptions.of({"runner": "DirectRunner", "direct_num_workers": 8}, workers=2).pipeline_flags()
    assert runner == "DirectRunner"
    assert flags == ["--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    assert BuildOptions.of(["temp_location=/tmp/x"], workers=1).pipeline_flags()[0] == [
        "--runner=DirectRunner", "--temp_location=/tmp/x", "--direct_num_workers=1", "--direct_running_mode=in_memory"
    ]
    with pytest.raises(ConfigError, match="max_num_workers=N on Dataflow"):
        BuildOptions.of({"runner": "DataflowRunner"}, workers=4).pipeline_flags()


def test_the_same_version_built_twice_and_with_worker_processes_has_the_same_fingerprints(make_builder, capsys):
    """Multi-processing pickles every transform, including this builder whose module no worker can import."""
    make_builder.tabular("toy_mp", rows=sample_rows(3000))
    b = labdatasets.builder("toy_mp")
    b.build()
    first = split_fingerprints(b)
    b.build(overwrite=True)
    assert split_fingerprints(b) == first
    assert main(["build", "toy_mp", "--overwrite", "--quiet", "--workers", "2"]) == 0
    assert "prepared toy_mp:1.0.0" in capsys.readouterr().out
    b = labdatasets.builder("toy_mp")
    assert split_fingerprints(b) == first
    assert b.info.num_rows == 3000


def test_a_build_whose_output_goes_through_beams_s3_filesystem(make_builder, s3_env, s3_bucket):
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_env)
    # versioning keeps a trace of every object the workers wrote, after the build deletes its staging area
    s3.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    make_builder.tabular("toy_s3out", rows=sample_rows(2000))
    local = labdatasets.builder("toy_s3out")
    local.build()
    expected = split_fingerprints(local)

    options = {
        "temp_location": f"s3://{s3_bucket}/tmp",
        "s3_endpoint_url": s3_env,
        "s3_access_key_id": TEST_AWS_KEY,
        "s3_secret_access_key": TEST_AWS_SECRET,
        "s3_region_name": "us-east-1",
    }
    remote = labdatasets.builder("toy_s3out")
    remote.build(beam_options=options, overwrite=True)
    assert split_fingerprints(remote) == expected

    versions = s3.list_object_versions(Bucket=s3_bucket, Prefix="tmp/labdatasets/").get("Versions", [])
    written = [v["Key"] for v in versions]
    names = sorted(k.rsplit("/", 1)[-1] for k in written)
    assert names == [
        "_ledger.json",
        "toy_s3out-test-00000-of-00001.parquet",
        "toy_s3out-test-00000-of-00001.parquet.json",
        "toy_s3out-train-00000-of-00001.parquet",
        "toy_s3out-train-00000-of-00001.parquet.json",
    ]
    assert {n: s.statistics["num_rows"] for n, s in remote.info.splits.items()} == {
        n: s.num_rows for n, s in remote.info.splits.items()
    }
    assert all(k.startswith("tmp/labdatasets/toy_s3out-1.0.0-") for k in written)
    assert s3.list_objects_v2(Bucket=s3_bucket, Prefix="tmp/")["KeyCount"] == 0  # staging cleaned up
    train = next(v for v in versions if v["Key"].endswith("train-00000-of-00001.parquet.json"))
    manifest = json.loads(s3.get_object(Bucket=s3_bucket, Key=train["Key"], VersionId=train["VersionId"])["Body"].read())
    shard = remote.info.splits["train"].shards[0]
    assert (manifest["sha256"], manifest["num_rows"]) == (shard.sha256, shard.num_rows)


def test_a_remote_runner_needs_a_place_its_workers_can_write(make_builder):
    make_builder.tabular("toy_remote")
    with pytest.raises(ConfigError, match="temp_location=gs://BUCKET/tmp"):
        labdatasets.builder("toy_remote").build(beam_options={"runner": "DataflowRunner"})
    assert labdatasets.builder("toy_remote").pin_record() is None  # refused before anything was done


def test_beam_switches_and_bad_values_give_clear_errors(caplog):
    flags, _ = BuildOptions.of({"runner": "FlinkRunner", "flink_submit_uber_jar": "true", "save_main_session": "false"}).pipeline_flags()
    assert flags == ["--runner=FlinkRunner", "--flink_submit_uber_jar"]
    with pytest.raises(ConfigError, match="Beam refused the pipeline options: argument --direct_num_workers: invalid int value"):
        BuildOptions.of({"direct_num_workers": "many"}).pipeline_flags()
    with pytest.raises(ConfigError, match="--flink_submit_uber_jar is a switch"):
        BuildOptions.of(["flink_submit_uber_jar=maybe"]).pipeline_flags()
    with caplog.at_level("WARNING"):
        assert BuildOptions.of(["temp_locaton=/tmp"]).pipeline_flags()[0] == ["--runner=DirectRunner", "--temp_locaton=/tmp"]
    assert "Beam does not know the option --temp_locaton; did you mean --temp_location?" in caplog.text
