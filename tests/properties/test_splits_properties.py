"""Property tests for split slicing (labdatasets.splits), compared with tensorflow-datasets itself."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from labdatasets.errors import SplitError
from labdatasets.splits import ReadInstruction, parse_split

tfds = pytest.importorskip("tensorflow_datasets")

rows = st.integers(min_value=0, max_value=10_000)
percent = st.none() | st.integers(min_value=-100, max_value=100)
absolute = st.none() | st.integers(min_value=-12_000, max_value=12_000)


def _tfds_absolute(num_rows, start, stop, unit):
    """tfds' ``(from, to)`` for a slice, or None where tfds rejects it (we clamp such bounds instead)."""
    kwargs = {"rounding": "closest"} if unit == "%" else {}
    instruction = tfds.core.ReadInstruction("train", from_=start, to=stop, unit=unit, **kwargs)
    try:
        (absolute,) = instruction.to_absolute({"train": SimpleNamespace(num_examples=num_rows)})
    except ValueError:
        return None
    begin = absolute.from_ or 0
    end = num_rows if absolute.to is None else absolute.to
    return begin, max(begin, end)


@given(rows, percent, percent)
def test_percent_slices_match_tfds(num_rows, start, stop):
    ours = ReadInstruction("train", start, stop, "%").to_absolute(num_rows)
    theirs = _tfds_absolute(num_rows, start, stop, "%")
    assume(theirs is not None)
    assert ours == theirs


@given(rows, absolute, absolute)
def test_absolute_slices_match_tfds(num_rows, start, stop):
    ours = ReadInstruction("train", start, stop, "abs").to_absolute(num_rows)
    theirs = _tfds_absolute(num_rows, start, stop, "abs")
    if theirs is None:  # out of range for tfds: we clamp to the split
        assert 0 <= ours[0] <= ours[1] <= num_rows
    else:
        assert ours == theirs


@given(rows, st.lists(st.integers(min_value=0, max_value=100), max_size=8), st.sampled_from(["%", "abs"]))
def test_consecutive_slices_add_up_without_overlap(num_rows, cuts, unit):
    top = 100 if unit == "%" else num_rows
    bounds = [0, *sorted(min(c, top) for c in cuts), top]
    pieces = [ReadInstruction("train", a, b, unit).to_absolute(num_rows) for a, b in zip(bounds, bounds[1:], strict=False)]
    covered = [i for start, stop in pieces for i in range(start, stop)]
    assert covered == list(range(num_rows))


@given(rows, percent, percent)
def test_slice_is_within_the_split(num_rows, start, stop):
    a, b = ReadInstruction("train", start, stop, "%").to_absolute(num_rows)
    assert 0 <= a <= b <= num_rows


@given(st.lists(st.tuples(st.from_regex(r"\A[A-Za-z][A-Za-z0-9_]{0,8}\Z"), percent, percent), min_size=1, max_size=4))
def test_split_strings_round_trip(parts):
    instructions = [ReadInstruction(name, a, b, "%" if (a, b) != (None, None) else "abs") for name, a, b in parts]
    spec = "+".join(str(i) for i in instructions)
    assert parse_split(spec) == instructions


@given(st.text(max_size=20))
def test_any_split_string_parses_or_raises_the_package_error(text):
    try:
        instructions = parse_split(text)
    except SplitError:
        return
    assert parse_split("+".join(str(i) for i in instructions)) == instructions
