"""The command line as a shell user meets it: --json everywhere, --debug anywhere, argument checks,
real-name suggestions, shell advice, widths in a terminal and a pipe, completion."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

import labdatasets
from labdatasets.cli import _all_subparsers, _parser, main
from labdatasets.cli._common import fit_widths

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_verb_takes_json_and_debug():
    parser = _parser()
    for sub in _all_subparsers(parser):
        options = sub._option_string_actions
        assert "--json" in options and "--debug" in options, sub.prog


@pytest.fixture
def toy_cli(make_builder):
    make_builder.tabular("toy_json")
    return "toy_json:1.0.0"


def test_json_output_of_each_verb(capsys, toy_cli, tmp_path, monkeypatch):
    """Each verb prints exactly one JSON document on stdout, with the documented keys."""

    def as_json(*argv, code=0):
        got, out, _ = run(capsys, *argv, "--json")
        assert got == code, (argv, out)
        return json.loads(out)

    assert set(as_json("pin", toy_cli, "--quiet")) == {"name", "snapshot_id", "pin_record", "sources"}
    built = as_json("build", toy_cli, "--quiet")
    assert built["name"] == toy_cli and set(built["splits"]) == {"train", "test"}
    assert set(built["splits"]["train"]) == {"num_rows", "num_bytes", "fingerprint"}
    loaded = as_json("load", toy_cli, "--split", "train[:3]", "--head", "2", "--quiet")
    assert loaded["splits"]["train[:3]"]["num_rows"] == 3 and len(loaded["splits"]["train[:3]"]["head"]) == 2
    assert as_json("verify", toy_cli, "--quiet")["ok"] is True
    assert as_json("status", toy_cli)["changed"] is False
    assert as_json("info", toy_cli)["name"] == "toy_json"
    listed = {r["name"]: r for r in as_json("list")}
    assert listed["toy_json"]["status"] == [
        {"name": toy_cli, "config": None, "version": "1.0.0", "pinned": True, "prepared": True, "published": None}
    ]
    cache = as_json("cache")
    entry = next(v for v in cache["versions"] if v["name"] == toy_cli)
    assert entry["prepared"] and entry["pinned"] and entry["prepared_bytes"] > 0
    assert as_json("cache", "prune", "--older-than", "10000d")["removed"] == []
    assert as_json("completion", "bash")["script"].startswith("# bash completion")
    shared = tmp_path / "shared"
    published = as_json("publish", toy_cli, "--quiet", "--shared-cache", f"file://{shared}")
    assert published["created"] is True and set(published["fingerprints"]) == {"train", "test"}
    error = as_json("load", "toy_json:9.0.0", code=1)
    assert error["error"]["type"] == "VersionNotFoundError" and "labdatasets load toy_json:1.0.0" in error["error"]["message"]


def test_debug_before_and_after_the_verb(capsys):
    code, _, err = run(capsys, "load", "product_a:9.0.0")
    assert code == 1 and "Traceback" not in err
    for argv in (["--debug", "load", "product_a:9.0.0"], ["load", "product_a:9.0.0", "--debug"]):
        # --debug prints the traceback (redacted, as every output is) and still the one error line.
        code, _, err = run(capsys, *argv)
        assert code == 1 and "Traceback" in err and "VersionNotFoundError" in err and "error: " in err


def test_head_must_not_be_negative(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["load", "iris", "--head", "-1"])
    assert exc.value.code == 2 and "must be 0 or more rows" in capsys.readouterr().err


def test_unknown_split_fails_before_building(capsys, toy_cli):
    b = labdatasets.builder(toy_cli)
    b.pin(progress=False)
    code, _, err = run(capsys, "load", toy_cli, "--split", "nosuch", "--quiet")
    assert code == 1 and "has no split 'nosuch'" in err and "train, test" in err
    assert not b.prepared_dir.exists()  # nothing was built
    with pytest.raises(labdatasets.errors.SplitError, match="nosuch"):
        labdatasets.load(toy_cli, split="nosuch")
    assert not b.prepared_dir.exists()


@pytest.mark.parametrize(
    "name, suggestion",
    [("Product_A", "'product_a'"), ("IRIS", "'iris'"), ("ProductA", "'product_a'"), ("product-a", "'product_a'")],
)
def test_suggestions_are_real_names(capsys, name, suggestion):
    code, _, err = run(capsys, "load", name)
    assert code == 1 and f"did you mean {suggestion}?" in err
    assert "product__a" not in err and "i_r_i_s" not in err


def test_shell_errors_give_shell_advice(capsys):
    code, _, err = run(capsys, "info", "product_a:9.9.9")
    assert code == 1 and "'labdatasets info product_a:1.2.0'" in err and "labdatasets.load(" not in err
    with pytest.raises(labdatasets.errors.VersionNotFoundError, match=r"labdatasets\.load\('product_a:1\.2\.0'\)"):
        labdatasets.builder("product_a:9.9.9")  # Python users still get Python


def test_fit_widths_shrinks_the_widest_columns_first():
    assert fit_widths([10, 40, 8], ["a", "b", "c"], 100) == [10, 40, 8]
    fitted = fit_widths([10, 40, 8], ["a", "b", "c"], 40)
    assert sum(fitted) + 4 <= 40 and fitted[0] == 10 and fitted[2] == 8
    assert fit_widths([10, 40], ["a", "b"], None) == [10, 40]


def _cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("COLUMNS", None)
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm"
    env.update(extra or {})
    return env


def _run_in_pty(argv: list[str], columns: int, env: dict[str, str]) -> str:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal ``columns`` wide; return what it printed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError("no output from the command in a pseudo-terminal for 60 s")
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_tables_fit_a_terminal_and_stay_whole_in_a_pipe():
    argv = [sys.executable, "-m", "labdatasets", "list", "--offline"]
    in_terminal = _run_in_pty(argv, 60, _cli_env())
    lines = [ANSI.sub("", line) for line in in_terminal.splitlines() if line.strip()]
    assert lines and all(len(line) <= 60 for line in lines), lines
    assert "\x1b[1m" in in_terminal  # a bold header on a terminal
    assert "..." in in_terminal  # long descriptions were cut
    no_colour = _run_in_pty(argv, 60, _cli_env({"NO_COLOR": "1"}))
    assert "\x1b[" not in no_colour
    piped = subprocess.run(argv, capture_output=True, text=True, env=_cli_env(), check=True).stdout
    assert "\x1b[" not in piped and max(len(line) for line in piped.splitlines()) > 60
    assert "Product A field observations: size measurements of adult penguins near Palmer Station." in piped
    narrow = subprocess.run(argv, capture_output=True, text=True, env=_cli_env({"COLUMNS": "50"}), check=True).stdout
    assert max(len(line) for line in narrow.splitlines()) <= 50


def test_error_is_red_on_a_terminal_only():
    argv = [sys.executable, "-m", "labdatasets", "load", "product_a:9.0.0"]
    assert "\x1b[31merror\x1b[0m: " in _run_in_pty(argv, 100, _cli_env())
    piped = subprocess.run(argv, capture_output=True, text=True, env=_cli_env())
    assert piped.returncode == 1 and piped.stderr.startswith("error: ") and piped.stdout == ""


def test_warnings_go_to_stderr_and_json_stays_clean(tmp_path):
    pins = tmp_path / "pins"
    (pins / "iris").mkdir(parents=True)
    (pins / "iris" / "1.0.0.json").write_text("{not json")  # a damaged pin record: warned about, skipped
    env = _cli_env({"LABDATASETS_PINS_DIR": str(pins)})
    done = subprocess.run([sys.executable, "-m", "labdatasets", "cache", "--json", "--offline"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert "WARNING" in done.stderr and "iris:1.0.0" in done.stderr
    assert "product_a:1.2.0" not in [v["name"] for v in data["versions"]]  # not pinned in this pins dir


def test_bash_completion(tmp_path):
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    script = tmp_path / "labdatasets.bash"
    script.write_text(subprocess.run([sys.executable, "-m", "labdatasets", "completion", "bash"], capture_output=True, text=True, env=_cli_env(), check=True).stdout)
    shim = tmp_path / "bin" / "labdatasets"
    shim.parent.mkdir()
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m labdatasets \"$@\"\n")
    shim.chmod(0o755)

    def complete(*words: str) -> list[str]:
        line = " ".join(["labdatasets", *words])
        code = (
            f"source {script}; COMP_WORDS=(labdatasets {' '.join(repr(w) for w in words)}); "
            f"COMP_CWORD={len(words)}; COMP_LINE={line!r}; _labdatasets_complete; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
        env = _cli_env({"PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"})
        return subprocess.run([bash, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split()

    assert {"list", "load", "cache", "completion"} <= set(complete(""))
    assert complete("loa") == ["load"] and sorted(complete("lo")) == ["load", "lock"]
    assert complete("load", "prod") == ["product_a"]
    assert complete("--debug", "load", "ir") == ["iris"]
    assert "--split" in complete("load", "iris", "--s") and "--json" in complete("build", "--j")
    assert complete("export", "iris", "--format", "t") == ["tfrecord"]
    assert complete("cache", "p") == ["prune"]
    zsh = subprocess.run([sys.executable, "-m", "labdatasets", "completion", "zsh"], capture_output=True, text=True, env=_cli_env(), check=True).stdout
    assert "bashcompinit" in zsh and "complete -F _labdatasets_complete labdatasets" in zsh
