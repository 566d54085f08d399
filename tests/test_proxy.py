"""The latency and fault proxy of tests/proxy.py, against a real HTTP server on loopback."""

from __future__ import annotations

import http.client
import http.server
import subprocess
import sys
import threading
import time
from pathlib import Path
from collections.abc import Iterator

import pytest

from tests.proxy import Fault, FaultProxy

BODY = bytes(range(256)) * 400  # 100 KiB


class _Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"abc", b"defg"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("X-Path", self.path)
        self.end_headers()
        self.wfile.write(BODY)

    def do_PUT(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[::-1])


@pytest.fixture
def upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def request(proxy: FaultProxy, method: str = "GET", path: str = "/x", body: bytes | None = None) -> tuple[int, bytes, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def test_forwards_requests_and_bodies_unchanged(upstream):
    with FaultProxy(upstream) as proxy:
        status, body, headers = request(proxy, path="/a/b?c=1")
        assert (status, body, headers["X-Path"]) == (200, BODY, "/a/b?c=1")
        assert request(proxy, "PUT", "/up", b"hello")[:2] == (201, b"olleh")
        assert request(proxy, path="/chunked")[:2] == (200, b"abcdefg")
    assert [(r.method, r.path, r.action) for r in proxy.requests] == [
        ("GET", "/a/b?c=1", "forwarded"), ("PUT", "/up", "forwarded"), ("GET", "/chunked", "forwarded"),
    ]


def test_keeps_connections_alive(upstream):
    with FaultProxy(upstream) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        for _ in range(3):
            conn.request("GET", "/again")
            assert conn.getresponse().read() == BODY
        conn.close()
    assert len(proxy.requests) == 3


def test_adds_the_delay_to_every_request(upstream):
    with FaultProxy(upstream, delay=0.05) as proxy:
        start = time.monotonic()
        request(proxy)
        request(proxy)
        # A lower bound only (sleeping is never shorter than asked); no upper bound is checked.
        assert time.monotonic() - start >= 0.1


def test_status_faults_apply_as_many_times_as_asked(upstream):
    faults = [Fault("status", status=503, method="GET", path="^/flaky", skip=1, times=2)]
    with FaultProxy(upstream, faults=faults) as proxy:
        statuses = [request(proxy, path="/flaky")[0] for _ in range(4)]
        assert request(proxy, "PUT", "/flaky", b"x")[0] == 201  # another method: untouched
    assert statuses == [200, 503, 503, 200]
    assert faults[0].applied == 2
    assert [r.action for r in proxy.requests] == ["forwarded", "status", "status", "forwarded", "forwarded"]


def test_dropped_connections_answer_nothing(upstream):
    with FaultProxy(upstream, faults=[Fault("drop", times=1)]) as proxy:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            request(proxy)
        assert request(proxy)[1] == BODY


def test_truncated_bodies_keep_their_full_length_header(upstream):
    with FaultProxy(upstream, faults=[Fault("truncate", keep_bytes=1000, times=1)]) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("GET", "/cut")
        response = conn.getresponse()
        assert response.getheader("Content-Length") == str(len(BODY))
        with pytest.raises(http.client.IncompleteRead) as info:
            response.read()
        assert info.value.partial == BODY[:1000]
        conn.close()
        assert request(proxy)[1] == BODY


def test_header_faults_set_headers_on_the_forwarded_answer(upstream):
    faults = [Fault("header", path="^/gz", headers={"Content-Encoding": "gzip", "X-Path": "/replaced"})]
    with FaultProxy(upstream, faults=faults) as proxy:
        status, body, headers = request(proxy, path="/gz")
        assert (status, body, headers["Content-Encoding"], headers["X-Path"]) == (200, BODY, "gzip", "/replaced")
        assert "Content-Encoding" not in request(proxy, path="/plain")[2]
    assert proxy.stats["header"] == 1


def test_stops_by_itself_after_its_lifetime(upstream):
    proxy = FaultProxy(upstream, lifetime=0.3).start()
    assert request(proxy)[0] == 200
    assert proxy._thread is not None
    proxy._thread.join(timeout=30)
    assert not proxy._thread.is_alive()
    with pytest.raises(ConnectionError):
        request(proxy)


def test_refuses_upstreams_off_loopback():
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("http://example.com:80")


def test_runs_as_a_process_for_benchmarks(upstream):
    repo = Path(__file__).resolve().parent.parent
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.proxy", "--upstream", upstream, "--delay", "0", "--lifetime", "60"],
        cwd=repo, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = child.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/p")
        assert conn.getresponse().read() == BODY
        conn.close()
    finally:
        child.terminate()
        child.wait(timeout=30)
