"""Secrets with awkward characters through every output path.

A real MariaDB user gets a password holding ``/``, ``@``, ``:``, ``#``, ``?``, ``%``
and a space; a named connection carries it (raw where SQLAlchemy allows, else
percent-encoded). Then every way labdatasets can show something is read back and
searched for any piece of the password: the pin record file, ``pin``, ``info``
(text and JSON), ``status`` (text and JSON), error messages (a refused password,
an unreachable server, a misparsed URL), ``--debug`` output (tracebacks and our
debug logs) and log records. A ``--debug`` pin into an ``s3://`` store checks that
botocore's wire headers (``X-Amz-Security-Token``) never reach the terminal.
"""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

sqlalchemy = pytest.importorskip("sqlalchemy")

from labdatasets.cli import main  # noqa: E402
from labdatasets.present.redact import redact, redact_url  # noqa: E402

# Each piece between separators is unique (3+ characters), so a leak of any part is found.
PASSWORDS = {
    "slash": "Zq7/Wx9",  # valid raw in a SQLAlchemy URL: it used to land in pin records as is
    "at": "Gh5@Jk8@Rp2",  # u:p@ss@host leaked the part after the first '@'
    "everything": "Mn8:Lb4#Hc6?Tf3%Ud1 Vy2/Ew5@Oa9",
}


def pieces(secret: str) -> set[str]:
    """The secret, its encodings, and every run of 3+ letters/digits in it."""
    found = {secret, quote(secret, safe=""), quote(secret)}
    found |= set(re.findall(r"[A-Za-z0-9]{3,}", secret))
    return found


def leaks(text: str, secret: str) -> list[str]:
    return sorted(p for p in pieces(secret) if p in text)


def test_redact_url_hides_every_reading_of_an_awkward_password():
    for secret in [*PASSWORDS.values(), "a:b", "x#y?z", "50%off", "p/ss@word"]:
        for url in (
            f"mysql+pymysql://reader:{secret}@db.lab:3306/shop",
            f"mysql+pymysql://reader:{quote(secret, safe='')}@db.lab:3306/shop?charset=utf8mb4",
            f"postgresql://reader:{secret}@[::1]:5432/shop",
        ):
            shown = redact_url(url)
            assert "reader:***@" in shown and "shop" in shown, (url, shown)
            if len(secret) >= 5:
                assert not leaks(shown, secret), (url, shown)
            text = redact(f"could not connect to {url}: timed out")
            assert "reader:***@" in text and text.endswith(": timed out"), text
            if len(secret) >= 5:
                assert not leaks(text, secret), text
    # Paths and hosts that only look like user info are kept.
    assert redact("s3://bucket/a:b@c/key failed") == "s3://bucket/a:b@c/key failed"
    assert redact("gs://bucket: denied for sa@proj.iam.gserviceaccount.com") == (
        "gs://bucket: denied for sa@proj.iam.gserviceaccount.com"
    )


@pytest.fixture
def awkward_user(mysql_url, mysql_database, request):
    """A MariaDB user whose password is ``PASSWORDS[request.param]``; yields (user, password, database url)."""
    secret = PASSWORDS[request.param]
    user = f"awk_{uuid.uuid4().hex[:8]}"
    database = mysql_database.rsplit("/", 1)[1]
    engine = sqlalchemy.create_engine(mysql_database)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id BIGINT PRIMARY KEY, note VARCHAR(20))")
        conn.exec_driver_sql("INSERT INTO orders VALUES (1, 'one'), (2, 'two')")
        # %% because PyMySQL formats statements even without parameters
        escaped = secret.replace("%", "%%")
        conn.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY '{escaped}'")
        conn.exec_driver_sql(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%%'")
    try:
        yield user, secret, mysql_database
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'%%'")
        engine.dispose()


def _url(user: str, secret: str, database_url: str, *, raw: bool) -> str:
    host_db = database_url.split("@", 1)[1]
    return f"mysql+pymysql://{user}:{secret if raw else quote(secret, safe='')}@{host_db}"


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


SOURCES = '{"orders": loaders.SQLSource(table="orders", connection="awk")}'


@pytest.mark.parametrize("awkward_user", list(PASSWORDS), indirect=True)
def test_a_password_never_reaches_any_output(awkward_user, make_builder, monkeypatch, tmp_path, capsys, caplog, fault_outcome):
    user, secret, database_url = awkward_user
    pins_dir = tmp_path / "pins"
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(pins_dir))
    # SQLAlchemy reads '/' raw; '@', '%', '#', '?' and spaces need percent-encoding to connect.
    raw_ok = not any(c in secret for c in "@%#? ")
    monkeypatch.setenv("LABDATASETS_CONNECTION_AWK", _url(user, secret, database_url, raw=raw_ok))
    name = make_builder.sources_only(f"secret_{uuid.uuid4().hex[:6]}", SOURCES, doc="Orders read with an awkward password.").name
    caplog.set_level(logging.DEBUG, logger="labdatasets")

    outputs: dict[str, str] = {}
    code, outputs["pin"] = _cli(capsys, "pin", f"{name}:1.0.0", "--quiet")
    assert code == 0, outputs["pin"]
    record_files = sorted(pins_dir.rglob("*.json"))
    assert record_files, "the pin wrote no record"
    outputs["pin record file"] = "".join(p.read_text() for p in record_files)
    for argv in (["info", name], ["info", name, "--json"], ["status", name], ["status", name, "--json"]):
        code, outputs[" ".join(argv[::2])] = _cli(capsys, *argv)
        assert code == 0, outputs[" ".join(argv[::2])]
    code, outputs["--debug status"] = _cli(capsys, "--debug", "status", name)
    assert code == 0

    # Error paths: a wrong (awkward) password, a server that is down, the password raw where it cannot be.
    wrong = secret[::-1]
    cases = [
        ("error: refused password", _url(user, wrong, database_url, raw=False)),
        ("error: server down", _url(user, secret, "x@127.0.0.1:1/db", raw=False)),
    ]
    if not raw_ok:
        cases.append(("error: raw password misparsed", _url(user, secret, database_url, raw=True)))
    for label, url in cases:
        monkeypatch.setenv("LABDATASETS_CONNECTION_AWK", url)
        code, outputs[label] = _cli(capsys, "status", name)
        assert "connection 'awk'" in outputs[label], outputs[label]
        failed_name = make_builder.sources_only(f"{name}_f{len(outputs)}", SOURCES, doc="Orders read with a wrong password.").name
        code, outputs[label + " (pin --debug)"] = _cli(capsys, "--debug", "pin", failed_name, "--quiet")
        assert code == 1 and "Traceback" in outputs[label + " (pin --debug)"], outputs[label + " (pin --debug)"]
    # A password in url= (builder code) is refused with the way to name it, and not shown.
    refused = make_builder.sources_only(
        f"{name}_url", f'{{"orders": loaders.SQLSource(table="orders", url={_url(user, secret, database_url, raw=True)!r})}}',
        doc="A builder that spells its password out.",
    ).name
    code, outputs["error: password in url="] = _cli(capsys, "info", refused)
    assert code == 1 and "password_env" in outputs["error: password in url="], outputs["error: password in url="]
    outputs["log records"] = caplog.text

    leaked = {label: leaks(text, secret) + leaks(text, wrong) for label, text in outputs.items()}
    leaked = {label: found for label, found in leaked.items() if found}
    # Failed commands end with one "error: ..." line (status reports an unreachable source as a state instead).
    failed = [label for label in outputs if label.endswith("(pin --debug)") or label.endswith("url=")]
    unclear = sum(1 for label in failed if "\nerror: " not in "\n" + outputs[label])
    fault_outcome(
        f"MySQL password with {secret!r}: pin record, pin/info/status, errors, --debug, logs",
        tries=len(outputs), survived=len(outputs) - len(leaked), unclear=len(leaked) + unclear,
    )


def test_debug_shows_our_traceback_never_botocore_wire_headers(
    s3_env, s3_bucket, make_builder, monkeypatch, tmp_path, capsys, fault_outcome
):
    token = "IQoJb3JpZ2luX2VjEJr//Tok3n+with/slashes=="
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", f"s3://{s3_bucket}/store")
    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    make_builder.tabular("debug_s3")
    code, text = _cli(capsys, "--debug", "pin", "debug_s3:1.0.0", "--quiet")
    assert code == 0, text
    tries = {"pin": text}
    # A failure under --debug: our traceback is shown (redacted), a library's headers are not.
    monkeypatch.setenv("LABDATASETS_SNAPSHOT_STORE", "s3://no-such-bucket-here/store")
    make_builder.tabular("debug_s3_fail")
    code, tries["failing pin"] = _cli(capsys, "--debug", "pin", "debug_s3_fail:1.0.0", "--quiet")
    assert code == 1 and "Traceback" in tries["failing pin"] and "no-such-bucket-here" in tries["failing pin"]
    bad = {
        label: [m for m in ("Tok3n", token, "X-Amz-Security-Token", "x-amz-security-token", "wJalrXUtnFEMI", "DEBUG botocore",
                            "DEBUG urllib3", "Authorization") if m in out]
        for label, out in tries.items()
    }
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, bad
    fault_outcome("--debug pin to s3:// with a session token", tries=len(tries), survived=len(tries) - len(bad), unclear=len(bad))


def test_pin_records_are_readable_by_the_group(make_builder, monkeypatch, tmp_path):
    """A shared checkout: the pin record is written with the umask's mode, not a temporary file's 0o600."""
    import os

    monkeypatch.setenv("LABDATASETS_PINS_DIR", str(tmp_path / "pins"))
    old = os.umask(0o022)
    try:
        record = make_builder.tabular("shared_modes")().pin(progress=False)
    finally:
        os.umask(old)
    assert Path(record.path).stat().st_mode & 0o777 == 0o644
