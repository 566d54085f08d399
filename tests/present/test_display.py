"""The notebook summary: ``info``, a builder and a split render readable, escaped, well-formed HTML."""

from __future__ import annotations

import html.parser
import re

import pytest

import labdatasets

VOID = {"br", "hr", "img", "meta", "input"}


class _Balance(html.parser.HTMLParser):
    """Fails on a closing tag that does not match the open one; collects the visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def visible(markup: str) -> str:
    parser = _Balance()
    parser.feed(markup)
    parser.close()
    assert parser.stack == [], f"unclosed tags {parser.stack}"
    return re.sub(r"\s+", " ", " ".join(parser.text))


def test_info_of_an_unprepared_version_shows_what_it_is_and_how_to_load_it():
    info = labdatasets.info("product_a:1.0.0")
    markup = info._repr_html_()
    text = visible(markup)
    assert "product_a:1.0.0 (products)" in text
    assert "Product A field observations" in text
    assert "Owners product-a-data@lab.example" in text and "Key sample_id" in text
    assert 'labdatasets.load("product_a:1.0.0")' in text  # splits are unknown until it is prepared
    for name, feature in info.features.items():
        assert f"{name} {feature.describe()}" in text and feature.doc in text
    features = visible(markup.split("<h4>Features</h4>")[1].split("<h4>")[0])
    assert "body_mass_kg" not in features  # a 1.2.0 column
    assert "Not prepared on this machine yet" in text
    assert "1.2.0 (latest)" in text and "1.0.0 (this version)" in text
    assert "Citation" in text and "Gorman KB" in text


@pytest.mark.slow
def test_a_builder_adds_its_pinned_sources_and_a_prepared_version_its_splits():
    b = labdatasets.builder("iris")
    text = visible(b._repr_html_())
    assert "Sources" in text and "samples local path=data/iris.jsonl jsonl 1 150" in text
    b.build(progress=False)
    info = labdatasets.info("iris")
    text = visible(info._repr_html_())
    for split in info.splits.values():
        assert f"{split.name} {split.num_rows:,}" in text
    assert f"Snapshot {info.snapshot_id[:16]}" in text
    assert "Not prepared" not in text
    assert 'labdatasets.load("iris:1.0.0", split="train")' in text


def test_markup_from_builder_text_is_escaped(make_builder):
    make_builder.tabular(
        "toy_html",
        notes={"1.0.0": "<i>first</i>"},
        edits={
            '"""A small tabular dataset for tests."""':
            '"""Rows <b>bold</b> & <script>alert(1)</script>.\n\n    A second paragraph with 3 < 4."""'
        },
    )
    markup = labdatasets.info("toy_html")._repr_html_()
    assert "<script>" not in markup and "<b>bold</b>" not in markup and "<i>first</i>" not in markup
    text = visible(markup)
    assert "Rows <b>bold</b> & <script>alert(1)</script>." in text
    assert "More about the data A second paragraph with 3 < 4." in text
