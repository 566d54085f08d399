"""Where labdatasets keeps things, from arguments, the environment and one config file.

Precedence, highest first: an explicit argument (``load(..., data_dir=...)``),
an environment variable, the config file, the embedded local default.

==============================  =================  ===========================================
environment variable            config file key    default
==============================  =================  ===========================================
``LABDATASETS_HOME``            ``home``           ``$XDG_CACHE_HOME/labdatasets`` or
                                                   ``~/.cache/labdatasets``
``LABDATASETS_DATA_DIR``        ``data_dir``       ``<home>/prepared``
``LABDATASETS_SNAPSHOT_STORE``  ``snapshot_store`` ``file://<home>/store``
``LABDATASETS_SHARED_CACHE``    ``shared_cache``   none
``LABDATASETS_PINS_DIR``        ``pins_dir``       the repository's ``snapshots/``
``LABDATASETS_CONFIG``          (n/a)              ``$XDG_CONFIG_HOME/labdatasets/config.toml``
==============================  =================  ===========================================

The config file is TOML; its ``[labdatasets]`` table holds the keys above and
``[connections.<name>]`` tables name SQL connections (``url = "mysql+pymysql://..."``)
so that builders refer to a connection by name and never hold a password (the
environment variable ``LABDATASETS_CONNECTION_<NAME>`` overrides the table with a
full URL; ``password_env`` names a variable holding the password)::

    [labdatasets]
    snapshot_store = "s3://lab-data/snapshots"
    shared_cache = "s3://lab-data/prepared"

    [connections.warehouse]
    url = "mysql+pymysql://reader@db.internal:3306/warehouse"
    password_env = "WAREHOUSE_PASSWORD"

Stores and caches are URIs: ``s3://bucket/prefix``, ``gs://bucket/prefix`` or
``file:///absolute/path`` (a bare path means ``file://``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib
from collections.abc import Mapping

from labdatasets.errors import ConfigError

__all__ = ["Settings", "settings", "config_file_path", "default_home"]

_KEYS = ("home", "data_dir", "snapshot_store", "shared_cache", "pins_dir")


def default_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "labdatasets"


def config_file_path() -> Path:
    if os.environ.get("LABDATASETS_CONFIG"):
        return Path(os.environ["LABDATASETS_CONFIG"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "labdatasets" / "config.toml"


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        if os.environ.get("LABDATASETS_CONFIG"):
            raise ConfigError(
                f"LABDATASETS_CONFIG points at {path}, which does not exist; "
                "create it or unset the variable to use the defaults"
            )
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read the labdatasets config file {path}: {exc}") from exc
    section = data.get("labdatasets", {})
    unknown = sorted(set(section) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"Unknown key(s) {', '.join(unknown)} in [labdatasets] of {path}; known keys: {', '.join(_KEYS)}"
        )
    return data


def normalize_uri(uri: str | os.PathLike[str], *, what: str) -> str:
    """Turn a bare path into ``file://`` and check the scheme is one we know."""
    text = os.fspath(uri)
    if "://" not in text:
        return "file://" + str(Path(text).expanduser().resolve())
    scheme = text.split("://", 1)[0]
    if scheme not in ("file", "s3", "gs"):
        raise ConfigError(
            f"{what} {text!r} has an unsupported scheme {scheme!r}; use s3://bucket/prefix, "
            "gs://bucket/prefix or file:///absolute/path"
        )
    return text


@dataclasses.dataclass(frozen=True)
class Settings:
    """Resolved locations. Build one with :func:`settings`."""

    home: Path
    data_dir: Path
    snapshot_store: str
    shared_cache: str | None
    pins_dir: Path | None
    connections: Mapping[str, Mapping[str, Any]]
    config_file: Path

    @property
    def local_store(self) -> str:
        """The embedded store on this machine; a cache in front of a remote snapshot store."""
        return "file://" + str(self.home / "store")


def settings(**overrides: Any) -> Settings:
    """Resolve every setting. Keyword arguments that are not None win over everything."""
    path = config_file_path()
    data = _read_config_file(path)
    section = data.get("labdatasets", {})

    def pick(key: str) -> Any:
        if overrides.get(key) is not None:
            return overrides[key]
        env = os.environ.get(f"LABDATASETS_{key.upper()}")
        if env:
            return env
        return section.get(key)

    home = Path(pick("home") or default_home()).expanduser()
    data_dir = Path(pick("data_dir") or home / "prepared").expanduser()
    store = normalize_uri(pick("snapshot_store") or home / "store", what="snapshot store")
    shared = pick("shared_cache")
    pins_dir = pick("pins_dir")
    connections = data.get("connections", {})
    if not isinstance(connections, dict):
        raise ConfigError(f"[connections] in {path} must be a table of tables")
    return Settings(
        home=home,
        data_dir=data_dir,
        snapshot_store=store,
        shared_cache=normalize_uri(shared, what="shared cache") if shared else None,
        pins_dir=Path(pins_dir).expanduser() if pins_dir else None,
        connections=connections,
        config_file=path,
    )
