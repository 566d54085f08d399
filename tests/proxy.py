"""A small HTTP forwarder on loopback that adds latency and injects faults.

Object stores in production are tens of milliseconds away, and they fail in
ways a local emulator never does. :class:`FaultProxy` sits between a client
and a real server on 127.0.0.1 (moto, the GCS emulator, the Sheets test
server) and forwards every request unchanged, after ``delay`` seconds, unless
a :class:`Fault` rule matches it::

    with FaultProxy("http://127.0.0.1:5000", delay=0.020) as proxy:
        client = boto3.client("s3", endpoint_url=proxy.url)       # every request costs 20 ms more

    faults = [Fault("status", status=503, method="GET", times=2),      # the first two GETs get a 503
              Fault("drop", path=r"/bucket/key", times=1),             # the connection closes, no answer
              Fault("truncate", keep_bytes=100, times=1)]              # the body stops after 100 bytes
    with FaultProxy(upstream, faults=faults) as proxy:
        ...
    proxy.requests   # every request seen: (method, path, headers, what was done)

Faults can also fire at random, reproducibly (the fault-injection suite in tests/faults/)::

    with FaultProxy(upstream, seed=7) as proxy:
        proxy.add(Fault("truncate", probability=0.05, method="GET"))   # 5% of GETs cut short
        proxy.add(Fault("corrupt", path="alt=media", times=1))          # one body with a byte flipped
        proxy.add(Fault("header", headers={"Content-Encoding": "gzip"}))  # an answer as GCS serves a gzip-encoded object
        ...
        proxy.stats      # {"requests": 40, "truncate": 2, "corrupt": 1, ...}

It is bounded: it serves for ``lifetime`` seconds at most, then stops by
itself (so a test that forgets it cannot leave it running), and its threads
are daemons. Run it as a process for benchmarks (its CPU then does not share
the measured process's interpreter)::

    python -m tests.proxy --upstream http://127.0.0.1:5000 --delay 0.02 --port 0 --lifetime 900

which prints ``listening on http://127.0.0.1:<port>`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import http.server
import random
import re
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

__all__ = ["Fault", "FaultProxy", "SeenRequest"]

# Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own business, never forwarded.
_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
}
_COPY_BYTES = 256 << 10
KINDS = ("status", "drop", "truncate", "corrupt", "delay", "header")


@dataclasses.dataclass
class Fault:
    """One fault rule; the first rule that matches a request (and has uses left) applies to it.

    Args:
        kind: ``"status"`` (answer ``status`` without forwarding, with ``body`` if given), ``"drop"`` (close the
            connection without answering), ``"truncate"`` (forward, then send only
            ``keep_bytes`` of the response body under its full Content-Length and
            close), ``"corrupt"`` (forward the whole answer with one byte of its body flipped),
            ``"header"`` (forward the answer with ``headers`` set on it, as a server that adds them would)
            or ``"delay"`` (forward after ``seconds`` more).
        method: only requests with this method (``GET``, ``PUT``...); None for any.
        path: only requests whose path and query match this regular expression (``re.search``).
        times: how many matching requests it applies to; None for all of them.
        skip: let this many matching requests through untouched first.
        probability: the chance that it applies to a matching request (drawn from the
            proxy's ``seed``, so a run is reproducible); 1.0 applies to every one.
        body: what a ``"status"`` answer carries (``application/xml``), e.g. an S3 error document
            ``<Error><Code>SlowDown</Code></Error>``; None for a short text/plain body.
    """

    kind: str
    method: str | None = None
    path: str | None = None
    times: int | None = None
    skip: int = 0
    status: int = 503
    keep_bytes: int = 0
    seconds: float = 0.0
    probability: float = 1.0
    body: bytes | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    _seen: int = dataclasses.field(default=0, repr=False)
    _applied: int = dataclasses.field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, got {self.probability}")

    def _claim(self, method: str, path: str, rng: random.Random | None = None) -> bool:
        """Whether this rule applies to the request (counting it); called under the proxy's lock."""
        if self.method is not None and method != self.method.upper():
            return False
        if self.path is not None and not re.search(self.path, path):
            return False
        self._seen += 1
        if self._seen <= self.skip or (self.times is not None and self._applied >= self.times):
            return False
        if self.probability < 1.0 and (rng or random).random() >= self.probability:
            return False
        self._applied += 1
        return True

    @property
    def applied(self) -> int:
        """How many requests this rule has applied to."""
        return self._applied


@dataclasses.dataclass(frozen=True)
class SeenRequest:
    """A request the proxy received, and what it did with it (``forwarded`` or the fault's kind)."""

    method: str
    path: str
    headers: dict[str, str]
    action: str


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients of object stores use it
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        proxy = self.server.proxy
        body = self._body()
        fault = proxy._match(self.command, self.path)
        action = fault.kind if fault is not None else "forwarded"
        proxy._record(SeenRequest(self.command, self.path, dict(self.headers.items()), action))
        time.sleep(proxy.delay + (fault.seconds if fault is not None and fault.kind == "delay" else 0.0))
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.kind == "status":
            payload = fault.body if fault.body is not None else f"injected fault: HTTP {fault.status}".encode()
            self.send_response(fault.status)
            self.send_header("Content-Type", "text/plain" if fault.body is None else "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        upstream = proxy._upstream_connection()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if body or self.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(body))
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
        except (OSError, http.client.HTTPException):
            proxy._drop_upstream()
            self.send_error(502, "upstream unreachable")
            return
        truncate = fault is not None and fault.kind == "truncate"
        corrupt = fault is not None and fault.kind == "corrupt"
        try:
            extra = fault.headers if fault is not None and fault.kind == "header" else None
            self._relay(response, keep=fault.keep_bytes if truncate else None, corrupt=corrupt, extra=extra)
        finally:
            if response.will_close or truncate or not response.isclosed():
                proxy._drop_upstream()  # its connection has unread bytes (or is gone): never reuse it

    def _relay(
        self, response: http.client.HTTPResponse, keep: int | None, corrupt: bool = False, extra: dict[str, str] | None = None
    ) -> None:
        length = response.getheader("Content-Length")
        body: bytes | None = None
        if length is None and self.command != "HEAD" and response.status not in (204, 304):
            body = response.read()  # chunked or close-delimited upstream: forward with a length
            length = str(len(body))
        self.send_response_only(response.status, response.reason)
        replaced = {name.lower() for name in extra or ()}
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length" and name.lower() not in replaced:
                self.send_header(name, value)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", length)
        if keep is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            response.read()
            return
        remaining = keep if keep is not None else None
        chunks = [body] if body is not None else iter(lambda: response.read(_COPY_BYTES), b"")
        for chunk in chunks:
            if corrupt and chunk:  # one flipped byte in the first piece of the body
                at = self.server.proxy._rng.randrange(len(chunk))
                chunk = chunk[:at] + bytes([chunk[at] ^ 0x01]) + chunk[at + 1 :]
                corrupt = False
            if remaining is not None:
                chunk = chunk[:remaining]
                remaining -= len(chunk)
            if chunk:
                self.wfile.write(chunk)
            if remaining == 0:
                break
        if keep is not None:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            response.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    proxy: FaultProxy


class FaultProxy:
    """Forward HTTP from a port on 127.0.0.1 to ``upstream``; see the module docstring.

    Args:
        upstream: ``http://127.0.0.1:<port>`` of the real server.
        delay: seconds added before every request is answered (a round trip to a real bucket: 0.020).
        faults: :class:`Fault` rules, tried in order.
        port: where to listen (0: any free port).
        lifetime: seconds after which the proxy stops by itself.
        seed: seeds the draws of rules with a ``probability`` (and where ``corrupt`` flips a byte).
    """

    def __init__(
        self,
        upstream: str,
        *,
        delay: float = 0.0,
        faults: Sequence[Fault] = (),
        port: int = 0,
        lifetime: float = 600.0,
        seed: int = 0,
    ):
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or parsed.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"FaultProxy forwards to a plain http:// server on loopback, not {upstream!r}")
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.delay = delay
        self.faults = list(faults)
        self.lifetime = lifetime
        self.requests: list[SeenRequest] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.proxy = self
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True, name="fault-proxy")
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._thread is not None and self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def add(self, fault: Fault) -> Fault:
        """Add a rule while the proxy runs (after the ones given at construction)."""
        with self._lock:
            self.faults.append(fault)
        return fault

    @property
    def stats(self) -> dict[str, int]:
        """``{"requests": n, "<kind>": how many requests each kind of fault applied to, ...}``."""
        with self._lock:
            seen = [r.action for r in self.requests]
        return {"requests": len(seen), **{kind: seen.count(kind) for kind in KINDS}}

    # ------------------------------------------------------------------ used by the handler threads
    def _match(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault._claim(method, path, self._rng):
                    return fault
        return None

    def _record(self, seen: SeenRequest) -> None:
        with self._lock:
            self.requests.append(seen)

    def _upstream_connection(self) -> http.client.HTTPConnection:
        """This handler thread's keep-alive connection to the upstream server."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        return conn

    def _drop_upstream(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Forward HTTP on 127.0.0.1 to a loopback server, adding a delay.")
    parser.add_argument("--upstream", required=True, help="http://127.0.0.1:<port> of the real server")
    parser.add_argument("--delay", type=float, default=0.020, help="seconds added to every request (default 0.020)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    parser.add_argument("--lifetime", type=float, default=600.0, help="stop by itself after this many seconds")
    args = parser.parse_args(argv)
    proxy = FaultProxy(args.upstream, delay=args.delay, port=args.port, lifetime=args.lifetime).start()
    print(f"listening on {proxy.url}", flush=True)
    assert proxy._thread is not None
    proxy._thread.join(args.lifetime + 5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
