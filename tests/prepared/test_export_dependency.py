"""Exporting to tfds on a machine without the [tf] extra: one clear error, before any work."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from labdatasets.errors import MissingDependencyError
from labdatasets.prepared.export import require_export_dependencies


def test_export_without_tfds_names_the_tf_extra_before_building(subprocess_env, lab_home):
    """No tensorflow-datasets: the CLI says which extra to install, and builds nothing first."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["tensorflow_datasets"] = None  # what a machine without the [tf] extra has: the import fails
        from labdatasets.cli import main
        sys.exit(main(["export", "product_a:1.2.0", "--quiet"]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "pip install 'labdatasets[tf]'" in proc.stderr and "tensorflow-datasets" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "ModuleNotFoundError" not in proc.stderr
    assert not (lab_home / "prepared" / "product_a").exists()  # refused before any build started


def test_require_export_dependencies_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # an import of it fails, as when not installed
    with pytest.raises(MissingDependencyError) as info:
        require_export_dependencies()
    assert info.value.extra == "tf" and "pip install 'labdatasets[tf]'" in str(info.value)
