"""Tampering with archived processing code: the pin record's code_files, and the cached copy.

An older version is rebuilt with the code it was pinned with, fetched from the snapshot store
into ``<home>/code/<fingerprint>/`` and imported. The names in the record are checked before
anything is written, the copy is checked against the committed record every time it is
imported, and ``check`` notices an edited ``code_fingerprint`` or ``code_files``.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

import labdatasets
from labdatasets.cli import main
from labdatasets.errors import LabDatasetsError
from tests.processing.test_code import write_tabular

pytestmark = pytest.mark.slow


def two_versions(make_builder, name: str):
    """``name:1.0.0`` pinned (its code archived), then the builder moved on to 1.1.0."""
    write_tabular(make_builder, name, version="1.0.0")
    record = labdatasets.builder(name).pin(progress=False)
    write_tabular(make_builder, name, version="1.1.0", supported=["1.0.0"], factor="3.0")
    return record


def forget_archived_modules() -> None:
    """What a new Python process is: no archived package imported yet."""
    for module in [m for m in sys.modules if m.startswith("labdatasets_code_")]:
        del sys.modules[module]


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "nested_dotdot"])
def test_a_code_files_path_outside_the_folder_is_refused_before_anything_is_written(kind, make_builder, lab_home, tmp_path):
    path = {
        "dotdot": "../../escape_code.py",
        "absolute": str(tmp_path / "escape_code.py"),
        "nested_dotdot": "sub/../../../escape_code.py",
    }[kind]
    record = two_versions(make_builder, "toy_code_path")
    data = json.loads(record.path.read_text())
    data["code_files"][0]["path"] = path  # code_files are not part of the snapshot id
    record.path.write_text(json.dumps(data, indent=2))
    before = {p for p in tmp_path.rglob("*escape_code*")}
    with pytest.raises(LabDatasetsError) as info:
        labdatasets.load("toy_code_path:1.0.0", split="train")
    assert "toy_code_path" in str(info.value)
    assert {p for p in tmp_path.rglob("*escape_code*")} == before == set()


def test_the_cached_code_copy_is_verified_every_time_it_is_imported(make_builder, lab_home, tmp_path, capsys):
    record = two_versions(make_builder, "toy_code_cache")
    first = labdatasets.load("toy_code_cache:1.0.0", split="train", format="arrow").to_pydict()
    copy = lab_home / "code" / record.code_fingerprint / "toy_code_cache_dataset_builder.py"
    assert copy.is_file()
    marker = tmp_path / "tampered-code-ran"
    os.chmod(copy, 0o644)
    copy.write_text(copy.read_text() + f"\nopen({str(marker)!r}, 'w').write('ran')\n")

    capsys.readouterr()
    assert main(["verify", "toy_code_cache:1.0.0", "--quiet"]) == 1
    assert "toy_code_cache_dataset_builder.py" in capsys.readouterr().out

    forget_archived_modules()
    labdatasets.builder("toy_code_cache:1.0.0").build(overwrite=True, progress=False)
    assert not marker.exists(), "the tampered copy was imported"
    assert labdatasets.load("toy_code_cache:1.0.0", split="train", format="arrow").to_pydict() == first

    copy.write_text(copy.read_text() + "\n# tampered again\n")
    assert main(["verify", "toy_code_cache:1.0.0", "--repair", "--quiet"]) == 0
    assert main(["verify", "toy_code_cache:1.0.0", "--quiet"]) == 0


@pytest.mark.parametrize("field", ["code_fingerprint", "code_files.oid", "code_files.path"])
def test_check_notices_an_edited_code_record(field, pins_copy, capsys):
    path = pins_copy / "product_a" / "1.0.0.json"
    data = json.loads(path.read_text())
    if field == "code_fingerprint":
        data["code_fingerprint"] = "ab" * 32
    elif field == "code_files.oid":
        data["code_files"][-1]["oid"] = "cd" * 32
    else:
        data["code_files"][-1]["path"] = "other_builder.py"
    path.write_text(json.dumps(data, indent=2))
    assert main(["check", "product_a"]) == 1
    assert "product_a:1.0.0" in capsys.readouterr().out


def test_a_bad_oid_in_code_files_is_a_clear_error(make_builder, lab_home):
    record = two_versions(make_builder, "toy_code_oid")
    data = json.loads(record.path.read_text())
    data["code_files"][0]["oid"] = "../../etc/passwd"
    record.path.write_text(json.dumps(data, indent=2))
    with pytest.raises(LabDatasetsError, match="toy_code_oid"):
        labdatasets.load("toy_code_oid:1.0.0", split="train")
