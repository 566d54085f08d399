import pytest

from labdatasets.errors import DatasetNameError, VersionNotFoundError
from labdatasets.naming import DatasetReference, Version, parse_name, resolve_version


@pytest.mark.parametrize(
    "text, expected",
    [
        ("product_a", DatasetReference("product_a")),
        ("product_a:1.2.0", DatasetReference("product_a", version="1.2.0")),
        ("product_a:1.2.*", DatasetReference("product_a", version="1.2.*")),
        ("product_a:1.*.*", DatasetReference("product_a", version="1.*.*")),
        ("digits/small:1.0.0", DatasetReference("digits", config="small", version="1.0.0")),
        ("digits/small", DatasetReference("digits", config="small")),
        ("  iris  ", DatasetReference("iris")),
    ],
)
def test_parse_valid(text, expected):
    assert parse_name(text) == expected


@pytest.mark.parametrize(
    "text, hint",
    [
        ("product_a:latest", "omit the version"),
        ("product_a:v1.2.0", "drop the 'v'"),
        ("product_a:1.2.0-rc1", "pre-release"),
        ("product_a:1.2", "'1.2.0'"),
        ("product_a:1.2", "'1.2.*'"),
        ("ProductA", "'product_a'"),
        ("product-a:1.0.0", "'product_a'"),
        ("lab:product_a:1.0.0", "more than one ':'"),
        ("", "Empty"),
        ("product_a/:1.0.0", "Invalid dataset reference"),
    ],
)
def test_parse_invalid_says_what_to_write(text, hint):
    with pytest.raises(DatasetNameError) as info:
        parse_name(text)
    message = str(info.value)
    assert hint in message
    assert "dataset[/config][:version]" in message  # the grammar is always shown


def test_version_ordering_and_matching():
    assert Version("1.10.0") > Version("1.9.9") > "1.2.0"
    assert Version("1.2.3") == "1.2.3"
    assert Version("1.2.3").match("1.2.*") and Version("1.2.3").match("1.*.*")
    assert not Version("1.3.0").match("1.2.*")
    assert sorted([Version("2.0.0"), Version("1.0.0"), Version("1.2.0")])[0] == "1.0.0"


def test_resolve_version_latest_pattern_and_missing():
    available = ["1.0.0", "1.2.0", "1.2.1", "2.0.0"]
    assert resolve_version("d", None, available, "2.0.0") == "2.0.0"
    assert resolve_version("d", "1.2.*", available, "2.0.0") == "1.2.1"
    assert resolve_version("d", "1.*.*", available, "2.0.0") == "1.2.1"
    with pytest.raises(VersionNotFoundError) as info:
        resolve_version("d", "1.3.0", available, "2.0.0")
    assert "2.0.0 (latest), 1.2.1, 1.2.0, 1.0.0" in str(info.value)
    assert info.value.available == ("2.0.0", "1.2.1", "1.2.0", "1.0.0")


def test_every_registered_version_full_name_parses_back_to_its_parts():
    """The builders' full names, as `list`, `info` and the docs print them, are references load() accepts."""
    from labdatasets import registry

    seen = 0
    for name in registry.list_datasets():
        cls = registry.builder_cls(name)
        for config in [c.name for c in cls.BUILDER_CONFIGS] or [None]:
            for version in cls.versions(config):
                b = cls(config=config, version=str(version))
                assert parse_name(b.full_name) == DatasetReference(name, config, str(version))
                assert str(parse_name(b.full_name)) == b.full_name == b.declared_info().full_name
                seen += 1
    assert seen >= 3
