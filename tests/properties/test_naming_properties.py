"""Property tests for the ``dataset[/config][:version]`` grammar (labdatasets.naming)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from labdatasets.errors import DatasetNameError
from labdatasets.naming import DatasetReference, Version, parse_name

names = st.from_regex(r"\A[a-z][a-z0-9_]{0,15}\Z")
configs = st.none() | st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_\-.+]{0,10}\Z")
part = st.integers(min_value=0, max_value=10**6).map(str)
versions = st.none() | st.tuples(part | st.just("*"), part | st.just("*"), part | st.just("*")).map(".".join)


@given(names, configs, versions)
def test_format_then_parse_is_identity(name, config, version):
    reference = DatasetReference(name=name, config=config, version=version)
    parsed = parse_name(str(reference))
    assert parsed == reference
    assert parse_name(str(parsed)) == parsed


@given(st.text(max_size=30))
def test_any_string_parses_or_raises_the_package_error(text):
    try:
        parsed = parse_name(text)
    except DatasetNameError as error:
        assert str(error)
        return
    # Whatever parses formats back to the same reference.
    assert parse_name(str(parsed)) == parsed


@given(st.tuples(part, part, part).map(".".join))
def test_exact_version_round_trip_and_self_match(text):
    version = Version(text)
    assert Version(str(version)) == version
    assert version.match(str(version))
    major, minor, _ = version.tuple
    assert version.match(f"{major}.{minor}.*")
    assert version.match("*.*.*")


@given(st.tuples(part, part, part), st.tuples(part, part, part))
def test_version_order_is_numeric_tuple_order(a, b):
    va, vb = Version(".".join(a)), Version(".".join(b))
    ta, tb = tuple(map(int, a)), tuple(map(int, b))
    assert (va < vb) == (ta < tb)
    assert (va == vb) == (ta == tb)


@given(st.text(max_size=12))
def test_version_strings_parse_or_raise_the_package_error(text):
    try:
        version = Version(text)
    except DatasetNameError:
        return
    assert str(version) == ".".join(str(int(p)) for p in text.split("."))


exact_versions = st.tuples(part, part, part).map(".".join)


def _records(name: str, config: str | None, version: str) -> list:
    """Every record type that has a ``full_name``, made for one dataset version."""
    from labdatasets.features import Features
    from labdatasets.info import DatasetInfo
    from labdatasets.pinning.outputs import OutputRecord
    from labdatasets.pinning.record import PinRecord
    from labdatasets.prepared.shared_cache import Release
    from labdatasets.workflow.cache import CacheEntry

    return [
        DatasetInfo(features=Features({}), name=name, config=config, version=version),
        PinRecord(dataset=name, config=config, version=version, sources={}),
        OutputRecord(name, config, version, "", "", "", "", {}),
        Release(name, config, version, "", "", "", (), {}),
        CacheEntry(name, config, version),
    ]


@given(names, configs, exact_versions)
def test_every_record_formats_its_full_name_with_the_one_grammar(name, config, version):
    expected = f"{name}/{config}:{version}" if config else f"{name}:{version}"  # the documented form
    for record in _records(name, config, version):
        assert record.full_name == expected == str(DatasetReference(name, config, version)), type(record).__name__
        assert parse_name(record.full_name) == DatasetReference(name, config, version)
