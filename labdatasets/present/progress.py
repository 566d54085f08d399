"""Progress bars and inter-process locks for long operations (pin, build, fetch).

Bars go to stderr through tqdm and disappear when stderr is not a terminal
unless ``LABDATASETS_PROGRESS=1``; ``LABDATASETS_PROGRESS=0`` silences them.
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

__all__ = ["byte_progress", "lock_file", "progress_enabled", "Stage", "CounterFile", "counter_bar"]

logger = logging.getLogger("labdatasets")


def progress_enabled(requested: bool = True) -> bool:
    env = os.environ.get("LABDATASETS_PROGRESS")
    if env is not None:
        return env not in ("0", "false", "no", "")
    return requested and sys.stderr.isatty()


def byte_progress(total: int | None, desc: str, *, enabled: bool = True) -> Callable[[int], Any]:
    """A callback ``update(n_bytes)`` that drives a tqdm bar (or does nothing)."""
    if not progress_enabled(enabled):
        return lambda n: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False, file=sys.stderr)

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
        if path.suffix == ".tmp":
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

    from tqdm.auto import tqdm

    bar = tqdm(total=total or None, desc=desc, unit=unit, unit_scale=True, unit_divisor=1024, leave=False, file=sys.stderr)
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
    """A labelled step of a long operation, shown on stderr with its duration."""

    def __init__(self, enabled: bool = True):
        self.enabled = progress_enabled(enabled)

    @contextlib.contextmanager
    def __call__(self, text: str) -> Iterator[None]:
        start = time.perf_counter()
        if self.enabled:
            print(f"  {text} ...", file=sys.stderr, flush=True)
        logger.info("%s ...", text)
        yield
        elapsed = time.perf_counter() - start
        if self.enabled:
            print(f"  {text}: done in {elapsed:.1f}s", file=sys.stderr, flush=True)
        logger.info("%s: done in %.1fs", text, elapsed)


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
