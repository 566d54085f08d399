"""The one grammar for dataset references: ``dataset[/config][:version]``.

It is tensorflow-datasets' grammar, so ``product_a:1.2.0`` means the same
thing here and in tfds:

* ``product_a``            the latest version of the default config
* ``product_a:1.2.0``      exactly version 1.2.0
* ``product_a:1.2.*``      the newest 1.2.x; ``1.*.*`` the newest 1.x.y
* ``digits/small:1.0.0``   config ``small`` at 1.0.0

Versions are ``MAJOR.MINOR.PATCH`` (tfds semantics: PATCH keeps the data,
MINOR adds features, MAJOR may change the data or the splits).

Example::

    >>> parse_name("product_a/raw:1.2.*")
    DatasetReference(name='product_a', config='raw', version='1.2.*')
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable

from labdatasets.errors import DatasetNameError, VersionNotFoundError

__all__ = ["DatasetReference", "Version", "parse_name", "resolve_version", "is_valid_name", "suggest_names"]

_NAME = r"[a-z][a-z0-9_]*"
_CONFIG = r"[A-Za-z0-9][\w\-\.\+]*"
_REF_RE = re.compile(r"^(?P<name>[^/:]+)(/(?P<config>[^/:]+))?(:(?P<version>[^/:]*))?$")
_NAME_RE = re.compile(rf"^{_NAME}$")
_CONFIG_RE = re.compile(rf"^{_CONFIG}$")
_VERSION_RE = re.compile(r"^(\d+|\*)\.(\d+|\*)\.(\d+|\*)\Z")
_EXACT_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)\Z")

GRAMMAR_HELP = (
    "A dataset reference is dataset[/config][:version], for example "
    "'product_a', 'product_a:1.2.0', 'product_a:1.2.*' or 'digits/small:1.0.0'."
)


def _camel_to_snake(name: str) -> str:
    """``ProductA`` -> ``product_a``, ``Product_A`` -> ``product_a``, ``IRIS`` -> ``iris``, ``HTTPLogs`` -> ``http_logs``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
    return re.sub(r"_+", "_", snake.replace("-", "_")).strip("_")


def suggest_names(name: str) -> list[str]:
    """Registered dataset names a mistyped ``name`` probably meant (closest first).

    Compares the snake_case form of ``name`` with the registry (names only; no
    builder module is imported), so ``Product_A`` suggests ``product_a`` and
    ``IRIS`` suggests ``iris``. Empty when nothing registered is close.
    """
    import difflib

    from labdatasets import registry

    try:
        names = registry.list_datasets()
    except Exception:  # noqa: BLE001 - a suggestion must never hide the original error
        return []
    candidate = _camel_to_snake(name)
    if candidate in names:
        return [candidate]
    lowered = {n.lower(): n for n in names}
    if name.lower() in lowered:
        return [lowered[name.lower()]]
    return difflib.get_close_matches(candidate, names, n=3, cutoff=0.6)


def is_valid_name(name: str) -> bool:
    """Whether ``name`` is a valid dataset name (snake_case, starts with a letter)."""
    return bool(_NAME_RE.match(name))


@functools.total_ordering
class Version:
    """A ``MAJOR.MINOR.PATCH`` version. Compares with other versions and with strings.

    Example::

        >>> Version("1.2.0") > "1.0.0"
        True
        >>> Version("1.2.3").match("1.2.*")
        True
    """

    __slots__ = ("major", "minor", "patch")
    major: int
    minor: int
    patch: int

    def __init__(self, version: "str | Version"):
        if isinstance(version, Version):
            self.major, self.minor, self.patch = version.major, version.minor, version.patch
            return
        check_version_string(str(version), exact=True)
        major, minor, patch = (int(x) for x in str(version).split("."))
        self.major, self.minor, self.patch = major, minor, patch

    @property
    def tuple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def match(self, pattern: str) -> bool:
        """Whether this version matches ``pattern`` (``1.2.0``, ``1.2.*``, ``1.*.*``)."""
        check_version_string(pattern, exact=False)
        return all(p == "*" or int(p) == v for p, v in zip(pattern.split("."), self.tuple, strict=True))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def __repr__(self) -> str:
        return f"Version('{self}')"

    def __hash__(self) -> int:
        return hash(self.tuple)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Version(other)
            except DatasetNameError:
                return False
        if not isinstance(other, Version):
            return NotImplemented
        return self.tuple == other.tuple

    def __lt__(self, other: "Version | str") -> bool:
        return self.tuple < Version(other).tuple


MAX_VERSION_DIGITS = 9


def check_version_string(version: str, *, exact: bool) -> None:
    """Raise :class:`DatasetNameError` with a precise hint when ``version`` is malformed."""
    pattern = _EXACT_VERSION_RE if exact else _VERSION_RE
    if len(version) > 40 or any(part.isdigit() and len(part) > MAX_VERSION_DIGITS for part in version.split(".")):
        # Checked first: a number of thousands of digits is not even convertible (int() refuses it).
        raise DatasetNameError(
            f"Invalid version {version[:20]!r}... ({len(version)} characters): MAJOR, MINOR and PATCH are numbers "
            f"of at most {MAX_VERSION_DIGITS} digits, such as 1.2.0. {GRAMMAR_HELP}"
        )
    if pattern.match(version):
        return
    wanted = "MAJOR.MINOR.PATCH such as 1.2.0" + ("" if exact else ", or a pattern such as 1.2.*")
    if version in ("", "latest", "experimental_latest"):
        hint = "omit the version to get the latest one (write 'product_a', not 'product_a:latest')"
    elif version[:1] in ("v", "V") and _VERSION_RE.match(version[1:]):
        hint = f"drop the 'v': write {version[1:]!r}"
    elif version[:1] in ("v", "V") and re.match(r"^\d+(\.\d+)?$", version[1:]):
        hint = "drop the 'v' and give all three parts, e.g. '1.2.0'"
    elif re.match(r"^\d+\.\d+\.\d+[-+]", version):
        hint = "pre-release and build suffixes (1.2.0-rc1, 1.2.0+local) are not versions here; use a new PATCH version"
    elif re.match(r"^(\d+|\*)(\.(\d+|\*))?$", version):
        parts = version.split(".")
        filled = ".".join(parts + ["*"] * (3 - len(parts)))
        zeros = ".".join(parts + ["0"] * (3 - len(parts)))
        hint = f"give all three parts: {zeros!r}" + ("" if exact else f" or {filled!r}")
    else:
        hint = f"a version is {wanted}"
    raise DatasetNameError(f"Invalid version {version!r}: {hint}. {GRAMMAR_HELP}")


@dataclasses.dataclass(frozen=True)
class DatasetReference:
    """A parsed ``dataset[/config][:version]`` reference; ``version`` may be a pattern or None."""

    name: str
    config: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        out = self.name
        if self.config:
            out += f"/{self.config}"
        if self.version:
            out += f":{self.version}"
        return out


def parse_name(reference: str) -> DatasetReference:
    """Parse ``dataset[/config][:version]``; raise :class:`DatasetNameError` with a hint otherwise."""
    if not isinstance(reference, str) or not reference.strip():
        raise DatasetNameError(f"Empty dataset reference {reference!r}. {GRAMMAR_HELP}")
    reference = reference.strip()
    if reference.count(":") > 1:
        raise DatasetNameError(
            f"Invalid dataset reference {reference!r}: it has more than one ':'; "
            f"namespaces ('ns:dataset') are not used here. {GRAMMAR_HELP}"
        )
    match = _REF_RE.match(reference)
    if not match:
        raise DatasetNameError(f"Invalid dataset reference {reference!r}. {GRAMMAR_HELP}")
    name, config, version = match.group("name"), match.group("config"), match.group("version")
    if not _NAME_RE.match(name):
        hint = ""
        if re.match(r"^[A-Za-z][A-Za-z0-9_\-]*$", name):
            known = suggest_names(name)
            rule = "use underscores" if "-" in name else "are snake_case"
            if known:
                hint = f" Dataset names {rule}: did you mean {', '.join(repr(k) for k in known)}?"
            else:
                hint = f" Dataset names {rule}, e.g. {_camel_to_snake(name)!r} (no dataset has that name; 'labdatasets list' shows them)."
        raise DatasetNameError(f"Invalid dataset name {name!r}.{hint} {GRAMMAR_HELP}")
    if config is not None and not _CONFIG_RE.match(config):
        raise DatasetNameError(f"Invalid config name {config!r} in {reference!r}. {GRAMMAR_HELP}")
    if version is not None:
        check_version_string(version, exact=False)
    return DatasetReference(name=name, config=config, version=version)


def resolve_version(
    dataset: str, requested: str | None, available: Iterable["Version | str"], default: "Version | str"
) -> Version:
    """Pick the version ``requested`` names among ``available``.

    ``None`` means ``default`` (the builder's current ``VERSION``); a pattern
    picks the newest match. Raises :class:`VersionNotFoundError` listing what exists.
    """
    versions = sorted({Version(v) for v in available}, reverse=True)
    if requested is None:
        return Version(default)
    check_version_string(requested, exact=False)
    matches = [v for v in versions if v.match(requested)]
    if matches:
        return matches[0]
    listed = ", ".join(str(v) + (" (latest)" if v == Version(default) else "") for v in versions)
    example = str(DatasetReference(dataset, version=str(versions[0] if versions else default)))
    head = f"Dataset {dataset!r} has no version matching {requested!r}. Versions: {listed}. "
    error = VersionNotFoundError(
        head + f"Load one of them, e.g. labdatasets.load('{example}').", available=tuple(str(v) for v in versions)
    )
    error.shell_message = head + f"Use one of them, e.g. 'labdatasets load {example}'."
    raise error
