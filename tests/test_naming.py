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


@pytest.mark.parametrize(
    "version, exact, hint",
    [
        ("", False, "omit the version to get the latest one (write 'product_a', not 'product_a:latest')"),
        ("latest", True, "omit the version to get the latest one (write 'product_a', not 'product_a:latest')"),
        ("experimental_latest", False, "omit the version to get the latest one (write 'product_a', not 'product_a:latest')"),
        ("v1.2.0", True, "drop the 'v': write '1.2.0'"),
        ("V1.2.*", False, "drop the 'v': write '1.2.*'"),
        ("v1.2", True, "drop the 'v' and give all three parts, e.g. '1.2.0'"),
        ("V1", False, "drop the 'v' and give all three parts, e.g. '1.2.0'"),
        ("1.2.0-rc1", True, "pre-release and build suffixes (1.2.0-rc1, 1.2.0+local) are not versions here; use a new PATCH version"),
        ("1.2.0+local", False, "pre-release and build suffixes (1.2.0-rc1, 1.2.0+local) are not versions here; use a new PATCH version"),
        ("1.2", True, "give all three parts: '1.2.0'"),
        ("1.2", False, "give all three parts: '1.2.0' or '1.2.*'"),
        ("1", False, "give all three parts: '1.0.0' or '1.*.*'"),
        ("*", False, "give all three parts: '*.0.0' or '*.*.*'"),
        ("1.*", False, "give all three parts: '1.*.0' or '1.*.*'"),
        ("1.2.*", True, "a version is MAJOR.MINOR.PATCH such as 1.2.0"),
        ("one", True, "a version is MAJOR.MINOR.PATCH such as 1.2.0"),
        ("one", False, "a version is MAJOR.MINOR.PATCH such as 1.2.0, or a pattern such as 1.2.*"),
        ("1.2.3.4", False, "a version is MAJOR.MINOR.PATCH such as 1.2.0, or a pattern such as 1.2.*"),
        ("va.b", False, "a version is MAJOR.MINOR.PATCH such as 1.2.0, or a pattern such as 1.2.*"),
    ],
)
def test_each_malformed_version_gets_its_own_hint(version, exact, hint):
    from labdatasets.naming import GRAMMAR_HELP, check_version_string

    with pytest.raises(DatasetNameError) as info:
        check_version_string(version, exact=exact)
    assert str(info.value) == f"Invalid version {version!r}: {hint}. {GRAMMAR_HELP}"


def test_long_versions_are_refused_before_they_are_read_as_numbers():
    from labdatasets.naming import MAX_VERSION_DIGITS, check_version_string

    check_version_string("999999999.0.1", exact=True)  # nine digits: fine
    for bad in ("1234567890.0.0", "1." + "1" * 10 + ".0", "1.0." + "9" * 5000):
        with pytest.raises(DatasetNameError) as info:
            check_version_string(bad, exact=False)
        assert str(info.value).startswith(f"Invalid version {bad[:20]!r}... ({len(bad)} characters): MAJOR, MINOR and PATCH")
        assert f"at most {MAX_VERSION_DIGITS} digits, such as 1.2.0." in str(info.value)
    with pytest.raises(DatasetNameError, match="characters"):
        check_version_string("1." * 20 + "1", exact=False)  # 41 characters, short parts


@pytest.mark.parametrize(
    "name, snake",
    [
        ("ProductA", "product_a"), ("Product_A", "product_a"), ("IRIS", "iris"), ("HTTPLogs", "http_logs"),
        ("product-a", "product_a"), ("Shop--Orders", "shop_orders"), ("Iris_", "iris"), ("ab2Cd", "ab2_cd"),
        ("getHTTPResponse", "get_http_response"), ("A", "a"),
    ],
)
def test_an_invalid_name_suggests_its_snake_case(name, snake):
    from labdatasets.naming import _camel_to_snake

    assert _camel_to_snake(name) == snake
    assert _camel_to_snake("_" + name + "-") == snake  # no leading or trailing underscores
    with pytest.raises(DatasetNameError) as info:
        parse_name(name + "x" * 20)  # no registered dataset is close: the rule and the snake_case form
    rule = "use underscores" if "-" in name else "are snake_case"
    assert f"Invalid dataset name {name + 'x' * 20!r}. Dataset names {rule}, e.g. " in str(info.value)
    assert "(no dataset has that name; 'labdatasets list' shows them)." in str(info.value)


def test_a_mistyped_registered_name_is_suggested():
    for typed, meant in (("ProductA", "product_a"), ("Product_A", "product_a"), ("IRIS", "iris"), ("Iris", "iris")):
        with pytest.raises(DatasetNameError) as info:
            parse_name(f"{typed}:1.0.0")
        assert f"Invalid dataset name {typed!r}. Dataset names are snake_case: did you mean {meant!r}?" in str(info.value)
    with pytest.raises(DatasetNameError) as info:
        parse_name("product-a")
    assert "Dataset names use underscores: did you mean 'product_a'?" in str(info.value)
    with pytest.raises(DatasetNameError) as info:
        parse_name("digits/-small")
    assert str(info.value).startswith("Invalid config name '-small' in 'digits/-small'.")
    with pytest.raises(DatasetNameError) as info:
        parse_name("_iris:1.0.0")  # not even the start of a name: the grammar only
    from labdatasets.naming import GRAMMAR_HELP

    assert str(info.value) == f"Invalid dataset name '_iris'. {GRAMMAR_HELP}"


def test_versions_references_and_their_messages_in_detail():
    from labdatasets.naming import GRAMMAR_HELP, check_version_string, is_valid_name

    assert str(DatasetReference("digits", "small", "1.0.0")) == "digits/small:1.0.0"
    assert str(DatasetReference("digits", "small")) == "digits/small" and str(DatasetReference("iris")) == "iris"
    assert hash(Version("1.2.3")) == hash(Version("1.2.3")) != hash(Version("1.2.4"))
    assert not Version("1.0.0") < "1.0.0" and Version("1.0.0") < "1.0.1" and Version("1.0.0") != object()
    for bad in ("1.2", "1.*.0"):
        with pytest.raises(DatasetNameError):
            Version(bad)
    assert is_valid_name("product_a") and not is_valid_name("Product") and not is_valid_name("1abc")
    with pytest.raises(DatasetNameError) as info:
        check_version_string("x" * 40, exact=False)  # 40 characters: still read for a hint
    assert str(info.value) == f"Invalid version {'x' * 40!r}: a version is MAJOR.MINOR.PATCH such as 1.2.0, or a pattern such as 1.2.*. {GRAMMAR_HELP}"
    with pytest.raises(VersionNotFoundError) as missing:
        resolve_version("d", "3.*.*", ["1.0.0", "2.0.0"], "2.0.0")
    assert str(missing.value) == (
        "Dataset 'd' has no version matching '3.*.*'. Versions: 2.0.0 (latest), 1.0.0. Load one of them, e.g. labdatasets.load('d:2.0.0')."
    )
    assert missing.value.shell_message == (
        "Dataset 'd' has no version matching '3.*.*'. Versions: 2.0.0 (latest), 1.0.0. Use one of them, e.g. 'labdatasets load d:2.0.0'."
    )
    with pytest.raises(VersionNotFoundError) as none:
        resolve_version("d", "1.0.0", [], "1.1.0")
    assert "Versions: . Load one of them, e.g. labdatasets.load('d:1.1.0')." in str(none.value)
