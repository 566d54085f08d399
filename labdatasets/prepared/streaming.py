"""Reading a split bigger than memory: lazily, a row group at a time, and only the shards it needs.

``load(name, split=..., streaming=True)`` returns an :class:`IterableDataset`:
nothing is read until it is iterated, and iterating holds about one Parquet row
group in memory (``ROW_GROUP_ROWS`` rows, 64k by default) whatever the split's size::

    stream = labdatasets.load("big_table", split="train", streaming=True)
    for batch in stream.iter_batches(batch_size=10_000):   # pyarrow.RecordBatch
        ...
    for row in stream.take(5):                             # dicts
        ...
    stream.to_arrow_dataset()        # pyarrow.dataset over the shard files: DuckDB and polars scan it lazily

A version that is published in the shared cache but not prepared here is read
from a *partial* folder, ``<data_dir>/.partial/<name>[/<config>]/<version>/``:
its ``dataset_info.json`` and then each shard the first time a read needs it,
every byte verified against the release record. ``load("x", split="train[:1%]")``
therefore downloads one shard, not the version. ``labdatasets cache prune``
removes partial folders like prepared ones.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Iterator

from labdatasets.errors import ConfigError, LabDatasetsError, SnapshotError
from labdatasets.splits import check_splits, parse_split

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    import pyarrow.dataset as pads

    from labdatasets.builder import DatasetBuilder
    from labdatasets.features import Features
    from labdatasets.info import DatasetInfo, ShardInfo, SplitInfo
    from labdatasets.pinning.record import PinRecord

__all__ = ["IterableDataset", "ShardFiles", "LocalShards", "PublishedShards", "open_partial", "row_ranges", "PARTIAL_DIR"]

logger = logging.getLogger(__name__)

PARTIAL_DIR = ".partial"
DEFAULT_BATCH_ROWS = 65_536


class ShardFiles:
    """Where each shard of a version is read from."""

    directory: Path

    def path(self, shard: "ShardInfo") -> Path:
        raise NotImplementedError

    def paths(self, shards: "list[ShardInfo]") -> list[Path]:
        return [self.path(s) for s in shards]


class LocalShards(ShardFiles):
    """Shards in a prepared folder on this machine."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def path(self, shard: "ShardInfo") -> Path:
        return self.directory / shard.filename


class PublishedShards(ShardFiles):
    """Shards fetched one by one from the shared cache into a partial folder, each verified on arrival."""

    def __init__(self, directory: Path, store: Any, oids: dict[str, str], *, context: str):
        self.directory = Path(directory)
        self.store = store
        self.oids = oids
        self.context = context
        self.fetched: list[str] = []  # filenames downloaded by this object (what a test counts)

    def path(self, shard: "ShardInfo") -> Path:
        final = self.directory / shard.filename
        if final.is_file():
            return final
        oid = self.oids.get(shard.filename)
        if oid is None or oid != shard.sha256:
            raise SnapshotError(f"{self.context}: shard {shard.filename} is not in the release record")
        tmp = self.directory / f".{shard.filename}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            self.store.fetch(oid, tmp, context=f"{self.context} file {shard.filename}")  # re-hashed on the way in
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        self.fetched.append(shard.filename)
        logger.info("fetched %s of %s from the shared cache", shard.filename, self.context)
        return final


def partial_dir(builder: "DatasetBuilder") -> Path:
    parts = [PARTIAL_DIR, builder.name] + ([builder.config_name] if builder.config_name else []) + [str(builder.version)]
    return builder.data_dir.joinpath(*parts)


def open_partial(builder: "DatasetBuilder", record: "PinRecord | None") -> "tuple[DatasetInfo, PublishedShards] | None":
    """The info of ``builder``'s published version and a reader that fetches its shards on demand; None if not published.

    The same checks as a full download: the release must be of this version's
    snapshot and processing code, its ``dataset_info.json`` must hash to the
    release's oid and list exactly the release's shards.
    """
    from labdatasets.info import INFO_FILENAME, DatasetInfo
    from labdatasets.prepared.shared_cache import published, shared_store
    from labdatasets.processing.code import expected_fingerprint

    if record is None or not builder.settings.shared_cache:
        return None
    try:
        release = published(builder)
    except LabDatasetsError as exc:
        logger.warning("Could not read the shared cache for %s (%s)", builder.full_name, exc)
        return None
    if release is None:
        return None
    if release.snapshot_id != record.snapshot_id or release.code_fingerprint != expected_fingerprint(builder, record):
        return None
    # The cache's own records never vouch for themselves: the release must be what the committed
    # output record says, file by file and byte by byte (else the version is downloaded or built whole).
    from labdatasets.pinning.outputs import compare_info, read_lock

    lock = read_lock(builder, record)
    committed = lock.shards if lock is not None else {}
    if lock is None or sorted(release.files) != sorted((s.filename, s.sha256, s.num_bytes) for s in committed.values()):
        return None
    store = shared_store(builder, required=True)  # a shared cache is configured (checked above)
    directory = partial_dir(builder)
    directory.mkdir(parents=True, exist_ok=True)
    context = f"{builder.full_name} (shared cache)"
    info_path = directory / INFO_FILENAME
    if not info_path.is_file():
        tmp = directory / f".{INFO_FILENAME}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            store.fetch(release.dataset_info, tmp, context=context)
            os.replace(tmp, info_path)
        finally:
            tmp.unlink(missing_ok=True)
    info = DatasetInfo.read(directory)
    listed = sorted((s.filename, s.sha256) for split in info.splits.values() for s in split.shards)
    if listed != sorted((name, oid) for name, oid, _ in release.files) or (info.snapshot_id, info.code_fingerprint) != (
        release.snapshot_id,
        release.code_fingerprint,
    ):
        info_path.unlink(missing_ok=True)
        raise SnapshotError(f"The release record of {builder.full_name} does not match its dataset_info.json")
    problems = compare_info(info, lock, exact_bytes=True)
    if problems:
        info_path.unlink(missing_ok=True)
        raise SnapshotError(
            f"The release of {builder.full_name} in the shared cache is not what its output record {lock.where} says "
            f"({'; '.join(problems[:5])}); it was not used."
        )
    shards = PublishedShards(directory, store, {name: oid for name, oid, _ in release.files}, context=context)
    os.utime(directory)  # last use, for `labdatasets cache prune`
    return info, shards


@dataclasses.dataclass(frozen=True)
class RowRange:
    """Rows ``[start, stop)`` of one split."""

    split: "SplitInfo"
    start: int
    stop: int


def row_ranges(info: "DatasetInfo", spec: str) -> list[RowRange]:
    """The row ranges a split string (``train[:10%]+test``) names, checked against the version's splits."""
    if not isinstance(spec, str):
        from labdatasets.errors import SplitError

        raise SplitError(f"split must be a string such as 'train' or 'train[:10%]', got {spec!r}")
    instructions = parse_split(spec)
    check_splits(instructions, info.splits, info.full_name)
    out = []
    for instruction in instructions:
        split_info = info.splits[instruction.split]
        start, stop = instruction.to_absolute(split_info.num_rows)
        out.append(RowRange(split_info, start, stop))
    return out


def shard_pieces(rng: RowRange) -> Iterator[tuple["ShardInfo", int, int]]:
    """``(shard, lo, hi)``: the rows of ``rng`` within each shard it touches, in shard-local offsets."""
    offset = 0
    for shard in rng.split.shards:
        shard_start, shard_stop = offset, offset + shard.num_rows
        offset = shard_stop
        lo, hi = max(rng.start, shard_start), min(rng.stop, shard_stop)
        if lo < hi:
            yield shard, lo - shard_start, hi - shard_start


def _row_group_batches(
    path: Path,
    lo: int,
    hi: int,
    columns: list[str] | None,
    batch_size: int,
    *,
    expected_rows: int | None = None,
    full_name: str = "",
) -> Iterator["pa.RecordBatch"]:
    """Rows ``[lo, hi)`` of one Parquet file, streamed one row group at a time in batches of ``batch_size``.

    Checked like every read (:mod:`labdatasets.prepared.folder`): page checksums, the row count, and
    any reader failure becomes a PreparedDataError naming the file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from labdatasets.prepared.folder import damaged

    try:
        with pq.ParquetFile(path, memory_map=False, pre_buffer=False, page_checksum_verification=True) as pf:
            if expected_rows is not None and pf.metadata.num_rows != expected_rows:
                raise damaged(full_name, path, f"it holds {pf.metadata.num_rows} rows, but dataset_info.json records {expected_rows}")
            row = 0
            for group in range(pf.num_row_groups):
                n = pf.metadata.row_group(group).num_rows
                g_lo, g_hi = max(lo, row), min(hi, row + n)
                if g_lo < g_hi:
                    position = row
                    for batch in pf.iter_batches(batch_size=batch_size, row_groups=[group], columns=columns, use_threads=True):
                        b_lo, b_hi = max(g_lo, position), min(g_hi, position + batch.num_rows)
                        if b_lo < b_hi:
                            yield batch if (b_lo, b_hi) == (position, position + batch.num_rows) else batch.slice(b_lo - position, b_hi - b_lo)
                        position += batch.num_rows
                        if position >= g_hi:
                            break
                row += n
                if row >= hi:
                    break
    except FileNotFoundError:
        raise damaged(full_name, path, "it is missing") from None
    except (OSError, ValueError, pa.ArrowException) as exc:  # a flipped byte: never other values, never raw
        raise damaged(full_name, path, f"{type(exc).__name__}: {str(exc)[:300]}") from exc


class IterableDataset:
    """A split read lazily: row groups on demand, shards fetched on demand (see the module doc)."""

    def __init__(self, info: "DatasetInfo", split: str, shards: ShardFiles | None = None):
        self.info = info
        self.split = split
        self._ranges = row_ranges(info, split)
        self._shards = shards or LocalShards(Path(info.data_dir))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ what it is
    @property
    def features(self) -> "Features":
        return self.info.features

    @property
    def num_rows(self) -> int:
        return sum(r.stop - r.start for r in self._ranges)

    def __len__(self) -> int:
        return self.num_rows

    @property
    def column_names(self) -> list[str]:
        return list(self.info.features)

    @property
    def schema(self) -> "pa.Schema":
        return self.info.features.arrow_schema()

    def __repr__(self) -> str:
        return (
            f"IterableDataset({self.info.full_name}, split={self.split!r}, num_rows={self.num_rows:,}, "
            f"columns={self.column_names})"
        )

    # ------------------------------------------------------------------ reading
    def iter_batches(self, batch_size: int = DEFAULT_BATCH_ROWS, *, columns: list[str] | None = None) -> Iterator["pa.RecordBatch"]:
        """Arrow record batches of exactly ``batch_size`` rows (the last may be shorter), read lazily.

        Memory holds about one row group plus one batch, whatever the split's size.
        """
        if batch_size <= 0:
            raise ConfigError(f"batch_size must be a positive number of rows, got {batch_size}")
        pending: list["pa.RecordBatch"] = []
        pending_rows = 0
        for rng in self._ranges:
            for shard, lo, hi in shard_pieces(rng):
                path = self._shards.path(shard)
                for batch in _row_group_batches(
                    path, lo, hi, columns, batch_size, expected_rows=shard.num_rows, full_name=self.info.full_name
                ):
                    while batch.num_rows:
                        take = min(batch.num_rows, batch_size - pending_rows)
                        pending.append(batch.slice(0, take))
                        pending_rows += take
                        batch = batch.slice(take)
                        if pending_rows == batch_size:
                            yield _combine(pending)
                            pending, pending_rows = [], 0
        if pending_rows:
            yield _combine(pending)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.iter_batches(4096):
            yield from batch.to_pylist()

    def take(self, n: int) -> list[dict[str, Any]]:
        """The first ``n`` rows as dicts (reads only what they need)."""
        rows: list[dict[str, Any]] = []
        for batch in self.iter_batches(min(max(n, 1), DEFAULT_BATCH_ROWS)):
            rows.extend(batch.slice(0, n - len(rows)).to_pylist())
            if len(rows) >= n:
                break
        return rows

    def map_batches(self, fn: Callable[["pa.RecordBatch"], Any], batch_size: int = DEFAULT_BATCH_ROWS) -> Iterator[Any]:
        """``fn(batch)`` for each batch, lazily."""
        return (fn(batch) for batch in self.iter_batches(batch_size))

    def to_arrow_dataset(self) -> "pads.Dataset":
        """A ``pyarrow.dataset.Dataset`` over the split's shard files (see :func:`arrow_dataset`)."""
        return arrow_dataset(self.info, self.split, self._shards)


def _combine(batches: "list[pa.RecordBatch]") -> "pa.RecordBatch":
    import pyarrow as pa

    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def arrow_dataset(info: "DatasetInfo", split: str, shards: ShardFiles | None = None) -> "pads.Dataset":
    """A ``pyarrow.dataset.Dataset`` of ``split``, for engines that scan lazily (DuckDB, polars, pyarrow).

    Whole splits (``train``, ``train+test``) are the shard files themselves, read
    lazily with projection and filter push-down::

        import polars as pl
        pl.scan_pyarrow_dataset(ds.to_arrow_dataset()).filter(pl.col("x") > 0).collect()

    A slice (``train[:10%]``) is the exact rows of the slice: the files when it
    covers whole shards, else the row groups it touches read into memory.

    Checked like every other read (:mod:`labdatasets.prepared.folder`): each
    shard's footer must hold the rows ``dataset_info.json`` records for it and
    the declared columns (a footer read per shard, before anything is
    returned), and scans verify the Parquet page checksums, so a damaged page
    is an error in the engine, never other values.
    """
    import pyarrow.dataset as pads

    shards = shards or LocalShards(Path(info.data_dir))  # type: ignore[arg-type]
    schema = info.features.arrow_schema()
    paths: list[str] = []
    exact = True
    for rng in row_ranges(info, split):
        for shard, lo, hi in shard_pieces(rng):
            if lo != 0 or hi != shard.num_rows:
                exact = False
            path = shards.path(shard)
            if exact:
                _check_footer(path, shard, schema, info.full_name)
            paths.append(str(path))
    if exact:
        if not paths:
            return pads.dataset(schema.empty_table())
        checked = pads.ParquetFileFormat(
            default_fragment_scan_options=pads.ParquetFragmentScanOptions(page_checksum_verification=True)
        )
        return pads.dataset(paths, schema=schema, format=checked)
    import pyarrow as pa

    batches = list(IterableDataset(info, split, shards).iter_batches())
    return pads.dataset(pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table())


def _check_footer(path: Path, shard: "ShardInfo", schema: "pa.Schema", full_name: str) -> None:
    """The shard's footer holds the rows recorded for it and the declared columns; else PreparedDataError."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from labdatasets.prepared.folder import damaged, same_columns

    try:
        meta = pq.read_metadata(path)
        got = meta.schema.to_arrow_schema()
    except FileNotFoundError:
        raise damaged(full_name, path, "it is missing") from None
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise damaged(full_name, path, f"{type(exc).__name__}: {str(exc)[:300]}") from exc
    if meta.num_rows != shard.num_rows:
        raise damaged(full_name, path, f"it holds {meta.num_rows} rows, but dataset_info.json records {shard.num_rows}")
    if not same_columns(got, schema):
        raise damaged(full_name, path, f"its columns {got.names} are not the declared features {schema.names}")
