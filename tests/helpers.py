"""Test helpers: builder modules written to a temporary folder and registered for one test."""

from __future__ import annotations

import csv
import importlib.util
import io
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping

from labdatasets import registry

TABULAR_BUILDER = '''
import pyarrow as pa
import pyarrow.compute as pc

import labdatasets as lds
from labdatasets import features as F, loaders, processing as P


def tidy(table):
    return table.append_column("value_x2", pc.multiply(table["value"], 2.0))


class Builder(lds.DatasetBuilder):
    """A small tabular dataset for tests."""

    name = {name!r}
    VERSION = {version!r}
    SUPPORTED_VERSIONS = {supported!r}
    RELEASE_NOTES = {notes!r}

    def _info(self):
        return lds.DatasetInfo(
            features=F.Features({{
                "id": F.Value("int64", nullable=False),
                "value": F.Value("float32"),
                "label": F.ClassLabel(names=["neg", "pos"]),
                "text": F.Text(),
                "value_x2": F.Value("float64"),
            }}),
            key="id",
            owners=["tests@lab.example"],
        )

    def _sources(self):
        return {{"rows": loaders.LocalSource({source!r})}}

    def _process(self, sources):
        rows = sources["rows"] | "Tidy" >> P.MapBatches(tidy)
        return P.split_by_hash(rows, key="id", ratios={ratios!r})
'''


SOURCES_BUILDER = '''
import labdatasets as lds
from labdatasets import features as F, loaders


class Builder(lds.DatasetBuilder):
    """{doc}"""

    VERSION = "1.0.0"
    RELEASE_NOTES = {{"1.0.0": "first"}}

    def _info(self):
        return lds.DatasetInfo(features=F.Features({{"id": F.Value("int64")}}))

    def _sources(self):
        return {sources}

    def _process(self, sources):
        raise NotImplementedError
'''


def rows_csv(rows: Iterable[Mapping[str, Any]], fields: Iterable[str] = ("id", "value", "label", "text")) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def sample_rows(n: int, offset: int = 0) -> list[dict[str, Any]]:
    return [
        {"id": i, "value": round(i * 0.5, 2), "label": "pos" if i % 3 == 0 else "neg", "text": f"row number {i}"}
        for i in range(offset, offset + n)
    ]


class BuilderFactory:
    """Writes ``<root>/<name>/<name>_dataset_builder.py`` plus data files, imports and registers it."""

    def __init__(self, root: Path):
        self.root = root
        self.names: list[str] = []
        self.modules: list[str] = []

    def write(self, name: str, source: str, files: Mapping[str, str | bytes] | None = None) -> type:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        for rel, content in (files or {}).items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        module_path = folder / f"{name}_dataset_builder.py"
        module_path.write_text(textwrap.dedent(source))
        module_name = f"labtest_{uuid.uuid4().hex[:8]}_{name}_dataset_builder"
        spec = importlib.util.spec_from_file_location(module_name, module_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        registry.unregister(name)
        spec.loader.exec_module(module)
        self.names.append(name)
        if getattr(module, "Builder", None) is not None:  # a class without name= is named after its module
            self.names.append(module.Builder.name)
        self.modules.append(module_name)
        return module.Builder

    def tabular(
        self,
        name: str = "toy",
        *,
        rows: Iterable[Mapping[str, Any]] | None = None,
        version: str = "1.0.0",
        supported: Iterable[str] = (),
        notes: Mapping[str, str] | None = None,
        ratios: Mapping[str, float] | None = None,
        source: str = "data/rows.csv",
        extra_files: Mapping[str, str | bytes] | None = None,
        write_source: bool = True,
        edits: Mapping[str, str] | None = None,
    ) -> type:
        """The TABULAR_BUILDER module; ``edits`` are text replacements applied to it (each must match)."""
        rows = sample_rows(100) if rows is None else rows
        files = {source: rows_csv(rows)} if write_source else {}
        files.update(extra_files or {})
        supported = list(supported)
        notes = dict(notes or {v: f"version {v}" for v in [version, *supported]})
        code = TABULAR_BUILDER.format(
            name=name, version=version, supported=supported, notes=notes, source=source,
            ratios=dict(ratios or {"train": 0.8, "test": 0.2}),
        )
        for before, after in (edits or {}).items():
            assert before in code, f"{before!r} is not in the test builder"
            code = code.replace(before, after)
        return self.write(name, code, files)

    def sources_only(self, name: str, sources: str, *, doc: str, files: Mapping[str, str | bytes] | None = None) -> type:
        """A builder that only declares ``sources`` (a Python expression of a dict of sources); for pin tests."""
        return self.write(name, SOURCES_BUILDER.format(doc=doc, sources=sources), files)

    def cleanup(self) -> None:
        for name in self.names:
            registry.unregister(name)
        for module in self.modules:
            sys.modules.pop(module, None)


REPO = Path(__file__).resolve().parent.parent
# What a checkout needs to scaffold, test and document builders (no .git, .venv or caches).
CHECKOUT_PARTS = ("labdatasets", "datasets", "loaders", "snapshots", "docs", "setup.cfg", "setup.py", "pyproject.toml")


def copy_repository(dest: Path) -> Path:
    """A copy of this checkout that a child Python imports as ``labdatasets``.

    The installed (editable) package maps ``labdatasets.datasets`` to *this*
    checkout's ``datasets/``. In the copy, ``labdatasets/datasets`` (and
    ``loaders``, ``snapshots``) are symlinks to the copy's top-level folders, so
    with the copy first on ``PYTHONPATH`` every import resolves inside the copy,
    as ``pip install -e`` of the copy would arrange.
    """
    import shutil

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for part in CHECKOUT_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=ignore)
        elif src.is_file():
            shutil.copy2(src, dest / part)
    for mapped in ("datasets", "loaders", "snapshots"):
        (dest / "labdatasets" / mapped).symlink_to(Path("..") / mapped, target_is_directory=True)
    return dest
