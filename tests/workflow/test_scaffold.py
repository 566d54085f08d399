"""``labdatasets new``: names, files, refusals, and a scaffold that passes its own test."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from labdatasets import loaders
from labdatasets.cli import main
from labdatasets.errors import DatasetNameError, DuplicateDatasetError
from labdatasets.processing.splitting import split_table
from labdatasets.workflow.scaffold import CONNECTORS, SOURCES, create_dataset, parse_spec
from tests.helpers import copy_repository


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The smallest folder `new` accepts as a checkout."""
    root = tmp_path / "repo"
    (root / "datasets").mkdir(parents=True)
    (root / "datasets" / "__init__.py").write_text('"""Builders."""\n')
    (root / "setup.cfg").write_text("[metadata]\nname = labdatasets\n")
    return root


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("products/product_b", (("products",), "product_b")),
        ("text_classification/reviews", (("text_classification",), "reviews")),
        ("products/team_x/orders_2024/", (("products", "team_x"), "orders_2024")),
    ],
)
def test_parse_spec_accepts_group_and_name(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("product_b", "Give GROUP/NAME"),
        ("products/", "Give GROUP/NAME"),
        ("products/ProductB", "Invalid dataset name 'ProductB'"),
        ("products/product-b", "Invalid dataset name 'product-b'"),
        ("Text Classification/reviews", "Invalid group 'Text Classification'"),
        ("products/class", "Invalid dataset name 'class'"),
        ("products/2024_orders", "Invalid dataset name '2024_orders'"),
    ],
)
def test_parse_spec_refuses_bad_names(spec, message):
    with pytest.raises(DatasetNameError, match=re.escape(message)):
        parse_spec(spec)


def test_new_writes_the_folder_and_only_missing_group_inits(checkout):
    written = create_dataset(checkout, "text_classification/reviews")
    rel = sorted(str(p.relative_to(checkout)) for p in written)
    assert rel == [
        "datasets/text_classification/__init__.py",
        "datasets/text_classification/reviews/README.md",
        "datasets/text_classification/reviews/__init__.py",
        "datasets/text_classification/reviews/dummy_data/records.csv",
        "datasets/text_classification/reviews/reviews_dataset_builder.py",
        "datasets/text_classification/reviews/reviews_dataset_builder_test.py",
    ]
    group_init = (checkout / "datasets/text_classification/__init__.py").read_text()
    written = create_dataset(checkout, "text_classification/comments")
    assert "datasets/text_classification/__init__.py" not in [str(p.relative_to(checkout)) for p in written]
    assert (checkout / "datasets/text_classification/__init__.py").read_text() == group_init


def test_new_never_overwrites_and_names_are_global(checkout):
    create_dataset(checkout, "products/product_b")
    builder = checkout / "datasets/products/product_b/product_b_dataset_builder.py"
    builder.write_text("# edited by the author\n")
    with pytest.raises(DuplicateDatasetError, match="already exists"):
        create_dataset(checkout, "products/product_b")
    assert builder.read_text() == "# edited by the author\n"
    with pytest.raises(DuplicateDatasetError, match="'product_b' is taken by datasets/products/product_b"):
        create_dataset(checkout, "other_group/product_b")
    with pytest.raises(DuplicateDatasetError, match="'product_a' is taken by labdatasets.datasets.products.product_a"):
        create_dataset(checkout, "products/product_a")  # a builder this Python already knows
    assert not (checkout / "datasets/other_group").exists()


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_changes_only_the_connector_line(checkout, source):
    create_dataset(checkout, f"products/p_{source}", source=source)
    folder = checkout / f"datasets/products/p_{source}"
    code = (folder / f"p_{source}_dataset_builder.py").read_text()
    ast.parse(code)
    ast.parse((folder / f"p_{source}_dataset_builder_test.py").read_text())
    connector = CONNECTORS[source][0]
    assert re.search(rf"return \{{\"records\": loaders\.{connector}\(", code)
    local = (checkout / "datasets/products/p_local/p_local_dataset_builder.py")
    if source != "local":
        create_dataset(checkout, "products/p_local")
    differing = [
        (a, b)
        for a, b in zip(local.read_text().replace("p_local", "X").splitlines(), code.replace(f"p_{source}", "X").splitlines(), strict=False)
        if a != b
    ]
    # The comment and the connector line; for a bucket prefix also the dummy-data hint (a folder).
    assert len(differing) == {"local": 0, "s3": 3, "gcs": 3}.get(source, 2)
    dummy = sorted(p.relative_to(folder).as_posix() for p in (folder / "dummy_data").rglob("*") if p.is_file())
    assert dummy == (["dummy_data/records/part-00000.csv"] if source in ("s3", "gcs") else ["dummy_data/records.csv"])


def test_scaffold_test_expects_the_splits_its_dummy_data_gives(checkout):
    create_dataset(checkout, "products/product_b")
    folder = checkout / "datasets/products/product_b"
    ids = [int(line.split(",")[0]) for line in (folder / "dummy_data/records.csv").read_text().splitlines()[1:]]
    expected = {s: t.num_rows for s, t in split_table(pa.table({"id": ids}), "id", {"train": 0.8, "test": 0.2}).items()}
    test_code = (folder / "product_b_dataset_builder_test.py").read_text()
    assert f'SPLITS = {{"train": {expected["train"]}, "test": {expected["test"]}}}' in test_code
    assert "from labdatasets.datasets.products.product_b import product_b_dataset_builder" in test_code


def test_cli_new_prints_files_and_next_steps(checkout, capsys):
    assert main(["new", "products/product_b", "--source", "s3", "--root", str(checkout)]) == 0
    out, err = capsys.readouterr()
    assert "created datasets/products/product_b/" in out
    assert "datasets/products/product_b/dummy_data/records/part-00000.csv" in out
    assert "labdatasets pin product_b:1.0.0" in out and "labdatasets check" in out
    assert "pip install -e" in err  # this Python imports builders from another checkout
    assert main(["new", "products/product_b", "--root", str(checkout)]) == 1
    assert "never overwrites" in capsys.readouterr().err


def test_cli_new_outside_a_checkout_says_where_to_run_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["new", "products/product_b"]) == 1
    assert "not inside a checkout of the labdatasets repository" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# The whole path in a temporary copy of the repository: new, run its test, fill in, run again.

FILLED_BUILDER_EDITS = {
    '"""TODO(author): what reviews_new is, in one line (shown by `labdatasets list`).': (
        '"""Courier notes: free-text remarks on sample deliveries, labelled by outcome.'
    ),
    "    TODO(author): where the data comes from, what one row is, and what a user must know\n"
    "    before training on it. This text heads the catalog page; README.md adds the rest.": (
        "    One row per delivery note typed by the receiving lab; the label says whether the\n"
        "    delivery was usable."
    ),
    '"1.0.0": "TODO(author): the first release: what was pinned and how it is split."': (
        '"1.0.0": "First export of the courier notes; train/test 80/20 by a hash of id."'
    ),
    '"text": pc.utf8_trim_whitespace(table["text"]),': (
        '"text": pc.utf8_trim_whitespace(table["text"]),\n'
        '            "num_words": pc.cast(pc.list_value_length(pc.utf8_split_whitespace(table["text"])), pa.int32()),'
    ),
    '"text": F.Text(doc="TODO(author)"),': (
        '"text": F.Text(doc="The note as typed"),\n'
        '                    "num_words": F.Value("int32", doc="Words in the note"),'
    ),
    '"id": F.Value("int64", doc="TODO(author)", nullable=False),': '"id": F.Value("int64", doc="Note id", nullable=False),',
    '"label": F.ClassLabel(names=LABELS, doc="TODO(author)"),': '"label": F.ClassLabel(names=LABELS, doc="Outcome"),',
    'owners=["TODO(author)@lab.example"],': 'owners=["logistics@lab.example"],',
    'homepage="",  # TODO(author)': 'homepage="https://wiki.lab.example/courier",',
    'license="",  # TODO(author), e.g. "proprietary" or "CC-BY-4.0"': 'license="proprietary",',
    'key="id",  # TODO(author): the column(s) naming a row: unique, in one split only, checked by every build': 'key="id",',
    '            # group_key="patient_id",  # TODO(author): all rows of one group (patient, customer) in one split\n': "",
    " nullable=False above is a rule too. TODO(author): yours.": " nullable=False above is a rule too.",
    "# TODO(author): the class names in a fixed order; a label is stored as its position here.\n": "",
    "    # TODO(author): rename, clean and derive columns with pyarrow.compute (or pandas on the batch).\n": "",
    "                    # TODO(author): one entry per published column, each with a doc for the catalog.\n": "",
    "        # TODO(author): point it at the real data (tests use dummy_data/records.csv instead).\n": "",
}


def _edit(path: Path, edits: dict[str, str]) -> None:
    text = path.read_text()
    for old, new in edits.items():
        assert old in text, f"the scaffold no longer contains {old!r}"
        text = text.replace(old, new)
    path.write_text(text)


def _cli(copy: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    """The labdatasets console script, run in the copy."""
    code = "import sys; from labdatasets.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=copy, env=env, capture_output=True, text=True)


def _pytest(copy: Path, env: dict[str, str], *paths: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *paths],
        cwd=copy, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.mark.slow
def test_new_in_a_copy_of_the_repository_passes_its_test_before_and_after_filling_in(tmp_path, subprocess_env):
    copy = copy_repository(tmp_path / "checkout")
    env = {**subprocess_env, "PYTHONPATH": str(copy)}
    where = subprocess.run(
        [sys.executable, "-c", "from labdatasets.registry import repository_root; print(repository_root())"],
        cwd=copy, env=env, capture_output=True, text=True, check=True,
    )
    assert Path(where.stdout.strip()) == copy.resolve()  # the child imports the copy, not this checkout

    # Scaffold one builder per connector this branch has (all five once the connectors land).
    available = [s for s in SOURCES if CONNECTORS[s][0] in loaders.known_sources]
    assert "local" in available
    for source in available:
        name = "reviews_new" if source == "local" else f"reviews_{source}"
        new = _cli(copy, env, "new", f"text_classification/{name}", "--source", source)
        assert new.returncode == 0, new.stderr
        assert new.stderr == ""  # the copy imports its own builders: no 'pip install -e' note
    result = _pytest(copy, env, "datasets/text_classification")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{6 * len(available)} passed, {len(available)} skipped" in result.stdout
    assert "has no committed pin record yet" in result.stdout

    folder = copy / "datasets/text_classification/reviews_new"
    _edit(folder / "reviews_new_dataset_builder.py", FILLED_BUILDER_EDITS)
    (folder / "README.md").write_text("Notes are typed on a tablet at the loading dock.\n")
    notes = [f"{i},Delivery {i} was {'fine' if i % 4 else 'late and  warm'} ,{'positive' if i % 4 else 'NEGATIVE'}"
             for i in range(100, 130)]
    (folder / "dummy_data/records.csv").write_text("id,text,label\n" + "\n".join(notes) + "\n")
    ids = pa.table({"id": list(range(100, 130))})
    splits = {s: t.num_rows for s, t in split_table(ids, "id", {"train": 0.8, "test": 0.2}).items()}
    test_file = folder / "reviews_new_dataset_builder_test.py"
    text = test_file.read_text()
    text = re.sub(r"    # TODO\(author\).*\n    SPLITS = .*", f"    SPLITS = {splits!r}", text)
    test_file.write_text(text)
    assert "TODO(author)" not in "".join(p.read_text() for p in folder.rglob("*.py")) + (folder / "README.md").read_text()

    result = _pytest(copy, env, str(folder.relative_to(copy)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed, 1 skipped" in result.stdout

    # The filled-in builder is what the registry now serves in the copy.
    probe = subprocess.run(
        [sys.executable, "-c",
         "import labdatasets; i = labdatasets.builder('reviews_new').info; "
         "print(i.group, list(i.features), i.owners[0], i.description.splitlines()[0])"],
        cwd=copy, env=env, capture_output=True, text=True, check=True,
    )
    assert probe.stdout.strip() == (
        "text_classification ['id', 'text', 'num_words', 'label'] logistics@lab.example "
        "Courier notes: free-text remarks on sample deliveries, labelled by outcome."
    )

    # The docs gate: the catalog lacks the new dataset until `labdatasets docs` writes its page.
    check = _cli(copy, env, "docs", "--check")
    assert check.returncode == 1
    assert "docs/catalog/index.md" in check.stdout and "docs/catalog/reviews_new.md" in check.stdout
    (copy / "docs/catalog/glossary.md").write_text("# Glossary, written by hand\n")
    written = _cli(copy, env, "docs")
    assert written.returncode == 0 and "wrote docs/catalog/reviews_new.md" in written.stdout
    page = (copy / "docs/catalog/reviews_new.md").read_text()
    assert "Courier notes: free-text remarks on sample deliveries, labelled by outcome." in page
    assert "Notes are typed on a tablet at the loading dock." in page  # README.md
    assert "| num_words | int32 | Words in the note |" in page and "| **Owners** | logistics@lab.example |" in page
    assert "Not pinned yet: `labdatasets pin reviews_new:1.0.0`" in page
    assert "[reviews_new](reviews_new.md)" in (copy / "docs/catalog/index.md").read_text()
    assert _cli(copy, env, "docs", "--check").returncode == 0

    # Pin the real data: the record lands in the copy's snapshots/, and the test now checks it too.
    real = [f"{i},Parcel {i} {'arrived' if i % 3 else 'was damaged'},{'positive' if i % 3 else 'negative'}" for i in range(60)]
    (folder / "data").mkdir()
    (folder / "data/records.csv").write_text("id,text,label\n" + "\n".join(real) + "\n")
    pinned = _cli(copy, env, "pin", "reviews_new:1.0.0", "--quiet")
    assert pinned.returncode == 0, pinned.stderr
    assert (copy / "snapshots/reviews_new/1.0.0.json").is_file()
    result = _pytest(copy, env, str(folder.relative_to(copy)))
    assert result.returncode == 0 and "7 passed" in result.stdout, result.stdout

    # docs --build records the split sizes of a build of the committed pin; the page shows them.
    assert _cli(copy, env, "docs", "--check").returncode == 1  # the page still says "not pinned"
    recorded = _cli(copy, env, "docs", "--build", "reviews_new", "--quiet")
    assert recorded.returncode == 0, recorded.stderr
    assert "recorded the split sizes of reviews_new:1.0.0 in datasets/text_classification/reviews_new/splits.json" in (
        recorded.stdout
    )
    page = (copy / "docs/catalog/reviews_new.md").read_text()
    assert "| **total** | **60** |  |" in page and "| records | local | path=data/records.csv | csv | 1 | 60 |" in page
    assert _cli(copy, env, "docs", "--check").returncode == 0

    # A dataset removed from datasets/ loses its page; hand-written pages stay.
    hidden = tmp_path / "reviews_new"
    folder.rename(hidden)
    assert "docs/catalog/reviews_new.md" in _cli(copy, env, "docs", "--check").stdout
    assert "removed docs/catalog/reviews_new.md" in _cli(copy, env, "docs").stdout
    assert (copy / "docs/catalog/glossary.md").is_file()
    hidden.rename(folder)

    # And the test fails when the dummy data and SPLITS disagree.
    test_file.write_text(text.replace(f"SPLITS = {splits!r}", f"SPLITS = {{'train': {splits['train'] + 1}, 'test': {splits['test']}}}"))
    result = _pytest(copy, env, str(folder.relative_to(copy)))
    assert result.returncode == 1 and "1 failed, 6 passed" in result.stdout
