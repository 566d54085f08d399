"""Pin records: the committed statement of exactly which bytes a dataset version is made of.

One JSON file per dataset version, under the repository's ``snapshots/``::

    snapshots/product_a/1.2.0.json          (default config)
    snapshots/digits/small/1.0.0.json       (config "small")

A record lists, per source, what was read (kind and secret-free location),
when, the sha256 and size of every stored object, the row count and the
schema. Its ``snapshot_id`` is the sha256 of the sources' manifests, so two
versions pinned from the same bytes share it. Records are written once:
changing a dataset's data means a new ``VERSION`` and a new record.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Mapping, Sequence

from labdatasets import safe_names
from labdatasets.errors import PinExistsError, SnapshotError
from labdatasets.naming import DatasetReference
from labdatasets.stores.hashing import canonical_json, sha256_json

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["ObjectEntry", "SourcePin", "PinRecord", "PIN_FORMAT", "utc_now"]

PIN_FORMAT = 1


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclasses.dataclass(frozen=True)
class ObjectEntry:
    """One stored object of a source: its relative path, sha256 oid, size and source metadata."""

    path: str
    oid: str
    size: int
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "oid": self.oid, "size": self.size}
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, where: str, code: bool = False) -> "ObjectEntry":
        """Read an entry; its oid and path are checked (:mod:`labdatasets.safe_names`) before anyone uses them."""
        check_path = safe_names.code_path if code else safe_names.object_path
        return cls(
            path=check_path(data["path"], where=where),
            oid=safe_names.check_oid(data["oid"], where=where),
            size=int(data["size"]),
            metadata=data.get("metadata", {}),
        )


def schema_to_json(schema: "pa.Schema") -> tuple[list[dict[str, str]], str]:
    """A readable field list and the exact Arrow schema (base64 IPC) for reading back."""
    fields = [{"name": f.name, "type": str(f.type)} for f in schema]
    return fields, base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def schema_from_b64(data: str) -> "pa.Schema":
    import pyarrow as pa

    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(data)))


@dataclasses.dataclass(frozen=True)
class SourcePin:
    """What one source of a version was pinned to."""

    kind: str
    location: Mapping[str, Any]
    format: str
    objects: tuple[ObjectEntry, ...]
    num_rows: int | None = None
    schema: tuple[Mapping[str, str], ...] = ()
    arrow_schema: str | None = None
    read_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    pinned_at: str = dataclasses.field(default_factory=utc_now)

    @classmethod
    def of_table(
        cls,
        *,
        kind: str,
        location: Mapping[str, Any],
        format: str,
        objects: "Sequence[ObjectEntry]",
        schema: "pa.Schema",
        num_rows: int | None,
        read_options: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> "SourcePin":
        """A pin whose schema is given as an Arrow schema (recorded readable and exact)."""
        fields, arrow_schema = schema_to_json(schema)
        return cls(
            kind=kind,
            location=location,
            format=format,
            objects=tuple(objects),
            num_rows=num_rows,
            schema=tuple(fields),
            arrow_schema=arrow_schema,
            read_options=read_options or {},
            metadata=metadata or {},
        )

    def manifest(self) -> dict[str, Any]:
        """The content that names this source's snapshot (not when or from where it was read)."""
        return {
            "format": self.format,
            "objects": sorted(({"path": o.path, "oid": o.oid, "size": o.size} for o in self.objects), key=lambda o: o["path"]),
            "arrow_schema": self.arrow_schema,
            "read_options": dict(self.read_options),
        }

    @property
    def manifest_oid(self) -> str:
        return sha256_json(self.manifest())

    @property
    def num_bytes(self) -> int:
        return sum(o.size for o in self.objects)

    def arrow(self) -> "pa.Schema | None":
        return schema_from_b64(self.arrow_schema) if self.arrow_schema else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "location": dict(self.location),
            "format": self.format,
            "manifest": self.manifest_oid,
            "pinned_at": self.pinned_at,
            "num_rows": self.num_rows,
            "num_bytes": self.num_bytes,
            "objects": [o.to_json() for o in self.objects],
            "schema": [dict(f) for f in self.schema],
        }
        if self.arrow_schema:
            out["arrow_schema"] = self.arrow_schema
        if self.read_options:
            out["read_options"] = dict(self.read_options)
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, where: str) -> "SourcePin":
        """Read a source entry; ``where`` names it in errors (``Pin record <path> source 'rows'``).

        Its ``manifest`` must be present and match its objects: a record whose manifest was removed
        or edited is refused.
        """
        pin = cls(
            kind=data["kind"],
            location=data.get("location", {}),
            format=data["format"],
            objects=tuple(ObjectEntry.from_json(o, where=where) for o in data.get("objects", [])),
            num_rows=data.get("num_rows"),
            schema=tuple(data.get("schema", [])),
            arrow_schema=data.get("arrow_schema"),
            read_options=data.get("read_options", {}),
            metadata=data.get("metadata", {}),
            pinned_at=data.get("pinned_at", ""),
        )
        stated = data.get("manifest")
        if stated != pin.manifest_oid:
            raise SnapshotError(
                f"{where} ({pin.kind}, {pin.location}) was edited by hand: its manifest {str(stated)[:12]} does not "
                f"match its objects ({pin.manifest_oid[:12]}). Restore it from git; a pin record is never edited, a "
                "new VERSION is pinned instead."
            )
        return pin


@dataclasses.dataclass(frozen=True)
class PinRecord:
    """The pin record of one dataset version (the Loading layer of that version)."""

    dataset: str
    version: str
    sources: Mapping[str, SourcePin]
    config: str | None = None
    pinned_at: str = dataclasses.field(default_factory=utc_now)
    code_fingerprint: str | None = None
    labdatasets_version: str = ""
    path: Path | None = dataclasses.field(default=None, compare=False)
    #: The builder folder's Python files at pin time, stored as snapshot objects, so that this
    #: version can be rebuilt with its own processing after the builder has moved on.
    code_files: tuple[ObjectEntry, ...] = ()
    #: the snapshot store the objects were written to (redacted URI), so a fetch that finds nothing can say where to look
    snapshot_store: str | None = None

    @property
    def snapshot_id(self) -> str:
        """sha256 of ``{source name: manifest oid}``: names the exact input bytes of the version."""
        return sha256_json({name: pin.manifest_oid for name, pin in sorted(self.sources.items())})

    @property
    def full_name(self) -> str:
        return str(DatasetReference(self.dataset, self.config, self.version))

    def to_json(self) -> dict[str, Any]:
        return {
            "pin_format": PIN_FORMAT,
            "dataset": self.dataset,
            "config": self.config,
            "version": self.version,
            "snapshot_id": self.snapshot_id,
            "pinned_at": self.pinned_at,
            "labdatasets_version": self.labdatasets_version,
            "code_fingerprint": self.code_fingerprint,
            **({"code_files": [f.to_json() for f in self.code_files]} if self.code_files else {}),
            **({"snapshot_store": self.snapshot_store} if self.snapshot_store else {}),
            "sources": {name: pin.to_json() for name, pin in sorted(self.sources.items())},
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, path: Path | None = None) -> "PinRecord":
        """Read a record; every error names it (``path``, else ``dataset[/config]:version``).

        Names that reach a filesystem (oids, object and code paths) are checked first; the
        ``manifest`` of every source and the ``snapshot_id`` must be present and match the
        content, so a record edited by hand is refused.
        """
        where = f"Pin record {path or DatasetReference(str(data.get('dataset')), data.get('config'), data.get('version'))}"
        fmt = data.get("pin_format")
        if fmt != PIN_FORMAT:
            raise SnapshotError(
                f"{where} has pin_format {fmt!r}; this labdatasets reads format {PIN_FORMAT}. Upgrade labdatasets, "
                "or restore the record from git if it was damaged."
            )
        if data.get("code_fingerprint") is not None:
            safe_names.check_oid(data["code_fingerprint"], where=where)
        record = cls(
            dataset=data["dataset"],
            config=data.get("config"),
            version=data["version"],
            sources={name: SourcePin.from_json(s, where=f"{where} source {name!r}") for name, s in data.get("sources", {}).items()},
            pinned_at=data.get("pinned_at", ""),
            code_fingerprint=data.get("code_fingerprint"),
            labdatasets_version=data.get("labdatasets_version", ""),
            path=path,
            code_files=tuple(ObjectEntry.from_json(f, where=where, code=True) for f in data.get("code_files", [])),
            snapshot_store=data.get("snapshot_store"),
        )
        if data.get("snapshot_id") != record.snapshot_id:
            raise SnapshotError(
                f"{where} was edited by hand: its snapshot_id does not match its sources. Restore it from git; a pin "
                "record is never edited, a new VERSION is pinned instead."
            )
        return record

    @classmethod
    def read(cls, path: Path) -> "PinRecord":
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SnapshotError(f"Cannot read pin record {path}: {exc}. Restore it from git.") from exc
        try:
            return cls.from_json(data, path=path)  # its own errors name the path
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            missing = f"field {exc} is missing" if isinstance(exc, KeyError) else f"a field is malformed ({exc})"
            raise SnapshotError(
                f"Pin record {path} cannot be read: {missing}. It is damaged or was edited by hand; restore it from git."
            ) from exc

    def write_new(self, path: Path) -> Path:
        """Write the record to ``path``, refusing to replace an existing record."""
        from labdatasets.errors import local_writes

        doing = f"writing the pin record of {self.full_name} (the snapshot objects are stored; pin again once it can be written)"
        with local_writes(doing, path.parent):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        tmp = Path(tmp_name)
        try:
            with local_writes(doing, path.parent), os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.dumps())
            # mkstemp makes 0o600; a record is shared by everyone using the checkout: the umask decides.
            os.chmod(tmp, 0o666 & ~_current_umask())
            try:
                os.link(tmp, path)  # atomic and never replaces: a concurrent pin loses cleanly
            except FileExistsError:
                raise PinExistsError(
                    f"{self.full_name} is already pinned ({path}). A pinned version never changes; to change "
                    "its data, bump VERSION, add a RELEASE_NOTES entry and pin the new version."
                ) from None
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def manifest_bytes(self) -> bytes:
        return canonical_json({name: pin.manifest_oid for name, pin in sorted(self.sources.items())})


def _current_umask() -> int:
    """The process umask, read without changing it (os.umask would, for a moment, in every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask
