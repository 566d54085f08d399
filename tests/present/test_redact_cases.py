"""Redaction case by case: what each rule hides, and what it must leave alone."""

from __future__ import annotations

import io
import logging
import traceback

import pytest

from labdatasets.present import redact as redact_module
from labdatasets.present.redact import (
    RedactingFilter,
    ambiguous_password,
    configure_logging,
    redact,
    redact_mapping,
    redact_traceback,
    redact_url,
    register_secret,
    url_password,
)


@pytest.fixture(autouse=True)
def no_known_secrets(monkeypatch):
    monkeypatch.setattr(redact_module, "_registered", set())
    for name in list(__import__("os").environ):
        if any(w in name.upper() for w in ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "PRIVATE_KEY", "API_KEY")) or name.upper().startswith(
            "LABDATASETS_CONNECTION_"
        ):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    "text, shown",
    [
        ("mysql+pymysql://reader:s3cret@db:3306/shop", "mysql+pymysql://reader:***@db:3306/shop"),
        ("mysql://reader:p@ss@db.lab:3306/shop", "mysql://reader:***@db.lab:3306/shop"),
        ("see postgresql://u:pw@host/db, then mysql://v:pw2@h2/db", "see postgresql://u:***@host/db, then mysql://v:***@h2/db"),
        ("a line mysql://u:pw@h\nnext mysql://u2:pw2@h2", "a line mysql://u:***@h\nnext mysql://u2:***@h2"),
        ("redis://:onlypass@cache:6379/0", "redis://:***@cache:6379/0"),
        ("mysql://u:pw@[::1]:3306/db", "mysql://u:***@[::1]:3306/db"),
        ("mysql://u:pa ss@host/db", "mysql://u:***@host/db"),
        ("mysql://u:pw@host.", "mysql://u:***@host."),
        ("mysql://user:@host/db", "mysql://user:***@host/db"),
        ("(mysql://u:pw@host)", "(mysql://u:***@host)"),
        ("'mysql://u:pw@host'", "'mysql://u:***@host'"),
        # left alone: no password, a path that looks like one, a port, no scheme
        ("s3://bucket/a:b@c/key", "s3://bucket/a:b@c/key"),
        ("ftp://user@host/file", "ftp://user@host/file"),
        ("mysql://u:12345", "mysql://u:12345"),
        ("://nothing:here@x", "://nothing:here@x"),
        ("user:pass@host without scheme", "user:pass@host without scheme"),
        ("plain text: a:b and c@d", "plain text: a:b and c@d"),
        # query strings, headers, tokens, keys
        ("https://h/x?token=abc&x=1&password=p;sig=zz", "https://h/x?token=***&x=1&password=***;sig=***"),
        ("https://h/x?X-Amz-Signature=abcd&X-Amz-Credential=AKIA/x&plain=1", "https://h/x?X-Amz-Signature=***&X-Amz-Credential=***&plain=1"),
        ("https://h/x?tokens=abc&passwords=p", "https://h/x?tokens=abc&passwords=p"),
        ("Authorization: Bearer abc.def+/=", "Authorization: Bearer ***"),
        ("bearer   eyJhbGci.x_y-z~", "bearer   ***"),
        ("'authorization': 'Basic dXNlcjpwYXNz'", "'authorization': '***'"),
        ("x-amz-security-token: FQoGZXIvYXdzE", "x-amz-security-token: ***"),
        ('"X-Amz-Security-Token"="FQoG"', '"X-Amz-Security-Token"="***"'),
        ("x-goog-iam-authorization-token=ya29.abc", "x-goog-iam-authorization-token=***"),
        ("key AKIAIOSFODNN7EXAMPLE used, ASIAIOSFODNN7EXAMPLE too, AKIAshort no", "key *** used, *** too, AKIAshort no"),
        ("XAKIAIOSFODNN7EXAMPLE", "XAKIAIOSFODNN7EXAMPLE"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\nabc\n-----END RSA PRIVATE KEY----- after", "*** after"),
        ("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----", "***"),
        ("-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----", "-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----"),
        (12345, "12345"),
    ],
)
def test_free_text(text, shown):
    assert redact(text) == shown


@pytest.mark.parametrize(
    "url, shown, password, ambiguous",
    [
        ("mysql://u:p%40ss@h/db", "mysql://u:***@h/db", "p%40ss", False),
        ("mysql://u:p@ss@h/db", "mysql://u:***@h/db", "p@ss", True),
        ("mysql://u@h/db", "mysql://u@h/db", None, False),
        ("mysql://u:pw@h/db?password=x&charset=utf8", "mysql://u:***@h/db?charset=utf8&password=***", "pw", False),
        ("not a url", "not a url", None, False),
        ("sqlite:///x.db", "sqlite:///x.db", None, False),
        # the readings disagree (a raw '@'): the pure one, which hides more, decides
        ("mysql://u:p@ss\nw0rd@h/db", "mysql://u:***@h/db", "p@ss\nw0rd", True),  # a URL is read to its end, past a newline
        ("redis://:p@ss@cache:6379/0", "redis://:***@cache:6379/0", "p@ss", True),
        ("x://u:p@ss@h/db", "x://u:***@h/db", "p@ss", True),
        ("mysql://u:a://b@c@h/db", "mysql://u:***@h/db", "a://b@c", True),
        ("mysql://u:p@ss@h/db?redirect=https://x/y", "mysql://u:***@h/db?redirect=https://x/y", "p@ss", True),
        ("mysql://u:p@ss@h/db?password=x", "mysql://u:***@h/db?password=***", "p@ss", True),
        # the readings agree once decoded: SQLAlchemy renders it (query sorted)
        ("mysql://u:p%40ss@h/db?password=x&charset=utf8", "mysql://u:***@h/db?charset=utf8&password=***", "p%40ss", False),
        # what SQLAlchemy would send is a password even where the pure parser reads none
        ("mysql://u@h x:pw@'db'/shop", "mysql://u%40h x:***@'db'/shop", "pw", False),
        # no scheme: not a URL
        ("://u:pw@h", "://u:pw@h", None, False),
        ("user:pw@host", "user:pw@host", None, False),
    ],
)
def test_urls(url, shown, password, ambiguous):
    assert redact_url(url) == shown
    assert url_password(url) == password
    assert ambiguous_password(url) is ambiguous


def test_url_objects_and_none():
    sqlalchemy = pytest.importorskip("sqlalchemy")
    url = sqlalchemy.engine.make_url("mysql+pymysql://u:pw0rd@h:3306/db?token=tt")
    assert redact_url(url) == "mysql+pymysql://u:***@h:3306/db?token=***"
    assert redact_url(None) == ""


def test_any_object_is_read_as_its_text():
    class Location:
        def __str__(self):
            return "mysql://u:p@ss@h/db"

    assert redact_url(Location()) == "mysql://u:***@h/db"
    assert redact_url(3306) == "3306"


def test_registered_secrets_are_scrubbed_in_every_spelling():
    register_secret("p@ss word/1")
    register_secret(None)
    register_secret("")
    register_secret("abc")  # too short to scrub from free text
    text = "raw p@ss word/1, quoted p%40ss%20word%2F1, path-quoted p%40ss%20word/1, form p%40ss+word%2F1; abc"
    assert redact(text) == "raw ***, quoted ***, path-quoted ***, form ***; abc"
    register_secret("s3%2Fcr3t")  # given encoded: its decoded form is a secret too
    assert redact("s3/cr3t and s3%2Fcr3t") == "*** and ***"


def test_a_longer_secret_is_scrubbed_before_one_it_contains():
    register_secret("abcd")
    register_secret("abcdefgh")
    assert redact("xabcdefghx abcd") == "x***x ***"
    register_secret("bcde")  # sorts after "abcdefgh" by text, before it by length
    assert redact("xabcdefghx bcde") == "x***x ***"


def test_secrets_in_the_environment(monkeypatch):
    monkeypatch.setenv("WAREHOUSE_PASSWORD", "longsecret1")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_abcdef")
    monkeypatch.setenv("SECRET_SCANNING", "enabled")
    monkeypatch.setenv("SHORT_SECRET", "abcde")
    monkeypatch.setenv("SIX_SECRET", "sixchr")  # 6 characters: long enough
    monkeypatch.setenv("EMPTY_TOKEN", "")
    monkeypatch.setenv("LABDATASETS_CONNECTION_WAREHOUSE", "mysql://u:connpw99@h/db")
    monkeypatch.setenv("LABDATASETS_CONNECTION_LOCAL", "sqlite:///lab.db")
    monkeypatch.setenv("EDITOR", "longsecret2")
    text = "longsecret1 ghp_abcdef enabled abcde sixchr connpw99 longsecret2"
    assert redact(text) == "*** *** enabled abcde *** *** longsecret2"


def test_mappings_hide_values_under_secret_keys():
    data = {
        "Password": "x", "token": "", "api_key": None, "t": ("mysql://u:pw@h/d", 3), "n": [1, {"secret": 0, "note": "Bearer abc"}],
        "AUTHORIZATION": "Basic x", "name": "password",
    }
    assert redact_mapping(data) == {
        "Password": "***", "token": "", "api_key": None, "t": ("mysql://u:***@h/d", 3), "n": [1, {"secret": 0, "note": "Bearer ***"}],
        "AUTHORIZATION": "***", "name": "password",
    }


def test_tracebacks_and_log_records_are_redacted():
    try:
        try:
            raise ValueError("cannot reach mysql://u:tb-secret@h/db")
        except ValueError as exc:
            raise RuntimeError("wrapped Bearer tok123") from exc
    except RuntimeError as exc:
        text = redact_traceback(exc)
        error = exc
    assert "tb-secret" not in text and "tok123" not in text
    assert "mysql://u:***@h/db" in text and "Bearer ***" in text and "The above exception was the direct cause" in text
    plain = "".join(traceback.format_exception(error))
    assert text == plain.replace("mysql://u:tb-secret@h/db", "mysql://u:***@h/db").replace("Bearer tok123", "Bearer ***")

    record = logging.LogRecord("labdatasets.x", logging.ERROR, __file__, 1, "failed %s %d", ("mysql://u:pw1@h", 3), None)
    record.exc_info = (RuntimeError, error, error.__traceback__)
    record.stack_info = "Stack: mysql://u:pw3@h"
    assert RedactingFilter().filter(record) is True
    assert (record.msg, record.args, record.exc_info, record.stack_info) == ("failed mysql://u:***@h 3", None, None, "Stack: mysql://u:***@h")
    assert "tb-secret" not in record.exc_text and "mysql://u:***@h/db" in record.exc_text

    never_raised = RuntimeError("cannot reach mysql://u:nr-secret@h/db")  # no traceback
    record = logging.LogRecord("labdatasets.x", logging.ERROR, __file__, 1, "failed", (), (RuntimeError, never_raised, None))
    RedactingFilter().filter(record)
    assert record.exc_info is None and record.exc_text == "RuntimeError: cannot reach mysql://u:***@h/db\n"

    bad = logging.LogRecord("labdatasets.x", logging.ERROR, __file__, 1, "%d and mysql://u:pw2@h", ("not a number",), None)
    RedactingFilter().filter(bad)
    assert bad.msg == "%d and mysql://u:***@h" and bad.args is None


def test_configure_logging_turns_up_our_loggers_only():
    stream = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    levels = {n: logging.getLogger(n).level for n in ("labdatasets", "loaders", "datasets", "botocore", "extra")}
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    try:
        first = configure_logging(True, stream=stream, extra_loggers=["extra"])
        handler = configure_logging(True, stream=stream, extra_loggers=["extra"])
        assert first not in root.handlers and handler in root.handlers  # one handler, not two
        assert foreign in root.handlers  # a handler that is not ours stays
        assert root.level == logging.WARNING
        assert [logging.getLogger(n).level for n in ("labdatasets", "loaders", "datasets", "extra")] == [logging.DEBUG] * 4
        assert logging.getLogger("botocore").level == levels["botocore"]
        logging.getLogger("labdatasets.test").debug("connecting to mysql://u:dbg-secret@h/db")
        assert stream.getvalue() == "DEBUG labdatasets.test: connecting to mysql://u:***@h/db\n"
        configure_logging(False, stream=stream)
        assert logging.getLogger("labdatasets").level == logging.NOTSET
    finally:
        root.removeHandler(foreign)
        for h in [h for h in root.handlers if getattr(h, "_labdatasets", False)]:
            root.removeHandler(h)
        for h in before[0]:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(before[1])
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


@pytest.mark.parametrize(
    "text, start, end, span",
    [
        ("mysql://u:pw@host/path@x!y", 8, None, (10, 12)),  # the last '@' followed by a host name ends the user info
        ("mysql://u:pw@h\nnext u:x@y", 8, None, (10, 12)),  # a URL ends at the end of its line
        ("mysql://u:pw@h", 8, None, (10, 12)),
        ("mysql://u:p@w@h.lab.", 8, None, (10, 13)),
        ("mysql://u:p@w@h.lab:", 8, None, (10, 13)),
        ("mysql://u:pw@", 8, None, (10, 12)),
        ("mysql://u:pw@ host", 8, None, (10, 12)),
        ("mysql://u:pw@(h)", 8, None, (10, 12)),
        ("mysql://u/x:pw@h", 8, None, None),
        ("mysql://upw@h", 8, None, None),
        ("mysql://u:pw", 8, None, None),
        ("xx mysql://u:pw@h yy", 11, 17, (13, 15)),
        ("xx mysql://u:pw@h yy@z", 11, 17, (13, 15)),
        ("mysql://u:pw@h,more@x", 8, None, (10, 19)),
        ("mysql://u:a@b c@h", 8, None, (10, 15)),
        ("mysql://u:a@bb c@d", 8, None, (10, 16)),  # a one-letter host
        ("mysql://u:a@b c@X", 8, None, (10, 15)),
        ("mysql://u:a@b c@.", 8, None, (10, 11)),  # '.' alone is no host name
        ("mysql://u:a@bb/c@d/x", 8, None, (10, 16)),  # a host name ends at '/'
        ("mysql://u:a@b/@h", 8, None, (10, 14)),
        ("mysql://u:p:w@h", 8, None, (10, 13)),  # the password starts at the FIRST ':'
        ("mysql://u:p@w c@h", 8, 16, (10, 11)),  # nothing past ``end`` is read
        ("root@h: mysql://u:pw@'db'", 16, None, (18, 20)),  # an '@' before ``start`` is not the URL's
        ("x\nmysql://u:pw@h", 10, None, (12, 14)),
        ("mysql://u:pw@h\nroot@x\nend", 8, None, (10, 12)),
        ("\nu:pw@h", 0, None, None),
    ],
)
def test_where_a_password_lies(text, start, end, span):
    from labdatasets.present.redact import url_password_span

    assert (url_password_span(text, start) if end is None else url_password_span(text, start, end)) == span


def test_a_password_span_starts_at_the_beginning_by_default():
    from labdatasets.present.redact import url_password_span

    assert url_password_span(":pw@h") == (1, 3)


@pytest.mark.parametrize(
    "text, shown",
    [
        ("see mysql://u:pa ss@h/db now", "see mysql://u:***@h/db now"),
        ("mysql://u:pw@h/db, and https://x/y?token=1", "mysql://u:***@h/db, and https://x/y?token=***"),
        ("a://b", "a://b"),
        ("x://u:pw@h", "x://u:***@h"),
        ("9+a.b-c://u:pw@h", "9+a.b-c://u:***@h"),
        ("://u:pw@h", "://u:pw@h"),
        ("mysql://u:3306/db and more@x", "mysql://u:3306/db and more@x"),
        ("mysql://u:pw. next", "mysql://u:pw. next"),
        ("mysql://u:p w@h", "mysql://u:***@h"),
        ("mysql://u:p w", "mysql://u:p w"),
        ("mysql://u:12, x@h", "mysql://u:12, x@h"),
        ("mysql://u:pw@host/path@x!y", "mysql://u:***@host/path@x!y"),
        ("first mysql://a:b@h\nthen mysql://c:d@h", "first mysql://a:***@h\nthen mysql://c:***@h"),
        # a password with '@' and a space runs to the last '@' before a host on the line
        ("mysql://u:p@ss w0rd@db", "mysql://u:***@db"),
        ("orders: cannot reach mysql://u:p@ss w0rd@db.lab/shop: timed out", "orders: cannot reach mysql://u:***@db.lab/shop: timed out"),
        ("mysql://u:pw/x y@h/db", "mysql://u:***@h/db"),
        ("mysql://u:pw@h/db: Access denied for user 'u'@'10.0.0.1'", "mysql://u:***@h/db: Access denied for user 'u'@'10.0.0.1'"),
        ("mysql://reader@db:3306/shop as reader@host", "mysql://reader@db:3306/shop as reader@host"),
        ("mysql://u@corp:p@ss w0rd@db", "mysql://u@corp:***@db"),  # a user name may hold '@'
        # schemes: letters, digits and + - . right before '://'
        ("x-://u:pw@h", "x-://u:***@h"),
        ("see ://u:pw@h", "see ://u:pw@h"),
        ("://x and mysql://u:pw@h", "://x and mysql://u:***@h"),
        ("ftp://user@host/file, then mysql://u:pw@h", "ftp://user@host/file, then mysql://u:***@h"),
        # a URL ends at its line and at the next URL
        ("mysql://u:pw x\nroot@h\nend", "mysql://u:pw x\nroot@h\nend"),
        ("mysql://u:pw@h, https://x@y, ftp://z", "mysql://u:***@h, https://x@y, ftp://z"),
    ],
)
def test_urls_in_free_text(text, shown):
    assert redact(text) == shown


@pytest.mark.parametrize(
    "token, goes_on",
    [("u:pw", True), ("u:pw,", True), ("u::pw", True), ("u:1:2", True), ("u:12.", False), ("u:12)", False),
     ("u:3306", False), ("u:3306/db", False), ("u:12,/x", False), ("u:pw/x", True), ("a:b/c", True), ("h/a:b", False),
     ("u:p@ss", True), ("u:@h", True), ("u@h:pw", False), ("u@h:3306", False), ("@h:pw", False), ("u@h:p@x", True),
     ("u:3306/db/t", False), ("h:a3306", True), ("u:12X", True), (":pw", False), ("u:", False), ("upw", False)],
)
def test_a_password_may_go_on_past_a_space(token, goes_on):
    from labdatasets.present.redact import _may_continue_past_space

    assert _may_continue_past_space(token) is goes_on


def test_pure_url_reading_when_sqlalchemy_reads_it_differently():
    # SQLAlchemy 2.0 renders the database name as given, 2.1 percent-encodes it: both hide the
    # password and name the same database.
    from urllib.parse import unquote

    shown = redact_url("mysql://u:pw@host/path@x!y")
    assert "pw" not in shown
    assert unquote(shown) == "mysql://u:***@host/path@x!y"
    assert url_password("mysql://u:p w@h/db") == "p w"
    assert redact_url("x://u:pw@h/d?sig=1&pwd=2") == "x://u:***@h/d?pwd=***&sig=***"
