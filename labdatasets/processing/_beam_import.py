"""Import Apache Beam without its import-time noise."""

from __future__ import annotations

import logging
import warnings
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
        with warnings.catch_warnings():
            # google-api-core warns on Python 3.10 when Beam imports it for its GCP I/O, which a build does not use
            warnings.filterwarnings("ignore", message=".*non-supported Python version", category=FutureWarning)
            import apache_beam
            import apache_beam.io.filesystems  # noqa: F401 - the module that triggers the warning
    finally:
        root.removeFilter(noise)
    return apache_beam
