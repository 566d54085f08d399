import pytest

from labdatasets.errors import SplitError
from labdatasets.splits import ReadInstruction, parse_split


def test_parse_and_resolve():
    (a,) = parse_split("train")
    assert a.to_absolute(1000) == (0, 1000)
    (b,) = parse_split("train[:10%]")
    assert b.to_absolute(1000) == (0, 100)
    (c,) = parse_split("train[10:20]")
    assert c.to_absolute(1000) == (10, 20)
    (d,) = parse_split("test[-5%:]")
    assert d.to_absolute(200) == (190, 200)
    (e,) = parse_split("train[-3:]")
    assert e.to_absolute(10) == (7, 10)
    parts = parse_split("train[:50%]+test")
    assert [p.split for p in parts] == ["train", "test"]
    assert str(parts[0]) == "train[:50%]"


def test_percent_rounds_to_closest_row():
    assert ReadInstruction("train", None, 33, "%").to_absolute(10) == (0, 3)
    assert ReadInstruction("train", 33, None, "%").to_absolute(10) == (3, 10)


def test_out_of_range_is_clamped_like_python_slices():
    assert ReadInstruction("train", 5, 500).to_absolute(10) == (5, 10)
    assert ReadInstruction("train", 8, 2).to_absolute(10) == (8, 8)


@pytest.mark.parametrize("bad", ["", "train[10]", "train[:10%", "train[1%:5]", "train[:150%]", "tr ain+", "+test"])
def test_bad_split_strings(bad):
    with pytest.raises(SplitError) as info:
        parse_split(bad)
    assert "train[:10%]" in str(info.value)
