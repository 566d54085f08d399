"""What labdatasets knows about Beam runners beyond Beam's own list (Beam is imported only when needed).

* Short names: Beam resolves ``DirectRunner``, ``DataflowRunner``, ``FlinkRunner``...
  by name, but not its own ``DaskRunner``; :func:`resolve_runner` maps
  ``DaskRunner`` / ``dask`` to its class path.
* Options: a runner's options are known to Beam's parser only once the module
  that declares them is imported; :func:`register_runner_options` imports the
  Dask runner's (``dask_client_address``, ``dask_npartitions``...) when Dask is
  installed, so that they are checked like any other.
* Beam's DaskRunner (2.77) has two limits a pipeline must respect, checked by
  :func:`check_pipeline` before it runs:

  - every consumer of a step with tagged outputs (``.with_outputs()``,
    ``beam.Partition``) receives the whole output of the step, all tags mixed
    (the runner keys its Dask bags by producing step, not by output, and drops
    the tags); so a pipeline whose tagged outputs are used is refused with a
    readable error, rather than building splits that all hold every row. Our
    own transforms use plain keyed outputs instead.
  - it computes only the Dask graph of the last step it visits; steps that do
    not feed it never run. The build's last step (the ledger, which depends on
    every write) must therefore be the last one.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from collections.abc import Sequence

__all__ = [
    "DASK_RUNNER",
    "resolve_runner",
    "is_dask_runner",
    "flag_value",
    "register_runner_options",
    "runs_on_this_machine",
    "check_pipeline",
    "close_runner",
]

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
_ALIASES = {"daskrunner": DASK_RUNNER, "dask": DASK_RUNNER}


def resolve_runner(name: str) -> str:
    """The name Beam accepts for ``name`` (a class path for runners Beam does not know by name)."""
    return _ALIASES.get(name.lower(), name)


def is_dask_runner(name: str) -> bool:
    return resolve_runner(name) == DASK_RUNNER or name.endswith(".DaskRunner")


def register_runner_options(runner: str, flags: Sequence[str] = ()) -> None:
    """Import the modules that declare runner options Beam's parser does not see by default.

    The Dask runner's options are registered when the runner is Dask or a
    ``dask_...`` option is given (importing dask.distributed takes a second or
    two, so other builds do not); choosing the DaskRunner without it installed
    is an error naming the extra to install.
    """
    from labdatasets.errors import MissingDependencyError

    if not is_dask_runner(runner) and not any(f.lstrip("-").startswith("dask_") for f in flags):
        return
    try:
        import dask.distributed  # noqa: F401
    except ImportError as exc:
        if is_dask_runner(runner):
            raise MissingDependencyError(
                f"The DaskRunner needs dask.distributed ({exc}): pip install 'labdatasets[dask]'",
                package="dask[distributed]",
            ) from exc
        return
    import apache_beam.runners.dask.dask_runner  # noqa: F401  (declares DaskOptions)


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
        except OSError:
            return False


def runs_on_this_machine(runner: str, flags: Sequence[str], local_runners: Any) -> bool:
    """Whether the workers share this machine's disk: a local runner, or Dask on a loopback scheduler.

    Beam's DaskRunner without ``dask_client_address`` (or ``dask_scheduler_file``)
    starts a cluster on this machine.
    """
    if runner.lower() in local_runners:
        return True
    if not is_dask_runner(runner):
        return False
    address = flag_value(flags, "dask_client_address")
    if address is None:
        return flag_value(flags, "dask_scheduler_file") is None
    hostport = address.split("://", 1)[-1]
    host = hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 or hostport.endswith("]") or "]:" in hostport else hostport
    return _is_loopback(host)


def flag_value(flags: Sequence[str], name: str) -> str | None:
    """The value of the last ``--name=value`` in ``flags``, or None."""
    value = None
    for flag in flags:
        if flag.startswith(f"--{name}="):
            value = flag.split("=", 1)[1]
    return value


def check_pipeline(pipeline: Any, runner: str, *, where: str, last_label: str) -> None:
    """Refuse, before it runs, a pipeline that ``runner`` would run wrongly (see the module docstring)."""
    if not is_dask_runner(runner):
        return
    from apache_beam.pipeline import PipelineVisitor

    from labdatasets.errors import ProcessingError

    consumed: set[int] = set()
    leaves: list[Any] = []
    tagged: list[tuple[str, list[str]]] = []

    class _Visitor(PipelineVisitor):
        def visit_transform(self, node: Any) -> None:
            for value in node.inputs:
                consumed.add(id(value))
            for value in node.side_inputs:
                consumed.add(id(value.pvalue))
            leaves.append(node)
            outputs = {tag: value for tag, value in node.outputs.items() if tag is not None and tag != "None"}
            if len(node.outputs) > 1 and outputs:
                tagged.append((node.full_label, [str(t) for t in outputs]))

    pipeline.visit(_Visitor())
    by_label = {node.full_label: node for node in leaves}
    for label, tags in tagged:
        node = by_label[label]
        used = [str(tag) for tag, value in node.outputs.items() if str(tag) in tags and id(value) in consumed]
        if used:
            raise ProcessingError(
                f"{where}: step '{label}' has tagged outputs ({', '.join(used)}), which Beam's DaskRunner does not "
                "separate: every consumer would receive all of the step's rows. Return one output keyed by its "
                "destination and select with beam.FlatMap (as labdatasets' split_by_hash does), or build on another "
                "runner."
            )
    if leaves and not leaves[-1].full_label.endswith(last_label):
        raise ProcessingError(
            f"{where}: Beam's DaskRunner runs only what leads to the pipeline's last step, and the last step is "
            f"'{leaves[-1].full_label}', not the build's '{last_label}'; a step added after the writers would not run."
        )


def close_runner(result: Any) -> None:
    """Let go of what a runner's result holds open (the DaskRunner's client connection)."""
    client = getattr(result, "client", None)
    if client is not None and hasattr(client, "close"):
        try:
            client.close()
        except Exception:  # noqa: BLE001 - closing is best effort; the build has finished
            pass
