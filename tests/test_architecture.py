"""The layering the package promises (docs/architecture.md), checked from the code itself.

* No import loop: the import graph of ``labdatasets/`` and ``loaders/`` (installed as
  ``labdatasets.loaders``), read from the syntax tree, has no cycle. It counts every
  ``import`` that runs: at module level and inside functions and methods. Two kinds are
  left out, and only these two: imports under ``if TYPE_CHECKING:`` (they never run; they
  name types for annotations), and imports inside the methods of ``DatasetBuilder`` in
  ``labdatasets/builder.py``, the facade whose methods reach the services lazily
  (``builder.build()`` imports :mod:`labdatasets.processing.build`, which takes a builder).
  ``labdatasets.datasets`` and ``labdatasets.snapshots`` are other trees (the builders and
  their pins), not modules of the package.
* Loading an already-prepared version stays on a short path: it runs functions of at most
  six service modules (see :func:`test_loading_a_prepared_version_crosses_few_service_modules`).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import labdatasets

ROOT = Path(__file__).resolve().parent.parent
#: Folders of the package and the module name each is installed under (setup.cfg package_dir).
PACKAGES = {"labdatasets": "labdatasets", "loaders": "labdatasets.loaders"}
#: Trees installed inside the package's namespace that are not its modules (builders, pin records).
OTHER_TREES = ("labdatasets.datasets", "labdatasets.snapshots")
FACADE = ("labdatasets.builder", "DatasetBuilder")


def _module_files(root: Path = ROOT) -> dict[str, Path]:
    files = {}
    for folder, package in PACKAGES.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join([package, *parts])] = path
    return files


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """The modules of the package one file imports: ``{module: [line, ...]}``."""

    def __init__(self, module: str, is_package: bool, modules: set[str]):
        self.module, self.is_package, self.modules = module, is_package, modules
        self.scope: list[str] = []
        self.found: dict[str, list[int]] = {}

    def _in_facade(self) -> bool:
        return (self.module, self.scope[:1]) == (FACADE[0], [FACADE[1]]) and len(self.scope) > 1

    def _nested(self, node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _nested

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _target(self, name: str) -> str | None:
        if any(name == tree or name.startswith(tree + ".") for tree in OTHER_TREES):
            return None
        while name and name not in self.modules:
            name = name.rpartition(".")[0]
        return name or None

    def _add(self, name: str, line: int) -> None:
        target = self._target(name)
        if target is not None and target != self.module and not self._in_facade():
            self.found.setdefault(target, []).append(line)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.module.split(".")[: None if self.is_package else -1]
            base = base[: len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        for alias in node.names:
            submodule = f"{prefix}.{alias.name}"  # ``from pkg import module`` imports the module
            self._add(submodule if submodule in self.modules else prefix, node.lineno)


def import_graph(root: Path = ROOT) -> tuple[dict[str, dict[str, list[int]]], dict[str, Path]]:
    """``({module: {imported module: [lines]}}, {module: file})`` of the package under ``root``."""
    files = _module_files(root)
    graph = {}
    for module, path in files.items():
        visitor = _Imports(module, path.name == "__init__.py", set(files))
        visitor.visit(ast.parse(path.read_text("utf-8"), str(path)))
        graph[module] = visitor.found
    return graph, files


def cycles(graph: dict[str, dict[str, list[int]]]) -> list[list[str]]:
    """One cycle ``[a, b, ..., a]`` per strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(v: str) -> None:  # Tarjan; the graph has a hundred nodes, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, {})):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)

    found = []
    for component in components:
        start = min(component)
        # breadth-first inside the component: the shortest way from ``start`` back to it
        previous: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in previous:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v]):
                    if w in component and w not in previous:
                        previous[w] = v
                        nxt.append(w)
            frontier = nxt
        path = [start]
        while True:
            path.append(previous[path[-1]])
            if path[-1] == start:
                break
        found.append(path[::-1])
    return found


def describe(cycle: list[str], graph: dict[str, dict[str, list[int]]], files: dict[str, Path]) -> str:
    steps = []
    for a, b in zip(cycle, cycle[1:], strict=False):
        lines = ", ".join(str(n) for n in sorted(set(graph[a][b])))
        steps.append(f"  {a} -> {b}   ({files[a].relative_to(ROOT)} line {lines})")
    return " -> ".join(cycle) + "\n" + "\n".join(steps)


def test_the_package_has_no_import_loop():
    graph, files = import_graph()
    assert len(files) > 50, "the package was not found where the test looks"
    found = cycles(graph)
    assert not found, "import loops (move the concept to its home, see docs/architecture.md):\n" + "\n".join(
        describe(c, graph, files) for c in found
    )


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")


def test_the_loop_check_sees_loops_inside_functions_and_skips_only_what_it_says(tmp_path):
    """The check itself: a loop through a function-level import is found; the two exemptions are honoured."""
    _write(tmp_path, "labdatasets/__init__.py", "")
    _write(tmp_path, "labdatasets/prepared/__init__.py", "")
    _write(tmp_path, "loaders/__init__.py", "")
    _write(tmp_path, "loaders/base.py", "from labdatasets.prepared import folder\n")
    _write(tmp_path, "labdatasets/prepared/folder.py", "def f():\n    from ..info import X\n")
    _write(tmp_path, "labdatasets/info.py", "def g():\n    from labdatasets.loaders import base\n")
    _write(
        tmp_path,
        "labdatasets/builder.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from labdatasets.naming import V\n"
        "class DatasetBuilder:\n    def build(self):\n        from labdatasets import naming\n",
    )
    _write(tmp_path, "labdatasets/naming.py", "import labdatasets.builder\nimport labdatasets.datasets.x\n")
    graph, _ = import_graph(tmp_path)
    assert cycles(graph) == [
        ["labdatasets.info", "labdatasets.loaders.base", "labdatasets.prepared.folder", "labdatasets.info"]
    ]
    assert graph["labdatasets.builder"] == {}  # the facade's method and the TYPE_CHECKING block
    assert graph["labdatasets.naming"] == {"labdatasets.builder": [1]}  # labdatasets.datasets is another tree
    # a module-level function in builder.py is no facade method: its import counts
    _write(tmp_path, "labdatasets/builder.py", "def helper():\n    from labdatasets import naming\n")
    graph, _ = import_graph(tmp_path)
    assert ["labdatasets.builder", "labdatasets.naming", "labdatasets.builder"] in cycles(graph)


#: Modules that define values and records, not steps: the error tree, settings, names and
#: versions, features, split specs, the three committed records (``dataset_info.json``, the
#: pin record, the output record) with their reading and comparing, the build options, and
#: digests. A load uses them the way it uses ``pathlib``; they are not counted.
VALUE_MODULES = frozenset({
    "labdatasets._version",
    "labdatasets.errors",
    "labdatasets.config",
    "labdatasets.naming",
    "labdatasets.features",
    "labdatasets.splits",
    "labdatasets.safe_names",
    "labdatasets.info",
    "labdatasets.pinning.record",
    "labdatasets.pinning.outputs",
    "labdatasets.processing.options",
    "labdatasets.stores.hashing",
})
MAX_SERVICE_MODULES = 6


def _modules_run_by(call) -> set[str]:
    """The modules of the package (``labdatasets.*`` but its other trees) whose Python functions run in ``call()``."""
    seen: set[str] = set()

    def profile(frame, event, arg):
        if event == "call":
            seen.add(frame.f_globals.get("__name__", ""))

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return {
        m for m in seen
        if (m == "labdatasets" or m.startswith("labdatasets.")) and not any(m == t or m.startswith(t + ".") for t in OTHER_TREES)
    }


def test_loading_a_prepared_version_crosses_few_service_modules(make_builder):
    """``load()`` of a version prepared here runs functions of at most six service modules.

    Counted: every module of the package (``labdatasets/`` and ``loaders/``) a function of which
    runs during the call, except :data:`VALUE_MODULES`. Today these are the entry point
    (``load``), the facade (``builder``), the name lookup (``registry``), the prepared folder and
    its checks (``prepared.folder``), the reader (``prepared.dataset``) and the processing-code
    fingerprint that says whether the folder is this version's (``processing.code``). With no
    shared cache configured (the fixtures configure none) the shared cache is never consulted.
    """
    cls = make_builder.tabular("arch_toy")
    reference = f"{cls.name}:1.0.0"
    labdatasets.load(reference, split="train", format="pandas")  # pins and builds: not measured
    assert labdatasets.builder(reference).is_prepared()

    frame = None

    def load():
        nonlocal frame
        frame = labdatasets.load(reference, split="train", format="pandas")

    run = _modules_run_by(load)
    assert len(frame) == labdatasets.info(reference).splits["train"].num_rows > 0  # the split was read
    assert {"labdatasets.load", "labdatasets.prepared.dataset"} <= run  # the profile saw the load
    services = sorted(run - VALUE_MODULES)
    assert len(services) <= MAX_SERVICE_MODULES, (
        f"loading a prepared version runs {len(services)} service modules (at most {MAX_SERVICE_MODULES}): "
        + ", ".join(services)
    )
    assert "labdatasets.prepared.shared_cache" not in run, "no shared cache is configured, yet it was consulted"
