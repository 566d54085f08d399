"""A small prepared version made without Beam, once per session, copied into each test's home.

``make_world`` pins a tabular test builder (fast: one CSV) and writes its prepared
folder as the build's finishing step (``_finalize``) records it,
from the rows the builder's processing gives: the CSV, its ``tidy`` step, the
builder's ``split_by_hash`` assignment, ordered by key. So the folder holds the rows
a Beam build writes (``verify --rebuild`` agrees with it), with an output record
(``labdatasets lock``) and a release in a ``file://`` shared cache, in a few hundred
milliseconds instead of a Beam build's seconds. Tests copy it (``shutil.copytree``)
and damage their copy.

The world is kept between test processes in ``<pytest's temporary root>/labdatasets-worlds/<key>``,
where the key hashes the code it is made with (``labdatasets``, the loaders, this module and
the test helpers): mutation testing runs the tests once per mutant, each in a new process,
and must not pay for making it each time. A changed checkout makes a new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from collections.abc import Iterator

import pytest

import labdatasets
from tests.helpers import BuilderFactory, sample_rows

NAME = "toy_world"
ROWS = 60
ENV = (
    "LABDATASETS_HOME", "LABDATASETS_DATA_DIR", "LABDATASETS_SNAPSHOT_STORE", "LABDATASETS_SHARED_CACHE",
    "LABDATASETS_PINS_DIR", "LABDATASETS_CONFIG",
)


def prepared_rows(builder) -> dict[str, "object"]:
    """``{split: table}``: the rows the builder's processing gives, split and ordered as a build writes them."""
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    from labdatasets.processing.splitting import split_table

    module = __import__(type(builder).__module__, fromlist=["tidy"])
    table = module.tidy(pcsv.read_csv(type(builder).module_dir() / "data" / "rows.csv"))
    declared = builder.declared_info()
    out = {}
    for split, rows in split_table(table, "id", {"train": 0.8, "test": 0.2}).items():
        rows = rows.take(pc.sort_indices(rows, [("id", "ascending")]))
        out[split] = declared.features.conform(rows, key="id")
    return out


def write_prepared(builder, record) -> "object":
    """Write ``builder``'s prepared folder from :func:`prepared_rows`, as a build finishes one; its info.

    What :func:`labdatasets.processing.build._finalize` records, without importing Beam (seconds) for its version.
    """
    import importlib.metadata
    import platform

    import pyarrow as pa
    import pyarrow.parquet as pq

    from labdatasets._version import __version__
    from labdatasets.info import INFO_FILENAME, ShardInfo, SplitInfo
    from labdatasets.pinning.record import utc_now
    from labdatasets.prepared import folder
    from labdatasets.processing.fingerprint import content_fingerprint
    from labdatasets.stores.hashing import sha256_file

    declared = dataclasses.replace(builder.declared_info(), release_notes=builder.release_notes_for(builder.config_name))
    splits = {}
    with folder.incomplete_dir(builder.prepared_dir) as tmp:
        for split, table in prepared_rows(builder).items():
            path = tmp / f"{builder.name}-{split}-00000-of-00001.parquet"  # NUM_SHARDS = 1
            pq.write_table(table, path, write_page_checksum=True)
            shard = ShardInfo(path.name, table.num_rows, path.stat().st_size, sha256_file(path))
            splits[split] = SplitInfo(split, shard.num_rows, shard.num_bytes, (shard,), content_fingerprint([path]))
        info = dataclasses.replace(
            declared,
            splits=splits,
            snapshot_id=record.snapshot_id,
            code_fingerprint=type(builder).code_fingerprint(),
            prepared_at=utc_now(),
            environment={
                "labdatasets": __version__,
                "pyarrow": pa.__version__,
                "apache_beam": importlib.metadata.version("apache-beam"),
                "python": platform.python_version(),
            },
            data_dir=None,
        )
        (tmp / INFO_FILENAME).write_text(json.dumps(info.to_json(), indent=2) + "\n", "utf-8")
        folder.move_into_place(tmp, builder.prepared_dir, overwrite=False)
    return info


def make_world(root: Path) -> Path:
    """Pin, prepare, lock and publish :data:`NAME` under ``root`` (``home/`` and ``shared/``); ``root``."""
    from labdatasets.pinning.outputs import write_output_record
    from labdatasets.prepared.shared_cache import publish

    mp = pytest.MonkeyPatch()
    try:
        for var in ENV:
            mp.delenv(var, raising=False)
        mp.setenv("LABDATASETS_HOME", str(root / "home"))
        mp.setenv("LABDATASETS_PROGRESS", "0")
        b = labdatasets.builder(NAME)
        record = b.pin(progress=False)
        info = write_prepared(b, record)
        write_output_record(b, info, record)
        mp.setenv("LABDATASETS_SHARED_CACHE", f"file://{root / 'shared'}")
        publish(labdatasets.builder(NAME), progress=False)
    finally:
        mp.undo()
    return root


def world_key() -> str:
    """A hash of everything the world is made with: a changed checkout makes a new world."""
    import pyarrow

    import labdatasets.loaders

    digest = hashlib.sha256(f"{sys.version} {pyarrow.__version__}".encode())
    roots = [Path(labdatasets.__file__).parent, Path(labdatasets.loaders.__file__).parent]
    files = [p for root in roots for p in sorted(root.rglob("*.py"))] + [Path(__file__), Path(__file__).parent.parent / "helpers.py"]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


@pytest.fixture(scope="session")
def world_root(tmp_path_factory) -> Path:
    """The world of this checkout, made once (by the first process that needs it) and never changed."""
    worlds = tmp_path_factory.getbasetemp().parent / "labdatasets-worlds"
    root = worlds / world_key()
    if (root / ".complete").is_file():
        return root
    worlds.mkdir(parents=True, exist_ok=True)
    for old in worlds.iterdir():  # worlds of other checkouts, unused for a day
        if old != root and old.stat().st_mtime < time.time() - 86400:
            shutil.rmtree(old, ignore_errors=True)
    tmp = worlds / f".making-{uuid.uuid4().hex[:12]}"
    factory = BuilderFactory(tmp / "builders")
    try:
        factory.tabular(NAME, rows=sample_rows(ROWS))
        make_world(tmp)
        (tmp / ".complete").touch()
        try:
            os.rename(tmp, root)
        except OSError:  # another process made it meanwhile
            pass
    finally:
        factory.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return root


@dataclasses.dataclass
class World:
    home: Path
    shared: Path  # the shared cache's folder (file://), holding the published release
    monkeypatch: pytest.MonkeyPatch
    factory: BuilderFactory

    def edit_builder(self, before: str, after: str) -> None:
        """Write this test's copy of the builder module again with ``before`` replaced (it must be there)."""
        module = type(self.builder()).module_dir() / f"{NAME}_dataset_builder.py"
        code = module.read_text()
        assert before in code, before
        self.factory.write(NAME, code.replace(before, after))

    @property
    def cache_uri(self) -> str:
        return f"file://{self.shared}"

    def use_cache(self) -> None:
        self.monkeypatch.setenv("LABDATASETS_SHARED_CACHE", self.cache_uri)

    def builder(self):
        return labdatasets.builder(NAME)

    def shard(self, split: str = "train") -> Path:
        return self.builder().prepared_dir / f"{NAME}-{split}-00000-of-00001.parquet"

    def pin_without_processing_fingerprint(self) -> None:
        """Edit the pin record as one written before processing fingerprints: ``code_fingerprint`` null.

        The output record goes too: it names the pin record's digest, which the edit changes.
        """
        from labdatasets.pinning.outputs import lock_path

        b = self.builder()
        os.chmod(lock_path(b), 0o644)
        lock_path(b).unlink()
        path = b.pin_record_path()
        os.chmod(path, 0o644)
        data = json.loads(path.read_text())
        data["code_fingerprint"] = None
        path.write_text(json.dumps(data))


@pytest.fixture
def world(world_root, lab_home, tmp_path, monkeypatch) -> Iterator[World]:
    """This test's copy of the world: its home (pins, store, prepared, output record), shared cache and builder."""
    shutil.copytree(world_root / "home", lab_home, symlinks=True)
    shutil.copytree(world_root / "shared", tmp_path / "shared", symlinks=True)
    folder = world_root / "builders" / NAME
    factory = BuilderFactory(tmp_path / "world-builders")
    module = f"{NAME}_dataset_builder.py"
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != module}
    factory.write(NAME, (folder / module).read_text(), {k: v for k, v in files.items() if "__pycache__" not in k})
    try:
        yield World(lab_home, tmp_path / "shared", monkeypatch, factory)
    finally:
        factory.cleanup()
