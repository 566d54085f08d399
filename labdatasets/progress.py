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
from typing import Any, Callable, Iterator

__all__ = ["byte_progress", "lock_file", "progress_enabled", "Stage"]

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
