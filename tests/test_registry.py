import json
import subprocess
import sys
import textwrap

import pytest

import labdatasets
from labdatasets import registry
from labdatasets.errors import DatasetNotFoundError, DuplicateDatasetError, LabDatasetsError


def test_examples_are_discovered_with_their_groups():
    locations = registry.locations()
    assert {"product_a", "iris", "digits"} <= set(labdatasets.list_datasets())
    assert locations["product_a"].group == "products"
    assert locations["digits"].group == "image_classification"
    assert locations["product_a"].module == "labdatasets.datasets.products.product_a.product_a_dataset_builder"


def test_listing_imports_no_builder_module(subprocess_env):
    code = textwrap.dedent(
        """
        import json, sys, labdatasets
        names = labdatasets.list_datasets()
        before = sorted(m for m in sys.modules if m.startswith("labdatasets.datasets."))
        labdatasets.builder("iris")
        after = sorted(m for m in sys.modules if m.endswith("_dataset_builder"))
        print(json.dumps([names, before, after]))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, check=True)
    names, before, after = json.loads(out.stdout)
    assert "product_a" in names
    assert not [m for m in before if m.endswith("_dataset_builder")]
    assert after == ["labdatasets.datasets.tabular_classification.iris.iris_dataset_builder"]


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(DatasetNotFoundError) as info:
        labdatasets.builder("product_b")
    assert "Did you mean 'product_a'?" in str(info.value)
    assert info.value.suggestions == ("product_a",)
    assert "labdatasets list" in str(info.value)


def test_duplicate_class_names_are_refused(make_builder):
    make_builder.tabular("dup_toy")
    with pytest.raises(DuplicateDatasetError) as info:
        exec(
            textwrap.dedent(
                """
                import labdatasets as lds
                class Other(lds.DatasetBuilder):
                    name = "dup_toy"
                    VERSION = "1.0.0"
                """
            ),
            {"__name__": "some_other_module"},
        )
    message = str(info.value)
    assert "dup_toy" in message and "some_other_module.Other" in message and "skip_registration=True" in message


def test_skip_registration_for_test_only_builders():
    import labdatasets as lds

    class Scratch(lds.DatasetBuilder, skip_registration=True):
        name = "scratch_only"
        VERSION = "1.0.0"

    assert "scratch_only" not in registry.registered_builders


def test_invalid_class_declarations_fail_at_import():
    import labdatasets as lds

    with pytest.raises(LabDatasetsError, match="newer than VERSION"):
        class Bad(lds.DatasetBuilder, skip_registration=True):  # noqa: F841
            VERSION = "1.0.0"
            SUPPORTED_VERSIONS = ["2.0.0"]
    with pytest.raises(LabDatasetsError, match="drop the 'v'"):
        class Bad2(lds.DatasetBuilder, skip_registration=True):  # noqa: F841
            VERSION = "v1.0.0"


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """An installed distribution that registers a builder through the entry-point group."""
    root = tmp_path / "site"
    pkg = root / "lab_plugin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "external.py").write_text(
        textwrap.dedent(
            """
            import labdatasets as lds
            from labdatasets import features as F, loaders

            class Builder(lds.DatasetBuilder):
                name = "external_toy"
                VERSION = "0.1.0"
                def _info(self):
                    return lds.DatasetInfo(features=F.Features({"id": F.Value("int64")}))
                def _sources(self):
                    return {"rows": loaders.LocalSource("rows.csv")}
            """
        )
    )
    dist = root / "lab_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-plugin\nVersion: 0.1\n")
    entries = "[labdatasets.datasets]\nexternal_toy = lab_plugin.external:Builder\n"
    (dist / "entry_points.txt").write_text(entries)
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()
    yield dist
    registry.unregister("external_toy")
    for name in [m for m in sys.modules if m.startswith("lab_plugin")]:
        del sys.modules[name]
    registry.refresh()


def test_builders_from_other_packages_via_entry_points(plugin_dist):
    location = registry.locations()["external_toy"]
    assert (location.origin, location.group) == ("lab-plugin", "external")
    assert "lab_plugin.external" not in sys.modules
    cls = registry.builder_cls("external_toy")
    assert cls.__module__ == "lab_plugin.external" and cls.VERSION == "0.1.0"


def test_entry_point_clashing_with_a_repository_builder(plugin_dist):
    text = (plugin_dist / "entry_points.txt").read_text() + "product_a = lab_plugin.external:Builder\n"
    (plugin_dist / "entry_points.txt").write_text(text)
    registry.refresh()
    with pytest.raises(DuplicateDatasetError, match=r"Two builders are named 'product_a'.*lab_plugin.external \(lab-plugin\)"):
        registry.list_datasets()


def test_this_checkout_is_the_repository_its_builders_pin_into():
    from tests.helpers import REPO

    assert registry.repository_root() == REPO.resolve()
    assert registry.datasets_dir() == REPO.resolve() / "datasets"
    assert registry.is_checkout(REPO)
    b = labdatasets.builder("product_a:1.2.0")
    assert b.pins_root() == REPO.resolve() / "snapshots"
    assert b.pin_record_path() == REPO.resolve() / "snapshots" / "product_a" / "1.2.0.json"


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"setup.cfg": "[metadata]\nname = labdatasets\n", "datasets/__init__.py": ""}, True),
        ({"setup.cfg": "[metadata]\nname = otherproject\n", "datasets/__init__.py": ""}, False),  # another project
        ({"setup.cfg": "[metadata]\nname = labdatasets\n"}, False),  # no datasets/ package
        ({"datasets/__init__.py": "", "snapshots/x.json": "{}", "__init__.py": ""}, False),  # an installed package
        ({".git/HEAD": "ref: refs/heads/main\n", "datasets/__init__.py": ""}, False),  # git alone is not the rule
    ],
)
def test_what_a_checkout_is(tmp_path, files, expected):
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert registry.is_checkout(tmp_path) is expected


@pytest.mark.slow
def test_an_installed_package_is_its_own_repository_and_pins_on_this_machine_only(tmp_path, subprocess_env, lab_home):
    """pip install (not -e): builders, pin records and the root all come from site-packages; new pins go to <home>/pins."""
    import shutil

    from tests.helpers import REPO

    source = tmp_path / "source"
    for part in ("labdatasets", "datasets", "loaders", "snapshots", "setup.cfg", "setup.py", "pyproject.toml", "README.md", "MANIFEST.in"):
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, source / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.is_file():
            shutil.copy2(src, source / part)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site), str(source)],
        cwd=tmp_path, capture_output=True, text=True, check=True, timeout=600,
    )
    code = textwrap.dedent(
        """
        import json, labdatasets
        from labdatasets import registry
        b = labdatasets.builder("product_a:1.2.0")
        print(json.dumps({
            "file": labdatasets.__file__,
            "root": str(registry.repository_root()),
            "checkout": registry.is_checkout(registry.repository_root()),
            "pins_root": str(b.pins_root()),
            "pin_record_path": str(b.pin_record_path()),
            "committed": b.committed_pin_record() is not None,
            "builder_module": registry.locations()["product_a"].path is not None,
        }))
        """
    )
    env = {**subprocess_env, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    installed = (site / "labdatasets").resolve()
    assert got["file"] == str(installed / "__init__.py")  # the child imports the installed copy
    assert got == {
        "file": got["file"],
        "root": str(installed),
        "checkout": False,
        "pins_root": str(installed / "snapshots"),
        "pin_record_path": str(lab_home / "pins" / "product_a" / "1.2.0.json"),
        "committed": True,
        "builder_module": True,
    }
