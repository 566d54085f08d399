"""Helpers of the tamper tests: where to flip a byte in a real Parquet shard, and what was written."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq

#: Six places of a Parquet file whose corruption matters differently to a reader.
POSITIONS = ("magic", "page_header", "data_page", "dictionary_page", "footer", "footer_length")


def offset_of(path: Path, position: str) -> int:
    """The byte offset of ``position`` in the Parquet file at ``path``."""
    size = path.stat().st_size
    meta = pq.ParquetFile(path).metadata
    footer_len = int.from_bytes(path.read_bytes()[-8:-4], "little")
    rg = meta.row_group(0)
    if position == "magic":
        return 1
    if position == "footer_length":
        return size - 7
    if position == "footer":
        return size - 8 - footer_len // 2
    if position == "dictionary_page":
        for c in range(rg.num_columns):
            col = rg.column(c)
            if col.has_dictionary_page:
                # past the page header (a few dozen bytes), inside the dictionary's values
                return col.dictionary_page_offset + max(24, (col.data_page_offset - col.dictionary_page_offset) * 2 // 3)
        raise AssertionError(f"{path} has no dictionary page")
    col = rg.column(0)
    if position == "page_header":
        return col.data_page_offset + 3
    if position == "data_page":
        return col.data_page_offset + col.total_compressed_size // 2
    raise ValueError(position)


def flip(path: Path, offset: int) -> None:
    """Flip every bit of one byte at ``offset``; the size stays the same (a faulty disk, not a truncation)."""
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
