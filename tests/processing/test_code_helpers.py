"""The code fingerprint covers helper modules in subfolders of a builder's folder.

A builder that keeps its cleaning code in ``helpers/`` (or deeper) changes its processing when
that code changes: the fingerprint changes, the pin record archives those files, and
``labdatasets check`` asks for a version bump. Files that are not processing code (tests,
``data/``, ``dummy_data/``, caches) change nothing.
"""

from __future__ import annotations

import labdatasets
from labdatasets.cli import main
from labdatasets.processing.code import code_paths
from labdatasets.workflow.check import check

HELPER_USE = {
    "def tidy(table):\n    return table.append_column(\"value_x2\", pc.multiply(table[\"value\"], 2.0))": (
        "def tidy(table):\n"
        "    import runpy, pathlib\n"
        "    here = pathlib.Path(__file__).parent\n"
        "    factor = runpy.run_path(str(here / 'helpers' / 'cleaning.py'))['FACTOR']\n"
        "    return table.append_column(\"value_x2\", pc.multiply(table[\"value\"], factor))"
    )
}
HELPERS = {
    "helpers/__init__.py": "",
    "helpers/cleaning.py": "FACTOR = 2.0\n",
    "helpers/text/__init__.py": "",
    "helpers/text/normalize.py": "def normalize(s):\n    return s.strip()\n",
}


def test_editing_a_helper_in_a_subfolder_asks_for_a_version_bump(make_builder, capsys):
    cls = make_builder.tabular("toy_helpers", rows=[], extra_files=HELPERS, edits=HELPER_USE)
    folder = cls.module_dir()
    assert code_paths(folder) == [
        "helpers/__init__.py", "helpers/cleaning.py", "helpers/text/__init__.py", "helpers/text/normalize.py",
        "toy_helpers_dataset_builder.py",
    ]
    record = labdatasets.builder("toy_helpers").pin()
    assert {f.path for f in record.code_files} >= {"helpers/cleaning.py", "helpers/text/normalize.py"}
    assert record.code_fingerprint == cls.code_fingerprint()
    assert check(["toy_helpers"]).ok

    pinned = cls.code_fingerprint()
    not_code = {
        "helpers/test_cleaning.py": "def test_x():\n    pass\n",
        "helpers/cleaning_test.py": "def test_y():\n    pass\n",
        "data/convert.py": "print('a script beside the data')\n",
        "dummy_data/make.py": "pass\n",
        "helpers/__pycache__/cleaning.py": "FACTOR = 9.0\n",
        "helpers/notes.txt": "not Python\n",
    }
    for rel, text in not_code.items():  # leftovers in the folder listing that are not processing code
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    assert cls.code_fingerprint() == pinned
    assert check(["toy_helpers"]).ok

    for rel, edit in (("helpers/cleaning.py", "FACTOR = 3.0\n"), ("helpers/text/normalize.py", "def normalize(s):\n    return s\n")):
        original = (folder / rel).read_text()
        (folder / rel).write_text(edit)
        assert cls.code_fingerprint() != pinned, rel
        report = check(["toy_helpers"])
        assert not report.ok, rel
        message = report.errors[0].message
        assert "The processing code of toy_helpers changed since toy_helpers:1.0.0 was pinned" in message
        assert "Bump VERSION to 1.1.0" in message
        capsys.readouterr()
        assert main(["check", "toy_helpers"]) == 1
        assert "FAILED: 1 error(s)" in capsys.readouterr().out
        (folder / rel).write_text(original)
        assert cls.code_fingerprint() == pinned and check(["toy_helpers"]).ok

    (folder / "helpers" / "text" / "extra.py").write_text("X = 1\n")  # a new helper is a change too
    assert cls.code_fingerprint() != pinned and not check(["toy_helpers"]).ok


def test_the_fingerprint_ignores_line_endings_and_the_order_paths_are_given_in(tmp_path):
    from labdatasets.processing.code import fingerprint_code

    for rel, text in {"a/x.py": "A = 1\n", "a-b/x.py": "B = 2\n", "a/__init__.py": "", "top.py": "import a\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    whole = fingerprint_code(tmp_path)
    listed = code_paths(tmp_path)
    assert listed == ["a/__init__.py", "a/x.py", "a-b/x.py", "top.py"]  # folders before their siblings' names
    assert fingerprint_code(tmp_path, list(reversed(listed))) == whole
    assert fingerprint_code(tmp_path, ["top.py"]) != whole
    (tmp_path / "a" / "x.py").write_bytes(b"A = 1\r\n")  # a checkout on Windows
    assert fingerprint_code(tmp_path) == whole
    (tmp_path / "a" / "x.py").write_bytes(b"A = 1\r\r\n")
    assert fingerprint_code(tmp_path) != whole


def test_which_code_fingerprint_a_version_is_built_with(make_builder):
    from types import SimpleNamespace

    from labdatasets.processing.code import expected_fingerprint, is_newest

    cls = make_builder.tabular("toy_expected", rows=[], version="1.1.0", supported=["1.0.0"])
    current = cls.code_fingerprint()
    newest, older = labdatasets.builder("toy_expected:1.1.0"), labdatasets.builder("toy_expected:1.0.0")
    assert is_newest(newest) and not is_newest(older)
    pinned = SimpleNamespace(code_fingerprint="f" * 64)
    assert expected_fingerprint(newest, pinned) == current  # the newest version: the code as it is
    assert expected_fingerprint(older, pinned) == "f" * 64  # an older one: the code it was pinned with
    assert expected_fingerprint(older, SimpleNamespace(code_fingerprint=current)) == current
    assert expected_fingerprint(older, SimpleNamespace(code_fingerprint="")) == current  # pinned before fingerprints
