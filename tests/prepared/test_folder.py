"""A prepared folder's last steps, without a build: moving a finished folder into place, stale leftovers."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from labdatasets.errors import PreparedDataError
from labdatasets.prepared import folder


def _filled(path: Path, text: str) -> Path:
    path.mkdir(parents=True)
    (path / "dataset_info.json").write_text(text)
    return path


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_moving_into_place_new_and_replacing(tmp_path):
    final = tmp_path / "toy" / "1.0.0"
    final.parent.mkdir()
    folder.move_into_place(_filled(tmp_path / "toy" / ".incomplete.1.0.0.a", "first"), final, overwrite=False)
    assert (final / "dataset_info.json").read_text() == "first" and _leftovers(final.parent) == []

    with pytest.raises(PreparedDataError) as info:
        folder.move_into_place(_filled(tmp_path / "toy" / ".incomplete.1.0.0.b", "second"), final, overwrite=False)
    assert str(info.value) == f"{final} appeared while building; it was left as it is."
    assert (final / "dataset_info.json").read_text() == "first"

    folder.move_into_place(tmp_path / "toy" / ".incomplete.1.0.0.b", final, overwrite=True)
    assert (final / "dataset_info.json").read_text() == "second" and _leftovers(final.parent) == []


def test_the_replaced_folder_is_removed_even_when_its_removal_fails(tmp_path, monkeypatch):
    final = _filled(tmp_path / "toy" / "1.0.0", "old")
    tmp = _filled(tmp_path / "toy" / ".incomplete.1.0.0.a", "new")

    def refuse(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "unlink", refuse)
    monkeypatch.setattr(os, "rmdir", refuse)
    folder.move_into_place(tmp, final, overwrite=True)  # the new version is in place; a stuck leftover is no error
    assert (final / "dataset_info.json").read_text() == "new"


@pytest.mark.parametrize("failing", ["moving the old version aside", "moving the new version in", "first version"])
def test_a_failed_move_keeps_what_was_served(tmp_path, monkeypatch, failing):
    final = tmp_path / "toy" / "1.0.0"
    if failing != "first version":
        _filled(final, "old")
    tmp = _filled(tmp_path / "toy" / ".incomplete.1.0.0.a", "new")
    real = os.replace
    calls = []

    def replace(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        fail_at = 1 if failing == "moving the old version aside" else 2 if failing == "moving the new version in" else 1
        if len(calls) == fail_at:
            raise OSError(errno.EIO, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(PreparedDataError) as info:
        folder.move_into_place(tmp, final, overwrite=True)
    kept = "nothing half-built was left there" if failing == "first version" else "the previous prepared data there is kept as it was"
    assert str(info.value) == (
        f"Could not move a finished build into place at {final}: Input/output error; {kept}. "
        "Check that disk, then run the build again."
    )
    if failing == "first version":
        assert not final.exists()
    else:
        assert (final / "dataset_info.json").read_text() == "old"
        assert [n for n in _leftovers(final.parent) if n.startswith(".replaced.")] == []
    assert (tmp / "dataset_info.json").read_text() == "new"  # the caller (incomplete_dir) removes it


def test_remove_stale_clears_leftovers_of_this_version_only(tmp_path):
    final = tmp_path / "new" / "toy" / "1.0.0"
    folder.remove_stale(final)  # no folder yet: made, nothing to remove
    assert final.parent.is_dir()
    _filled(final.parent / ".incomplete.1.0.0.dead1", "x")
    (final.parent / ".incomplete.1.0.0.file").write_text("a leftover file, not a folder")
    _filled(final.parent / ".incomplete.1.1.0.other", "another version's build in progress")
    folder.remove_stale(final)
    assert _leftovers(final.parent) == [".incomplete.1.0.0.file", ".incomplete.1.1.0.other"]


def test_an_incomplete_folder_is_removed_when_its_block_fails(tmp_path):
    final = tmp_path / "toy" / "1.0.0"
    with pytest.raises(KeyboardInterrupt):
        with folder.incomplete_dir(final) as tmp:
            assert tmp.parent == final.parent and tmp.name.startswith(".incomplete.1.0.0.") and tmp.is_dir()
            raise KeyboardInterrupt
    assert _leftovers(final.parent) == [] and not final.exists()
    with folder.incomplete_dir(final) as tmp:
        pass
    assert tmp.is_dir()  # a block that succeeds keeps it (it was moved into place, or is the caller's)
