"""Pin, build and load in a fresh home, as a researcher on a new machine would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pcsv
import pytest

import labdatasets
from labdatasets.prepared import folder
from labdatasets.processing import build
from labdatasets.errors import (
    MissingDependencyError,
    PinExistsError,
    ProcessingError,
    SnapshotCorruptedError,
    SnapshotNotFoundError,
    SourceError,
    SplitError,
    VersionNotFoundError,
)
from labdatasets.prepared.verify import verify
from tests.helpers import rows_csv, sample_rows

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
PRODUCT_A_DATA = REPO / "datasets" / "products" / "product_a" / "data"


def test_pin_build_load_equals_the_source_rows(make_builder, lab_home):
    rows = sample_rows(1000)
    make_builder.tabular("toy_e2e", rows=rows)
    data = labdatasets.load("toy_e2e:1.0.0")
    assert set(data) == {"train", "test"}
    train, test = data["train"].to_pandas(), data["test"].to_pandas()
    assert set(train["id"]).isdisjoint(test["id"])
    assert 700 < len(train) < 900 and len(train) + len(test) == 1000
    assert list(train["id"]) == sorted(train["id"])  # rows are ordered by the key
    got = pd.concat([train, test]).sort_values("id").reset_index(drop=True)
    source = pd.DataFrame(rows)
    assert got["id"].tolist() == source["id"].tolist()
    assert np.allclose(got["value"], source["value"])
    assert np.allclose(got["value_x2"], source["value"] * 2)
    assert got["label"].tolist() == [1 if label == "pos" else 0 for label in source["label"]]
    assert got["text"].tolist() == source["text"].tolist()
    prepared = labdatasets.builder("toy_e2e").prepared_dir
    assert prepared == lab_home / "prepared" / "toy_e2e" / "1.0.0"
    assert sorted(p.name for p in prepared.iterdir()) == [
        "dataset_info.json",
        "toy_e2e-test-00000-of-00001.parquet",
        "toy_e2e-train-00000-of-00001.parquet",
    ]
    assert not list(prepared.parent.glob(".incomplete.*"))


def _product_a_expected(csv_name: str) -> pd.DataFrame:
    raw = pcsv.read_csv(PRODUCT_A_DATA / csv_name).to_pandas()
    return pd.DataFrame(
        {
            "sample_id": raw["studyName"] + "-" + raw["Individual ID"],
            "species": raw["Species"].str.split(" ").str[0].map({"Adelie": 0, "Chinstrap": 1, "Gentoo": 2}),
            "body_mass_g": raw["Body Mass (g)"].astype("float32"),
        }
    ).sort_values("sample_id", ignore_index=True)


def test_product_a_versions_load_side_by_side_with_their_own_data(lab_home):
    old = labdatasets.load("product_a:1.0.0")
    new = labdatasets.load("product_a:1.2.0")
    old_df = pd.concat([old["train"].to_pandas(), old["test"].to_pandas()]).sort_values("sample_id", ignore_index=True)
    new_df = pd.concat([new["train"].to_pandas(), new["test"].to_pandas()]).sort_values("sample_id", ignore_index=True)

    expected_old = _product_a_expected("penguins_raw_2007_2008.csv")
    expected_new = _product_a_expected("penguins_raw_2007_2009.csv")
    assert len(old_df) == 224 and len(new_df) == 344
    for got, expected in ((old_df, expected_old), (new_df, expected_new)):
        assert got["sample_id"].tolist() == expected["sample_id"].tolist()
        assert got["species"].tolist() == expected["species"].tolist()
        assert np.allclose(got["body_mass_g"], expected["body_mass_g"], equal_nan=True)
    assert "delta_15n" not in old_df and "delta_15n" in new_df and "body_mass_kg" in new_df
    assert old_df["season"].max() == 2008 and new_df["season"].max() == 2009
    # the split rule did not change: every 1.0.0 row keeps its split in 1.2.0
    new_train = set(new["train"].to_pandas()["sample_id"])
    assert set(old["train"].to_pandas()["sample_id"]) <= new_train
    # each version is prepared in its own folder and records its own snapshot
    infos = [labdatasets.info(f"product_a:{v}") for v in ("1.0.0", "1.2.0")]
    assert infos[0].snapshot_id != infos[1].snapshot_id
    assert {i.data_dir.name for i in infos} == {"1.0.0", "1.2.0"}
    # no version means the latest; patterns pick the newest match
    assert labdatasets.builder("product_a").version == "1.2.0"
    assert labdatasets.builder("product_a:1.*.*").version == "1.2.0"
    assert labdatasets.builder("product_a:1.0.*").version == "1.0.0"


def test_a_second_load_builds_nothing(make_builder, monkeypatch):
    make_builder.tabular("toy_warm")
    first = labdatasets.load("toy_warm", split="train", format="pandas")
    info_file = labdatasets.builder("toy_warm").prepared_dir / "dataset_info.json"
    stamp = info_file.stat().st_mtime_ns

    def no_build(*args, **kwargs):
        raise AssertionError("a prepared version must not be built again")

    monkeypatch.setattr(build, "_build_locked", no_build)
    second = labdatasets.load("toy_warm", split="train", format="pandas")
    pd.testing.assert_frame_equal(first, second)
    assert info_file.stat().st_mtime_ns == stamp

    # info is the prepared record here; declared_info what the builder declares, prepared or not
    b = labdatasets.builder("toy_warm")
    assert b.info.splits and b.info == b.prepared_info()
    declared = b.declared_info()
    assert not declared.splits and declared.snapshot_id is None
    assert (declared.full_name, declared.features) == (b.info.full_name, b.info.features)


def test_two_processes_loading_one_version_build_it_once(subprocess_env, lab_home):
    """The test holds the build lock so both children must wait, then only one builds."""
    from filelock import FileLock

    script = textwrap.dedent(
        """
        import json, labdatasets
        ds = labdatasets.load("product_a:1.2.0", split="train")
        print(json.dumps({"rows": len(ds), "ids": ds["sample_id"], "fp": ds.info.splits["train"].fingerprint}))
        """
    )
    env = dict(subprocess_env, LABDATASETS_PROGRESS="1")
    lock = FileLock(str(folder.lock_path(labdatasets.builder("product_a:1.2.0"))))
    lock.acquire()
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        time.sleep(3)  # both children start and block on the lock we hold
        assert all(p.poll() is None for p in procs), "a child finished while the lock was held"
    finally:
        lock.release()
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    outputs = [json.loads(out.strip().splitlines()[-1]) for out, _ in results]
    assert outputs[0] == outputs[1] and outputs[0]["rows"] > 0
    stderr = "".join(err for _, err in results)
    assert stderr.count("waiting for another process building product_a:1.2.0") >= 2
    assert stderr.count("build product_a:1.2.0 on DirectRunner: done") == 1


def test_a_corrupted_snapshot_object_is_detected_never_used_and_repairable(make_builder, lab_home):
    make_builder.tabular("toy_corrupt")
    b = labdatasets.builder("toy_corrupt")
    record = b.pin()
    oid = record.sources["rows"].objects[0].oid
    obj = lab_home / "store" / "objects" / oid[:2] / oid[2:]
    os.chmod(obj, 0o644)
    obj.write_bytes(obj.read_bytes().replace(b"row number 7", b"row number X"))

    with pytest.raises(SnapshotCorruptedError) as info:
        b.build()
    message = str(info.value)
    assert oid in message and "toy_corrupt:1.0.0 source 'rows' object 'rows.csv'" in message
    assert "labdatasets verify --repair toy_corrupt:1.0.0" in message
    assert not b.is_prepared() and not list(b.prepared_dir.parent.glob(".incomplete.*"))

    report = verify(b)
    assert not report.ok and report.problems == [f"source 'rows' object 'rows.csv' ({oid[:12]}): corrupted"]
    repaired = verify(b, repair=True)
    assert repaired.ok and "fetched a verified copy" in repaired.repaired[0]
    assert len(list((lab_home / "store" / "quarantine").iterdir())) == 1
    data = labdatasets.load("toy_corrupt", split="train+test", format="pandas")
    assert "row number 7" in set(data["text"])


def test_damaged_prepared_files_are_found_and_rebuilt(make_builder):
    make_builder.tabular("toy_damage")
    b = labdatasets.builder("toy_damage")
    b.build()
    shard = next(b.prepared_dir.glob("*-train-*.parquet"))
    shard.write_bytes(b"garbage")
    assert verify(b).problems == [f"prepared file {shard.name}: corrupted"]
    assert verify(b, repair=True).ok
    assert len(labdatasets.load("toy_damage", split="train")) > 0


def test_a_local_source_changed_after_pinning_is_not_used_on_a_new_machine(make_builder, lab_home, tmp_path, monkeypatch):
    cls = make_builder.tabular("toy_drift")
    labdatasets.builder("toy_drift").pin()
    (cls.module_dir() / "data" / "rows.csv").write_text(rows_csv(sample_rows(5)))
    monkeypatch.setenv("LABDATASETS_HOME", str(tmp_path / "new-machine"))
    pins = lab_home / "pins"
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(pins))
    with pytest.raises(SnapshotNotFoundError) as info:
        labdatasets.load("toy_drift")
    assert "no longer holds the pinned bytes" in str(info.value) and "LABDATASETS_SNAPSHOT_STORE" in str(info.value)


def test_pinning_a_pinned_version_is_refused(make_builder):
    make_builder.tabular("toy_pinned")
    b = labdatasets.builder("toy_pinned")
    record = b.pin()
    before = record.path.read_text()
    with pytest.raises(PinExistsError, match="bump VERSION"):
        b.pin()
    assert record.path.read_text() == before


def test_a_failing_source_writes_no_pin_record(make_builder):
    make_builder.tabular("toy_missing", write_source=False)
    b = labdatasets.builder("toy_missing")
    with pytest.raises(SourceError, match=r"toy_missing:1.0.0 source 'rows'.*does not exist"):
        b.pin()
    assert b.pin_record() is None and not any(p.exists() for p in b.pin_record_candidates())


def test_processing_that_breaks_the_features_fails_naming_split_and_column(make_builder):
    cls = make_builder.tabular("toy_badproc", rows=[{"id": 1, "value": 1.0, "label": "maybe", "text": "x"}])
    with pytest.raises(ProcessingError) as info:
        labdatasets.load("toy_badproc")
    message = str(info.value)
    assert "toy_badproc:1.0.0 split" in message and "column 'label', row with id=1: 'maybe' is not one of" in message
    b = labdatasets.builder("toy_badproc")
    assert not b.is_prepared() and not list(b.prepared_dir.parent.glob(".incomplete.*"))
    assert cls.name == "toy_badproc"


def test_versions_of_a_test_builder_and_error_messages(make_builder):
    make_builder.tabular("toy_versions", version="1.1.0", supported=["1.0.0"])
    with pytest.raises(VersionNotFoundError) as info:
        labdatasets.load("toy_versions:2.0.0")
    assert "Versions: 1.1.0 (latest), 1.0.0" in str(info.value)
    with pytest.raises(SplitError, match="its splits are: train, test"):
        labdatasets.load("toy_versions", split="validation")
    with pytest.raises(SplitError, match=r"train\[:10%\]"):
        labdatasets.load("toy_versions", split="train[::2]")


@pytest.mark.parametrize("module, method, extra", [("tensorflow", "to_tf", "tf"), ("torch", "to_torch", "torch")])
def test_missing_optional_dependency_names_the_extra(make_builder, monkeypatch, module, method, extra):
    make_builder.tabular("toy_deps")
    ds = labdatasets.load("toy_deps", split="train")
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(MissingDependencyError) as info:
        getattr(ds, method)()
    assert f"pip install 'labdatasets[{extra}]'" in str(info.value) and info.value.extra == extra


def test_loading_a_prepared_version_does_not_import_beam(make_builder, subprocess_env):
    labdatasets.load("iris")
    code = textwrap.dedent(
        """
        import sys, labdatasets
        df = labdatasets.load("iris", split="train", format="pandas")
        heavy = [m for m in ("apache_beam", "tensorflow", "torch") if m in sys.modules]
        print(len(df), heavy)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, check=True)
    rows, heavy = out.stdout.split(" ", 1)
    assert int(rows) > 100 and heavy.strip() == "[]"


CONFIG_BUILDER = '''
import pyarrow.compute as pc

import labdatasets as lds
from labdatasets import features as F, loaders, processing as P


def keep_small(table):
    return table.filter(pc.less(table["id"], 10))


class Builder(lds.DatasetBuilder):
    """A dataset with two configs."""

    name = "toy_configs"
    VERSION = "1.0.0"
    RELEASE_NOTES = {"1.0.0": "first"}
    BUILDER_CONFIGS = [
        lds.BuilderConfig("full", description="every row"),
        lds.BuilderConfig("small", description="ids below 10", version="2.0.0", supported_versions=["1.0.0"],
                          release_notes={"2.0.0": "small now drops ids >= 10"}),
    ]

    def _info(self):
        return lds.DatasetInfo(features=F.Features({"id": F.Value("int64"), "value": F.Value("float64")}), key="id")

    def _sources(self):
        return {"rows": loaders.LocalSource("rows.csv")}

    def _process(self, sources):
        rows = sources["rows"]
        if self.config_name == "small" and self.version >= "2.0.0":
            rows = rows | P.MapBatches(keep_small)
        return {"train": rows}
'''


def test_configs_have_their_own_versions_pins_and_folders(make_builder, lab_home):
    csv = "id,value\n" + "".join(f"{i},{i / 2}\n" for i in range(30))
    make_builder.write("toy_configs", CONFIG_BUILDER, {"rows.csv": csv})
    assert labdatasets.builder("toy_configs").config_name == "full"  # the first config is the default
    full = labdatasets.load("toy_configs", split="train")
    small_v2 = labdatasets.load("toy_configs/small", split="train")
    small_v1 = labdatasets.load("toy_configs/small:1.0.0", split="train")
    assert (len(full), len(small_v2), len(small_v1)) == (30, 10, 30)
    b = labdatasets.builder("toy_configs/small")
    assert b.full_name == "toy_configs/small:2.0.0"
    assert b.prepared_dir == lab_home / "prepared" / "toy_configs" / "small" / "2.0.0"
    assert b.pin_record().path.parts[-3:] == ("toy_configs", "small", "2.0.0.json")
    assert b.info.release_notes == {"2.0.0": "small now drops ids >= 10", "1.0.0": "first"}
    with pytest.raises(labdatasets.errors.ConfigNotFoundError, match="configs: full, small"):
        labdatasets.builder("toy_configs/tiny")
    with pytest.raises(VersionNotFoundError, match="Versions: 1.0.0"):
        labdatasets.builder("toy_configs/full:2.0.0")
