"""The fault-injection suite: every scenario records what it tried and what came out.

Each test calls the ``fault_outcome`` fixture once per scenario::

    fault_outcome("s3 store: 5% of GETs truncated", tries=20, survived=20)

and the session ends with the table the issue's closing note reports (printed by
``pytest_terminal_summary`` whenever a fault test ran; also written as JSON lines to
``$LABDATASETS_FAULT_TABLE`` if set)::

    scenario | tries | survived | wrong data served | data lost | unclear errors

* **survived**: the operation succeeded, or failed with a ``LabDatasetsError`` whose
  message names what failed and what to do, leaving nothing half-written behind.
* **wrong data served**: rows or bytes handed to a user that differ from the committed record.
* **data lost**: a committed pin, a stored object or a prepared version that was whole
  before the fault and is not after it.
* **unclear errors**: raw tracebacks, messages that name neither the thing nor the next
  step, or messages holding a secret.

Other fault tests (corrupted artifacts, traversal in record names) add their own files
here and record their scenarios the same way.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.servers import free_port  # noqa: F401 - re-exported for the fault tests

_OUTCOMES: list[dict[str, Any]] = []
COLUMNS = ("scenario", "tries", "survived", "wrong data served", "data lost", "unclear errors")


@pytest.fixture
def fault_outcome():
    """Record one scenario's outcome; asserts the suite's promises (0 wrong, 0 lost, 0 unclear)."""

    def record(scenario: str, *, tries: int, survived: int, wrong_data: int = 0, data_lost: int = 0, unclear: int = 0) -> None:
        row = {
            "scenario": scenario, "tries": tries, "survived": survived,
            "wrong data served": wrong_data, "data lost": data_lost, "unclear errors": unclear,
        }
        _OUTCOMES.append(row)
        path = os.environ.get("LABDATASETS_FAULT_TABLE")
        if path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
        assert wrong_data == 0 and data_lost == 0 and unclear == 0, row
        assert survived == tries, row

    return record


def fault_table(rows: list[dict[str, Any]]) -> str:
    """The outcome rows as a Markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _OUTCOMES:
        terminalreporter.write_sep("-", "fault-injection outcomes")
        terminalreporter.write_line(fault_table(_OUTCOMES))
