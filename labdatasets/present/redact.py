"""Remove secrets from anything that may reach a pin record, a log line or an error.

Connectors call :func:`redact` on every location before recording or showing it.

Example::

    >>> redact("mysql+pymysql://reader:s3cret@db:3306/shop?password=x")
    'mysql+pymysql://reader:***@db:3306/shop?password=***'
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["redact", "redact_mapping", "SECRET_KEYS"]

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
        "signature",
        "sig",
    }
)

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s/]*)@")
_QUERY_SECRET = re.compile(r"(?P<key>[?&;](?:" + "|".join(re.escape(k) for k in SECRET_KEYS) + r"))=(?P<val>[^&;\s]*)", re.I)
_AWS_KEY = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)


def redact(text: Any) -> str:
    """Return ``text`` as a string with passwords, tokens and keys replaced by ``***``."""
    out = str(text)
    out = _PEM.sub("***", out)
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", out)
    out = _QUERY_SECRET.sub(lambda m: f"{m['key']}=***", out)
    out = _AWS_KEY.sub("***", out)
    out = _BEARER.sub(lambda m: f"{m.group(1)}***", out)
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
