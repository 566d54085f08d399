"""Property test for the one-pass ``Pattern`` test (:func:`labdatasets.processing.validation._all_match`).

Patterns are drawn from a grammar that mixes what the joined test can take (literals, ranges, ``\\d``,
``\\w``, ``\\S``, ``.``, anchors, word boundaries, groups, repeats, alternation, ``(?i)``, ``(?m)``) with
what can match a newline (a newline, ``\\s``, ``\\W``, ``\\D``, negated classes, ``(?s)``, POSIX classes);
values are short texts that may hold a newline, with nulls. Whenever the joined test says every value
matches, RE2 on each value must agree: the rule's count can never be 0 when a value breaks it.
"""

from __future__ import annotations

import re
import warnings

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from labdatasets.processing.validation import _all_match

ATOMS = [
    "a", "b", "1", " ", "\n", r"\n", r"\s", r"\S", r"\d", r"\D", r"\w", r"\W", ".", "[ab]", "[^a]", "[\\n]",
    "[a-c]", r"[\x00-\x7f]", "[[:space:]]", "[[:alpha:]]", "^", "$", r"\b", r"\B", r"\A",
]
WRAPS = ["(?:{})", "({})", "(?s:{})", "(?i:{})", "{}*", "{}+", "{}?", "{}{{1,2}}", "{}*?"]
PREFIXES = ["", "", "", "(?s)", "(?i)", "(?m)"]


@st.composite
def patterns(draw: st.DrawFn) -> str:
    def piece(depth: int) -> str:
        if depth >= 2 or draw(st.booleans()):
            return draw(st.sampled_from(ATOMS))
        inner = "".join(piece(depth + 1) for _ in range(draw(st.integers(1, 3))))
        if draw(st.integers(0, 4)) == 0:
            inner = inner + "|" + piece(depth + 1)
        return draw(st.sampled_from(WRAPS)).format(inner)

    return draw(st.sampled_from(PREFIXES)) + "".join(piece(0) for _ in range(draw(st.integers(1, 3))))


texts = st.lists(st.text(alphabet="ab1 \nA", max_size=4) | st.none(), min_size=1, max_size=8)


@settings(max_examples=600)  # a wrong "all match" needs a rare pair: a pattern and values that meet it
@given(patterns(), texts)
def test_all_match_on_the_joined_values_implies_every_value_matches(regex: str, values: list[str | None]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            re.compile(regex)  # a Pattern rule refuses what Python cannot read
        except re.error:
            return
    column = pa.array(["x", *values], pa.string()).slice(1)  # a slice: its own bytes only
    if not _all_match(regex, column):
        return
    present = column.drop_null()
    each = pc.match_substring_regex(present, pattern=f"^(?:{regex})$").to_pylist()
    assert all(each), (regex, values, each)


def test_the_grammar_reaches_both_answers() -> None:
    """The property above is not empty: plain patterns take the joined test, spanning ones do not."""
    assert _all_match(r"(?:a|b)+\b", pa.array(["ab", "b", "a"]))
    assert _all_match(r"(?i)[a-c]*", pa.array(["", "AB"]))
    assert not _all_match(r"a\sb|a|b", pa.array(["a", "b"]))
    assert not _all_match(r"(?s)a.b|a|b", pa.array(["a", "b"]))
