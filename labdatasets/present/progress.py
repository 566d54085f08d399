"""Progress bars and inter-process locks for long operations (pin, build, fetch).

Where progress shows:

* a terminal: tqdm bars on stderr, and a line when each stage starts and ends;
* a Jupyter kernel: tqdm's notebook bars (widgets when ipywidgets is installed,
  text in the cell's output otherwise); the build bar names the current stage;
* a pipe or a file: no bars; one line per finished stage on stderr.

``LABDATASETS_PROGRESS=0`` silences all of it and ``LABDATASETS_PROGRESS=1`` shows
bars even in a pipe. A build shows one bar for the whole build (:class:`BuildBar`):
reading the pinned inputs, writing the splits (rows written of rows processed) and
finishing (fingerprints, moving into place).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

__all__ = [
    "byte_progress", "lock_file", "progress_enabled", "stage_lines_enabled", "in_notebook", "Stage", "CounterFile",
    "counter_bar", "BuildBar", "READ_DIR", "CONFORMED_DIR", "WRITTEN_DIR",
]

logger = logging.getLogger("labdatasets")

# Subfolders of a build's progress folder: what the pipeline's workers count (see BuildBar).
READ_DIR, CONFORMED_DIR, WRITTEN_DIR = ".", "conformed", "written"


def _env_setting() -> bool | None:
    env = os.environ.get("LABDATASETS_PROGRESS")
    if env is None:
        return None
    return env not in ("0", "false", "no", "")


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython with a kernel), without importing IPython."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    try:
        shell = get_ipython() if get_ipython is not None else None
    except Exception:  # an IPython being torn down
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def progress_enabled(requested: bool = True) -> bool:
    """Whether to show bars: on a terminal or in a notebook, unless LABDATASETS_PROGRESS says otherwise."""
    env = _env_setting()
    if env is not None:
        return env
    return requested and (sys.stderr.isatty() or in_notebook())


def stage_lines_enabled(requested: bool = True) -> bool:
    """Whether to print a line per stage: on a terminal and in a pipe; not in a notebook (its bar names the stage)."""
    env = _env_setting()
    if env is not None:
        return env
    return requested and not in_notebook()


def _tqdm() -> Any:
    """tqdm's bar class for where we are: notebook widgets when they can render, text otherwise."""
    if in_notebook():
        import importlib.util

        if importlib.util.find_spec("ipywidgets") is not None:  # tqdm.notebook draws with it
            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm
    from tqdm.std import tqdm

    return tqdm


def byte_progress(total: int | None, desc: str, *, enabled: bool = True) -> Callable[[int], Any]:
    """A callback ``update(n_bytes)`` that drives a tqdm bar (or does nothing)."""
    if not progress_enabled(enabled):
        return lambda n: None
    bar = _tqdm()(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False, file=sys.stderr)

    def update(n: int) -> None:
        bar.update(n)
        if total is not None and bar.n >= total:
            bar.close()

    return update


class CounterFile:
    """A counter that a pipeline worker keeps in a file of its own under ``directory``.

    Beam runs transforms in this process, in worker subprocesses or on other
    machines; a file per worker process is the one channel that reaches the
    submitting process from the first two without Beam's help. The submitting
    process sums the files (see :func:`counter_bar`).
    """

    def __init__(self, directory: str, *, every: float = 0.2):
        os.makedirs(directory, exist_ok=True)
        self.path = Path(directory) / f"{os.getpid()}-{id(self):x}"
        self.total = 0
        self.every = every
        self._last = 0.0

    def add(self, n: int) -> None:
        self.total += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            tmp = self.path.with_suffix(".tmp")
            try:
                tmp.write_text(str(self.total))
                os.replace(tmp, self.path)
            except OSError:  # progress is best effort; the build must not fail on it
                pass

    def flush(self) -> None:
        self._last = 0.0
        self.add(0)


def _sum_counters(directory: Path) -> int:
    total = 0
    for path in directory.glob("*"):
        if path.suffix == ".tmp" or path.is_dir():
            continue
        try:
            total += int(path.read_text() or 0)
        except (OSError, ValueError):
            continue
    return total


@contextlib.contextmanager
def counter_bar(directory: Path | None, total: int, desc: str, *, enabled: bool = True, unit: str = "B") -> Iterator[None]:
    """Show a bar of the sum of the :class:`CounterFile` counters in ``directory`` while the block runs."""
    if directory is None or not progress_enabled(enabled):
        yield
        return
    import threading

    bar = _tqdm()(total=total or None, desc=desc, unit=unit, unit_scale=True, unit_divisor=1024, leave=False, file=sys.stderr)
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.25):
            bar.update(max(0, _sum_counters(directory) - bar.n))

    thread = threading.Thread(target=poll, name="labdatasets-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        bar.update(max(0, _sum_counters(directory) - bar.n))
        bar.close()


class Stage:
    """A labelled step of a long operation, shown on stderr with its duration.

    On a terminal: a line when it starts and one when it ends; in a pipe only the
    second (one line per stage); in a notebook none (the build bar names the stage).
    """

    def __init__(self, enabled: bool = True):
        self.enabled = stage_lines_enabled(enabled)
        self.start_lines = self.enabled and (_env_setting() is True or sys.stderr.isatty())

    @contextlib.contextmanager
    def __call__(self, text: str) -> Iterator[None]:
        start = time.perf_counter()
        if self.start_lines:
            _print_line(f"  {text} ...")
        logger.info("%s ...", text)
        yield
        elapsed = time.perf_counter() - start
        if self.enabled:
            _print_line(f"  {text}: done in {elapsed:.1f}s")
        logger.info("%s: done in %.1fs", text, elapsed)


def _print_line(text: str) -> None:
    """A line on stderr above any bar being drawn there (tqdm clears and redraws it)."""
    from tqdm.std import tqdm

    tqdm.write(text, file=sys.stderr)
    sys.stderr.flush()


class BuildBar:
    """One bar for a whole build, in percent: 40 reading the pinned inputs (bytes), 50 writing the
    splits (rows written of the rows the processing produced) and 10 finishing.

    The pipeline's workers count into :class:`CounterFile` s under ``directory``
    (bytes read in :data:`READ_DIR`, rows leaving the processing in
    :data:`CONFORMED_DIR`, rows in written shards in :data:`WRITTEN_DIR`); a thread
    here sums them. Splits are written after every row was processed (a shuffle
    stands between), so rows written of rows processed measures the writing. Use as
    a context manager; :meth:`stage` names the current step in the bar.
    """

    READ, WRITE, FINISH = 40.0, 50.0, 10.0

    def __init__(self, directory: Path | None, input_bytes: int, desc: str, *, enabled: bool = True):
        self.directory = directory
        self.input_bytes = input_bytes
        self.desc = desc
        self.enabled = directory is not None and progress_enabled(enabled)
        self._bar: Any = None
        self._finishing = False
        self._stop: Any = None
        self._thread: Any = None

    def __enter__(self) -> "BuildBar":
        if not self.enabled:
            return self
        import threading

        self._bar = _tqdm()(
            total=100, desc=self.desc, unit="%", leave=in_notebook(), file=sys.stderr, delay=0.5,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}{postfix}]",
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="labdatasets-build-progress", daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _counts(directory: Path) -> tuple[int, int, int]:
        return (
            _sum_counters(directory / READ_DIR),
            _sum_counters(directory / CONFORMED_DIR),
            _sum_counters(directory / WRITTEN_DIR),
        )

    def percent(self, read: int, conformed: int, written: int) -> float:
        done = self.READ * (min(read / self.input_bytes, 1.0) if self.input_bytes else float(conformed > 0))
        if conformed:
            done += self.WRITE * min(written / conformed, 1.0)
        return done + (self.FINISH / 2 if self._finishing else 0.0)

    def _show(self) -> None:
        if self.directory is None or not self.directory.is_dir():
            return
        read, conformed, written = self._counts(self.directory)
        value = self.percent(read, conformed, written)
        self._bar.update(max(0.0, value - self._bar.n))
        self._bar.set_postfix_str(f"read {_size(read)}, wrote {written:,} of {conformed:,} rows", refresh=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.25):
            self._show()

    def stage(self, text: str) -> None:
        """Name the current step in the bar (``fingerprint``, ...); the rest of the bar is finishing."""
        if self._bar is not None:
            self._finishing = True
            self._bar.set_description_str(f"{self.desc}: {text}", refresh=False)
            self._show()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._bar is None:
            return
        self._stop.set()
        self._thread.join()
        if exc_type is None:
            self._bar.update(100 - self._bar.n)
            self._bar.set_description_str(f"{self.desc}: done", refresh=False)
        self._bar.close()


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


@contextlib.contextmanager
def lock_file(path: Path, what: str, *, timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``path`` while ``what`` runs.

    A second process logs that it is waiting, then proceeds once the first is
    done (and usually finds the work already finished).
    """
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    if timeout is None:
        timeout = float(os.environ.get("LABDATASETS_LOCK_TIMEOUT", "-1"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        message = f"waiting for another process {what} (lock {path})"
        logger.warning(message)
        if progress_enabled():
            print(f"  {message}", file=sys.stderr, flush=True)
        try:
            lock.acquire(timeout=timeout)
        except Timeout as exc:
            from labdatasets.errors import LabDatasetsError

            raise LabDatasetsError(
                f"Gave up after {timeout:.0f}s {message}; if no other process is running, delete {path}."
            ) from exc
    try:
        yield
    finally:
        lock.release()
