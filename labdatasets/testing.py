"""``DatasetBuilderTestCase``: test a builder on its dummy data, with the real Beam pipeline.

A builder's test sits next to it as ``<name>_dataset_builder_test.py`` and is a
few lines (``labdatasets new`` writes it)::

    import pytest

    from labdatasets.datasets.products.product_a import product_a_dataset_builder
    from labdatasets.testing import DatasetBuilderTestCase

    pytestmark = pytest.mark.slow  # it runs Beam pipelines


    class ProductATest(DatasetBuilderTestCase):
        BUILDER = product_a_dataset_builder.Builder
        SPLITS = {"train": 8, "test": 2}     # rows per split built from dummy_data/


    class ProductA100Test(ProductATest):     # another version of the same builder
        VERSION = "1.0.0"
        SPLITS = {"train": 7, "test": 2}

Import the builder through ``labdatasets.datasets...`` (not ``datasets...``):
pytest imports the test file from the repository folder, and a second copy of
the builder module would register the dataset twice.

**Dummy data** stands in for every source ``_sources()`` declares, so the test
needs no network, bucket, database or spreadsheet. In the builder's
``dummy_data/`` folder, a source named ``observations`` is either

* one file ``observations.<ext>``: ``.csv``, ``.tsv``, ``.jsonl`` or ``.parquet``
  is read as a table; any other extension is one opaque file; or
* a folder ``observations/``, like the objects under a bucket prefix: read as
  one table when every file has the same tabular extension, otherwise as
  opaque files (``path`` and ``data`` columns, e.g. images).

The real source's reading options apply to its dummy data: the glob of a
bucket prefix or folder (files it would not take are skipped), the delimiter
and the column types. In a dummy CSV standing in for a database table or a
spreadsheet, where a missing value is NULL, an empty cell is NULL (write
``""`` for an empty string).

The dummy data is pinned into a temporary snapshot store and pin folder and
built with the real Beam pipeline, exactly as ``labdatasets build`` would.
When the version has a committed pin record, each tabular dummy source is read
with the **pinned Arrow schema** of the real source, so the processing sees the
same column names and types it sees in production (a dummy CSV can stand in for
a MySQL table); dummy data that does not fit that schema fails the test.

The checks (one test method each): the builder is registered under its name;
the splits and their row counts equal ``SPLITS``; the prepared schema equals the
declared features and the key and supervised keys are features; splits are
disjoint and keys unique; the expectations declared in ``_info()`` hold on the
dummy data (the build checks them; a broken one fails ``test_expectations`` with
the build's error and skips the rest, and a broken warning-rule is reported as
a Python warning); two builds give one content fingerprint per split; the
committed pin record names the same sources, of the same kinds, as
``_sources()``.

Optional class attributes: ``VERSION`` and ``CONFIG`` (default: the builder's
current version and default config), ``DUMMY_DATA`` (folder relative to the
builder, default ``dummy_data``), ``OVERLAPPING_SPLITS`` (splits allowed to
share rows with others, e.g. a ``train_full`` that contains ``train``), and
``BEAM_OPTIONS`` (e.g. ``{"direct_num_workers": 2, "direct_running_mode":
"multi_processing"}`` to test under multi-processing).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import shutil
import tempfile
import unittest
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from collections.abc import Mapping, Sequence

from labdatasets.config import Settings, settings as resolve_settings
from labdatasets.errors import ConfigError, LabDatasetsError
from labdatasets.expectations import ExpectationError
from labdatasets.pinning.tabular import TABULAR_FORMATS, format_for_path

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.builder import DatasetBuilder
    from labdatasets.info import DatasetInfo
    from labdatasets.loaders.local import LocalSource
    from labdatasets.pinning.record import PinRecord, SourcePin

__all__ = [
    "DatasetBuilderTestCase",
    "DummyDataError",
    "isolated_settings",
    "dummy_sources",
    "pin_dummy_data",
]

DEFAULT_DUMMY_DIR = "dummy_data"


class DummyDataError(LabDatasetsError, AssertionError):
    """Dummy data is missing, ambiguous or does not fit the pinned source (a test failure: also an
    ``AssertionError``, so test runners report it as a failed assertion)."""


def isolated_settings(root: str | os.PathLike[str]) -> Settings:
    """Settings whose store, prepared data, pins and home all live under ``root``.

    Nothing is read from or written to the user's cache, snapshot store or
    shared cache, whatever the environment or config file says.
    """
    root = Path(root)
    resolved = resolve_settings(
        home=root / "home",
        data_dir=root / "prepared",
        snapshot_store="file://" + str((root / "store").resolve()),
        pins_dir=root / "pins",
    )
    return dataclasses.replace(resolved, shared_cache=None)


def _dummy_path(dummy_dir: Path, source: str, where: str) -> Path:
    folder = dummy_dir / source
    files = sorted(p for p in dummy_dir.glob(f"{source}.*") if p.is_file()) if dummy_dir.is_dir() else []
    if folder.is_dir():
        if files:
            raise DummyDataError(
                f"{where}: dummy data for source {source!r} is ambiguous: both {folder} and "
                f"{', '.join(p.name for p in files)}; keep one."
            )
        return folder
    if len(files) == 1:
        return files[0]
    if len(files) > 1:
        raise DummyDataError(
            f"{where}: several dummy files for source {source!r} ({', '.join(p.name for p in files)}); "
            f"keep one, or put them in a folder {folder}/."
        )
    raise DummyDataError(
        f"{where}: no dummy data for source {source!r}. Add {dummy_dir}/{source}.csv (or .jsonl/.parquet) "
        f"with a few rows shaped like the real source, or a folder {dummy_dir}/{source}/ holding a few of "
        "its objects."
    )


def _folder_format(folder: Path, glob: str) -> str:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    taken = [p for p in files if fnmatch.fnmatch(p.relative_to(folder).as_posix(), glob) or fnmatch.fnmatch(p.name, glob)]
    formats = {format_for_path(p) for p in taken}
    return formats.pop() if len(formats) == 1 else "files"


def dummy_sources(
    builder: "DatasetBuilder", dummy_dir: str | os.PathLike[str] | None = None
) -> dict[str, "LocalSource"]:
    """A local source over the dummy data of every source ``builder`` declares.

    ``dummy_dir`` defaults to the builder's ``dummy_data/``. What says how to
    read the real source carries over to its dummy data: the glob, delimiter and
    column types of any connector that has them (a pinned source's delimiter
    too), and, for a source whose missing values are NULL (a database or a
    spreadsheet, ``Source.empty_is_null``), an empty dummy CSV cell reads as NULL.
    """
    from labdatasets.loaders.local import LocalSource

    folder = Path(dummy_dir) if dummy_dir is not None else builder.module_dir() / DEFAULT_DUMMY_DIR
    committed = builder.committed_pin_record()
    out: dict[str, LocalSource] = {}
    for name, source in sorted(builder.sources().items()):
        path = _dummy_path(folder, name, builder.full_name)
        pinned = committed.sources.get(name) if committed else None
        glob = getattr(source, "glob", None) or "*"
        # Opaque files stay opaque; a tabular source's format is its dummy file's (a CSV may stand in for MySQL).
        opaque = (pinned is not None and pinned.format == "files") or getattr(source, "format", None) == "files"
        fmt = "files" if opaque else _folder_format(path, glob) if path.is_dir() else format_for_path(path)
        delimiter = getattr(source, "delimiter", None) or (pinned.read_options.get("delimiter") if pinned else None)
        if path.suffix.lower() == ".tsv" and not delimiter:
            delimiter = "\t"
        out[name] = LocalSource(
            path.resolve(),
            format=fmt,
            glob=glob if path.is_dir() else "*",
            delimiter=delimiter,
            column_types=getattr(source, "column_types", None),
            empty_is_null=source.empty_is_null,
        )
    return out


def _adopt_pinned_schema(dummy: "SourcePin", real: "SourcePin", store: Any, where: str) -> "SourcePin":
    """Make a dummy source read with the real source's pinned schema, or explain why it cannot."""
    from labdatasets.pinning.record import schema_to_json
    from labdatasets.pinning.tabular import read_table

    schema = real.arrow()
    if schema is None or dummy.format not in TABULAR_FORMATS or real.format not in TABULAR_FORMATS:
        return dummy
    dummy_columns = [f["name"] for f in dummy.schema]
    missing = [n for n in schema.names if n not in dummy_columns]
    extra = [n for n in dummy_columns if n not in schema.names]
    if missing or extra:
        problems = ([f"missing {missing}"] if missing else []) + ([f"not in the pinned source {extra}"] if extra else [])
        raise DummyDataError(
            f"{where}: the dummy data's columns differ from the pinned source's: {'; '.join(problems)}. "
            "Make the dummy data's columns match the real source."
        )
    for obj in dummy.objects:
        try:
            read_table(store.local_path(obj.oid), dummy.format, dummy.read_options, schema)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for values that do not fit
            raise DummyDataError(
                f"{where}: dummy file {obj.path!r} does not fit the pinned schema of the real source "
                f"({', '.join(f'{f.name}: {f.type}' for f in schema)}): {exc}"
            ) from exc
    fields, arrow_schema = schema_to_json(schema)
    return dataclasses.replace(dummy, schema=tuple(fields), arrow_schema=arrow_schema)


def pin_dummy_data(builder: "DatasetBuilder", dummy_dir: str | os.PathLike[str] | None = None) -> "PinRecord":
    """Pin ``builder``'s dummy data in place of its sources; later builds of ``builder`` read it.

    ``builder`` must use isolated settings (:func:`isolated_settings`): its pin
    record is written to ``settings.pins_dir``, never to the repository.

    Example::

        b = Builder(settings=isolated_settings(tmp_path))
        pin_dummy_data(b)
        b.build(progress=False)
    """
    from labdatasets.pinning.pin import snapshots_for
    from labdatasets.pinning.record import PinRecord

    if builder.settings.pins_dir is None:
        raise ConfigError(
            f"pin_dummy_data({builder.full_name}) needs a builder with isolated settings (pins_dir set), so that the repository's "
            "snapshots/ is never written; pass settings=isolated_settings(tmp_dir)."
        )
    sources = dummy_sources(builder, dummy_dir)
    # The builder's own _sources() names live systems; for the rest of this builder's
    # life (pin, then build, which re-reads sources to locate objects) it sees the dummy data.
    builder._sources = lambda: dict(sources)  # type: ignore[method-assign]
    record = builder.pin(progress=False)
    committed = builder.committed_pin_record()
    if committed is None:
        return record
    store = snapshots_for(builder)
    adopted = {
        name: (
            _adopt_pinned_schema(pin, committed.sources[name], store, f"{builder.full_name} source {name!r}")
            if name in committed.sources
            else pin
        )
        for name, pin in record.sources.items()
    }
    if adopted == dict(record.sources):
        return record
    assert record.path is not None
    record.path.unlink()
    return PinRecord.read(dataclasses.replace(record, sources=adopted).write_new(record.path))


def _key_tuples(table: Any, columns: Sequence[str]) -> list[tuple]:
    values = [table.column(c).to_pylist() for c in columns]
    return [tuple(repr(v) if isinstance(v, (list, dict)) else v for v in row) for row in zip(*values, strict=True)]


class DatasetBuilderTestCase(unittest.TestCase):
    """Subclass with ``BUILDER`` and ``SPLITS``; see the module docstring."""

    #: The builder class under test (its module imported as ``labdatasets.datasets...``).
    BUILDER: ClassVar[type["DatasetBuilder"] | None] = None
    #: Expected rows per split when built from the dummy data.
    SPLITS: ClassVar[Mapping[str, int]] = {}
    VERSION: ClassVar[str | None] = None
    CONFIG: ClassVar[str | None] = None
    DUMMY_DATA: ClassVar[str | os.PathLike[str]] = DEFAULT_DUMMY_DIR
    OVERLAPPING_SPLITS: ClassVar[Sequence[str]] = ()
    BEAM_OPTIONS: ClassVar[Mapping[str, Any] | None] = None

    builder: ClassVar["DatasetBuilder"]
    info: ClassVar["DatasetInfo"]
    _tmp: ClassVar[Path]
    _broken: ClassVar[ExpectationError | None] = None

    # The base class is not a test; a subclass that sets BUILDER is (pytest and unittest both honour this).
    __test__ = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__test__ = cls.BUILDER is not None

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        if cls.BUILDER is None:
            raise unittest.SkipTest("DatasetBuilderTestCase subclasses set BUILDER")
        cls._tmp = Path(tempfile.mkdtemp(prefix=f"labdatasets-test-{cls.BUILDER.name}-"))
        cls.addClassCleanup(shutil.rmtree, cls._tmp, True)
        cls.builder = cls._make_builder(cls._tmp / "build-1")
        pin_dummy_data(cls.builder, cls._dummy_dir())
        cls._broken = None
        try:
            cls.builder.build(beam_options=cls.BEAM_OPTIONS, progress=False)
        except ExpectationError as exc:
            cls._broken = exc  # test_expectations fails with it; the other checks need prepared data
            return
        info = cls.builder.prepared_info()
        assert info is not None
        cls.info = info

    def setUp(self) -> None:
        super().setUp()
        if self._broken is not None and self._testMethodName != "test_expectations":
            self.skipTest("the dummy data breaks an expectation, so nothing was prepared: see test_expectations")

    @classmethod
    def _make_builder(cls, root: Path) -> "DatasetBuilder":
        assert cls.BUILDER is not None
        return cls.BUILDER(config=cls.CONFIG, version=cls.VERSION, settings=isolated_settings(root))

    @classmethod
    def _dummy_dir(cls) -> Path:
        assert cls.BUILDER is not None
        return cls.BUILDER.module_dir() / cls.DUMMY_DATA

    def _split_tables(self) -> dict[str, Any]:
        return {name: ds.to_arrow() for name, ds in self.builder.as_dataset().items()}

    # ------------------------------------------------------------------ checks
    def test_registered(self) -> None:
        from labdatasets import registry

        name = self.builder.name
        found = registry.builder_cls(name)
        self.assertIs(
            found,
            self.BUILDER,
            f"registry.builder_cls({name!r}) is {found.__module__}.{found.__qualname__}, not the class under test "
            f"({self.builder.__module__}). Import the builder as labdatasets.datasets.<group>.{name}."
            f"{name}_dataset_builder, not through the repository's datasets/ folder.",
        )

    def test_splits_and_row_counts(self) -> None:
        rows = {name: table.num_rows for name, table in self._split_tables().items()}
        self.assertEqual(
            rows,
            dict(self.SPLITS),
            f"{self.builder.full_name} built from {self._dummy_dir()} gives rows per split {rows}; "
            f"SPLITS says {dict(self.SPLITS)}",
        )
        self.assertEqual({n: s.num_rows for n, s in self.info.splits.items()}, rows, "dataset_info.json row counts")

    def test_schema_matches_features(self) -> None:
        declared = self.builder.declared_info()
        self.assertEqual(self.info.features, declared.features, "dataset_info.json features differ from _info()")
        expected = declared.features.arrow_schema()
        for name, table in self._split_tables().items():
            self.assertEqual(
                [(f.name, f.type, f.nullable) for f in table.schema],
                [(f.name, f.type, f.nullable) for f in expected],
                f"split {name!r} schema",
            )
        for column in declared.key_columns:
            self.assertIn(column, declared.features, f"key column {column!r} is not a declared feature")
        for column in declared.supervised_keys or ():
            self.assertIn(column, declared.features, f"supervised key {column!r} is not a declared feature")

    def test_splits_are_disjoint(self) -> None:
        key = self.info.key_columns
        owner: dict[tuple, str] = {}
        for name, table in sorted(self._split_tables().items()):
            if name in self.OVERLAPPING_SPLITS:
                continue
            # Without a key a row is identified by all its values (identical rows may repeat within a split).
            rows = _key_tuples(table, key or table.column_names)
            if key:
                repeated = [row for row, n in Counter(rows).items() if n > 1]
                if repeated:
                    self.fail(f"key {dict(zip(key, repeated[0], strict=True))} is not unique: split {name!r} has it more than once")
            for row in dict.fromkeys(rows):
                other = owner.setdefault(row, name)
                if other != name:
                    self.fail(f"{'key' if key else 'row'} {row} is in both split {other!r} and split {name!r}")

    def test_expectations(self) -> None:
        """The build checked every expectation; they hold again when checked on the prepared splits."""
        if self._broken is not None:
            self.fail(f"{self._broken}\n(built from {self._dummy_dir()})")
        from labdatasets.prepared.validate import validate_prepared

        report = validate_prepared(self.info, self.builder.declared_info(), write=False)
        self.assertEqual(report.errors, [], "\n".join(v.message() for v in report.errors))
        for split, found in report.statistics.items():
            recorded = self.info.splits[split].statistics
            self.assertIsNotNone(recorded, f"the build recorded no statistics for split {split!r}")
            assert recorded is not None
            self.assertEqual(found["num_rows"], recorded["num_rows"], f"split {split!r}")
            self.assertEqual(
                {c: v.get("nulls") for c, v in found["columns"].items()},
                {c: v.get("nulls") for c, v in recorded["columns"].items()},
                f"split {split!r}: the build and a check of the prepared data count other nulls",
            )
        for violation in report.warnings:
            warnings.warn(f"{self.builder.full_name} {violation.message()}", stacklevel=2)

    def test_build_is_deterministic(self) -> None:
        again = self._make_builder(self._tmp / "build-2")
        pin_dummy_data(again, self._dummy_dir())
        again.build(beam_options=self.BEAM_OPTIONS, progress=False)
        second = again.prepared_info()
        assert second is not None
        self.assertEqual(second.snapshot_id, self.info.snapshot_id, "the dummy data pinned to another snapshot")
        self.assertEqual(
            {n: s.fingerprint for n, s in second.splits.items()},
            {n: s.fingerprint for n, s in self.info.splits.items()},
            "two builds of the same pinned data gave different content: row order or values depend on the run",
        )

    def test_pin_record_matches_sources(self) -> None:
        committed = self.builder.committed_pin_record()
        if committed is None:
            self.skipTest(
                f"{self.builder.full_name} has no committed pin record yet; "
                f"'labdatasets pin {self.builder.full_name}' writes it"
            )
        declared = type(self.builder)(config=self.CONFIG, version=self.VERSION, settings=self.builder.settings).sources()
        self.assertEqual(
            {n: s.kind for n, s in declared.items()},
            {n: p.kind for n, p in committed.sources.items()},
            f"{committed.path} does not pin the sources _sources() declares for {self.builder.full_name}; "
            "a pinned version never changes its sources: bump VERSION to change them",
        )
