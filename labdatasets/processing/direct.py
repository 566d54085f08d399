"""The DirectRunner as labdatasets builds use it: on this machine, nothing fetched, nothing left behind.

Two things Beam's ``DirectRunner`` does by default that a dataset build must not:

* Since Beam 2.6x it first tries the Prism runner, a Go binary it downloads from
  GitHub on first use and starts as a job server. Without network access that fails
  after starting a worker pool and creating a ``beam-temp*`` folder (never removed)
  and two ``tmp*`` folders under ``$TMPDIR``, then Beam falls back to its Python
  runners. With network access, a build would download and run a binary that no
  dependency declares. :func:`direct_runner` skips that attempt through the
  runner's own switch (``is_interactive()``, which has no other effect on it); the
  build runs on the FnApiRunner, where it always ended up.
* Its multi-processing mode (``workers=N``) starts each worker as
  ``python -m apache_beam.runners.worker.sdk_worker_main``, which configures
  logging to stderr and prints ``WARNING:root:apitools not found ...`` and
  ``INFO:__main__:Logging handler created.`` straight to the user's terminal. Our
  workers start through :mod:`labdatasets.processing._sdk_worker` instead, which
  sends nothing to stderr: their log records reach this process through Beam's
  logging channel, as in-process ones do.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

__all__ = ["direct_runner", "WORKER_MODULE"]

WORKER_MODULE = "labdatasets.processing._sdk_worker"
_BEAM_WORKER = "%s -m apache_beam.runners.worker.sdk_worker_main"  # what Beam's FnApiRunner starts


def direct_runner(options: Any) -> Any:
    """The runner object for a DirectRunner build with these ``PipelineOptions``."""
    from apache_beam.options.pipeline_options import DirectOptions

    if options.view_as(DirectOptions).direct_running_mode == "multi_processing":
        return _worker_processes_runner(options)
    from apache_beam.runners.direct.direct_runner import SwitchingDirectRunner

    runner = SwitchingDirectRunner()
    runner.is_interactive()  # its only effect: no Prism attempt (see the module docstring)
    return runner


def _worker_processes_runner(options: Any) -> Any:
    """The FnApiRunner with worker processes (what the DirectRunner picks for that mode), started quietly."""
    from apache_beam.portability import python_urns
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    beam_command = (_BEAM_WORKER % sys.executable).encode("utf-8")
    our_command = f"{shlex.quote(sys.executable)} -m {WORKER_MODULE}".encode()

    class QuietWorkersRunner(fn_runner.FnApiRunner):
        def run_via_runner_api(self, pipeline_proto: Any, options: Any) -> Any:
            for environment in pipeline_proto.components.environments.values():
                if environment.urn == python_urns.SUBPROCESS_SDK and environment.payload == beam_command:
                    environment.payload = our_command
            return super().run_via_runner_api(pipeline_proto, options)

    # as SwitchingDirectRunner builds its FnApiRunner: the workers get the pipeline options
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision_info = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return QuietWorkersRunner(provision_info=provision_info)
