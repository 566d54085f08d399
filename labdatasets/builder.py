"""``DatasetBuilder``: one private dataset, its versions, its sources and its processing.

A builder module lives at ``datasets/<group>/<name>/<name>_dataset_builder.py``
and defines a class called ``Builder`` (the dataset name comes from the module
name, as in tensorflow-datasets)::

    import labdatasets as lds
    from labdatasets import features as F, loaders, processing as P

    class Builder(lds.DatasetBuilder):
        '''Field measurements of product A.'''

        VERSION = "1.2.0"
        SUPPORTED_VERSIONS = ["1.0.0"]
        RELEASE_NOTES = {
            "1.0.0": "First export.",
            "1.2.0": "Adds the 2009 season.",
        }

        def _info(self):
            return lds.DatasetInfo(
                features=F.Features({"id": F.Value("int64"), "label": F.ClassLabel(names=["a", "b"])}),
                key="id",
                owners=["data-team@lab"],
            )

        def _sources(self):                      # Loading layer
            return {"rows": loaders.LocalSource("data/rows.csv")}

        def _process(self, sources):             # Processing layer (Apache Beam)
            rows = sources["rows"] | "Clean" >> P.MapBatches(clean)
            return P.split_by_hash(rows, key="id", ratios={"train": 0.8, "test": 0.2})

Both layers are versioned: ``self.version`` is the version being pinned or
built, so ``_sources`` and ``_process`` can keep what older versions did
(``if self.version < "1.2.0": ...``). A version's pin record (under
``snapshots/``) fixes its input bytes; its processing code is fingerprinted
into ``dataset_info.json``. To change the data of a version, bump ``VERSION``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import os
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from collections.abc import Mapping, Sequence

from labdatasets import registry
from labdatasets.config import Settings, settings as resolve_settings
from labdatasets.errors import (
    ConfigNotFoundError,
    LabDatasetsError,
    PreparedDataError,
    SnapshotNotFoundError,
)
from labdatasets.info import DatasetInfo
from labdatasets.naming import DatasetReference, Version, check_version_string, is_valid_name, resolve_version

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.loaders.base import Source
    from labdatasets.pinning.record import PinRecord
    from labdatasets.processing.options import BuildOptions
    from labdatasets.processing.sources import PinnedSources

__all__ = ["DatasetBuilder", "BuilderConfig", "describe_builder"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BuilderConfig:
    """A named variant of a dataset (tfds ``BuilderConfig``); each has its own folder and pins.

    ``version`` and ``release_notes`` override the builder's for this config.
    """

    name: str
    description: str = ""
    version: str | None = None
    supported_versions: Sequence[str] = ()
    release_notes: Mapping[str, str] = dataclasses.field(default_factory=dict)


def _module_name_to_dataset(module: str) -> str:
    leaf = module.rsplit(".", 1)[-1]
    if leaf.endswith(registry.BUILDER_MODULE_SUFFIX):
        return leaf[: -len(registry.BUILDER_MODULE_SUFFIX)]
    return leaf


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class DatasetBuilder:
    """Base class of every dataset builder. See the module docstring for a full example.

    Class attributes an author sets:

    * ``VERSION``: the current version (``"MAJOR.MINOR.PATCH"``).
    * ``SUPPORTED_VERSIONS``: older versions that can still be pinned, built and loaded.
    * ``RELEASE_NOTES``: ``{version: what changed}``, one entry per version.
    * ``BUILDER_CONFIGS`` / ``DEFAULT_CONFIG_NAME``: optional named variants.
    * ``NUM_SHARDS``: Parquet files per split (default 1).

    Methods an author writes: ``_info()``, ``_sources()`` (Loading) and
    ``_process(sources)`` (Processing, Apache Beam).
    """

    name: ClassVar[str]
    VERSION: ClassVar[str]
    SUPPORTED_VERSIONS: ClassVar[Sequence[str]] = ()
    RELEASE_NOTES: ClassVar[Mapping[str, str]] = {}
    BUILDER_CONFIGS: ClassVar[Sequence[BuilderConfig]] = ()
    DEFAULT_CONFIG_NAME: ClassVar[str | None] = None
    NUM_SHARDS: ClassVar[int] = 1
    #: Folder of pin records for builders outside this repository (relative to the module).
    PINS_DIR: ClassVar[str | None] = None
    #: Who pins this dataset and how, when its sources need access most machines lack (the
    #: lab's warehouse, a restricted bucket); like tfds's ``MANUAL_DOWNLOAD_INSTRUCTIONS``.
    #: Pin errors repeat it, and ``labdatasets check`` reports a version still awaiting
    #: its pin record as a warning that shows it instead of an error.
    PIN_INSTRUCTIONS: ClassVar[str | None] = None
    #: Set only on a class imported from a version's archived code (labdatasets.processing.code):
    #: the current builder's pin-record folder, which holds the archived version's record too.
    _archived_pins_root: ClassVar[Path | None] = None

    def __init_subclass__(cls, skip_registration: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = (
                _module_name_to_dataset(cls.__module__) if cls.__name__ == "Builder" else _camel_to_snake(cls.__name__)
            )
        if not is_valid_name(cls.name):
            raise LabDatasetsError(
                f"Builder {cls.__module__}.{cls.__qualname__} has the invalid dataset name {cls.name!r}; "
                "dataset names are snake_case and start with a letter."
            )
        if "VERSION" not in cls.__dict__ and not hasattr(cls, "VERSION"):
            return  # an abstract intermediate class
        cls._validate_class()
        if not skip_registration:
            registry.register(cls)

    @classmethod
    def _validate_class(cls) -> None:
        where = f"{cls.__module__}.{cls.__qualname__}"
        try:
            versions = {str(Version(v)) for v in [cls.VERSION, *cls.SUPPORTED_VERSIONS]}
            for config in cls.BUILDER_CONFIGS:
                versions |= {str(Version(v)) for v in [config.version, *config.supported_versions] if v}
            for v in list(cls.RELEASE_NOTES) + [v for c in cls.BUILDER_CONFIGS for v in c.release_notes]:
                check_version_string(v, exact=True)
        except LabDatasetsError as exc:
            raise LabDatasetsError(f"{where}: {exc}") from exc
        newer = [v for v in cls.SUPPORTED_VERSIONS if Version(v) > Version(cls.VERSION)]
        if newer:
            raise LabDatasetsError(
                f"{where}: SUPPORTED_VERSIONS {newer} are newer than VERSION {cls.VERSION}; VERSION must be the latest."
            )
        names = [c.name for c in cls.BUILDER_CONFIGS]
        if len(set(names)) != len(names):
            raise LabDatasetsError(f"{where}: BUILDER_CONFIGS has duplicate names {names}")
        if cls.DEFAULT_CONFIG_NAME and cls.DEFAULT_CONFIG_NAME not in names:
            raise LabDatasetsError(f"{where}: DEFAULT_CONFIG_NAME {cls.DEFAULT_CONFIG_NAME!r} is not in BUILDER_CONFIGS")
        if cls.NUM_SHARDS < 1:
            raise LabDatasetsError(f"{where}: NUM_SHARDS must be at least 1")

    # ------------------------------------------------------------------ construction
    def __init__(
        self,
        *,
        config: str | BuilderConfig | None = None,
        version: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        settings: Settings | None = None,
    ):
        self._settings = settings or resolve_settings(data_dir=data_dir)
        self._config = self._pick_config(config)
        self._version = resolve_version(
            self.name if not self._config else f"{self.name}/{self._config.name}",
            version,
            self.versions(self._config.name if self._config else None),
            self._current_version(self._config),
        )

    @classmethod
    def _pick_config(cls, config: str | BuilderConfig | None) -> BuilderConfig | None:
        if isinstance(config, BuilderConfig):
            return config
        if not cls.BUILDER_CONFIGS:
            if config is not None:
                raise ConfigNotFoundError(f"Dataset {cls.name!r} has no configs; load it as '{cls.name}' without '/{config}'.")
            return None
        if config is None:
            config = cls.DEFAULT_CONFIG_NAME or cls.BUILDER_CONFIGS[0].name
        for candidate in cls.BUILDER_CONFIGS:
            if candidate.name == config:
                return candidate
        raise ConfigNotFoundError(
            f"Dataset {cls.name!r} has no config {config!r}; configs: "
            + ", ".join(c.name for c in cls.BUILDER_CONFIGS)
        )

    @classmethod
    def _current_version(cls, config: BuilderConfig | None) -> str:
        return (config.version if config and config.version else None) or cls.VERSION

    @classmethod
    def versions(cls, config: str | None = None) -> list[Version]:
        """Every version that can be pinned, built and loaded (newest first)."""
        cfg = cls._pick_config(config) if (config or cls.BUILDER_CONFIGS) else None
        own = [cfg.version, *cfg.supported_versions] if cfg and cfg.version else []
        listed = own or [cls.VERSION, *cls.SUPPORTED_VERSIONS]
        return sorted({Version(v) for v in listed}, reverse=True)

    @classmethod
    def release_notes_for(cls, config: str | None = None) -> dict[str, str]:
        cfg = cls._pick_config(config) if (config or cls.BUILDER_CONFIGS) else None
        notes = dict(cls.RELEASE_NOTES)
        if cfg:
            notes.update(cfg.release_notes)
        return {str(v): notes.get(str(v), "") for v in cls.versions(config)}

    # ------------------------------------------------------------------ identity
    @property
    def version(self) -> Version:
        """The version this builder instance pins, builds and loads."""
        return self._version

    @property
    def builder_config(self) -> BuilderConfig | None:
        return self._config

    @property
    def config_name(self) -> str | None:
        return self._config.name if self._config else None

    @property
    def full_name(self) -> str:
        """``name[/config]:version``, e.g. ``product_a:1.2.0``."""
        return str(DatasetReference(self.name, self.config_name, str(self.version)))

    @property
    def settings(self) -> Settings:
        return self._settings

    @classmethod
    def module_dir(cls) -> Path:
        """The builder's folder: relative source paths, dummy data and docs live here."""
        return Path(inspect.getfile(cls)).resolve().parent

    @classmethod
    def group(cls) -> str:
        location = registry.locations().get(cls.name)
        return location.group if location else ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.full_name}>"

    def _repr_html_(self) -> str:
        from labdatasets.present.display import info_html

        return info_html(self.info, record=self.pin_record())

    # ------------------------------------------------------------------ author hooks
    def _info(self) -> DatasetInfo:
        """Return the :class:`DatasetInfo` (features, key, description, owners...)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _info()")

    def _sources(self) -> Mapping[str, "Source"]:
        """Return ``{name: Source}``: the Loading layer of ``self.version``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _sources()")

    def _process(self, sources: "PinnedSources") -> Mapping[str, Any]:
        """Return ``{split: PCollection of Arrow tables}``: the Processing layer of ``self.version``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _process(sources)")

    # ------------------------------------------------------------------ metadata
    @functools.cached_property
    def info(self) -> DatasetInfo:
        """What users see (tfds ``builder.info``): :meth:`prepared_info` when the version is prepared here
        (with its splits, fingerprints and checks), else :meth:`declared_info`."""
        prepared = self.prepared_info()
        if prepared is not None:
            return prepared
        return self.declared_info()

    def declared_info(self) -> DatasetInfo:
        """What the builder declares for this version and config (``_info()`` completed with name,
        version, config, group, release notes and folder), whatever is prepared on this machine.

        A build checks its output against it; ``check``, the catalog and the test case read it so
        that they say the same on every machine.
        """
        info = self._info()
        if not isinstance(info, DatasetInfo):
            raise LabDatasetsError(f"{type(self).__name__}._info() must return labdatasets.DatasetInfo, got {info!r}")
        doc = inspect.getdoc(type(self)) or ""
        return dataclasses.replace(
            info,
            description=info.description or doc,
            name=self.name,
            group=self.group(),
            version=str(self.version),
            config=self.config_name,
            config_description=self._config.description if self._config else "",
            release_notes=self.release_notes_for(self.config_name),
            data_dir=self.prepared_dir,
        )

    def sources(self) -> dict[str, "Source"]:
        """The sources ``self.version`` declares (calls ``_sources()``)."""
        from labdatasets.loaders.base import Source

        declared = dict(self._sources())
        if not declared:
            raise LabDatasetsError(f"{self.full_name}: _sources() returned no sources")
        for name, source in declared.items():
            if not re.match(r"^[A-Za-z_][\w\-]*$", name):
                raise LabDatasetsError(f"{self.full_name}: source name {name!r} must be an identifier-like string")
            if not isinstance(source, Source):
                raise LabDatasetsError(
                    f"{self.full_name}: source {name!r} must be a labdatasets.loaders Source, got {source!r}"
                )
        return declared

    @classmethod
    def code_fingerprint(cls) -> str:
        """sha256 of the builder folder's Python files (tests excluded): the processing revision.

        Any edit to those files changes it; ``labdatasets check`` then asks for a
        new ``VERSION`` (see docs/versioning.md).
        """
        from labdatasets.processing.code import fingerprint_code

        return fingerprint_code(cls.module_dir())

    # ------------------------------------------------------------------ pins (Loading layer)
    @classmethod
    def pins_root(cls) -> Path:
        """The folder of committed pin records for this builder's package."""
        if cls._archived_pins_root is not None:
            return cls._archived_pins_root
        if cls.PINS_DIR:
            return (cls.module_dir() / cls.PINS_DIR).resolve()
        if cls.__module__.startswith("labdatasets.datasets."):
            return registry.repository_root() / "snapshots"
        return cls.module_dir() / "snapshots"

    def _pin_relpath(self) -> Path:
        parts = [self.name] + ([self.config_name] if self.config_name else [])
        return Path(*parts) / f"{self.version}.json"

    def pin_record_candidates(self) -> list[Path]:
        """Where this version's pin record may be, in search order."""
        rel = self._pin_relpath()
        if self._settings.pins_dir:
            return [self._settings.pins_dir / rel]
        return [self.pins_root() / rel, self._settings.home / "pins" / rel]

    def pin_record_path(self) -> Path:
        """Where ``pin`` writes this version's record.

        In a checkout of the repository that is ``snapshots/`` (commit it); in an
        installed package it is ``<home>/pins/`` on this machine only.
        """
        if self._settings.pins_dir:
            return self._settings.pins_dir / self._pin_relpath()
        root = self.pins_root()
        if self.PINS_DIR or registry.is_checkout(root.parent):
            return root / self._pin_relpath()
        return self._settings.home / "pins" / self._pin_relpath()

    def pin_record(self) -> "PinRecord | None":
        """This version's pin record, or None if it was never pinned."""
        for path in self.pin_record_candidates():
            if path.is_file():
                return self._read_pin_record(path)
        return None

    def committed_pin_record(self) -> "PinRecord | None":
        """The pin record committed with the builder (``snapshots/``), or None.

        Unlike :meth:`pin_record` it ignores ``LABDATASETS_PINS_DIR`` and records
        pinned on this machine only, so the docs catalog and builder tests see
        what a pull request contains.
        """
        path = self.pins_root() / self._pin_relpath()
        return self._read_pin_record(path) if path.is_file() else None

    def is_committed(self) -> bool:
        """Whether this version's pin record is committed with the builder (``snapshots/``): it is released.

        Records pinned on this machine only (``<home>/pins``) or in a working
        ``LABDATASETS_PINS_DIR`` are not; ``labdatasets check`` requires an output
        record (``labdatasets lock``) for every released version.
        """
        return (self.pins_root() / self._pin_relpath()).is_file()

    def _read_pin_record(self, path: Path) -> "PinRecord":
        from labdatasets.pinning.record import PinRecord

        record = PinRecord.read(path)
        if record.dataset != self.name or record.version != str(self.version) or record.config != self.config_name:
            raise LabDatasetsError(
                f"Pin record {path} is for {record.full_name}, not {self.full_name}; it was moved or renamed. "
                "Restore it from git."
            )
        return record

    def require_pin_record(self) -> "PinRecord":
        record = self.pin_record()
        if record is None:
            raise SnapshotNotFoundError(
                f"{self.full_name} has no pin record (looked in "
                + ", ".join(str(p) for p in self.pin_record_candidates())
                + f"). Run 'labdatasets pin {self.full_name}'."
            )
        return record

    def pin(self, *, progress: bool = True) -> "PinRecord":
        """Pin every source of this version into the snapshot store and write the pin record.

        Raises :class:`~labdatasets.errors.PinExistsError` if the version is pinned already.
        """
        from labdatasets.pinning.pin import pin_builder

        return pin_builder(self, progress=progress)

    # ------------------------------------------------------------------ prepared data (Processing layer)
    @property
    def data_dir(self) -> Path:
        """The root of prepared data (``LABDATASETS_DATA_DIR``)."""
        return self._settings.data_dir

    @property
    def prepared_dir(self) -> Path:
        """``<data_dir>/<name>[/<config>]/<version>``."""
        from labdatasets.prepared import folder

        return folder.version_dir(self.data_dir, self.name, self.config_name, str(self.version))

    def is_prepared(self) -> bool:
        from labdatasets.prepared import folder

        return folder.is_prepared(self.prepared_dir)

    def prepared_info(self) -> DatasetInfo | None:
        """The ``dataset_info.json`` of the prepared version, or None."""
        from labdatasets.prepared import folder

        return folder.read_info(self.prepared_dir)

    def build(
        self,
        *,
        beam_options: Mapping[str, Any] | Sequence[str] | None = None,
        workers: int | None = None,
        overwrite: bool = False,
        progress: bool = True,
        options: BuildOptions | None = None,
    ) -> Path:
        """Run the Beam processing from the pinned snapshots; return the prepared folder.

        Pins first if the version has no pin record. Reuses a complete prepared
        folder unless ``overwrite`` (or unless it was built by other processing
        code than this version's). Safe to call from several processes at once.

        Args:
            beam_options: Beam pipeline options, e.g. ``{"runner": "DataflowRunner", ...}``
                (see docs/runners.md).
            workers: run the DirectRunner with this many worker processes.
            options: both of them as one :class:`~labdatasets.processing.options.BuildOptions`
                (instead of ``beam_options`` and ``workers``).

        Example::

            >>> labdatasets.builder("product_a:1.2.0").build(workers=2)
        """
        from labdatasets.processing.build import build
        from labdatasets.processing.options import BuildOptions

        options = BuildOptions.of(beam_options, workers, options=options)
        path = build(self, options, overwrite=overwrite, progress=progress)
        self.__dict__.pop("info", None)
        return path

    def download_and_prepare(
        self,
        *,
        beam_options: Mapping[str, Any] | Sequence[str] | None = None,
        workers: int | None = None,
        progress: bool = True,
        options: BuildOptions | None = None,
    ) -> Path:
        """Make this version's prepared data available here; return its folder.

        Uses the local prepared folder if it is there, else downloads (and
        verifies) the published data from the shared cache
        (``LABDATASETS_SHARED_CACHE``), else builds it from the pins (with
        ``beam_options`` and ``workers``, or ``options``, as :meth:`build`).
        """
        from labdatasets.prepared import folder
        from labdatasets.processing.options import BuildOptions

        options = BuildOptions.of(beam_options, workers, options=options)
        record = self.pin_record()
        path = folder.reuse(self, record)
        if path is None and self._settings.shared_cache:
            from labdatasets.prepared.shared_cache import fetch_if_published

            path = fetch_if_published(self, record, progress=progress)
        if path is None:
            path = self.build(options=options, progress=progress)
        self.__dict__.pop("info", None)
        return path

    def as_dataset(self, split: str | None = None, *, format: str | None = None) -> Any:
        """Read the prepared splits (see :func:`labdatasets.load`)."""
        from labdatasets.prepared.dataset import read_prepared

        info = self.prepared_info()
        if info is None:
            raise PreparedDataError(
                f"{self.full_name} is not prepared in {self.data_dir}; run 'labdatasets build {self.full_name}' "
                "or call builder.build()."
            )
        return read_prepared(info, split=split, format=format)


def describe_builder(cls: type[DatasetBuilder]) -> str:
    """One paragraph about a builder class (used by ``labdatasets list --long``)."""
    doc = inspect.getdoc(cls) or ""
    return textwrap.shorten(doc.split("\n\n")[0], 100) if doc else ""
