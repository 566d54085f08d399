import json
import subprocess
import sys

HEAVY = ("tensorflow", "apache_beam", "boto3", "botocore", "sqlalchemy", "gspread", "google.cloud", "torch", "pymysql", "tensorflow_datasets")


def test_import_labdatasets_loads_no_heavy_dependency(subprocess_env):
    code = "import json, sys, labdatasets; labdatasets.list_datasets(); from labdatasets import loaders, processing; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, check=True)
    modules = json.loads(out.stdout)
    loaded = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert loaded == []
    assert "pyarrow" not in modules and "pandas" not in modules  # imported only when data is read


def test_public_api():
    import labdatasets

    for name in ("load", "builder", "info", "list_datasets", "DatasetBuilder", "DatasetInfo", "BuilderConfig", "Dataset"):
        assert name in labdatasets.__all__ and getattr(labdatasets, name).__doc__


def test_diff_and_status_are_attributes_imported_on_first_use(subprocess_env):
    code = (
        "import json, sys, labdatasets\n"
        "before = [m for m in ('labdatasets.prepared.diff', 'labdatasets.pinning.status') if m in sys.modules]\n"
        "print(json.dumps({'before': before, 'diff': labdatasets.diff.diff_versions.__module__,\n"
        "                  'status': labdatasets.status.status.__module__, 'dir': 'diff' in dir(labdatasets)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {
        "before": [], "diff": "labdatasets.prepared.diff", "status": "labdatasets.pinning.status", "dir": True
    }


def test_an_unknown_attribute_is_still_an_attribute_error():
    import pytest

    import labdatasets

    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        labdatasets.nosuch  # noqa: B018
