"""The hand-written documentation: links resolve, and the configuration reference is complete."""

from __future__ import annotations

import re

import pytest

from labdatasets import config
from tests.helpers import REPO

PAGES = sorted([REPO / "README.md", REPO / "CONTRIBUTING.md", *(REPO / "docs").rglob("*.md")])


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_point_at_files_that_exist(page):
    text = re.sub(r"```.*?```", "", page.read_text("utf-8"), flags=re.S)  # code blocks hold examples, not links
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        if not (page.parent / target.split("#")[0]).exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(REPO)} links to missing files: {broken}"


def test_the_configuration_reference_names_every_variable_the_code_reads():
    reference = (REPO / "docs" / "configuration.md").read_text("utf-8")
    sources = "".join(p.read_text("utf-8") for p in [*(REPO / "labdatasets").rglob("*.py"), *(REPO / "loaders").rglob("*.py")])
    variables = set(re.findall(r"LABDATASETS_[A-Z_]*[A-Z]", sources)) | {f"LABDATASETS_{k.upper()}" for k in config._KEYS}
    # `LABDATASETS_CONNECTION_<NAME>` documents a family: LABDATASETS_CONNECTION_WAREHOUSE and friends.
    families = re.findall(r"`(LABDATASETS_[A-Z_]*?)_?<[A-Z]+>`", reference)
    missing = sorted(
        v for v in variables if f"`{v}`" not in reference and not any(v.startswith(f) for f in families)
    )
    assert not missing, f"docs/configuration.md does not document {missing}"
    for key in config._KEYS:
        assert f"| `{key}` |" in reference


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_list_datasets_examples_show_what_it_returns(page):
    import ast

    import labdatasets

    shown = re.findall(r"labdatasets\.list_datasets\(\)\s*#\s*(\[.*?\])", page.read_text("utf-8"))
    for example in shown:
        assert ast.literal_eval(example) == labdatasets.list_datasets(), (
            f"{page.relative_to(REPO)} shows list_datasets() returning {example}; it returns "
            f"{labdatasets.list_datasets()} (update the example when adding a dataset)"
        )
