"""BuildOptions: the Beam options and the worker count of a build, made once where users give them."""

from __future__ import annotations

import dataclasses

import pytest

import labdatasets
from labdatasets.cli import _parser, main
from labdatasets.cli._common import build_options
from labdatasets.errors import ConfigError
from labdatasets.processing import build as build_module
from labdatasets.processing.options import BuildOptions
from labdatasets.processing.runners import DASK_RUNNER
from tests.helpers import sample_rows


def test_a_mapping_and_a_list_of_flags_make_the_same_value():
    from_mapping = BuildOptions.of({"runner": "FlinkRunner", "save_main_session": True, "a": None, "b": False, "--c": 3})
    from_flags = BuildOptions.of(["--runner=FlinkRunner", "save_main_session", "c=3"])
    assert from_mapping == from_flags == BuildOptions(("--runner=FlinkRunner", "--save_main_session", "--c=3"))
    assert hash(from_mapping) == hash(from_flags)
    assert from_mapping.runner == "FlinkRunner" and from_mapping.option("c") == "3"
    assert BuildOptions.of() == BuildOptions() and BuildOptions().runner == "DirectRunner"
    with pytest.raises(dataclasses.FrozenInstanceError):
        from_mapping.workers = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    "beam_options, workers, message",
    [
        (None, 0, "workers must be at least 1, got 0"),
        (None, True, "whole number of processes"),
        (None, "2", "whole number of processes"),
        ({"runner": "DataflowRunner"}, 4, "max_num_workers=N on Dataflow"),
        ({"runner": "DaskRunner"}, 2, "DaskRunner sizes its own workers"),
        ("--runner=DirectRunner", None, "a mapping such as"),
        (42, None, "a mapping such as"),
    ],
)
def test_a_bad_value_is_refused_when_the_options_are_made(beam_options, workers, message):
    with pytest.raises(ConfigError, match=message):
        BuildOptions.of(beam_options, workers)


def test_workers_apply_to_the_direct_runner_by_either_of_its_names():
    assert BuildOptions.of({"runner": "direct"}, 3).workers == 3
    flags, runner = BuildOptions.of({"runner": "DirectRunner"}, 3).pipeline_flags()
    assert runner == "DirectRunner"
    assert flags[-2:] == ["--direct_num_workers=3", "--direct_running_mode=multi_processing"]


def test_options_and_the_separate_keywords_are_not_mixed():
    made = BuildOptions.of(workers=2)
    assert BuildOptions.of(options=made) is made
    with pytest.raises(ConfigError, match="not both"):
        BuildOptions.of({"runner": "DirectRunner"}, options=made)
    with pytest.raises(ConfigError, match="not both"):
        labdatasets.builder("product_a:1.0.0").build(workers=2, options=made)


@pytest.mark.parametrize("name", ["DaskRunner", "dask", "daskrunner"])
def test_dask_runner_short_names_stay_as_written_until_the_pipeline_resolves_them(name):
    options = BuildOptions.of({"runner": name, "dask_client_address": "127.0.0.1:8786"})
    assert options.runner == name
    flags, runner = options.pipeline_flags()
    assert runner == name
    assert flags == [f"--runner={DASK_RUNNER}", "--dask_client_address=127.0.0.1:8786"]


def _cli_options(*argv: str) -> BuildOptions:
    return build_options(_parser().parse_args(["build", "product_a", *argv]))


def test_cli_flags_become_one_value():
    assert _cli_options() == BuildOptions()
    assert _cli_options("--workers", "2", "--beam-option", "direct_num_workers=1") == BuildOptions(
        ("--direct_num_workers=1",), workers=2
    )
    dask = _cli_options("--runner", "DaskRunner", "--beam-option", "dask_client_address=127.0.0.1:8786")
    assert dask == BuildOptions(("--runner=DaskRunner", "--dask_client_address=127.0.0.1:8786"))
    # a --beam-option runner=... given after --runner wins, as before
    assert _cli_options("--runner", "DaskRunner", "--beam-option", "runner=DirectRunner").runner == "DirectRunner"
    with pytest.raises(ConfigError, match="--beam-option expects KEY=VALUE"):
        _cli_options("--beam-option", "direct_num_workers")


def test_a_bad_worker_count_fails_before_anything_is_pinned(make_builder, capsys):
    make_builder.tabular("toy_badworkers")
    assert main(["build", "toy_badworkers", "--quiet", "--runner", "DataflowRunner", "--workers", "2"]) != 0
    assert "sizes its own workers" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="at least 1"):
        labdatasets.load("toy_badworkers", split="train", workers=0)
    assert labdatasets.builder("toy_badworkers").pin_record() is None


@pytest.fixture
def builds(monkeypatch):
    """The options every build of the test received (the real build runs)."""
    seen: list[BuildOptions] = []
    real = build_module.build

    def recording(builder, options=None, **kwargs):
        seen.append(options)
        return real(builder, options, **kwargs)

    monkeypatch.setattr(build_module, "build", recording)
    return seen


def test_load_keywords_and_cli_flags_reach_the_build_as_one_value(make_builder, builds):
    make_builder.tabular("toy_opts_load", rows=sample_rows(50))
    make_builder.tabular("toy_opts_cli", rows=sample_rows(50))
    expected = BuildOptions(("--runner=DirectRunner", "--direct_num_workers=1"), workers=1)

    df = labdatasets.load(
        "toy_opts_load", split="train", format="pandas", beam_options={"runner": "DirectRunner", "direct_num_workers": 1},
        workers=1, progress=False,
    )
    assert len(df) > 0
    cli = ["build", "toy_opts_cli", "--quiet", "--runner", "DirectRunner", "--beam-option", "direct_num_workers=1", "--workers", "1"]
    assert main(cli) == 0
    assert builds == [expected, expected]
