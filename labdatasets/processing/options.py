"""How a build runs: the Beam runner, its pipeline options and the DirectRunner's worker processes.

:class:`BuildOptions` is the one value that carries them from where a user
gives them (``labdatasets.load(..., beam_options=..., workers=...)``,
``builder.build(...)``, the CLI's ``--runner``/``--beam-option``/``--workers``)
down to the pipeline. It is made once, at that edge, and checked there (a bad
``workers`` fails before anything is pinned); Apache Beam is imported only when
:meth:`BuildOptions.pipeline_flags` turns it into the flags a pipeline runs with.

Example::

    >>> BuildOptions.of({"runner": "DaskRunner", "dask_client_address": "127.0.0.1:8786"})
    BuildOptions(flags=('--runner=DaskRunner', '--dask_client_address=127.0.0.1:8786'), workers=None)
    >>> BuildOptions.of(workers=2).runner
    'DirectRunner'
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from labdatasets.errors import ConfigError

__all__ = ["BuildOptions", "BeamOptions", "DEFAULT_RUNNER", "DIRECT_RUNNERS"]

logger = logging.getLogger(__name__)

#: What users pass as ``beam_options``: ``{"runner": "FlinkRunner", ...}`` or ``["--runner=FlinkRunner", ...]``.
BeamOptions = Mapping[str, Any] | Sequence[str]

DEFAULT_RUNNER = "DirectRunner"
#: The runner names ``workers=N`` applies to (it sets the DirectRunner's processes).
DIRECT_RUNNERS = ("directrunner", "direct")


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """The Beam options and the number of DirectRunner worker processes of one build.

    ``flags`` are the Beam options as ``--key=value`` (``--key`` for a switch),
    in the order given; the runner stays as written (``DaskRunner``,
    ``dask``...) until :meth:`pipeline_flags` resolves it. Make one with
    :meth:`of`, which accepts what the public API accepts.
    """

    flags: tuple[str, ...] = ()
    workers: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.flags, str) or not all(isinstance(f, str) for f in self.flags):
            raise ConfigError(f"Beam options are flags such as '--runner=DirectRunner', got {self.flags!r}")
        object.__setattr__(self, "flags", tuple(f if f.startswith("--") else f"--{f}" for f in self.flags))
        if self.workers is None:
            return
        if isinstance(self.workers, bool) or not isinstance(self.workers, int):
            raise ConfigError(f"workers must be a whole number of processes, got {self.workers!r}")
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if self.runner.lower() not in DIRECT_RUNNERS:
            raise ConfigError(
                f"workers={self.workers} sets the DirectRunner's processes; {self.runner} sizes its own workers "
                "(e.g. --beam-option max_num_workers=N on Dataflow, --beam-option parallelism=N on Flink)"
            )

    @classmethod
    def of(
        cls,
        beam_options: BeamOptions | None = None,
        workers: int | None = None,
        *,
        options: "BuildOptions | None" = None,
    ) -> "BuildOptions":
        """The options of the public keywords: ``beam_options`` (a mapping or flags) and ``workers``.

        ``options`` is an already-made value (internal callers pass it on); it
        cannot be combined with the other two. A mapping value ``True`` is a
        switch (``--key``); ``False`` and ``None`` leave the option out.
        """
        if options is not None:
            if beam_options is not None or workers is not None:
                raise ConfigError("pass either options=BuildOptions(...) or beam_options=/workers=, not both")
            return options
        if beam_options is None:
            flags: list[str] = []
        elif isinstance(beam_options, Mapping):
            flags = []
            for key, value in beam_options.items():
                key = str(key).lstrip("-")
                if value is True:
                    flags.append(f"--{key}")
                elif value is not False and value is not None:
                    flags.append(f"--{key}={value}")
        elif isinstance(beam_options, (str, bytes)) or not isinstance(beam_options, Sequence):
            raise ConfigError(
                f"beam_options must be a mapping such as {{'runner': 'DataflowRunner'}} or a list of flags such as "
                f"['--runner=DataflowRunner'], got {type(beam_options).__name__}"
            )
        else:
            flags = [str(f) for f in beam_options]
        return cls(flags=tuple(flags), workers=workers)

    def option(self, name: str) -> str | None:
        """The value of ``--name=value`` (the last one given), or None."""
        value = None
        for flag in self.flags:
            if flag.startswith(f"--{name}="):
                value = flag.split("=", 1)[1]
        return value

    @property
    def runner(self) -> str:
        """The runner as the user named it (``DirectRunner`` when none was given)."""
        return self.option("runner") or DEFAULT_RUNNER

    def pipeline_flags(self) -> tuple[list[str], str]:
        """The flags a Beam pipeline runs with, and the runner's name.

        Runner short names Beam does not know (``DaskRunner``, ``dask``) become
        class paths; every flag is checked by Beam's own option parser (imports
        Beam); ``workers=N`` runs the DirectRunner in its multi-processing mode
        with N processes (``direct_num_workers=N``, ``direct_running_mode=multi_processing``).

        Example::

            >>> BuildOptions.of({"direct_num_workers": 2}).pipeline_flags()
            (['--runner=DirectRunner', '--direct_num_workers=2'], 'DirectRunner')
        """
        from labdatasets.processing.runners import register_runner_options, resolve_runner

        runner = self.runner
        flags = list(self.flags)
        if self.option("runner") is None:
            flags.insert(0, f"--runner={DEFAULT_RUNNER}")
        flags = [f"--runner={resolve_runner(f.split('=', 1)[1])}" if f.startswith("--runner=") else f for f in flags]
        register_runner_options(runner, flags)
        flags = _checked_flags(flags)
        if self.workers is not None:
            flags = [f for f in flags if not f.startswith(("--direct_num_workers=", "--direct_running_mode="))]
            flags.append(f"--direct_num_workers={self.workers}")
            flags.append(f"--direct_running_mode={'multi_processing' if self.workers > 1 else 'in_memory'}")
        return flags, runner


def _checked_flags(flags: Sequence[str]) -> list[str]:
    """Check flags against Beam's own option parser, turning its exits into a ConfigError.

    ``--switch=true`` becomes ``--switch`` (and ``=false`` drops it): Beam's
    switches take no value and argparse would exit the process on one. Unknown
    options are kept (a runner may define them) with a warning naming the
    closest known option.
    """
    import difflib
    import io

    from labdatasets.processing._beam_import import import_beam

    import_beam()  # first, so that Beam's import-time noise is filtered
    from apache_beam.options.pipeline_options import PipelineOptions

    parsers: list[Any] = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=parsers.append)
    parser = parsers[0]
    actions = {option: action for action in parser._actions for option in action.option_strings}
    checked = []
    for flag in flags:
        name, sep, value = flag.partition("=")
        action = actions.get(name)
        if action is None:
            close = difflib.get_close_matches(name, list(actions), n=1)
            logger.warning("Beam does not know the option %s%s", name, f"; did you mean {close[0]}?" if close else "")
        elif sep and action.nargs == 0:
            if value.lower() in ("true", "yes", "1"):
                checked.append(name)
            elif value.lower() not in ("false", "no", "0"):
                raise ConfigError(f"Beam option {name} is a switch: pass {name[2:]}=true, or leave it out")
            continue
        checked.append(flag)
    with contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            parser.parse_known_args(checked)
        except SystemExit:
            message = (err.getvalue().strip().splitlines() or ["invalid options"])[-1]
            raise ConfigError(f"Beam refused the pipeline options: {message.split(': error: ')[-1]}") from None
    return checked
