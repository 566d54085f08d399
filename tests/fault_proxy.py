"""A fault-injecting HTTP forwarder for tests: 5xx answers, dropped connections, truncated or
corrupted bodies and delays, by rule and probability, reproducible by seed.

It sits on 127.0.0.1 in front of a real server (the moto S3 server, the GCS emulator),
forwards every request unchanged and answers with the server's response, except where a
rule fires::

    from tests.fault_proxy import Fault, FaultProxy

    with FaultProxy(moto_url, seed=7) as proxy:
        proxy.add(Fault("truncate", probability=0.05, method="GET"))   # 5% of GETs cut short
        proxy.add(Fault("status", status=503, times=2, path="/objects/"))
        proxy.add(Fault("delay", seconds=0.2, method="PUT"))
        os.environ["AWS_ENDPOINT_URL_S3"] = proxy.url
        ...
        proxy.stats   # {"requests": 40, "truncate": 2, "status": 2, "delay": 5, ...}

Kinds:

* ``status``: answer ``status`` (default 503) with a small S3-style XML error body, without
  asking the server.
* ``drop``: read the request, then close the connection without a byte of answer.
* ``truncate``: send the server's status and headers (with the full ``Content-Length``)
  and only the first ``keep`` fraction of the body, then close the connection.
* ``corrupt``: send the server's whole answer with one byte of the body flipped.
* ``delay``: wait ``seconds`` before forwarding (the answer itself is intact).

The first rule that matches a request (method, path substring, header present) and whose
coin comes up (``probability``, from one ``random.Random(seed)``) fires; ``times`` caps how
often a rule fires. ``truncate`` and ``corrupt`` only fire on answers with a body.

Bounded and self-stopping: the server runs in daemon threads, stops itself after
``lifetime`` seconds or ``max_requests`` requests (answering 503 after that), and
``stop()`` (or leaving the ``with`` block) ends it at once.
"""

from __future__ import annotations

import dataclasses
import http.client
import random
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Fault", "FaultProxy"]

KINDS = ("status", "drop", "truncate", "corrupt", "delay")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclasses.dataclass
class Fault:
    """One rule; see the module docstring."""

    kind: str
    probability: float = 1.0
    method: str | None = None
    path: str | None = None  # a substring of the request path (and query)
    header: str | None = None  # only requests carrying this header (e.g. "Range")
    times: int | None = None  # fire at most this many times
    status: int = 503
    seconds: float = 0.2
    keep: float = 0.5
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {KINDS}")
        if not 0.0 <= self.probability <= 1.0 or not 0.0 <= self.keep < 1.0 or not 0 <= self.seconds <= 30:
            raise ValueError(f"bad fault parameters: {self}")

    def matches(self, method: str, path: str, headers: Any) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.method and self.method.upper() != method:
            return False
        if self.path and self.path not in urllib.parse.unquote(path):
            return False
        return not (self.header and self.header not in headers)


class FaultProxy:
    """The forwarder; see the module docstring. ``upstream`` is ``http://host:port``."""

    def __init__(self, upstream: str, *, seed: int = 0, lifetime: float = 600.0, max_requests: int = 100_000):
        parsed = urllib.parse.urlsplit(upstream if "://" in upstream else f"http://{upstream}")
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.rng = random.Random(seed)
        self.rules: list[Fault] = []
        self.max_requests = max_requests
        self.stats: dict[str, int] = {"requests": 0, **{k: 0 for k in KINDS}}
        self.log: list[tuple[str, str, str]] = []  # (method, path, fault or "")
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True
        self._stopped = False

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def host(self) -> str:
        """``127.0.0.1:port`` (what STORAGE_EMULATOR_HOST-style variables want without a scheme)."""
        return self.url.split("://", 1)[1]

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def start(self) -> FaultProxy:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _choose(self, method: str, path: str, headers: Any) -> Fault | None:
        with self._lock:
            self.stats["requests"] += 1
            if self.stats["requests"] > self.max_requests:
                return Fault("status", status=503)
            for rule in self.rules:
                if rule.matches(method, path, headers) and self.rng.random() < rule.probability:
                    return rule
        return None

    def _count(self, rule: Fault, method: str, path: str) -> None:
        with self._lock:
            rule.fired += 1
            self.stats[rule.kind] += 1
            self.log.append((method, path, rule.kind))


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read proxy.log instead
            pass

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _forward(self) -> None:
            method = self.command
            body = self._body()
            rule = proxy._choose(method, self.path, self.headers)
            if rule is not None and rule.kind == "delay":
                proxy._count(rule, method, self.path)
                threading.Event().wait(rule.seconds)
                rule = None
            if rule is not None and rule.kind == "drop":
                proxy._count(rule, method, self.path)
                self._hang_up()
                return
            if rule is not None and rule.kind == "status":
                proxy._count(rule, method, self.path)
                payload = (
                    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code>'
                    b"<Message>injected by the fault proxy</Message></Error>"
                )
                self.send_response(rule.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(payload)
                return
            status, reason, headers, data = self._upstream(method, body)
            if rule is not None and (not data or method == "HEAD"):
                rule = None  # nothing to cut or flip
            self.send_response(status, reason)
            for name, value in headers:
                # A HEAD answer keeps the server's Content-Length: the size of what a GET would send.
                if name.lower() not in _HOP_BY_HOP and (name.lower() != "content-length" or method == "HEAD"):
                    self.send_header(name, value)
            if method != "HEAD":
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if method == "HEAD":
                return
            if rule is not None and rule.kind == "truncate":
                proxy._count(rule, method, self.path)
                self.wfile.write(data[: int(len(data) * rule.keep)])
                self.wfile.flush()
                self._hang_up()
                return
            if rule is not None and rule.kind == "corrupt":
                proxy._count(rule, method, self.path)
                at = proxy.rng.randrange(len(data))
                data = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
            with proxy._lock:
                proxy.log.append((method, self.path, ""))
            self.wfile.write(data)

        def _upstream(self, method: str, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
            conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if body or method in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                    headers.pop("content-length", None)
                conn.request(method, self.path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
                return response.status, response.reason, response.getheaders(), data
            finally:
                conn.close()

        def _hang_up(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _forward

    return Handler
