"""What the benchmarks share: the synthetic rows, the builder that reads them, and loading it from its file.

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


def tabular_rows(rows: int, *, customer: bool = False, extra: bool = False) -> Any:
    """``rows`` rows of {id, [customer,] count, x, y, [z, w,] label, text[, code]} as an Arrow table.

    ``id`` is 0..rows-1; ``customer`` (when asked for) groups seven ids; ``count``
    is an int in [0, 1000); ``x`` a float64 and ``y`` a float32 in [0, 1);
    ``label`` one of :data:`LABELS`; ``text`` two words and the row number. ``extra``
    adds ``z`` (normal), ``w`` (exponential, mean 3) and ``code`` (``K0`` .. ``K19``).
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
    columns.update(count=rng.integers(0, 1000, rows), x=rng.random(rows), y=rng.random(rows).astype(np.float32))
    if extra:
        columns.update(z=rng.normal(0.0, 1.0, rows), w=rng.exponential(3.0, rows))
    columns.update(label=pa.array(rng.choice(LABELS, rows)), text=text)
    if extra:
        columns["code"] = pa.array(np.char.add("K", (np.arange(rows) % 20).astype(str)))
    return pa.table(columns)


def write_tabular_parquet(path: Path, rows: int, *, customer: bool = False, extra: bool = False) -> None:
    """:func:`tabular_rows` as one Parquet file in row groups of :data:`BATCH_ROWS`."""
    import pyarrow.parquet as pq

    pq.write_table(tabular_rows(rows, customer=customer, extra=extra), path, row_group_size=BATCH_ROWS)


_BUILDER = '''
import pyarrow as pa
import pyarrow.compute as pc

import labdatasets as lds
from labdatasets import expectations as E, features as F, loaders, processing as P


def derive(table):
    return table.append_column("x2", pc.multiply(table["x"], 2.0))


class Builder(lds.DatasetBuilder):
    """{doc}"""

    name = {name!r}
    VERSION = "1.0.0"
    RELEASE_NOTES = {{"1.0.0": "benchmark data"}}

    def _info(self):
        return lds.DatasetInfo(
            features=F.Features({{
{features}
            }}),
{info}
        )

    def _sources(self):
        return {{"rows": loaders.LocalSource("data/rows.parquet")}}

    def _process(self, sources):
        rows = sources["rows"] | "Derive" >> P.MapBatches(derive)
        return P.split_by_hash(rows, key={split_key!r}, ratios={ratios!r})
'''


def tabular_builder(
    name: str, doc: str, *, customer: bool = False, extra: bool = False, info: str = 'key="id",', split_key: str = "id",
    ratios: dict[str, float] | None = None,
) -> str:
    """The source of a builder over :func:`tabular_rows` (``data/rows.parquet``): the same columns, plus
    ``x2 = x * 2`` added by a ``MapBatches``, split by a hash of ``split_key``.

    ``info`` is more arguments of its ``DatasetInfo`` (Python source: the key, rules...).
    """
    columns = [("id", 'F.Value("int64", nullable=False)')]
    if customer:
        columns.append(("customer", 'F.Value("int64", nullable=False)'))
    columns += [("count", 'F.Value("int64")'), ("x", 'F.Value("float64")'), ("y", 'F.Value("float32")')]
    if extra:
        columns += [("z", 'F.Value("float64")'), ("w", 'F.Value("float64")')]
    columns += [("label", f"F.ClassLabel(names={LABELS!r})"), ("text", "F.Text()")]
    if extra:
        columns.append(("code", "F.Text()"))
    columns.append(("x2", 'F.Value("float64")'))
    return _BUILDER.format(
        name=name, doc=doc, split_key=split_key, ratios=ratios or {"train": 0.8, "validation": 0.1, "test": 0.1},
        features="\n".join(f"                {column!r}: {feature}," for column, feature in columns),
        info="\n".join("            " + line for line in info.strip().splitlines()),
    )


def load_builder_class(path: Path) -> type:
    """Import the builder module at ``path`` (it registers its dataset) and return its ``Builder``."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import a builder from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.Builder
