"""Every raised error is in the LabDatasetsError tree, and no ``assert`` is a runtime check.

The first tests read the source of every module of labdatasets/ and loaders/ (and the repository's
builders in datasets/): a ``raise`` of a builtin exception class, an exception class that derives
from a builtin one but from nothing in the tree, or an ``assert`` statement fails them, with the
file and line. The others check a few converted errors: that each is both a LabDatasetsError and
the builtin it replaced (so ``except ValueError`` and Python's protocols keep working), and that
its message names what it is about.
"""

from __future__ import annotations

import ast
import builtins
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import labdatasets
from labdatasets import errors
from labdatasets.errors import (
    ColumnNotFoundError,
    ConfigError,
    DeclarationError,
    DeclarationTypeError,
    LabDatasetsError,
    RowIndexError,
    SourceError,
    UnknownSourceError,
)

REPO = Path(__file__).resolve().parent.parent
ROOTS = ("labdatasets", "loaders", "datasets")

BUILTIN_EXCEPTIONS = frozenset(
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
)

# Builtin exceptions that Python's protocols demand, and where:
#   NotImplementedError - from a method whose whole body raises it: a subclass must (or may) override it;
#   AttributeError      - from a module's ``__getattr__`` (PEP 562: hasattr and ``from x import y`` rely on it).
PROTOCOL_RAISES = {"NotImplementedError": None, "AttributeError": "__getattr__"}


# labdatasets.testing's asserts are a builder test case's assertions, not runtime checks.
ASSERTS_ALLOWED = {"labdatasets/testing.py"}


def _modules() -> list[Path]:
    return sorted(p for root in ROOTS for p in (REPO / root).rglob("*.py"))


def _only_raises(function: ast.AST) -> bool:
    """Whether a function's body is (a docstring and) one ``raise``."""
    body = list(getattr(function, "body", []))
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return len(body) == 1 and isinstance(body[0], ast.Raise)


def _raised_name(node: ast.Raise) -> str | None:
    target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return target.id if isinstance(target, ast.Name) else None


def violations(source: str, relpath: str) -> list[str]:
    """``path:line: what`` for each builtin raise, builtin-only exception class and assert in ``source``."""
    tree = ast.parse(source)
    found: list[str] = []

    def visit(node: ast.AST, function: ast.AST | None) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node
        if isinstance(node, ast.Raise) and node.exc is not None:
            name = _raised_name(node)
            if name in BUILTIN_EXCEPTIONS:
                allowed_in = PROTOCOL_RAISES.get(name, "")
                ok = name in PROTOCOL_RAISES and function is not None and (
                    _only_raises(function) if allowed_in is None else getattr(function, "name", "") == allowed_in
                )
                if not ok:
                    found.append(f"{relpath}:{node.lineno}: raise {name}")
        if isinstance(node, ast.ClassDef):
            bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
            builtin_bases = [b for b in bases if b in BUILTIN_EXCEPTIONS]
            described = f"class {node.name}({', '.join(bases)})"
            root = relpath == "labdatasets/errors.py" and node.name == "LabDatasetsError"  # the tree's root
            if builtin_bases and len(builtin_bases) == len(node.bases) and not root:
                found.append(f"{relpath}:{node.lineno}: {described} is not in the LabDatasetsError tree")
        if isinstance(node, ast.Assert) and relpath not in ASSERTS_ALLOWED:
            found.append(f"{relpath}:{node.lineno}: assert (vanishes under python -O; raise a tree error instead)")
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return found


def test_no_module_raises_a_builtin_exception_or_asserts():
    found = [v for path in _modules() for v in violations(path.read_text("utf-8"), path.relative_to(REPO).as_posix())]
    assert not found, "raise an error of labdatasets.errors (see its docstring) instead:\n" + "\n".join(found)


def test_the_source_check_finds_each_kind_of_violation():
    source = textwrap.dedent(
        '''
        class Bad(Exception):
            pass

        class Good(LabDatasetsError, ValueError):
            pass

        def f(x):
            assert x
            if x:
                raise ValueError("bad")
            raise KeyError

        def abstract(self):
            """Subclasses override this."""
            raise NotImplementedError

        def not_abstract(self):
            self.x = 1
            raise NotImplementedError("half done")

        def __getattr__(name):
            raise AttributeError(name)

        def elsewhere(name):
            raise AttributeError(name)
        '''
    )
    assert violations(source, "labdatasets/example.py") == [
        "labdatasets/example.py:2: class Bad(Exception) is not in the LabDatasetsError tree",
        "labdatasets/example.py:9: assert (vanishes under python -O; raise a tree error instead)",
        "labdatasets/example.py:11: raise ValueError",
        "labdatasets/example.py:12: raise KeyError",
        "labdatasets/example.py:20: raise NotImplementedError",
        "labdatasets/example.py:26: raise AttributeError",
    ]
    assert violations("def t():\n    assert 1\n", "labdatasets/testing.py") == []


def test_the_tree_in_the_errors_docstring_lists_every_class():
    documented = {
        line.split("── ")[1].split()[0] for line in errors.__doc__.splitlines() if "── " in line
    } | {"LabDatasetsError"}
    defined = {
        name for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, LabDatasetsError)
    }
    assert documented == defined == set(errors.__all__)


# ----------------------------------------------------------------------------------- converted errors
def _both(exc: BaseException, builtin: type[BaseException]) -> None:
    assert isinstance(exc, LabDatasetsError) and isinstance(exc, builtin), type(exc).__mro__


def test_a_bad_feature_declaration_is_a_declaration_error_and_a_value_error():
    from labdatasets import features as F

    with pytest.raises(ValueError, match="int65") as caught:
        F.Value("int65")
    _both(caught.value, ValueError)
    assert isinstance(caught.value, DeclarationError)
    with pytest.raises(DeclarationError, match=r"names must be unique, got \['a', 'a'\]"):
        F.ClassLabel(names=["a", "a"])
    with pytest.raises(TypeError, match="feature 'label' must be a labdatasets.features.Feature") as typed:
        F.Features({"label": "int64"})
    _both(typed.value, TypeError)
    assert isinstance(typed.value, DeclarationTypeError)


def test_a_row_outside_a_prepared_split_is_a_row_index_error_naming_the_split():
    import pyarrow as pa

    from labdatasets.prepared.dataset import Dataset

    ds = Dataset(pa.table({"x": [1, 2, 3]}), split="train")
    with pytest.raises(IndexError, match=r"split 'train': row 3 is out of range; it has 3 rows") as caught:
        ds[3]
    _both(caught.value, IndexError)
    assert isinstance(caught.value, RowIndexError)
    with pytest.raises(RowIndexError, match="step 1"):
        ds[::2]
    assert [row["x"] for row in ds] == [1, 2, 3]  # iteration still ends where it should


def test_a_missing_split_key_is_a_column_error_and_a_key_error_whose_text_is_the_message():
    import pyarrow as pa

    from labdatasets.processing.splitting import key_hash

    with pytest.raises(KeyError) as caught:
        key_hash(pa.table({"id": [1]}), "user")
    _both(caught.value, KeyError)
    assert isinstance(caught.value, ColumnNotFoundError)
    assert str(caught.value).startswith("split key column(s) ['user'] not in the data (columns: ['id'])")


def test_bad_source_arguments_name_the_source():
    from labdatasets.loaders import source_class
    from labdatasets.loaders.sheets import SheetsSource
    from labdatasets.loaders.sql import SQLSource

    with pytest.raises(ValueError, match="SheetsSource\\('sheet-id', header=False\\) needs columns") as caught:
        SheetsSource("sheet-id", header=False)
    _both(caught.value, ValueError)
    with pytest.raises(DeclarationError, match="exactly one of query= or table="):
        SQLSource(connection="warehouse")
    with pytest.raises(AttributeError, match="no source 'ftp'") as unknown:
        source_class("ftp")
    _both(unknown.value, AttributeError)
    assert isinstance(unknown.value, UnknownSourceError)


def test_a_bad_mysql_result_is_a_source_error():
    from labdatasets.loaders._mysql_types import MySQLColumn, arrow_schema

    column = MySQLColumn("id", 3, 0, 63, 11, 0)  # INT
    with pytest.raises(SourceError, match=r"duplicate column names \['id'\]; give each column its own alias"):
        arrow_schema([column, column])


def test_arguments_of_the_wrong_value_are_config_errors_naming_the_dataset(make_builder):
    from labdatasets.prepared.export import export_tfds

    make_builder.tabular("toy_export_format")
    builder = labdatasets.builder("toy_export_format")
    with pytest.raises(ConfigError, match="Exporting toy_export_format:1.0.0: file_format must be one of"):
        export_tfds(builder, file_format="csv")


def test_the_shared_cache_refuses_a_publish_whose_code_changed_even_under_python_O(tmp_path, subprocess_env):
    """The check that was an ``assert`` in publish() holds when Python runs with -O."""
    code = textwrap.dedent(
        """
        import sys
        import labdatasets
        from labdatasets.errors import PreparedDataError
        from labdatasets.processing import code
        from labdatasets.prepared.shared_cache import publish

        print("optimize", sys.flags.optimize)
        builder = labdatasets.builder("product_a:1.2.0")
        builder.build(progress=False)
        # The processing code that builds this version changes between the build and the publish.
        code.expected_fingerprint = lambda builder, record: "f" * 64
        builder.build = lambda **kwargs: builder.prepared_dir
        try:
            publish(builder, progress=False)
        except PreparedDataError as exc:
            print("refused:", exc)
        else:
            print("published")
        """
    )
    env = dict(subprocess_env, LABDATASETS_SHARED_CACHE=f"file://{tmp_path / 'shared-cache'}")
    proc = subprocess.run([sys.executable, "-O", "-c", code], env=env, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "optimize 1" in proc.stdout
    assert "refused: product_a:1.2.0 here was built by processing code" in proc.stdout, proc.stdout
    assert "its processing changed since the build, so it is not published" in proc.stdout
    assert not (tmp_path / "shared-cache" / "refs").exists()


def test_a_mysql_result_with_duplicate_columns_is_a_source_error_naming_the_source(mysql_database, tmp_path):
    """Raised by the type mapping, which knows no source; the connector names it on the way out."""
    from labdatasets.loaders.sql import SQLSource
    from tests.loaders.test_sql import make_ctx
    from labdatasets.stores import Snapshots

    store = Snapshots(f"file://{tmp_path / 'store'}")
    source = SQLSource(query="SELECT 1 AS a, 2 AS a", url=mysql_database, fast=False)
    with pytest.raises(SourceError) as caught:
        source.pin(make_ctx(store, tmp_path))
    message = str(caught.value)
    assert message.startswith("contract:1.0.0 source 'data': the result has duplicate column names ['a']")
    assert "give each column its own alias" in message and caught.value.source and caught.value.source in message
