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


def test_parsed_instructions_carry_their_unit_and_print_back():
    assert parse_split("train[10:20]") == [ReadInstruction("train", 10, 20, "abs")]
    assert parse_split("train[-5%:]") == [ReadInstruction("train", -5, None, "%")]
    assert parse_split(" train [ 10 : 20 ] + test ") == [ReadInstruction("train", 10, 20, "abs"), ReadInstruction("test")]
    assert str(ReadInstruction("train", 10, 20)) == "train[10:20]"
    assert str(ReadInstruction("train", None, -3)) == "train[:-3]"
    assert str(ReadInstruction("train", 10, None, "%")) == "train[10%:]"
    assert str(ReadInstruction("test")) == "test"


@pytest.mark.parametrize("spec", ["train[:101%]", "train[-101%:]", "train[100%:101%]"])
def test_percent_bounds_stop_at_100(spec):
    with pytest.raises(SplitError) as info:
        parse_split(spec)
    assert str(info.value).startswith(f"Invalid split {spec!r}: percent boundaries must be between -100% and 100%.")
    assert parse_split("train[-100%:100%]")[0].to_absolute(7) == (0, 7)


@pytest.mark.parametrize("bad", [None, 3, "   "])
def test_a_split_that_is_not_text_is_refused(bad):
    with pytest.raises(SplitError) as info:
        parse_split(bad)
    assert str(info.value).startswith(f"Invalid split {bad!r}. ")


def test_check_splits_names_the_missing_split_and_the_ones_there():
    from labdatasets.splits import check_splits

    check_splits(parse_split("train[:10%]+test"), iter(["train", "test"]), "toy:1.0.0")  # any iterable, read once
    with pytest.raises(SplitError) as info:
        check_splits(parse_split("train+validation"), iter(["train", "test"]), "toy:1.0.0")
    assert str(info.value) == "toy:1.0.0 has no split 'validation'; its splits are: train, test."


def test_a_zero_bound_is_the_first_row_not_a_count_from_the_end():
    assert ReadInstruction("train", 0, 5).to_absolute(10) == (0, 5)
    assert ReadInstruction("train", None, 0).to_absolute(10) == (0, 0)
    assert ReadInstruction("train", 0, None, "%").to_absolute(10) == (0, 10)
    assert ReadInstruction("train", None, 0, "%").to_absolute(10) == (0, 0)
    assert ReadInstruction("train", -1, None).to_absolute(10) == (9, 10)
