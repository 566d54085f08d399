"""Beam on Dask: a dask.distributed cluster on loopback (a scheduler and two worker processes) builds the
example datasets, and their content fingerprints are the DirectRunner's."""

from __future__ import annotations

import logging

import apache_beam as beam
import pytest
from distributed import LocalCluster

import labdatasets
from labdatasets.cli import main
from labdatasets.errors import ProcessingError
from labdatasets.processing.options import BuildOptions
from labdatasets.processing import split_by_hash
from labdatasets.processing.runners import DASK_RUNNER, check_pipeline, runs_on_this_machine

pytestmark = pytest.mark.slow

EXAMPLES = ["product_a:1.0.0", "product_a:1.2.0", "iris"]


@pytest.fixture(scope="module")
def dask_scheduler():
    """A scheduler in this process and two worker processes, all on 127.0.0.1; closed after the module."""
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    try:
        assert len(cluster.scheduler_info["workers"]) == 2
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _splits(builder) -> dict[str, tuple[int, str]]:
    return {name: (s.num_rows, s.fingerprint) for name, s in builder.info.splits.items()}


def test_the_example_datasets_built_on_dask_have_the_direct_runners_fingerprints(dask_scheduler):
    for name in EXAMPLES:
        direct = labdatasets.builder(name)
        direct.build(progress=False)
        expected = _splits(direct)
        on_dask = labdatasets.builder(name)
        on_dask.build(beam_options={"runner": "DaskRunner", "dask_client_address": dask_scheduler}, overwrite=True, progress=False)
        assert _splits(on_dask) == expected, name
        assert len({fingerprint for _, fingerprint in expected.values()}) == len(expected), name  # no two splits alike
    rows = {name: n for name, (n, _) in _splits(labdatasets.builder("product_a:1.2.0")).items()}
    assert rows == {"train": 270, "test": 74}


def test_a_dask_build_from_the_command_line_and_through_a_staging_folder(dask_scheduler, tmp_path, capsys):
    direct = labdatasets.builder("product_a:1.2.0")
    direct.build(progress=False)
    expected = _splits(direct)
    assert main(["build", "product_a:1.2.0", "--overwrite", "--quiet", "--runner", "DaskRunner",
                 "--beam-option", f"dask_client_address={dask_scheduler}"]) == 0
    assert "prepared product_a:1.2.0" in capsys.readouterr().out
    assert _splits(labdatasets.builder("product_a:1.2.0")) == expected
    # temp_location: the workers write there through Beam's filesystems and this machine collects (the remote path)
    staged = labdatasets.builder("product_a:1.2.0")
    staged.build(
        beam_options={"runner": "DaskRunner", "dask_client_address": dask_scheduler, "temp_location": str(tmp_path / "staging")},
        overwrite=True,
        progress=False,
    )
    assert _splits(staged) == expected
    assert not any(p.is_file() for p in (tmp_path / "staging").rglob("*"))  # collected and cleaned up


def test_dask_runner_by_its_short_name_and_its_options_are_known(caplog):
    caplog.set_level(logging.WARNING)
    flags, runner = BuildOptions.of({"runner": "DaskRunner", "dask_client_address": "127.0.0.1:8786", "dask_npartitions": 4}).pipeline_flags()
    assert flags == [f"--runner={DASK_RUNNER}", "--dask_client_address=127.0.0.1:8786", "--dask_npartitions=4"]
    assert runner == "DaskRunner"
    assert "does not know" not in caplog.text
    BuildOptions.of({"runner": "dask", "dask_client_adress": "127.0.0.1:8786"}).pipeline_flags()
    assert "Beam does not know the option --dask_client_adress; did you mean --dask_client_address?" in caplog.text


def test_which_dask_schedulers_share_this_machines_disk():
    local = {"directrunner"}
    assert runs_on_this_machine("DaskRunner", [], local)  # Beam starts a cluster here
    assert runs_on_this_machine("DaskRunner", ["--dask_client_address=tcp://127.0.0.1:8786"], local)
    assert runs_on_this_machine("DaskRunner", ["--dask_client_address=localhost:8786"], local)
    assert not runs_on_this_machine("DaskRunner", ["--dask_client_address=tcp://10.1.2.3:8786"], local)
    assert not runs_on_this_machine("DaskRunner", ["--dask_scheduler_file=/shared/scheduler.json"], local)
    assert not runs_on_this_machine("DataflowRunner", [], local)


class _Tagged(beam.DoFn):
    def process(self, element):
        yield beam.pvalue.TaggedOutput("odd" if element % 2 else "even", element)


def test_tagged_outputs_are_refused_on_dask_before_anything_runs():
    """Beam's DaskRunner gives every consumer of a tagged output all of the step's elements."""
    pipeline = beam.Pipeline()
    outputs = pipeline | beam.Create([1, 2, 3]) | "Parity" >> beam.ParDo(_Tagged()).with_outputs("odd", "even")
    _ = outputs["odd"] | "Last" >> beam.Map(print)
    with pytest.raises(ProcessingError, match="step 'Parity/ParDo\\(_Tagged\\)' has tagged outputs \\(odd\\), which Beam's DaskRunner does not separate"):
        check_pipeline(pipeline, "DaskRunner", where="toy:1.0.0", last_label="Last")
    check_pipeline(pipeline, "DirectRunner", where="toy:1.0.0", last_label="Last")  # other runners separate them

    # split_by_hash has a single output; a step added after the last one would not run on Dask
    pipeline = beam.Pipeline()
    splits = split_by_hash(pipeline | beam.Create([]), key="id", ratios={"train": 0.5, "test": 0.5})
    _ = splits["train"] | "Last" >> beam.Map(print)
    check_pipeline(pipeline, "DaskRunner", where="toy:1.0.0", last_label="Last")
    _ = splits["test"] | "After" >> beam.Map(print)
    with pytest.raises(ProcessingError, match="the last step is 'After', not the build's 'Last'"):
        check_pipeline(pipeline, "DaskRunner", where="toy:1.0.0", last_label="Last")
