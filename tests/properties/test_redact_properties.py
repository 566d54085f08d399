"""Property tests for redaction: no password of a URL survives, whatever characters it holds.

Passwords are printable ASCII (``@ : / space % # ?`` and quotes included) embedded in URLs
of the schemes labdatasets reads: MySQL, PostgreSQL, S3 and GCS with keys, HTTPS with
user:pass. Both :func:`redact_url` (one URL) and :func:`redact` (a URL inside an error
message) must show the URL with ``***`` for the password and keep the rest readable.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from labdatasets.present import redact as redact_module
from labdatasets.present.redact import redact, redact_url

# scheme, user, host and path as an error message would show them
URLS = [
    ("mysql", "reader", "db.lab:3306", "/shop"),
    ("mysql+pymysql", "reader", "db.lab", "/shop"),
    ("postgresql", "reader", "[::1]:5432", "/shop"),
    ("s3", "AKIAIOSFODNN7EXAMPLE", "bucket", "/raw/orders.csv"),
    ("gs", "sa-reader", "bucket", "/raw"),
    ("https", "reader", "files.lab", "/data/orders.csv"),
]
AWKWARD = ["@", ":", "/", " ", "%", "#", "?", "%40", "@h", "@db.lab", " w0rd@", "p@ss w0rd", ":3306", "'", '"']
passwords = st.lists(
    st.sampled_from(AWKWARD) | st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=12
).map("".join)


@pytest.fixture(autouse=True)
def no_known_secrets(monkeypatch):
    """Only the URL layer is tested: no registered or environment secret helps."""
    monkeypatch.setattr(redact_module, "_registered", set())
    for name in list(os.environ):
        upper = name.upper()
        if upper.startswith("LABDATASETS_CONNECTION_") or any(w in upper for w in redact_module._SECRET_ENV_WORDS):
            monkeypatch.delenv(name)


def _free_text_readable(password: str) -> bool:
    """Passwords that free text cannot tell from something else (so only redact_url hides them).

    ``://`` reads as the start of a second URL; a leading space as the end of a
    ``scheme://host:`` phrase (``gs://bucket: denied for sa@...``); a first word of digits
    (``reader:3306 x@h``, ``reader:12/x y@h``) as a port.
    """
    first = password.split(" ", 1)[0]
    return "://" not in password and not password.startswith(" ") and not (
        " " in password and first.split("/", 1)[0].rstrip(".,;)").isdigit()
    )


settings_ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings_
@given(st.sampled_from(URLS), passwords)
@example(URLS[0], "p@ss w0rd")  # was shown as 'reader:***@ss w0rd@db.lab...'
@example(URLS[1], "Mn8:Lb4#Hc6?Tf3%Ud1 Vy2/Ew5@Oa9")
@example(URLS[3], "a/b@c d@e")
def test_no_password_survives(parts, password):
    scheme, user, host, path = parts
    url = f"{scheme}://{user}:{password}@{host}{path}"
    assert redact_url(url) == f"{scheme}://{user}:***@{host}{path}"
    if _free_text_readable(password):
        shown_user = "***" if user.startswith("AKIA") else user  # an AWS key id is a secret in free text
        message = f"orders/v1: cannot reach {url}: timed out"
        assert redact(message) == f"orders/v1: cannot reach {scheme}://{shown_user}:***@{host}{path}: timed out"
