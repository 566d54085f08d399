"""``labdatasets docs``: the committed catalog is current, and each page says what its builder says."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re

import pytest

import labdatasets
from labdatasets import errors, registry
from labdatasets.present import summary
from labdatasets.workflow import catalog
from labdatasets.cli import main
from labdatasets.config import settings as resolve_settings
from labdatasets.errors import SnapshotNotFoundError
from labdatasets.pinning.record import PinRecord
from tests.helpers import REPO, rows_csv, sample_rows

EXAMPLES = ["digits", "iris", "product_a"]


def test_the_committed_catalog_is_up_to_date():
    stale = catalog.stale(REPO)
    assert not stale, (
        "docs/ is out of date with the builders; run 'labdatasets docs' and commit the result: " + ", ".join(stale)
    )


def test_no_scaffold_todo_is_left_in_the_repository():
    left = [
        str(p.relative_to(REPO))
        for p in sorted((REPO / "datasets").rglob("*"))
        if p.is_file() and p.suffix in (".py", ".md") and "TODO(author)" in p.read_text("utf-8")
    ]
    assert not left, f"fill in the TODO(author) markers `labdatasets new` left in {left}"


def test_generation_reads_committed_files_only(monkeypatch, tmp_path):
    committed = catalog.generate(REPO)
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "elsewhere"))  # pins made on this machine
    monkeypatch.setenv("LABDATASETS_DATA_DIR", str(tmp_path / "prepared"))
    assert catalog.generate(REPO) == committed


def _sections(page: str) -> dict[str, str]:
    """{'## heading': body} for every level-2 heading, plus '' for what comes before the first."""
    parts = re.split(r"^(## .+)$", page, flags=re.M)
    return {"": parts[0], **{parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}}


def _table_rows(text: str) -> list[list[str]]:
    rows = [line.strip("|").split(" | ") for line in text.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in row] for row in rows[1:]]  # without the header


def _tables(text: str) -> list[list[list[str]]]:
    return [_table_rows(block) for block in re.split(r"\n\n+", text) if block.startswith("| ")]


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_page_says_what_its_builder_says(name):
    cls = registry.builder_cls(name)
    page = (REPO / catalog.CATALOG_DIR / f"{name}.md").read_text("utf-8")
    sections = _sections(page)
    latest = cls()
    info = latest.declared_info()

    head = sections[""]
    assert head.splitlines()[2] == f"# {name}"
    assert inspect.getdoc(cls) in head
    about = dict(_table_rows(head))
    assert about["**Group**"] == cls.group() and about["**Latest version**"] == cls.VERSION
    assert about["**Owners**"] == ", ".join(info.owners)
    assert about["**Key**"] == ", ".join(info.key_columns)
    assert about["**License**"] == info.license and about["**Homepage**"] == info.homepage

    assert f'ds = labdatasets.load("{name}:{cls.VERSION}", split="train")' in sections["## Load it"]
    assert _table_rows(sections["## Versions"]) == [
        [v + (" (latest)" if v == cls.VERSION else ""), notes] for v, notes in cls.release_notes_for().items()
    ]

    recorded = json.loads((cls.module_dir() / catalog.SPLITS_FILE).read_text())
    for version in cls.versions():
        b = cls(version=str(version))
        tables = _tables(sections[f"## {b.full_name}"])
        features, rules, splits, sources = tables[0], tables[1], tables[2], tables[-1]
        statistics = tables[3:-1]  # one per split whose statistics `docs --build` recorded
        assert len(statistics) == sum(1 for s in recorded[f"{name}:{version}"]["splits"].values() if "statistics" in s)
        assert features == [
            [n, f.describe() + ("" if f.nullable else ", required") + _classes(f), f.doc]
            for n, f in b.declared_info().features.items()
        ]
        assert rules == summary.expectation_rows(b.declared_info())
        record = PinRecord.read(REPO / "snapshots" / name / f"{version}.json")
        sizes = recorded[b.full_name]
        assert sizes["snapshot_id"] == record.snapshot_id
        assert [row[:2] for row in splits[:-1]] == [[s, f"{v['num_rows']:,}"] for s, v in sizes["splits"].items()]
        assert splits[-1][1] == f"**{sum(v['num_rows'] for v in sizes['splits'].values()):,}**"
        assert f"snapshot `{record.snapshot_id[:16]}`" in sections[f"## {b.full_name}"]
        assert [(row[0], row[1], row[5]) for row in sources] == [
            (n, p.kind, f"{p.num_rows:,}") for n, p in record.sources.items()
        ]
    if info.citation:
        assert info.citation in sections["## Citation"]


def test_index_groups_every_dataset_by_product_or_task():
    index = (REPO / catalog.CATALOG_DIR / "index.md").read_text("utf-8")
    sections = _sections(index)
    for name in EXAMPLES:
        cls = registry.builder_cls(name)
        title = "## " + cls.group().replace("_", " ").capitalize()
        assert f"[{name}]({name}.md)" in sections[title]
    groups = {loc.group for loc in registry.locations().values() if loc.origin == "repository"}
    assert {"products", "image_classification", "tabular_classification"} <= groups
    assert list(sections)[1:] == sorted("## " + g.replace("_", " ").capitalize() for g in groups)


def test_the_error_reference_documents_every_error():
    page = (REPO / catalog.ERRORS_PAGE).read_text("utf-8")
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert f"## `{name}`" in page
        assert inspect.getdoc(cls).splitlines()[0] in page
    assert "├── SourceError" in page


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLES)
def test_recorded_split_sizes_are_what_a_build_gives(name):
    cls = registry.builder_cls(name)
    recorded = json.loads((cls.module_dir() / catalog.SPLITS_FILE).read_text())
    for version in cls.versions():
        info = labdatasets.builder(f"{name}:{version}")
        info.build(progress=False)
        built = info.prepared_info()
        sizes = recorded[info.full_name]
        assert built.snapshot_id == sizes["snapshot_id"]
        # Row counts, not bytes: Parquet sizes vary with the pyarrow release, the rows do not.
        assert {s: v.num_rows for s, v in built.splits.items()} == {s: v["num_rows"] for s, v in sizes["splits"].items()}


def _pin_into_repository(cls):
    """Pin a test builder into <builder>/snapshots/, where its committed record would live."""
    settings = dataclasses.replace(resolve_settings(), pins_dir=cls.module_dir() / "snapshots")
    return cls(settings=settings).pin(progress=False)


@pytest.mark.slow
def test_record_splits_needs_the_committed_pin_and_writes_what_was_built(make_builder, tmp_path):
    cls = make_builder.tabular("toy_docs", rows=sample_rows(50))
    with pytest.raises(SnapshotNotFoundError, match="has no pin record in the repository"):
        catalog.record_splits(cls(), progress=False)
    assert "Not pinned yet: `labdatasets pin toy_docs:1.0.0`" in catalog.dataset_page(cls, make_builder.root)

    record = _pin_into_repository(cls)
    page = catalog.dataset_page(cls, make_builder.root)
    assert "Split sizes are not recorded yet; `labdatasets docs --build toy_docs:1.0.0` records them." in page

    path = catalog.record_splits(cls(), progress=False)
    built = cls().prepared_info()
    assert json.loads(path.read_text()) == {
        "toy_docs:1.0.0": {
            "snapshot_id": record.snapshot_id,
            "splits": {
                s.name: {
                    "num_rows": s.num_rows,
                    "num_bytes": s.num_bytes,
                    "fingerprint": s.fingerprint,
                    "statistics": s.statistics,
                }
                for s in built.splits.values()
            },
        }
    }
    page = catalog.dataset_page(cls, make_builder.root)
    assert f"| train | {built.splits['train'].num_rows:,} |" in page and "| **total** | **50** |  |" in page
    assert "<details><summary>Statistics of split `train`</summary>" in page and "| value_x2 | 0 |" in page
    assert "### Expectations" in page and "| no key in two splits | id | error |" in page

    # A record made from another snapshot (e.g. before a re-pin) is not shown as this version's sizes.
    data = json.loads(path.read_text())
    data["toy_docs:1.0.0"]["snapshot_id"] = "0" * 64
    path.write_text(json.dumps(data))
    assert "Split sizes are recorded for another snapshot" in catalog.dataset_page(cls, make_builder.root)

    # Data built from a pin made on this machine only is refused.
    (cls.module_dir() / "data" / "rows.csv").write_text(rows_csv(sample_rows(60)))
    local = cls(
        settings=dataclasses.replace(resolve_settings(), pins_dir=tmp_path / "local-pins", data_dir=tmp_path / "prepared")
    )
    with pytest.raises(SnapshotNotFoundError, match="was not built from the committed pin record"):
        catalog.record_splits(local, progress=False)


def test_docs_refuses_a_checkout_this_python_does_not_import(tmp_path, capsys):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "__init__.py").write_text("")
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = labdatasets\n")
    assert main(["docs", "--root", str(tmp_path)]) == 1
    assert f"pip install -e {tmp_path}" in capsys.readouterr().err


def test_docs_check_passes_on_this_checkout(capsys):
    assert main(["docs", "--check", "--root", str(REPO)]) == 0
    assert capsys.readouterr().out.strip() == "docs/ is up to date"


def test_versions_to_record():
    assert catalog.versions_to_record() == []  # every committed pin has its split sizes recorded
    assert [b.full_name for b in catalog.versions_to_record(["product_a"])] == ["product_a:1.2.0", "product_a:1.0.0"]
    assert [b.full_name for b in catalog.versions_to_record(["product_a:1.0.0", "iris"])] == [
        "product_a:1.0.0",
        "iris:1.0.0",
    ]


def _classes(feature) -> str:
    """A ClassLabel's names, as the catalog lists them after its type."""
    from labdatasets.present.summary import class_names_text

    return f": {class_names_text(feature.names)}" if feature.kind == "class_label" else ""
