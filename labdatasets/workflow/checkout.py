"""The repository checkout that ``labdatasets new`` and ``labdatasets docs`` write into.

A checkout is a folder with ``setup.cfg`` naming labdatasets and a ``datasets/``
package; the commands look for one from the current folder upwards, as git does.

Example::

    >>> root = find_checkout()           # e.g. /home/me/labdatasets
    >>> check_imported_from(root)        # raises if labdatasets comes from elsewhere
"""

from __future__ import annotations

import os
from pathlib import Path

from labdatasets.errors import ConfigError

__all__ = ["find_checkout", "imported_root", "check_imported_from"]


def _is_checkout(folder: Path) -> bool:
    cfg = folder / "setup.cfg"
    return (
        (folder / "datasets" / "__init__.py").is_file()
        and cfg.is_file()
        and "labdatasets" in cfg.read_text("utf-8", errors="replace")
    )


def find_checkout(start: str | os.PathLike[str] | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the current folder) that is a checkout."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_checkout(folder):
            return folder
    raise ConfigError(
        f"{here} is not inside a checkout of the labdatasets repository (a folder with setup.cfg and "
        "datasets/); run the command from your clone, or pass --root PATH."
    )


def imported_root() -> Path:
    """The checkout (or install location) whose ``datasets/`` this Python imports builders from."""
    import labdatasets.datasets as pkg

    return Path(next(iter(pkg.__path__))).resolve().parent


def check_imported_from(root: Path) -> None:
    """Refuse to work on ``root`` when this Python imports builders from somewhere else."""
    if imported_root() != Path(root).resolve():
        raise ConfigError(
            f"This Python imports labdatasets builders from {imported_root()}, not from the checkout {root}; "
            f"install the checkout you work in with: pip install -e {root}"
        )
