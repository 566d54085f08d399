"""Checks of prepared data: cheap ones on every read, full ones where bytes arrive and in ``verify``.

Every read of a prepared shard (:func:`read_shard`)

* verifies the Parquet page checksums (CRC-32 of every data and dictionary
  page, written by the build with ``write_page_checksum=True``), so a flipped
  byte in a page is an error, never other values;
* compares the rows read with the row count recorded for the shard, and the
  Arrow schema with the declared features, so an edited footer or
  ``dataset_info.json`` never drops or renames anything silently;
* turns every reader failure (``OSError: Corrupt snappy compressed data``,
  ``ArrowInvalid``...) into a :class:`PreparedDataError` naming the file and
  the repair.

Those checks cost a CRC over bytes the reader touches anyway and one integer
comparison per shard. The full check (:func:`full_problems`, used by
``verify``, ``publish`` and ``lock``) re-hashes every shard and compares each
file and ``dataset_info.json`` with the committed output record
(:mod:`labdatasets.pinning.outputs`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from labdatasets.errors import PreparedDataError
from labdatasets.info import INFO_FILENAME
from labdatasets.stores.hashing import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from labdatasets.info import DatasetInfo, ShardInfo
    from labdatasets.pinning.outputs import OutputRecord

__all__ = ["read_shard", "info_problems", "full_problems", "damaged", "repair_hint", "same_columns"]

logger = logging.getLogger(__name__)

def repair_hint(full_name: str) -> str:
    return (
        f"Run 'labdatasets verify --repair {full_name}' (it fetches the version again from the shared cache or "
        "rebuilds it from the pins), or load it again: load repairs it by itself."
    )


def damaged(full_name: str, path: Path, what: str) -> PreparedDataError:
    return PreparedDataError(f"Prepared file {path} of {full_name} is damaged: {what}. It was not served. {repair_hint(full_name)}")


def read_shard(
    path: Path,
    shard: "ShardInfo",
    *,
    full_name: str,
    schema: "pa.Schema | None",
    rows: tuple[int, int] | None = None,
) -> "pa.Table":
    """Read a shard, or its rows ``[lo, hi)`` (touching only their row groups), checked as the module says."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    recorded = f"{INFO_FILENAME} records {shard.num_rows}"
    try:
        if rows is None:
            table = pq.read_table(path, memory_map=True, page_checksum_verification=True)
            if table.num_rows != shard.num_rows:
                raise damaged(full_name, path, f"it holds {table.num_rows} rows, but {recorded}")
        else:
            lo, hi = rows
            pf = pq.ParquetFile(path, memory_map=True, page_checksum_verification=True)
            if pf.metadata.num_rows != shard.num_rows:
                raise damaged(full_name, path, f"it holds {pf.metadata.num_rows} rows, but {recorded}")
            groups: list[int] = []
            first_row = row = 0
            for g in range(pf.num_row_groups):
                n = pf.metadata.row_group(g).num_rows
                if row + n > lo and row < hi:
                    first_row = row if not groups else first_row
                    groups.append(g)
                row += n
            table = pf.read_row_groups(groups).slice(lo - first_row, hi - lo)
        if schema is not None and not same_columns(table.schema, schema):
            raise damaged(
                full_name, path,
                f"its columns {table.schema.names} ({', '.join(map(str, table.schema.types))}) are not the declared "
                f"features {schema.names} ({', '.join(map(str, schema.types))})",
            )
    except FileNotFoundError:
        raise damaged(full_name, path, "it is missing") from None
    except (OSError, ValueError, pa.ArrowException) as exc:  # ValueError: ArrowInvalid, a column name not UTF-8
        raise damaged(full_name, path, f"{type(exc).__name__}: {str(exc)[:300]}") from exc
    return table


def same_columns(got: "pa.Schema", want: "pa.Schema") -> bool:
    """Names exactly, types by kind: Parquet stores some types in another unit (``timestamp[s]`` reads back as ms)."""
    return got.names == want.names and all(_kind(g.type) == _kind(w.type) for g, w in zip(got, want, strict=True))


def _kind(t: "pa.DataType") -> object:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return _kind(t.value_type)
    if pa.types.is_timestamp(t):
        return ("timestamp", t.tz)
    for name, test in (
        ("int", pa.types.is_integer), ("float", pa.types.is_floating), ("bool", pa.types.is_boolean),
        ("str", lambda x: pa.types.is_string(x) or pa.types.is_large_string(x)),
        ("bytes", lambda x: pa.types.is_binary(x) or pa.types.is_large_binary(x) or pa.types.is_fixed_size_binary(x)),
        ("date", pa.types.is_date), ("time", pa.types.is_time), ("duration", pa.types.is_duration),
        ("decimal", pa.types.is_decimal),
    ):
        if test(t):
            return name
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return ("list", _kind(t.value_type))
    if pa.types.is_struct(t):
        return ("struct", tuple((t.field(i).name, _kind(t.field(i).type)) for i in range(t.num_fields)))
    return str(t)


def info_problems(info: "DatasetInfo") -> list[str]:
    """What in a ``dataset_info.json`` contradicts itself (split counts that are not the sum of their shards)."""
    problems = []
    for name, split in info.splits.items():
        total = sum(s.num_rows for s in split.shards)
        if split.num_rows != total:
            problems.append(f"{INFO_FILENAME}: split {name!r} records {split.num_rows} rows, its shards {total}")
        if not split.shards:
            problems.append(f"{INFO_FILENAME}: split {name!r} lists no files")
    return problems


def full_problems(directory: Path, info: "DatasetInfo", lock: "OutputRecord | None") -> tuple[list[str], list[str]]:
    """Re-hash everything of a prepared folder; ``(problems, notes)``.

    Each shard must hash to the sha256 in ``dataset_info.json`` and hold the
    rows it records (footer); ``dataset_info.json`` must agree with itself and
    with the committed output record ``lock`` when that record is of this
    build's snapshot and processing. A shard that holds other bytes than the
    committed ones is accepted only if its split's content fingerprint,
    recomputed from the files, is the committed one (a build here with another
    pyarrow writes other bytes for the same rows).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from labdatasets.pinning.outputs import compare_info
    from labdatasets.processing.fingerprint import content_fingerprint

    problems = info_problems(info)
    notes: list[str] = []
    locked = lock is not None and lock.applies_to(info.snapshot_id, info.code_fingerprint)
    if lock is not None and locked:
        problems += compare_info(info, lock)
    committed = lock.shards if lock is not None and locked else {}
    for name, split in sorted(info.splits.items()):
        other_bytes = []
        for shard in split.shards:
            path = directory / shard.filename
            if not path.is_file():
                problems.append(f"prepared file {shard.filename}: missing")
                continue
            digest = sha256_file(path)
            if digest != shard.sha256:
                problems.append(f"prepared file {shard.filename}: corrupted")
                continue
            try:
                rows = pq.read_metadata(path).num_rows
            except (OSError, ValueError, pa.ArrowException) as exc:
                problems.append(f"prepared file {shard.filename}: unreadable footer ({exc})")
                continue
            if rows != shard.num_rows:
                problems.append(f"prepared file {shard.filename}: holds {rows} rows, {INFO_FILENAME} records {shard.num_rows}")
            want = committed.get(shard.filename)
            if want is not None and (want.sha256, want.num_bytes) != (digest, path.stat().st_size):
                other_bytes.append(path)
        if other_bytes and lock is not None:
            paths = [directory / s.filename for s in split.shards]
            try:
                fingerprint = content_fingerprint(paths)
            except (OSError, ValueError, pa.ArrowException) as exc:
                problems.append(f"split {name!r}: unreadable ({exc})")
                continue
            if fingerprint != lock.splits[name].fingerprint:
                problems.append(
                    f"split {name!r}: its rows have fingerprint {fingerprint[:16]}, committed "
                    f"{lock.splits[name].fingerprint[:16]}"
                )
            else:
                notes.append(
                    f"split {name!r}: other bytes than the committed ones ({', '.join(p.name for p in other_bytes)}), "
                    "the same rows (content fingerprint matches)"
                )
    return problems, notes

