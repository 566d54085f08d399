"""The first load where users are: a real Jupyter kernel and IPython's terminal, from an empty cache.

The notebook runs in a kernel (ipykernel, driven by nbclient) whose spec is written
into the test's own folder, so it runs this test's Python; the kernel sees the
test's empty ``LABDATASETS_HOME``. The cells pin (fetch the committed pin's objects
into the empty store), build and load product_a:1.2.0, and the test reads what a
user would see in the cells' outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

PRODUCT_A_ROWS = {"test": 74, "train": 270}  # sorted by split name, as the cells print them

# what Beam's interactive module leaves in a cell when it is imported (warnings, jQuery loader)
BEAM_INTERACTIVE_TRACES = ("Interactive Beam", "interactive_environment", "jquery", "datatables", "apache_beam")

CHECK_MODULES = (
    "import sys\n"
    "print('BEAM_INTERACTIVE_MODULES', sorted(m for m in sys.modules "
    "if m.startswith(('apache_beam.runners.interactive', 'apache_beam.dataframe'))))"
)


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lab_home: Path) -> str:
    """A kernel spec for this Python in tmp_path, and Jupyter/IPython state kept there too."""
    from ipykernel.kernelspec import install

    jupyter = tmp_path / "jupyter"
    name = "labdatasets-test"
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter / "share" / "jupyter"))
    install(kernel_name=name, prefix=str(jupyter))
    spec = json.loads((jupyter / "share" / "jupyter" / "kernels" / name / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("TMPDIR", str(_empty(tmp_path / "tmpdir")))
    monkeypatch.delenv("LABDATASETS_PROGRESS", raising=False)  # a notebook as users have it
    repo = str(Path(__file__).resolve().parent.parent)  # the kernel imports this checkout, as the other child processes do
    monkeypatch.setenv("PYTHONPATH", repo + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return name


def _empty(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run_notebook(cells: list[str], kernel_name: str, cwd: Path) -> list[list[dict]]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel_name, timeout=600, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return [list(cell.outputs) for cell in nb.cells]


def _texts(outputs: list[dict]) -> list[str]:
    """Every piece of text in a cell's outputs: streams, errors and each mime type of rich outputs."""
    texts = []
    for out in outputs:
        if out["output_type"] == "stream":
            texts.append(out["text"])
        elif out["output_type"] == "error":
            texts.append(f"{out['ename']}: {out['evalue']}")
        else:
            texts.extend(str(value) for value in out.get("data", {}).values())
    return texts


def test_first_load_in_a_jupyter_kernel_from_an_empty_cache(kernel_env, lab_home, tmp_path):
    assert not lab_home.exists()
    outputs = _run_notebook(
        [
            "import labdatasets",
            "ds = labdatasets.load('product_a:1.2.0')\n"
            "print('ROWS', {name: len(split) for name, split in sorted(ds.items())})",
            "labdatasets.load('product_a:1.2.0', split='train', format='pandas').shape",
            CHECK_MODULES,
        ],
        kernel_env,
        tmp_path,
    )
    for cell in outputs:
        for out in cell:
            assert out["output_type"] != "error", out
            mimes = set(out.get("data", {}))
            assert not mimes & {"application/javascript", "text/javascript"}, out
            for text in _texts([out]):
                lowered = text.lower()
                assert not any(trace.lower() in lowered for trace in BEAM_INTERACTIVE_TRACES), text
                assert "WARNING:root" not in text and "apitools" not in text, text
    build_cell = "".join(_texts(outputs[1]))
    assert f"ROWS {PRODUCT_A_ROWS}" in build_cell
    # progress of the cold build shows in the cell: tqdm's widget where ipywidgets is installed, its text bar otherwise
    widgets = [o for o in outputs[1] if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    bars = "".join(o["text"] for o in outputs[1] if o["output_type"] == "stream" and o["name"] == "stderr")
    assert widgets or ("build product_a:1.2.0" in bars and "100%" in bars and "rows" in bars), outputs[1]
    assert "done in" not in bars  # no stage lines in a notebook: the bar names the stage
    assert outputs[2][0]["data"]["text/plain"] == f"({PRODUCT_A_ROWS['train']}, 12)"
    assert "BEAM_INTERACTIVE_MODULES []" in "".join(_texts(outputs[3]))
    assert (lab_home / "prepared" / "product_a" / "1.2.0" / "dataset_info.json").is_file()
    assert list((tmp_path / "tmpdir").iterdir()) == []  # nothing left behind by Beam


def test_first_load_in_ipython_terminal_from_an_empty_cache(subprocess_env, lab_home, tmp_path):
    env = dict(subprocess_env, IPYTHONDIR=str(tmp_path / "ipython"), TMPDIR=str(_empty(tmp_path / "tmpdir")))
    code = (
        "import labdatasets\n"
        "ds = labdatasets.load('product_a:1.2.0')\n"
        "print('ROWS', {name: len(split) for name, split in sorted(ds.items())})\n" + CHECK_MODULES
    )
    proc = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor", "-c", code],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    output = proc.stdout + proc.stderr
    assert f"ROWS {PRODUCT_A_ROWS}" in proc.stdout, output
    assert "BEAM_INTERACTIVE_MODULES []" in proc.stdout, output
    for trace in (*BEAM_INTERACTIVE_TRACES, "Traceback", "WARNING:root", "apitools"):
        assert trace.lower() not in output.lower(), output
    assert list((tmp_path / "tmpdir").iterdir()) == []
    assert os.path.isfile(lab_home / "prepared" / "product_a" / "1.2.0" / "dataset_info.json")


def test_a_failing_build_in_ipython_raises_the_builders_error(make_builder, subprocess_env, tmp_path):
    cls = make_builder.tabular(
        "toy_ipython_fails",
        edits={'rows = sources["rows"] | "Tidy" >> P.MapBatches(tidy)': 'raise ValueError("no tidy today")'},
    )
    module_file = sys.modules[cls.__module__].__file__
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('toy_ipython_builder', {module_file!r})\n"
        "module = importlib.util.module_from_spec(spec); sys.modules[spec.name] = module\n"
        "spec.loader.exec_module(module)\n"
        "import labdatasets\n"
        "from labdatasets.errors import ProcessingError\n"
        "try:\n"
        "    labdatasets.load('toy_ipython_fails:1.0.0')\n"
        "except ProcessingError as exc:\n"
        "    print('RAISED', type(exc).__name__, exc)\n"
    )
    env = dict(subprocess_env, IPYTHONDIR=str(tmp_path / "ipython"))
    proc = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor", "-c", code],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "RAISED ProcessingError toy_ipython_fails:1.0.0: _process() failed while building the pipeline: no tidy today"
        in proc.stdout
    ), proc.stdout + proc.stderr
