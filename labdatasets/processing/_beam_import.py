"""Import Apache Beam without its import-time noise."""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["import_beam"]


class _DropBeamImportNoise(logging.Filter):
    # Beam logs this on the root logger whenever the optional GCP client libraries are absent.
    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


def import_beam() -> Any:
    root = logging.getLogger()
    noise = _DropBeamImportNoise()
    root.addFilter(noise)
    try:
        import apache_beam
        import apache_beam.io.filesystems  # noqa: F401 - the module that triggers the warning
    finally:
        root.removeFilter(noise)
    return apache_beam
