"""Run a build's Beam pipeline in a child Python process when this process is IPython.

Beam behaves differently when ``IPython.get_ipython()`` returns a shell (a Jupyter
kernel, or IPython in a terminal):

* ``Pipeline.apply`` calls ``apache_beam.utils.interactive_utils.alter_label_if_ipython``
  for every top-level transform, and that imports
  ``apache_beam.runners.interactive.interactive_environment``. That module imports
  ``apache_beam.dataframe`` (which fails on pandas 3: "type object 'DataFrame' has no
  attribute 'first'"); on pandas 2 it logs a warning when Interactive Beam's extras are
  missing and, in a notebook, displays a javascript output that loads jQuery from the
  internet.
* ``Pipeline.run`` leaves its ``beam-pipeline-temp*`` folder behind for Interactive Beam
  to clean up.

None of that can be switched off: it keys on the process being IPython. A dataset
build is not an interactive pipeline, so in IPython the pipeline runs where Beam
sees an ordinary process: ``python -m labdatasets.processing.isolated JOB RESULT``.
The child gets the job (the builder, its pin record, where to write) and the function
that runs it pickled (the build passes :func:`labdatasets.processing.build._run_pipeline`, exactly
what an ordinary process runs; this module does not import the build), and pickles back the split
names or the error. The parent keeps the progress display
(workers report through files, see :class:`labdatasets.progress.CounterFile`) and
everything after the pipeline (checking, fingerprinting, moving into place).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, TypeVar
from collections.abc import Callable, Sequence
from types import ModuleType

from labdatasets.errors import LabDatasetsError, ProcessingError

__all__ = ["in_ipython", "run_pipeline_in_child"]

logger = logging.getLogger(__name__)

#: The build's job (a dataclass with a ``builder`` field); this module runs it without knowing it.
Job = TypeVar("Job")


def in_ipython() -> bool:
    """Whether this process is an IPython shell or kernel (what Beam checks), without importing IPython."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    try:
        return get_ipython is not None and get_ipython() is not None
    except Exception:  # an IPython being torn down: not a shell Beam would use either
        return False


def run_pipeline_in_child(
    job: Job, builder: Any, run: Callable[[Job], list[str]], modules: Sequence[ModuleType]
) -> list[str]:
    """Run ``run(job)`` in a child process; return its split names or raise its error.

    ``builder`` is the builder the user asked for: the child derives the processing
    builder from it (the same code, or the version's archived code) as this process did.
    ``run`` (a module-level function, pickled by reference) runs the pipeline; ``modules``
    are the builder's own modules, which the child loads as this process has them.
    """
    from labdatasets.processing._beam_import import import_beam

    import_beam()  # first, so that Beam's import-time noise is filtered
    from apache_beam.internal.cloudpickle import cloudpickle

    with tempfile.TemporaryDirectory(prefix="labdatasets-build-") as scratch:
        job_path, result_path, err_path = (Path(scratch) / n for n in ("job.pkl", "result.pkl", "stderr.txt"))
        payload = {
            # a builder module loaded from its file (not importable by name) is loaded the same way there
            "modules": [(m.__name__, m.__file__) for m in modules if getattr(m, "__file__", None)],
            "log_level": logging.getLogger("labdatasets").getEffectiveLevel(),
            # the processing builder may be a version's archived code, loaded from the store: the child
            # derives it again from the builder asked for, as this process did
            "job": cloudpickle.dumps({"job": dataclasses.replace(job, builder=None), "builder": builder, "run": run}),  # type: ignore[type-var]
        }
        job_path.write_bytes(pickle.dumps(payload))
        env = dict(os.environ)
        # the child imports what this process imported, from the same places (a kernel started in a checkout)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        command = [sys.executable, "-m", "labdatasets.processing.isolated", str(job_path), str(result_path)]
        with open(err_path, "wb") as err:
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env)
            try:
                returncode = child.wait()
            except BaseException:  # an interrupted cell stops the build
                child.kill()
                child.wait()
                raise
        output = err_path.read_text("utf-8", errors="replace")
        if output.strip():
            sys.stderr.write(output)  # what the pipeline said (warnings), as an in-process build shows it
        if not result_path.is_file():
            tail = "\n".join(output.strip().splitlines()[-5:])
            raise ProcessingError(
                f"Building {builder.full_name}: the build process exited with code {returncode} before "
                f"finishing{': ' + tail if tail else ''}. Run with LABDATASETS_DEBUG=1 for its full log."
            )
        status, value = pickle.loads(result_path.read_bytes())
    if status == "ok":
        return list(value)
    raise value


def _import(name: str, file: str) -> None:
    """Import module ``name`` as the parent has it: by name if that works, else from its file."""
    if name in sys.modules:
        return
    try:
        importlib.import_module(name)
        return
    except ImportError:
        pass
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ProcessingError(f"Cannot load the builder module {name} from {file} in the build process")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def _child(job_path: Path, result_path: Path) -> int:
    """The child's side: rebuild the job, run the pipeline, pickle back the outcome."""
    from labdatasets.processing._beam_import import import_beam

    import_beam()  # before unpickling the job imports Beam unfiltered
    from apache_beam.internal.cloudpickle import cloudpickle

    payload = pickle.loads(job_path.read_bytes())  # plain data: names, paths, a level, bytes
    level = payload["log_level"]
    logging.getLogger("labdatasets").setLevel(level)
    if level <= logging.DEBUG:
        logging.basicConfig(level=logging.DEBUG)
    builder: Any = None
    try:
        from labdatasets.pinning.pin import snapshots_for
        from labdatasets.processing.code import processing_builder

        for name, file in payload["modules"]:
            _import(name, file)
        unpickled = pickle.loads(payload["job"])
        builder, job, run = unpickled["builder"], unpickled["job"], unpickled["run"]
        code_logger = logging.getLogger("labdatasets.processing.code")
        before = code_logger.level
        code_logger.setLevel(logging.ERROR)  # the parent already said what code builds this version
        try:
            processing = processing_builder(builder, job.record, snapshots_for(builder))
        finally:
            code_logger.setLevel(before)
        splits = run(dataclasses.replace(job, builder=processing))
        outcome: tuple[str, Any] = ("ok", splits)
    except LabDatasetsError as exc:
        outcome = ("error", exc)
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent, readable
        logger.debug("the build failed", exc_info=True)
        outcome = ("error", ProcessingError(f"Building {getattr(builder, 'full_name', 'the dataset')} failed: {exc}"))
    try:
        data = cloudpickle.dumps(outcome)
        pickle.loads(data)  # the parent must be able to read it back
    except Exception:  # noqa: BLE001 - an error that does not pickle still goes back, as text
        data = pickle.dumps(("error", ProcessingError(str(outcome[1]))))
    tmp = result_path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1]), Path(sys.argv[2])))
