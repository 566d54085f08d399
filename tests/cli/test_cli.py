"""The console script: each verb prints what a user needs and exits 0, errors print one line and exit 1."""

import json
import re

import pytest

from labdatasets.cli import main

pytestmark = pytest.mark.slow


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    line = next(text for text in out.splitlines() if text.startswith("product_a"))
    assert "products" in line and re.search(r"1\.2\.0( \([a-z, ]+\))?, 1\.0\.0", line)
    code, out, _ = run(capsys, "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["digits"]["group"] == "image_classification" and rows["product_a"]["latest"] == "1.2.0"


def test_info_shows_versions_features_and_pins(capsys):
    code, out, _ = run(capsys, "info", "product_a:1.0.0")
    assert code == 0
    assert "product_a:1.0.0  (products)" in out
    assert "1.0.0 *" in out and "New export pinned with the 2009 campaign" in out
    assert "sample_id" in out and "class label (3 classes)" in out
    assert "observations  local" in out and "224" in out
    code, out, _ = run(capsys, "info", "product_a", "--json")
    data = json.loads(out)
    assert data["version"] == "1.2.0" and data["pin"]["sources"]["observations"]["num_rows"] == 344


def test_pin_build_load(capsys, make_builder):
    make_builder.tabular("toy_cli")
    code, out, _ = run(capsys, "pin", "toy_cli:1.0.0", "--quiet")
    assert code == 0 and "pinned toy_cli:1.0.0: snapshot" in out and "rows    local  csv" in out
    code, out, err = run(capsys, "pin", "toy_cli:1.0.0")
    assert code == 1 and "already pinned" in err and "Traceback" not in err
    code, out, _ = run(capsys, "build", "toy_cli", "--quiet", "--beam-option", "direct_num_workers=1")
    assert code == 0 and "prepared toy_cli:1.0.0" in out and "train" in out
    code, out, _ = run(capsys, "load", "toy_cli", "--split", "train[:3]", "--head", "2", "--quiet")
    assert code == 0 and "toy_cli:1.0.0: train[:3] 3 rows" in out and "row number" in out
    code, out, _ = run(capsys, "verify", "toy_cli:1.0.0", "--quiet")
    assert code == 0 and "checked 2 snapshot objects and 3 prepared files" in out and out.strip().endswith("ok")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["load", "product_b"], "Did you mean 'product_a'?"),
        (["load", "product_a:9.0.0"], "Versions: 1.2.0 (latest), 1.0.0"),
        (["load", "product_a:latest"], "omit the version"),
        (["build", "iris", "--beam-option", "oops"], "--beam-option expects KEY=VALUE"),
    ],
)
def test_errors_are_one_clear_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1 and err.startswith("error: ") and message in err and "Traceback" not in err
