import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labdatasets import loaders
from labdatasets.errors import SourceNotFoundError
from labdatasets.loaders.local import LocalSource
from tests.loaders.contract import SourceContract

ROWS = pa.table({"id": [1, 2, 3], "name": ["a", "b", None], "score": [0.5, 1.5, 2.5]})


class TestLocalCSV(SourceContract):
    @pytest.fixture
    def source(self, tmp_path):
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "rows.csv").write_text("id,name,score\n1,a,0.5\n2,b,1.5\n3,,2.5\n")
        return LocalSource("data/rows.csv", column_types={"name": "string"})

    @pytest.fixture
    def expected(self):
        return pa.table({"id": [1, 2, 3], "name": ["a", "b", ""], "score": [0.5, 1.5, 2.5]})

    @pytest.fixture
    def change_source(self, tmp_path):
        return lambda: (tmp_path / "data" / "rows.csv").write_text("id,name,score\n1,a,0.5\n")

    @pytest.fixture
    def missing_source(self):
        return LocalSource("data/nope.csv")


class TestLocalParquetFolder(SourceContract):
    @pytest.fixture
    def source(self, tmp_path):
        folder = tmp_path / "exports"
        folder.mkdir()
        pq.write_table(ROWS.slice(0, 2), folder / "part-0.parquet")
        pq.write_table(ROWS.slice(2), folder / "part-1.parquet")
        (folder / ".hidden.parquet").write_bytes(b"ignored")
        return LocalSource("exports", glob="*.parquet", format="parquet")

    @pytest.fixture
    def expected(self):
        return ROWS

    @pytest.fixture
    def change_source(self, tmp_path):
        return lambda: pq.write_table(ROWS.slice(0, 1), tmp_path / "exports" / "part-2.parquet")

    @pytest.fixture
    def missing_source(self):
        return LocalSource("exports-missing", format="parquet")


class TestLocalJsonLines(SourceContract):
    @pytest.fixture
    def source(self, tmp_path):
        (tmp_path / "rows.jsonl").write_text('{"id": 1, "name": "a"}\n{"id": 2, "name": "b"}\n')
        return LocalSource(tmp_path / "rows.jsonl")

    @pytest.fixture
    def expected(self):
        return pa.table({"id": [1, 2], "name": ["a", "b"]})

    @pytest.fixture
    def change_source(self, tmp_path):
        return lambda: (tmp_path / "rows.jsonl").write_text('{"id": 1, "name": "z"}\n{"id": 2, "name": "b"}\n')

    @pytest.fixture
    def missing_source(self, tmp_path):
        return LocalSource(tmp_path / "none.jsonl")


class TestLocalImageFolder(SourceContract):
    expected_files = {"cat/1.png": b"\x89PNG cat", "dog/2.png": b"\x89PNG dog"}

    @pytest.fixture
    def source(self, tmp_path):
        for rel, data in self.expected_files.items():
            path = tmp_path / "images" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (tmp_path / "images" / "notes.txt").write_text("not an image")
        return LocalSource("images", glob="*.png")

    @pytest.fixture
    def expected(self):
        return None

    @pytest.fixture
    def change_source(self, tmp_path):
        return lambda: (tmp_path / "images" / "cat" / "1.png").write_bytes(b"\x89PNG other cat")

    @pytest.fixture
    def missing_source(self):
        return LocalSource("images", glob="*.jpg")


def test_status_lists_what_changed(tmp_path, ctx):
    folder = tmp_path / "files"
    folder.mkdir()
    for name in "abc":
        (folder / f"{name}.bin").write_bytes(name.encode())
    source = LocalSource("files")
    pin = source.pin(ctx)
    (folder / "a.bin").write_bytes(b"A")
    (folder / "b.bin").unlink()
    (folder / "d.bin").write_bytes(b"d")
    assert source.status(pin, ctx).details == ("added: d.bin", "removed: b.bin", "modified: a.bin")


def test_unreadable_csv_asks_for_format_or_column_types(tmp_path, ctx):
    (tmp_path / "bad.csv").write_bytes(b"a,b\n1,2\n3\n")
    with pytest.raises(Exception) as info:
        LocalSource("bad.csv").pin(ctx)
    assert "column_types=" in str(info.value) and "contract:1.0.0 source 'data'" in str(info.value)


def test_loaders_registry_is_sorted_and_lazy():
    assert list(loaders.known_sources) == sorted(loaders.known_sources)
    assert loaders.LocalSource is LocalSource
    assert loaders.source_class("local") is LocalSource
    with pytest.raises(AttributeError, match="known: "):
        loaders.source_class("ftp")


def test_missing_path_error_says_where_relative_paths_start(tmp_path, ctx):
    with pytest.raises(SourceNotFoundError, match="relative paths start at the builder's folder"):
        LocalSource("nope/").pin(ctx)
