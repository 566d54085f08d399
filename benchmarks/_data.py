"""What the benchmarks share: the synthetic rows and loading a benchmark's builder from its file.

The rows are drawn from ``numpy.random.default_rng(0)`` in a fixed order, so a
benchmark run today reads the same data as the runs its figures in
benchmarks/README.md came from.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

LABELS = ["cat", "dog", "bird"]
WORDS = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
BATCH_ROWS = 65_536


def tabular_rows(rows: int, *, customer: bool = False) -> Any:
    """``rows`` rows of {id, [customer,] count, x, y, label, text} as an Arrow table.

    ``id`` is 0..rows-1; ``customer`` (when asked for) groups seven ids; ``count``
    is an int in [0, 1000); ``x`` a float64 and ``y`` a float32 in [0, 1);
    ``label`` one of :data:`LABELS`; ``text`` two words and the row number.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(0)
    words = np.array(WORDS)
    text = pc.binary_join_element_wise(
        pa.array(rng.choice(words, rows)), pa.array(rng.choice(words, rows)), pa.array(np.arange(rows).astype(str)), " "
    )
    columns: dict[str, Any] = {"id": np.arange(rows, dtype=np.int64)}
    if customer:
        columns["customer"] = np.arange(rows, dtype=np.int64) // 7
    columns.update(
        count=rng.integers(0, 1000, rows),
        x=rng.random(rows),
        y=rng.random(rows).astype(np.float32),
        label=pa.array(rng.choice(LABELS, rows)),
        text=text,
    )
    return pa.table(columns)


def write_tabular_parquet(path: Path, rows: int, *, customer: bool = False) -> None:
    """:func:`tabular_rows` as one Parquet file in row groups of :data:`BATCH_ROWS`."""
    import pyarrow.parquet as pq

    pq.write_table(tabular_rows(rows, customer=customer), path, row_group_size=BATCH_ROWS)


def load_builder_class(path: Path) -> type:
    """Import the builder module at ``path`` (it registers its dataset) and return its ``Builder``."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import a builder from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.Builder
