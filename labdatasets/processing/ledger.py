"""Every build checks its own output: each row that entered a split is written exactly once (no Beam).

Three points of the pipeline report what they saw, as data that flows through
the pipeline like the rows themselves (not Beam metrics, which some runners do
not collect, and not files written on the side, which a retried bundle would
write twice):

* ``split``: :func:`~labdatasets.processing.transforms.split_by_hash` reports,
  per input batch, how many rows it assigned to each split and an
  order-independent digest of their keys (the sum of the split key's hashes,
  modulo 2**64);
* ``entry``: the first step of the write path reports the rows of each split it
  received (the same split-key digest when the split came straight from
  ``split_by_hash``, and a digest of the columns the split is sorted by);
* ``written``: every shard writer reports the rows it wrote and the digest of
  their sort columns (the shard manifest).

All reports end up in one ``_ledger.json`` next to the shards, and
:func:`check_ledger` compares them before anything goes into the prepared
folder. A runner that drops, duplicates or misroutes rows (a row in two splits,
the same row twice) fails the build with a :class:`ProcessingError` naming the
runner and the split. Sums of 64-bit hashes make the check independent of the
order and batching of rows; a duplicated row adds its hash twice, a lost one
not at all, so a count that matches by chance still fails on the digest.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["LEDGER_FILENAME", "LEDGER_SALT", "key_digest", "tally_table", "tally_records", "check_ledger", "new_origin"]

LEDGER_FILENAME = "_ledger.json"
LEDGER_SALT = "labdatasets-ledger"
_MOD = 1 << 64


def new_origin() -> str:
    """An id for one ``split_by_hash`` step, so that two of them in a pipeline are never mixed up."""
    return uuid.uuid4().hex[:12]


def key_digest(table: "pa.Table", columns: Sequence[str], salt: str = LEDGER_SALT) -> int:
    """The order-independent digest of ``table``'s rows: the sum of their ``columns``' hashes mod 2**64."""
    from labdatasets.processing.splitting import key_hash

    if not table.num_rows:
        return 0
    return int(key_hash(table, list(columns), salt).sum(dtype=np.uint64))


def tally_table(
    stage: str,
    splits: Sequence[str],
    rows: Sequence[int],
    digests: Sequence[int],
    *,
    split_digests: Sequence[int | None] | None = None,
    origin: str | None = None,
) -> "pa.Table":
    """A report as a small Arrow table (so it travels through the pipeline with the rows' coder)."""
    import pyarrow as pa

    return pa.table(
        {
            "stage": pa.array([stage] * len(splits), pa.string()),
            "origin": pa.array([origin] * len(splits), pa.string()),
            "split": pa.array(list(splits), pa.string()),
            "rows": pa.array(list(rows), pa.int64()),
            "digest": pa.array([d % _MOD for d in digests], pa.uint64()),
            "split_digest": pa.array(
                [None if d is None else d % _MOD for d in split_digests] if split_digests is not None else [None] * len(splits),
                pa.uint64(),
            ),
        }
    )


def tally_records(table: "pa.Table") -> Iterator[dict[str, Any]]:
    """The reports of a :func:`tally_table` as JSON-ready dicts."""
    yield from table.to_pylist()


class _Sum:
    __slots__ = ("rows", "digest", "split_digest")

    def __init__(self) -> None:
        self.rows = 0
        self.digest = 0
        self.split_digest = 0

    def add(self, rows: int, digest: int | None, split_digest: int | None = None) -> None:
        self.rows += int(rows)
        self.digest = (self.digest + int(digest or 0)) % _MOD
        self.split_digest = (self.split_digest + int(split_digest or 0)) % _MOD


def _totals(records: Iterable[Mapping[str, Any]]) -> tuple[dict[tuple[str, str], _Sum], dict[str, _Sum], dict[str, _Sum], dict[str, set[str]]]:
    assigned: dict[tuple[str, str], _Sum] = {}
    entered: dict[str, _Sum] = {}
    written: dict[str, _Sum] = {}
    origins: dict[str, set[str]] = {}
    for record in records:
        stage = record.get("stage")
        split = str(record.get("split"))
        if stage == "split":
            assigned.setdefault((record["origin"], split), _Sum()).add(record["rows"], record["digest"])
        elif stage == "entry":
            entered.setdefault(split, _Sum()).add(record["rows"], record["digest"], record.get("split_digest"))
        elif stage == "seed":  # written by the pipeline itself: which splits came straight from split_by_hash
            for name, origin in (record.get("origins") or {}).items():
                origins.setdefault(name, set()).add(origin)
        elif stage == "written":
            written.setdefault(split, _Sum()).add(record["num_rows"], record.get("key_digest"))
    return assigned, entered, written, origins


def check_ledger(records: Iterable[Mapping[str, Any]], *, splits: Sequence[str], runner: str, where: str) -> dict[str, int]:
    """Check that every row that entered each split was written exactly once; ``{split: rows}``.

    Raises :class:`~labdatasets.errors.ProcessingError` naming ``runner`` and
    the split when the reports do not add up.
    """
    from labdatasets.errors import ProcessingError

    records = list(records)
    assigned, entered, written, origins = _totals(records)
    if not any(record.get("stage") == "seed" for record in records):
        raise ProcessingError(
            f"Building {where} on {runner}: the pipeline's record of its own output is incomplete (its first entry "
            "is missing), so the output cannot be checked; build again."
        )
    what_next = (
        f"The output of {runner} is not trustworthy and was not kept. Build again (on the DirectRunner to compare: "
        "its output is checked the same way); if it happens again, report it with this message."
    )
    result = {}
    for split in splits:
        went_in = entered.get(split, _Sum())
        came_out = written.get(split, _Sum())
        for origin in sorted(origins.get(split, ())):
            sent = assigned.get((origin, split), _Sum())
            if (sent.rows, sent.digest) != (went_in.rows, went_in.split_digest):
                raise ProcessingError(
                    f"Building {where} on {runner}: split {split!r} received {went_in.rows} rows, but split_by_hash "
                    f"assigned {sent.rows} rows to it{_diff(sent.rows, went_in.rows)}. "
                    + what_next
                )
        if (went_in.rows, went_in.digest) != (came_out.rows, came_out.digest):
            raise ProcessingError(
                f"Building {where} on {runner}: split {split!r} received {went_in.rows} rows, but its Parquet writers "
                f"wrote {came_out.rows}{_diff(went_in.rows, came_out.rows)}. "
                + what_next
            )
        result[split] = came_out.rows
    unknown = sorted(set(written) - set(splits))
    if unknown:
        raise ProcessingError(f"Building {where} on {runner}: shards were written for unknown split(s) {unknown}. " + what_next)
    return result


def _diff(expected_rows: int, rows: int) -> str:
    """What went wrong, for two reports that differ (in rows, or else in their digests)."""
    if rows > expected_rows:
        return f" ({rows - expected_rows} rows duplicated or sent to more than one split)"
    if rows < expected_rows:
        return f" ({expected_rows - rows} rows lost)"
    return " (as many rows, but not the same ones: some duplicated, others lost or moved to another split)"
