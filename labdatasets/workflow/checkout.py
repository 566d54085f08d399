"""The repository checkout that ``labdatasets new`` and ``labdatasets docs`` write into.

A checkout is a folder with ``setup.cfg`` naming labdatasets and a ``datasets/``
package (:func:`labdatasets.registry.is_checkout`); the commands look for one from the
current folder upwards, as git does, and refuse one this Python does not import builders
from (:func:`labdatasets.registry.repository_root`).

Example::

    >>> root = find_checkout()           # e.g. /home/me/labdatasets
    >>> check_imported_from(root)        # raises if labdatasets comes from elsewhere
"""

from __future__ import annotations

import os
from pathlib import Path

from labdatasets.errors import ConfigError
from labdatasets.registry import is_checkout, repository_root

__all__ = ["find_checkout", "check_imported_from"]


def find_checkout(start: str | os.PathLike[str] | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the current folder) that is a checkout."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_checkout(folder):
            return folder
    raise ConfigError(
        f"{here} is not inside a checkout of the labdatasets repository (a folder with setup.cfg and "
        "datasets/); run the command from your clone, or pass --root PATH."
    )


def check_imported_from(root: Path) -> None:
    """Refuse to work on ``root`` when this Python imports builders from somewhere else."""
    if repository_root() != Path(root).resolve():
        raise ConfigError(
            f"This Python imports labdatasets builders from {repository_root()}, not from the checkout {root}; "
            f"install the checkout you work in with: pip install -e {root}"
        )
