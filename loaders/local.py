"""Local files and folders: CSV, JSON lines, Parquet, and opaque files such as images.

Example::

    LocalSource("data/penguins.csv")                        # one CSV file
    LocalSource("data/images", glob="*.png")                 # a folder of opaque files
    LocalSource("data/exports", glob="*.csv", format="csv")  # CSV files read as one table
    LocalSource("data/scores.tsv", delimiter="\\t", column_types={"score": "float32"})

A relative path is resolved against the builder's folder. Pinning copies the
bytes into the snapshot store (hashing them in the same pass) and records the
sha256 and size of every file, the row count and the schema.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any
from collections.abc import Callable, Mapping

from labdatasets.errors import ConfigError, SourceError, SourceNotFoundError
from labdatasets.pinning.record import ObjectEntry, SourcePin
from labdatasets.pinning.tabular import FORMATS, format_for_path, inspect
from labdatasets.loaders.base import PinContext, Source, SourceStatus, describe_options

__all__ = ["LocalSource"]


class LocalSource(Source):
    """A local file, or the files of a local folder that match ``glob``.

    Args:
        path: file or folder; relative paths resolve against the builder's folder.
        format: ``csv``, ``jsonl``, ``parquet`` or ``files`` (opaque bytes); by default
            from the file extension, and ``files`` for a folder.
        glob: for a folder, which files to take (matched against the relative path
            and the file name); hidden files are always skipped.
        delimiter: CSV field delimiter (default ``,``).
        column_types: CSV column dtypes to use instead of inference, e.g. ``{"zip": "string"}``.
        empty_is_null: read an empty CSV cell as NULL in every column (a quoted ``""`` stays an
            empty string), as in a database export; by default an empty text cell is ``""``.
    """

    kind = "local"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        glob: str = "*",
        delimiter: str | None = None,
        column_types: Mapping[str, str] | None = None,
        empty_is_null: bool = False,
    ):
        if format is not None and format not in FORMATS:
            raise ConfigError(
                f"LocalSource({os.fspath(path)!r}) has format={format!r}; use one of {', '.join(FORMATS)}, "
                "or leave format out to take it from the file extension."
            )
        self.path = os.fspath(path)
        self.format = format
        self.glob = glob
        self.delimiter = delimiter
        self.column_types = dict(column_types) if column_types else None
        self.empty_is_null = empty_is_null

    def describe(self) -> dict[str, Any]:
        return describe_options(
            {
                "path": self.path,
                "format": self.format,
                "glob": self.glob if self.glob != "*" else None,
                "delimiter": self.delimiter,
                "column_types": self.column_types,
                "empty_is_null": self.empty_is_null or None,
            }
        )

    def resolve(self, base_dir: Path) -> Path:
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else base_dir / path

    def _files(self, root: Path, label: str) -> list[tuple[str, Path]]:
        if root.is_file():
            return [(root.name, root)]
        if not root.is_dir():
            raise SourceNotFoundError(
                f"{label}: local path {root} does not exist; fix the path in the builder's _sources() "
                "(relative paths start at the builder's folder).",
                source=str(root),
            )
        found: list[tuple[str, Path]] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                full = Path(dirpath) / name
                rel = full.relative_to(root).as_posix()
                if fnmatch.fnmatch(rel, self.glob) or fnmatch.fnmatch(name, self.glob):
                    found.append((rel, full))
        if not found:
            raise SourceNotFoundError(
                f"{label}: no file in {root} matches glob {self.glob!r}; add the files or fix the glob.",
                source=str(root),
            )
        return found

    def _format(self, files: list[tuple[str, Path]], root: Path) -> str:
        if self.format:
            return self.format
        if root.is_dir():
            return "files"
        return format_for_path(files[0][1])

    def _read_options(self) -> dict[str, Any]:
        return describe_options(
            {"delimiter": self.delimiter, "column_types": self.column_types, "empty_is_null": self.empty_is_null or None}
        )

    def pin(self, ctx: PinContext) -> SourcePin:
        root = self.resolve(ctx.base_dir)
        files = self._files(root, ctx.label)
        fmt = self._format(files, root)
        total = sum(p.stat().st_size for _, p in files)
        progress = ctx.progress(total, f"pin {ctx.label}")
        objects = []
        for rel, full in files:
            try:
                info = ctx.store.add_file(full, progress=progress)
            except OSError as exc:
                raise SourceError(f"{ctx.label}: cannot read {full}: {exc}", source=str(full)) from exc
            objects.append(ObjectEntry(path=rel, oid=info.oid, size=info.size))
        read_options = self._read_options()
        try:
            # Inspect the stored copies, not the live files: they are what builds will read. They
            # were hashed on their way into the cache a moment ago, so they are read as they are
            # (local_path would hash every byte a second time).
            schema, rows = inspect([ctx.store.added_path(o.oid) for o in objects], fmt, read_options)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for unreadable files
            raise SourceError(
                f"{ctx.label}: cannot read {root} as {fmt}: {exc}. Set format= (or column_types= for CSV) "
                "on the LocalSource.",
                source=str(root),
            ) from exc
        return SourcePin.of_table(
            kind=self.kind, location=self.describe(), format=fmt, objects=objects, schema=schema, num_rows=rows,
            read_options=read_options,
        )

    def mirror(self, pinned: SourcePin, ctx: PinContext) -> Callable[[str], Path | None]:
        root = self.resolve(ctx.base_dir)
        by_oid = {o.oid: o.path for o in pinned.objects}

        def find(oid: str) -> Path | None:
            rel = by_oid.get(oid)
            if rel is None:
                return None
            return root if root.is_file() and root.name == rel else root / rel

        return find

    def status(self, pinned: SourcePin, ctx: PinContext) -> SourceStatus:
        from labdatasets.stores.hashing import sha256_file

        root = self.resolve(ctx.base_dir)
        name = ctx.label
        try:
            files = dict(self._files(root, ctx.label))
        except SourceNotFoundError as exc:
            return SourceStatus(name, self.kind, "unavailable", (str(exc),))
        pinned_by_path = {o.path: o for o in pinned.objects}
        details = []
        for rel in sorted(set(files) - set(pinned_by_path)):
            details.append(f"added: {rel}")
        for rel in sorted(set(pinned_by_path) - set(files)):
            details.append(f"removed: {rel}")
        for rel in sorted(set(files) & set(pinned_by_path)):
            if sha256_file(files[rel]) != pinned_by_path[rel].oid:
                details.append(f"modified: {rel}")
        return SourceStatus(name, self.kind, "changed" if details else "unchanged", tuple(details))
