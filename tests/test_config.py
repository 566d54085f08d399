import pytest

from labdatasets.config import settings
from labdatasets.errors import ConfigError


def test_defaults_are_under_home(lab_home):
    s = settings()
    assert s.data_dir == lab_home / "prepared"
    assert s.snapshot_store == f"file://{lab_home / 'store'}" and s.local_store == s.snapshot_store
    assert s.shared_cache is None


def test_precedence_argument_env_file(lab_home, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(
        '[labdatasets]\nsnapshot_store = "s3://lab/snapshots"\ndata_dir = "/from/file"\n'
        '[connections.warehouse]\nurl = "mysql+pymysql://reader@db/shop"\n'
    )
    monkeypatch.setenv("LABDATASETS_CONFIG", str(config))
    s = settings()
    assert s.snapshot_store == "s3://lab/snapshots" and str(s.data_dir) == "/from/file"
    assert s.connections["warehouse"]["url"].startswith("mysql+pymysql://")
    monkeypatch.setenv("LABDATASETS_DATA_DIR", "/from/env")
    assert str(settings().data_dir) == "/from/env"
    assert str(settings(data_dir="/from/arg").data_dir) == "/from/arg"


@pytest.mark.parametrize(
    "content, message",
    [
        ('[labdatasets]\nsnapshot_store = "ftp://x"\n', "unsupported scheme 'ftp'"),
        ('[labdatasets]\ncache = "x"\n', "Unknown key(s) cache"),
        ("not toml [", "Cannot read the labdatasets config file"),
    ],
)
def test_bad_config_is_named(tmp_path, monkeypatch, content, message):
    config = tmp_path / "config.toml"
    config.write_text(content)
    monkeypatch.setenv("LABDATASETS_CONFIG", str(config))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        settings()


def test_missing_config_file_named_by_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LABDATASETS_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        settings()
