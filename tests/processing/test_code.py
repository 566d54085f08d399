"""Versioned processing: archived code per version, the `check` gate, `verify --rebuild`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import labdatasets
from labdatasets import registry
from labdatasets.processing.code import fingerprint_code
from labdatasets.workflow.check import check, next_versions
from labdatasets.cli import main
from labdatasets.errors import ProcessingError
from labdatasets.prepared.verify import verify
from labdatasets.processing.options import BuildOptions
from tests.helpers import TABULAR_BUILDER, sample_rows

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PRODUCT_A = REPO / "datasets" / "products" / "product_a"


def moved_on_product_a() -> str:
    """product_a as a later commit could have it: 1.3.0 drops the code paths that produced 1.0.0."""
    code = (PRODUCT_A / "product_a_dataset_builder.py").read_text()
    replacements = {
        'VERSION = "1.2.0"': 'name = "product_a"\n    VERSION = "1.3.0"',
        'SUPPORTED_VERSIONS = ["1.0.0"]': 'SUPPORTED_VERSIONS = ["1.2.0", "1.0.0"]',
        "    RELEASE_NOTES = {\n": '    RELEASE_NOTES = {\n        "1.3.0": "Body mass in kg only.",\n',
        'if self.version < "1.2.0":': "if False:",
        'with_isotopes=self.version >= "1.2.0"': "with_isotopes=True",
        'if self.version >= "1.2.0":': "if True:",
    }
    for old, new in replacements.items():
        assert old in code, old
        code = code.replace(old, new)
    return code


def write_tabular(make_builder, name: str, *, version: str, supported=(), notes=None, factor: str = "2.0", extra: str = ""):
    code = TABULAR_BUILDER.format(
        name=name,
        version=version,
        supported=list(supported),
        notes=dict(notes if notes is not None else {v: f"version {v}" for v in [version, *supported]}),
        source="data/rows.csv",
        ratios={"train": 0.8, "test": 0.2},
    ).replace("pc.multiply(table[\"value\"], 2.0)", f"pc.multiply(table[\"value\"], {factor})")
    from tests.helpers import rows_csv

    return make_builder.write(name, code + extra, {"data/rows.csv": rows_csv(sample_rows(200))})


def fingerprints(info) -> dict[str, str]:
    return {name: split.fingerprint for name, split in info.splits.items()}


def test_a_pin_record_keeps_the_processing_code(make_builder, lab_home):
    cls = make_builder.tabular("toy_archive")
    record = labdatasets.builder("toy_archive").pin()
    assert [f.path for f in record.code_files] == ["toy_archive_dataset_builder.py"]
    assert record.code_fingerprint == cls.code_fingerprint()
    store = lab_home / "store" / "objects"
    copy = lab_home / "copy"
    for entry in record.code_files:
        (copy / entry.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store / entry.oid[:2] / entry.oid[2:], copy / entry.path)
    assert fingerprint_code(copy, [f.path for f in record.code_files]) == record.code_fingerprint


def test_product_a_1_0_0_still_loads_its_own_data_after_the_builder_moved_on(
    restore_product_a, make_builder, pins_copy, lab_home
):
    released = {v: labdatasets.load(f"product_a:{v}", with_info=True)[1] for v in ("1.0.0", "1.2.0")}
    pinned_code = registry.builder_cls("product_a").code_fingerprint()

    make_builder.write("product_a", moved_on_product_a(), {p.relative_to(PRODUCT_A).as_posix(): p.read_bytes() for p in (PRODUCT_A / "data").iterdir()})
    assert registry.builder_cls("product_a").VERSION == "1.3.0"
    shutil.rmtree(lab_home / "prepared")  # a new machine: nothing prepared, the store still holds the pins

    old, old_info = labdatasets.load("product_a:1.0.0", with_info=True)
    rows = old["train"].to_pandas()
    assert old["train"].num_rows + old["test"].num_rows == 224
    assert "delta_15n" not in rows and rows["season"].max() == 2008
    assert fingerprints(old_info) == fingerprints(released["1.0.0"])
    assert old_info.code_fingerprint == pinned_code != registry.builder_cls("product_a").code_fingerprint()

    middle = labdatasets.load("product_a:1.2.0", with_info=True)[1]
    assert fingerprints(middle) == fingerprints(released["1.2.0"])

    new = labdatasets.load("product_a:1.3.0")
    assert new["train"].num_rows + new["test"].num_rows == 344
    assert (pins_copy / "product_a" / "1.3.0.json").is_file()
    assert check(["product_a"]).ok  # bumped, noted and pinned: the gate passes


def test_check_asks_for_a_version_bump_when_processing_changed(make_builder, capsys):
    write_tabular(make_builder, "toy_gate", version="1.0.0")
    labdatasets.builder("toy_gate").pin()
    assert check(["toy_gate"]).ok

    write_tabular(make_builder, "toy_gate", version="1.0.0", factor="3.0")  # same VERSION, new processing
    report = check(["toy_gate"])
    assert not report.ok
    message = report.errors[0].message
    assert "The processing code of toy_gate changed since toy_gate:1.0.0 was pinned" in message
    assert "Bump VERSION to 1.1.0 (1.0.1 if every row stays the same, 2.0.0 if rows or splits change" in message
    assert "RELEASE_NOTES['1.1.0']" in message and "'labdatasets pin toy_gate:1.1.0'" in message
    assert main(["check", "toy_gate"]) == 1
    assert "FAILED: 1 error(s)" in capsys.readouterr().out

    write_tabular(make_builder, "toy_gate", version="1.1.0", supported=["1.0.0"], notes={"1.0.0": "first"}, factor="3.0")
    messages = [f.message for f in check(["toy_gate"]).errors]
    assert any("toy_gate:1.1.0 has no RELEASE_NOTES entry" in m for m in messages)
    assert any("toy_gate:1.1.0 is not pinned; run 'labdatasets pin toy_gate:1.1.0'" in m for m in messages)

    write_tabular(make_builder, "toy_gate", version="1.1.0", supported=["1.0.0"], factor="3.0")
    labdatasets.builder("toy_gate:1.1.0").pin()
    assert check(["toy_gate"]).ok

    # each version is built by its own processing: 1.0.0 from the archived code
    old = labdatasets.load("toy_gate:1.0.0", split="train", format="pandas")
    new = labdatasets.load("toy_gate:1.1.0", split="train", format="pandas")
    assert (old["value_x2"] == 2 * old["value"].astype("float64")).all()
    assert (new["value_x2"] == 3 * new["value"].astype("float64")).all()


def test_check_reports_edited_pins_and_unlisted_versions(make_builder, lab_home):
    write_tabular(make_builder, "toy_edit", version="1.1.0", supported=["1.0.0"])
    for v in ("1.0.0", "1.1.0"):
        labdatasets.builder(f"toy_edit:{v}").pin()
    path = lab_home / "pins" / "toy_edit" / "1.0.0.json"
    data = json.loads(path.read_text())
    data["sources"]["rows"]["objects"][0]["size"] += 1
    path.write_text(json.dumps(data))
    (lab_home / "pins" / "toy_edit" / "0.9.0.json").write_text("{}")
    report = check(["toy_edit"])
    assert [f.dataset for f in report.errors] == ["toy_edit:1.0.0"] and "edited by hand" in report.errors[0].message
    assert [f.dataset for f in report.warnings] == ["toy_edit:0.9.0"]


def test_an_old_version_without_archived_code_is_refused_once_the_code_moved_on(make_builder, lab_home):
    write_tabular(make_builder, "toy_legacy", version="1.0.0")
    record = labdatasets.builder("toy_legacy").pin()
    data = json.loads(record.path.read_text())
    del data["code_files"]  # a record written before pin records kept the code
    record.path.write_text(json.dumps(data))
    write_tabular(make_builder, "toy_legacy", version="1.1.0", supported=["1.0.0"], factor="5.0")
    with pytest.raises(ProcessingError, match="keeps no copy of that code, so it cannot be rebuilt exactly"):
        labdatasets.load("toy_legacy:1.0.0")
    assert any("pinned before pin records kept the processing code" in f.message for f in check(["toy_legacy"]).warnings)


def test_this_repository_passes_the_gate(capsys):
    from labdatasets import registry

    assert main(["check"]) == 0
    out = capsys.readouterr().out
    versions = 0
    for name in registry.locations():
        cls = registry.builder_cls(name)
        versions += sum(len(cls.versions(c.name)) for c in cls.BUILDER_CONFIGS) or len(cls.versions())
    assert f"checked {versions} versions" in out and out.strip().endswith("ok")
    # only datasets that say who pins them may be unpinned, and each says so
    awaiting = [n for n in registry.locations() if registry.builder_cls(n).PIN_INSTRUCTIONS]
    assert out.count("is awaiting its pin record") == len(awaiting)


def test_next_versions():
    assert next_versions("1.2.0") == ("1.2.1", "1.3.0", "2.0.0")


def test_verify_rebuild_reproduces_the_recorded_fingerprints(make_builder, capsys):
    make_builder.tabular("toy_repro")
    labdatasets.builder("toy_repro").build()
    report = verify(labdatasets.builder("toy_repro"), rebuild=True, options=BuildOptions(workers=2))
    assert report.ok and sorted(report.rebuilt) == ["test", "train"]
    assert sum("matches the prepared data" in n for n in report.notes) == 2
    assert main(["verify", "toy_repro", "--rebuild", "--quiet"]) == 0
    assert "rebuilt split 'train': fingerprint" in capsys.readouterr().out


def test_verify_rebuild_catches_a_processing_that_is_not_deterministic(make_builder, capsys):
    noise = '''

import numpy as np


def _noisy(table):
    return table.set_column(1, "value", pa.array(np.random.default_rng().random(table.num_rows), pa.float32()))


_clean = tidy


def tidy(table):
    return _clean(_noisy(table))
'''
    write_tabular(make_builder, "toy_noisy", version="1.0.0", extra=noise)
    labdatasets.builder("toy_noisy").build()
    report = verify(labdatasets.builder("toy_noisy"), rebuild=True)
    assert not report.ok
    assert any("differs from" in p and "not reproducible" in p for p in report.problems)
    assert main(["verify", "toy_noisy", "--rebuild", "--quiet"]) == 1


def test_verify_rebuild_needs_something_recorded(make_builder):
    make_builder.tabular("toy_unbuilt")
    labdatasets.builder("toy_unbuilt").pin()
    report = verify(labdatasets.builder("toy_unbuilt"), rebuild=True)
    assert any("nothing recorded to compare a rebuild with" in p for p in report.problems)


def test_a_dataset_awaiting_its_pin_record_says_who_pins_it(make_builder):
    make_builder.tabular("toy_unpinned")
    (error,) = check(["toy_unpinned"]).errors
    assert "toy_unpinned:1.0.0 is not pinned; run 'labdatasets pin toy_unpinned:1.0.0'" in error.message

    cls = make_builder.tabular("toy_awaiting", write_source=False)
    cls.PIN_INSTRUCTIONS = "the data team pins it on a machine that can read the lab bucket."
    report = check(["toy_awaiting"])
    assert report.ok and len(report.warnings) == 1
    assert "awaiting its pin record; how it is pinned: the data team pins it" in report.warnings[0].message
    from labdatasets.errors import SourceNotFoundError

    with pytest.raises(SourceNotFoundError, match="How to pin toy_awaiting: the data team pins it"):
        labdatasets.builder("toy_awaiting").pin(progress=False)
