"""Remove secrets from anything that may reach a pin record, a log line or an error.

Connectors call :func:`redact_url` on every location before recording or showing
it, and every message, log record and traceback the command line prints goes
through :func:`redact`. Three layers, from the most to the least certain:

1. **Known secrets.** Passwords that labdatasets itself resolved (a named
   connection's URL, a ``password_env`` variable) are registered with
   :func:`register_secret`, and the values of secret-named environment
   variables (``*PASSWORD*``, ``*SECRET*``, ``*TOKEN*``, ``*PRIVATE_KEY*``,
   ``*API_KEY*``, and the password of every ``LABDATASETS_CONNECTION_*``) are
   read when redacting. Any occurrence of one of them, raw or percent-encoded,
   becomes ``***`` wherever it appears.
2. **URLs, by parsing.** A password may hold any character (``@ / : # ? %``
   and spaces included), so URLs are parsed, not matched: SQLAlchemy's own
   parser (:func:`sqlalchemy.engine.make_url`, rendered with
   ``hide_password=True``) when it is installed, and a pure parser
   (:func:`url_password_span`) that takes the user info to end at the LAST
   ``@`` that is followed by a host name. When the two disagree (a raw ``@``
   in a password), whichever hides more wins: a redacted URL may lose part of
   its host, never keep part of a password. In free text the same holds across
   spaces: after ``user:`` the password runs to the last ``@`` followed by a host
   name on the line (before the next URL), so a later ``name@host`` on that line
   is hidden with it.
3. **Shapes.** Query parameters named like secrets, AWS key ids, bearer tokens
   and PEM private keys.

Example::

    >>> redact_url("mysql+pymysql://reader:p/ss@word@db:3306/shop")
    'mysql+pymysql://reader:***@db:3306/shop'
    >>> redact("cannot reach mysql://u:a b@c@db/x: timed out")
    'cannot reach mysql://u:***@db/x: timed out'
"""

from __future__ import annotations

import logging
import os
import re
import threading
import traceback
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

__all__ = [
    "redact",
    "redact_url",
    "redact_mapping",
    "redact_traceback",
    "url_password",
    "url_password_span",
    "ambiguous_password",
    "register_secret",
    "RedactingFilter",
    "configure_logging",
    "SECRET_KEYS",
]

SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "aws_secret_access_key",
        "aws_session_token",
        "secret_access_key",
        "session_token",
        "private_key",
        "private_key_id",
        "client_secret",
        "api_key",
        "apikey",
        "key_secret",
        "credentials",
        "x-amz-security-token",
        "x-amz-signature",
        "x-amz-credential",
        "signature",
        "sig",
        "authorization",
    }
)

# Environment variables whose values are secrets, by name.
_SECRET_ENV_WORDS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "PRIVATE_KEY", "API_KEY")
_CONNECTION_ENV_PREFIX = "LABDATASETS_CONNECTION_"
# Shorter values are not scrubbed from free text: they would mangle ordinary words.
_MIN_SECRET_LEN = 4
# Values of secret-named variables that are settings, not secrets.
_NOT_SECRETS = frozenset({"enabled", "disabled", "required", "optional", "default"})

# Characters of a host, an IPv6 literal and a port: what may follow the '@' that ends the user info.
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_[]:%")
# Characters that end a host in free text ("host:3306/db", "host, then", "(host)").
_HOST_END = frozenset("/?#,;)'\"<>")

_QUERY_SECRET = re.compile(r"(?P<key>[?&;](?:" + "|".join(re.escape(k) for k in SECRET_KEYS) + r"))=(?P<val>[^&;\s]*)", re.I)
_HEADER_SECRET = re.compile(
    r"(?P<key>['\"]?(?:x-amz-security-token|authorization|x-goog-iam-authorization-token)['\"]?\s*[:=]\s*['\"]?)"
    r"(?!bearer\s+\*\*\*)(?P<val>[^'\"\s][^'\"\n]*)",
    re.I,
)
_AWS_KEY = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)

_lock = threading.Lock()
_registered: set[str] = set()


# ---------------------------------------------------------------------- known secrets
def _variants(secret: str) -> set[str]:
    """A secret as it may be printed: raw, percent-encoded (both ways), decoded."""
    out = {secret, quote(secret, safe=""), quote(secret), quote(secret, safe="").replace("%20", "+")}
    if "%" in secret:
        out.add(unquote(secret))
    return {v for v in out if len(v) >= _MIN_SECRET_LEN}


def register_secret(secret: str | None) -> None:
    """Scrub ``secret`` (and its percent-encoded forms) from everything redacted in this process."""
    if secret:
        with _lock:
            _registered.update(_variants(str(secret)))


def _environment_secrets() -> set[str]:
    found: set[str] = set()
    for name, value in os.environ.items():
        if not value:
            continue
        upper = name.upper()
        if upper.startswith(_CONNECTION_ENV_PREFIX):
            password = url_password(value)
            if password:
                found |= _variants(password)
        elif any(word in upper for word in _SECRET_ENV_WORDS) and len(value) >= 6 and value.lower() not in _NOT_SECRETS:
            found |= _variants(value)  # flags such as SECRET_SCANNING=enabled are not secrets
    return found


def _known_secrets() -> list[str]:
    with _lock:
        known = set(_registered)
    known |= _environment_secrets()
    return sorted(known, key=len, reverse=True)  # a longer secret first: it may contain a shorter one


# ---------------------------------------------------------------------- URLs, parsed
def _host_like(segment: str) -> bool:
    return bool(segment) and all(c in _HOST_CHARS for c in segment)


def url_password_span(text: str, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """Where the password of the URL whose user info starts at ``text[start]`` lies, or None.

    ``start`` is just after ``scheme://``; ``end`` bounds the URL (default: the
    end of the line). The user info ends at the LAST ``@`` followed by a host
    name (letters, digits, ``.-_[]:%``, up to ``/ ? #``, a space or the end), so
    a password may hold any character, ``@`` included; if no ``@`` is followed by
    a host name, at the last ``@``. The password runs from the first ``:`` of
    the user info to that ``@``. A user name cannot hold ``/`` (no URL grammar
    allows it), which keeps paths such as ``s3://bucket/a:b@c`` intact.
    """
    if end is None:
        newline = text.find("\n", start)
        end = len(text) if newline < 0 else newline
    ats = [k for k in range(start, end) if text[k] == "@"]
    if not ats:
        return None
    chosen = None
    for k in reversed(ats):
        stop = k + 1
        while stop < end and text[stop] not in _HOST_END and not text[stop].isspace():
            stop += 1
        segment = text[k + 1 : stop].rstrip(".:")
        if _host_like(segment):
            chosen = k
            break
    if chosen is None:
        chosen = ats[-1]
    userinfo = text[start:chosen]
    colon = userinfo.find(":")
    if colon < 0 or "/" in userinfo[:colon]:
        return None
    return start + colon + 1, chosen


def url_password(url: str) -> str | None:
    """The password of a URL as SQLAlchemy would use it, or as the pure parser reads it; None if none.

    Used to register the password of a connection URL as a secret and to refuse
    passwords in builder code.
    """
    url = str(url)
    found = None
    try:
        from sqlalchemy.engine import make_url

        found = make_url(url).password
    except Exception:  # noqa: BLE001 - not installed, or not a URL SQLAlchemy reads: the pure parser decides
        found = None
    scheme_end = url.find("://")
    span = url_password_span(url, scheme_end + 3, len(url)) if scheme_end > 0 else None
    raw = url[span[0] : span[1]] if span else None
    # The longer reading hides more: a raw '@' makes SQLAlchemy stop early.
    candidates = [c for c in (str(found) if found is not None else None, raw) if c]
    return max(candidates, key=len) if candidates else None


def ambiguous_password(url: str) -> bool:
    """Whether SQLAlchemy would read less of the password than is there (a raw ``@`` in it).

    SQLAlchemy ends the password at the FIRST ``@`` and takes the rest for the
    host, so the driver's error messages would then show part of the password as
    a host name. Such a URL is refused before it is used.
    """
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(str(url)).password
    except Exception:  # noqa: BLE001 - not installed or not a SQLAlchemy URL: nothing to compare with
        return False
    hidden = _hidden_part(str(url))
    return bool(hidden) and unquote(hidden) != ("" if parsed is None else str(parsed))


def _redact_url_pure(url: str) -> str:
    scheme_end = url.find("://")
    if scheme_end <= 0:
        return url
    span = url_password_span(url, scheme_end + 3, len(url))
    out = url if span is None else url[: span[0]] + "***" + url[span[1] :]
    return _QUERY_SECRET.sub(lambda m: f"{m['key']}=***", out)


def redact_url(url: Any) -> str:
    """A URL (a string or a SQLAlchemy ``URL``) with its password and secret query values as ``***``.

    Parsed twice, by SQLAlchemy (if installed) and by the pure parser; the
    result keeps no character of either reading of the password.
    """
    if url is None:
        return ""
    if not isinstance(url, str) and hasattr(url, "render_as_string"):
        rendered = url.render_as_string(hide_password=True)
        return _scrub(_QUERY_SECRET.sub(lambda m: f"{m['key']}=***", rendered))
    text = str(url)
    pure = _redact_url_pure(text)
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(text)
    except Exception:  # noqa: BLE001 - not installed, or not a URL SQLAlchemy reads
        return _scrub(pure)
    hidden = _hidden_part(text)
    sa_password = "" if parsed.password is None else str(parsed.password)
    if hidden and unquote(hidden) != sa_password and hidden != sa_password:
        return _scrub(pure)  # the readings disagree (a raw '@' in the password): the pure one hides more
    rendered = parsed.render_as_string(hide_password=True)
    return _scrub(_QUERY_SECRET.sub(lambda m: f"{m['key']}=***", rendered))


def _hidden_part(text: str) -> str:
    scheme_end = text.find("://")
    span = url_password_span(text, scheme_end + 3, len(text)) if scheme_end > 0 else None
    return text[span[0] : span[1]] if span else ""


# ---------------------------------------------------------------------- free text
def _redact_urls_in_text(text: str) -> str:
    out: list[str] = []
    pos = 0
    while True:
        found = text.find("://", pos)
        if found < 0:
            break
        # The scheme: letters, digits, + - . before "://".
        s = found
        while s > 0 and (text[s - 1].isalnum() or text[s - 1] in "+-."):
            s -= 1
        if s == found:
            out.append(text[pos : found + 3])
            pos = found + 3
            continue
        start = found + 3
        newline = text.find("\n", start)
        line_end = len(text) if newline < 0 else newline
        # The URL ends at the next URL on the line, if any.
        nxt = text.find("://", start)
        bound = line_end if nxt < 0 or nxt > line_end else nxt
        token_end = start
        while token_end < bound and not text[token_end].isspace():
            token_end += 1
        token = text[start:token_end]
        if _may_continue_past_space(token):
            # user:password: the password may hold spaces and '@', so it runs to the LAST '@'
            # followed by a host name on the line (before the next URL), as urllib reads it
            span = url_password_span(text, start, bound)
        elif "@" in token:
            span = url_password_span(text, start, token_end)
        else:
            span = None
        if span is None:
            out.append(text[pos:start])
            pos = start
            continue
        out.append(text[pos : span[0]] + "***")
        pos = span[1]
    out.append(text[pos:])
    return "".join(out)


def _may_continue_past_space(token: str) -> bool:
    """Whether the first word of a URL starts ``user:password`` that may go on past a space.

    It does when a colon inside the word comes before any ``/`` and before the last ``@``
    (``user@host:port`` holds no password; a user name may hold ``@``) and is not a port
    (``host:3306``, ``host:3306/db``). A word that ends at its colon
    (``gs://bucket: denied for sa@proj...``) is a phrase, not a password.
    """
    colon = token.find(":")
    if colon <= 0 or colon == len(token) - 1 or "/" in token[:colon]:
        return False
    at = token.rfind("@")
    if at >= 0:
        return colon < at
    return not token[colon + 1 :].split("/", 1)[0].rstrip(".,;)").isdigit()


def _scrub(text: str) -> str:
    for secret in _known_secrets():
        if secret in text:
            text = text.replace(secret, "***")
    return text


def redact(text: Any) -> str:
    """Return ``text`` as a string with passwords, tokens and keys replaced by ``***``."""
    out = _scrub(str(text))
    out = _PEM.sub("***", out)
    out = _redact_urls_in_text(out)
    out = _QUERY_SECRET.sub(lambda m: f"{m['key']}=***", out)
    out = _BEARER.sub(lambda m: f"{m.group(1)}***", out)
    out = _HEADER_SECRET.sub(lambda m: f"{m['key']}***", out)
    out = _AWS_KEY.sub("***", out)
    return out


def redact_mapping(data: Any) -> Any:
    """Recursively redact a JSON-like structure; values under secret-looking keys become ``***``."""
    if isinstance(data, dict):
        return {
            k: ("***" if str(k).lower() in SECRET_KEYS and v else redact_mapping(v)) for k, v in data.items()
        }
    if isinstance(data, (list, tuple)):
        return type(data)(redact_mapping(v) for v in data)
    if isinstance(data, str):
        return redact(data)
    return data


def redact_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` (with its causes) as text, redacted line by line."""
    return redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


# ---------------------------------------------------------------------- logging
class RedactingFilter(logging.Filter):
    """A handler filter that redacts each record's message and traceback before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not hide the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_traceback(record.exc_info[1])
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# Loggers of our own packages: the only ones --debug turns up.
OWN_LOGGERS = ("labdatasets", "loaders", "datasets")


def configure_logging(debug: bool, *, stream: Any = None, extra_loggers: Iterable[str] = ()) -> logging.Handler:
    """Log to stderr through :class:`RedactingFilter`; ``debug`` turns up OUR loggers only.

    Third-party loggers (botocore, urllib3, google, sqlalchemy, apache_beam...) stay at
    WARNING even with ``--debug``: botocore logs request headers, signatures and
    ``X-Amz-Security-Token`` at DEBUG, and no wire header belongs in a terminal or a CI log.
    """
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_labdatasets", False)]:
        root.removeHandler(old)
    handler._labdatasets = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in (*OWN_LOGGERS, *extra_loggers):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.NOTSET)
    return handler
