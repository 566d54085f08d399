"""``labdatasets new GROUP/NAME``: a new builder folder that passes its own test at once.

``create_dataset(root, "products/product_b", source="mysql")`` writes, under the
checkout ``root``::

    datasets/products/__init__.py                 (only for a new group folder)
    datasets/products/product_b/
        __init__.py
        product_b_dataset_builder.py              Builder: VERSION 1.0.0 and its release note,
                                                  features, sources, Beam processing; the
                                                  places the author decides say TODO(author)
        product_b_dataset_builder_test.py         a DatasetBuilderTestCase
        dummy_data/records.csv                    stands in for the source in tests
        README.md                                 the dataset's page text for the catalog

``source`` picks the connector line of ``_sources()``: ``local`` (a file next to
the builder), ``mysql`` (a query on a named connection), ``s3`` and ``gcs`` (the
objects under a bucket prefix; the dummy data is then a folder, like a prefix)
or ``sheets`` (a Google Sheets range). Everything else is the same, so the
generated builder differs by one line per source kind.

An existing folder is never overwritten, and a dataset name is refused when any
builder already uses it (names are global).
"""

from __future__ import annotations

import keyword
import os
import string
from pathlib import Path
from collections.abc import Mapping

from labdatasets import registry
from labdatasets.errors import ConfigError, DatasetNameError, DuplicateDatasetError
from labdatasets.naming import is_valid_name

__all__ = ["SOURCES", "CONNECTORS", "create_dataset", "parse_spec"]

_RATIOS = {"train": 0.8, "test": 0.2}
_SOURCE_NAME = "records"

#: --source -> (connector class in labdatasets.loaders, its arguments, why): one line of the builder.
#: Constructor arguments of the non-local connectors follow issue 3's loaders.
CONNECTORS: Mapping[str, tuple[str, str, str]] = {
    "local": (
        "LocalSource",
        '"data/records.csv"',
        "A file or folder; a relative path starts at this builder's folder.",
    ),
    "mysql": (
        "SQLSource",
        'connection="warehouse", query="SELECT id, text, label FROM records"',
        "A query on the connection named in the config file ([connections.warehouse]), never a password.",
    ),
    "s3": (
        "S3Source",
        '"s3://lab-data/$name/records/", glob="*.csv"',
        "The objects under an S3 prefix; credentials come from the usual AWS places.",
    ),
    "gcs": (
        "GCSSource",
        '"gs://lab-data/$name/records/", glob="*.csv"',
        "The objects under a GCS prefix; credentials come from GOOGLE_APPLICATION_CREDENTIALS.",
    ),
    "sheets": (
        "SheetsSource",
        'spreadsheet="TODO-spreadsheet-key", worksheet="records", range="A1:C"',
        "A Google Sheets range with a header row; credentials come from a gspread service account.",
    ),
}
#: --source choices.
SOURCES = tuple(CONNECTORS)

_DUMMY_ROWS = [
    (1, "The samples arrived on time.", "positive"),
    (2, "Two tubes were cracked.", "negative"),
    (3, "Labels were easy to read.", "positive"),
    (4, "The freezer log has a gap.", "negative"),
    (5, "Every aliquot was accounted for.", "positive"),
    (6, "The courier lost one box.", "negative"),
    (7, "Barcodes matched the manifest.", "positive"),
    (8, "The dry ice ran out early.", "negative"),
    (9, "Volumes were as requested.", "positive"),
    (10, "Three forms were unsigned.", "negative"),
]

_BUILDER = '''"""The $name dataset builder (see the class docstring; `labdatasets new` wrote the first draft)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

import labdatasets as lds
from labdatasets import expectations as E
from labdatasets import features as F
from labdatasets import loaders
from labdatasets import processing as P

# TODO(author): the class names in a fixed order; a label is stored as its position here.
LABELS = ["negative", "positive"]


def to_features(table: pa.Table) -> pa.Table:
    """One batch of source rows -> the declared features (runs inside Beam, on any runner)."""
    # TODO(author): rename, clean and derive columns with pyarrow.compute (or pandas on the batch).
    return pa.table(
        {
            "id": table["id"],
            "text": pc.utf8_trim_whitespace(table["text"]),
            "label": pc.utf8_lower(table["label"]),
        }
    )


class Builder(lds.DatasetBuilder):
    """TODO(author): what $name is, in one line (shown by `labdatasets list`).

    TODO(author): where the data comes from, what one row is, and what a user must know
    before training on it. This text heads the catalog page; README.md adds the rest.
    """

    VERSION = "1.0.0"
    RELEASE_NOTES = {
        "1.0.0": "TODO(author): the first release: what was pinned and how it is split.",
    }

    def _info(self) -> lds.DatasetInfo:
        return lds.DatasetInfo(
            features=F.Features(
                {
                    # TODO(author): one entry per published column, each with a doc for the catalog.
                    "id": F.Value("int64", doc="TODO(author)", nullable=False),
                    "text": F.Text(doc="TODO(author)"),
                    "label": F.ClassLabel(names=LABELS, doc="TODO(author)"),
                }
            ),
            key="id",  # TODO(author): the column(s) naming a row: unique, in one split only, checked by every build
            # group_key="patient_id",  # TODO(author): all rows of one group (patient, customer) in one split
            expectations=[
                # Checked by every build and by the builder test; a broken rule fails the build and names
                # the rows (docs/validation.md). nullable=False above is a rule too. TODO(author): yours.
                E.Range("id", min=0),  # ids are never negative
                E.AllowedValues("label", LABELS),
                E.Pattern("text", r"\\S.*"),  # the whole text must match: here, it starts with a non-space
                E.MaxNullShare("text", 0.1, severity="warning"),  # a warning is listed by build, check and info
            ],
            owners=["TODO(author)@lab.example"],
            homepage="",  # TODO(author)
            license="",  # TODO(author), e.g. "proprietary" or "CC-BY-4.0"
            citation="",
        )

    def _sources(self):
        # Loading: `labdatasets pin $name:1.0.0` reads each source once and records its bytes.
        # $source_comment
        # TODO(author): point it at the real data (tests use dummy_data/$dummy_name instead).
        return {"$source_name": $source_line}

    def _process(self, sources):
        # Processing: Apache Beam over Arrow batches, from the pinned sources to the splits.
        rows = sources["$source_name"] | "ToFeatures" >> P.MapBatches(to_features)
        return P.split_by_hash(rows, key="id", ratios=$ratios)
'''

_TEST = '''"""The $name builder built from its dummy data (no network, no database)."""

import pytest

from labdatasets.datasets.$package import ${name}_dataset_builder
from labdatasets.testing import DatasetBuilderTestCase

pytestmark = pytest.mark.slow  # builds with Apache Beam; deselect with -m "not slow"


class ${camel}Test(DatasetBuilderTestCase):
    BUILDER = ${name}_dataset_builder.Builder
    # TODO(author): rows per split that dummy_data/ gives; when it changes, the failure prints them.
    SPLITS = $splits
'''

_README = """<!-- Included in docs/catalog/$name.md by `labdatasets docs`; no top-level heading here. -->

TODO(author): what a user should know beyond the builder's docstring: how the data is
collected and by whom, what one row means, known gaps or biases, label noise, and whom
to ask before using it for a paper.
"""


def parse_spec(spec: str) -> tuple[tuple[str, ...], str]:
    """``"products/product_b"`` -> ``(("products",), "product_b")``, validating every part."""
    parts = tuple(p for p in spec.strip().strip("/").split("/"))
    if len(parts) < 2 or not all(parts):
        raise DatasetNameError(
            f"Give GROUP/NAME, e.g. 'products/product_b' or 'text_classification/reviews', not {spec!r}: "
            "the group is the product or task the dataset belongs to."
        )
    *group, name = parts
    for part, what in [*((g, "group") for g in group), (name, "dataset name")]:
        if not is_valid_name(part) or keyword.iskeyword(part):
            raise DatasetNameError(
                f"Invalid {what} {part!r} in {spec!r}: use snake_case (lowercase letters, digits and '_', "
                "starting with a letter), e.g. 'text_classification/reviews'."
            )
    return tuple(group), name


def _taken(root: Path, name: str) -> str | None:
    """Where a builder named ``name`` already lives, if anywhere."""
    for path in sorted((root / "datasets").rglob(f"{name}{registry.BUILDER_MODULE_SUFFIX}.py")):
        return str(path.parent.relative_to(root))
    if name in registry.list_datasets():
        location = registry.locations().get(name)
        return location.module if location else "a builder registered in this Python"
    return None


def _literal(mapping: Mapping[str, float]) -> str:
    """A dict as the project writes it (double quotes), for generated code."""
    return "{" + ", ".join(f'"{k}": {v}' for k, v in mapping.items()) + "}"


def _expected_splits() -> dict[str, int]:
    import pyarrow as pa

    from labdatasets.processing.splitting import split_table

    ids = pa.table({"id": pa.array([row[0] for row in _DUMMY_ROWS], pa.int64())})
    return {split: part.num_rows for split, part in split_table(ids, "id", _RATIOS).items()}


def _dummy_csv() -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "text", "label"])
    writer.writerows(_DUMMY_ROWS)
    return out.getvalue()


def _write_new(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8") as fh:  # "x": never replace a file
        fh.write(text)
    return path


def create_dataset(root: str | os.PathLike[str], spec: str, *, source: str = "local") -> list[Path]:
    """Scaffold ``datasets/GROUP/NAME/`` in the checkout ``root``; return the files written.

    Raises :class:`~labdatasets.errors.DatasetNameError` for a bad ``spec`` and
    :class:`~labdatasets.errors.DuplicateDatasetError` when the folder exists or
    another builder already has the name.

    Example::

        >>> create_dataset(".", "text_classification/reviews", source="s3")
        [PosixPath('datasets/text_classification/__init__.py'), ...]
    """
    if source not in SOURCES:
        raise ConfigError(f"Creating {spec!r}: source must be one of {', '.join(SOURCES)}, got {source!r}")
    root = Path(root)
    group, name = parse_spec(spec)
    folder = root.joinpath("datasets", *group, name)
    if folder.exists():
        raise DuplicateDatasetError(f"{folder} already exists; `labdatasets new` never overwrites a folder.")
    where = _taken(root, name)
    if where:
        raise DuplicateDatasetError(
            f"The dataset name {name!r} is taken by {where}; dataset names are global, choose another."
        )

    written: list[Path] = []
    for depth in range(1, len(group) + 1):
        init = root.joinpath("datasets", *group[:depth], "__init__.py")
        if not init.exists():
            title = group[depth - 1].replace("_", " ")
            written.append(_write_new(init, f'"""Datasets of the {title} group, one folder per dataset."""\n'))

    connector, arguments, comment = CONNECTORS[source]
    prefix_like = source in ("s3", "gcs")
    dummy_rel = f"{_SOURCE_NAME}/part-00000.csv" if prefix_like else f"{_SOURCE_NAME}.csv"
    values = {
        "name": name,
        "camel": "".join(w.capitalize() for w in name.split("_")),
        "package": ".".join((*group, name)),
        "source_name": _SOURCE_NAME,
        "source_comment": comment,
        "source_line": f"loaders.{connector}({string.Template(arguments).substitute(name=name)})",
        "dummy_name": f"{_SOURCE_NAME}/" if prefix_like else dummy_rel,
        "ratios": _literal(_RATIOS),
        "splits": _literal(_expected_splits()),
    }
    files = {
        "__init__.py": f'"""{name} (see {name}_dataset_builder.py)."""\n',
        f"{name}_dataset_builder.py": string.Template(_BUILDER).substitute(values),
        f"{name}_dataset_builder_test.py": string.Template(_TEST).substitute(values),
        f"dummy_data/{dummy_rel}": _dummy_csv(),
        "README.md": string.Template(_README).substitute(values),
    }
    folder.mkdir(parents=True)
    written += [_write_new(folder / rel, text) for rel, text in files.items()]
    registry.refresh()
    return written
