"""web/fastpath.py: cached feeds answered on the event loop in raw bytes.

Real waitress servers on 127.0.0.1 (feedsvc's create_server), one with the
raw path and one without, on the same app: every request gets the same
bytes from both (Date aside), whichever path answered it; and a raw answer
is still counted (/metrics, the audience), framed right when pipelined and
delivered whole when the socket cannot take it at once.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from audiencekit import totals
from edgekit import feedsvc_app
from servers import WaitressThread

from bench.servers import HOST
from feedsvc.audience.db import connect_state
from feedsvc.audience.live import LiveRecorder, RecordingMiddleware
from feedsvc.feeds import urls
from feedsvc.feeds.urls import FORMATS
from feedsvc.settings import ConnectionSettings
from feedsvc.web.fastpath import FastPath, wire_header
from feedsvc.web.respond import ENDPOINT
from feedsvc.web.server import create_server

RSS = urls.feed_path(urls.MAIN, FORMATS["rss"])
ATOM = urls.feed_path(urls.MAIN, FORMATS["atom"])
JSON = urls.feed_path(urls.MAIN, FORMATS["json"])
TAG = urls.feed_path(urls.tag_path("health"), FORMATS["rss"])
HOST_HEADER = "feeds.example"  # both servers build the same links under it
_DATE = re.compile(rb"\r\nDate: [^\r]*")


def serve(app: Any, *, fast: bool, **adjustments: Any) -> WaitressThread:
    """``app`` on feedsvc's server with the event loop's answers, the raw path on or off."""

    def create(app: Any, **settings: Any) -> Any:
        answers = app.extensions[ENDPOINT].answers_from_memory
        return create_server(app, ConnectionSettings(), 0, answers, fast_path=fast, **settings)

    return WaitressThread(app, create=create, **adjustments)


@pytest.fixture
def app(bundled_content: Path) -> Iterator[Any]:
    with feedsvc_app(bundled_content) as app:
        yield app


def request(
    path: str, headers: dict[str, str] | None = None, method: str = "GET", version: str = "1.1"
) -> bytes:
    """A request's bytes, Host first."""
    lines = [f"{method} {path} HTTP/{version}", f"Host: {HOST_HEADER}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_response(stream: Any, head_only: bool = False) -> bytes:
    """One response off a keep-alive connection, exactly its bytes (Content-Length framed)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = stream.readline()
        if not line:
            return head
        head += line
    match = re.search(rb"\r\nContent-Length: (\d+)", head)
    length = int(match.group(1)) if match and not head_only else 0
    return head + stream.read(length)


def exchange(
    port: int, data: bytes, *, head_only: bool = False, until_close: bool = False
) -> bytes:
    """Send one request; its response (read to the close for HTTP/1.0 or Connection: close)."""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(data)
        stream = sock.makefile("rb")
        if until_close:
            return bytes(stream.read())
        return read_response(stream, head_only)


def undated(response: bytes) -> bytes:
    return _DATE.sub(b"\r\nDate: -", response)


def validators(port: int, path: str, gzip: bool) -> tuple[str, str]:
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    head = exchange(port, request(path, headers)).split(b"\r\n\r\n")[0].decode("latin-1")
    found = dict(line.split(": ", 1) for line in head.split("\r\n")[1:])
    return found["Etag"], found["Last-Modified"]


def cases(port: int) -> list[tuple[str, bytes, dict[str, bool], bool]]:
    """(name, request, how to read it, whether the raw path answers it)."""
    etag, modified = validators(port, RSS, gzip=False)
    gz_etag, _ = validators(port, RSS, gzip=True)
    gz = {"Accept-Encoding": "gzip"}
    close: dict[str, bool] = {"until_close": True}
    head: dict[str, bool] = {"head_only": True}
    return [
        ("200", request(RSS), {}, True),
        ("200 gzip", request(RSS, gz), {}, True),
        ("200 atom", request(ATOM), {}, True),
        ("200 json gzip", request(JSON, {"Accept-Encoding": "gzip, deflate, br"}), {}, True),
        ("200 tag feed", request(TAG), {}, True),
        ("200 with a query", request(RSS + "?utm_source=x"), {}, True),
        ("304 by ETag", request(RSS, {"If-None-Match": etag}), {}, True),
        ("304 by ETag, gzip", request(RSS, {"If-None-Match": gz_etag, **gz}), {}, True),
        ("304 by list of ETags", request(RSS, {"If-None-Match": f'"x", {etag}'}), {}, True),
        ("304 by If-Modified-Since", request(RSS, {"If-Modified-Since": modified}), {}, True),
        ("200: older If-Modified-Since",
         request(RSS, {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}), {}, True),
        ("200: other ETag", request(RSS, {"If-None-Match": '"other"'}), {}, True),
        ("HEAD", request(RSS, method="HEAD"), head, True),
        ("HEAD gzip", request(RSS, gz, method="HEAD"), head, True),
        ("extra slashes", request("//" + RSS.lstrip("/")), {}, True),
        ("Range", request(RSS, {"Range": "bytes=0-10"}), {}, False),
        ("If-Match", request(RSS, {"If-Match": etag}), {}, False),
        ("Connection: close", request(RSS, {"Connection": "close"}), close, False),
        ("304, Connection: close",
         request(RSS, {"If-None-Match": etag, "Connection": "close"}), close, False),
        ("HTTP/1.0", request(RSS, version="1.0"), close, False),
        ("HTTP/1.0 keep-alive", request(RSS, {"Connection": "keep-alive"}, version="1.0"), {},
         False),
        ("browser: the feed's page", request(RSS, {"Sec-Fetch-Dest": "document"}), {}, False),
        ("unknown feed", request(urls.feed_path(urls.tag_path("nope"), FORMATS["rss"])), {},
         False),
        ("POST", request(RSS, {"Content-Length": "0"}, method="POST"), {}, False),
        ("bad Host", b"GET " + RSS.encode() + b" HTTP/1.1\r\nHost: a..b\r\n\r\n", {}, False),
    ]  # fmt: skip


def test_the_raw_path_sends_the_same_bytes_as_the_wsgi_path(app: Any):
    with ExitStack() as stack:
        fast = stack.enter_context(serve(app, fast=True))
        wsgi = stack.enter_context(serve(app, fast=False))
        assert wsgi.server.fast_path is None
        raw_path: FastPath = fast.server.fast_path
        requests = cases(fast.port)
        for _, data, how, _ in requests:  # every feed rendered and cached first
            exchange(wsgi.port, data, **how)
        for name, data, how, raw in requests:
            before = raw_path.answered
            fast_answer = exchange(fast.port, data, **how)
            assert (raw_path.answered > before) == raw, name
            wsgi_answer = exchange(wsgi.port, data, **how)
            assert fast_answer.startswith(b"HTTP/1."), name
            assert undated(fast_answer) == undated(wsgi_answer), name


def test_raw_answers_are_counted_like_the_others(bundled_content: Path, tmp_path: Path):
    """/metrics' counters and the audience recorder see raw answers (feedsvc serve's wrapping)."""
    with feedsvc_app(bundled_content) as app:
        endpoint = app.extensions[ENDPOINT]
        recorder = LiveRecorder(lambda: connect_state(tmp_path / "state"))
        app.wsgi_app = RecordingMiddleware(app.wsgi_app, recorder)
        with serve(app, fast=True) as server:
            agent = {"User-Agent": "Feedbin feed-id:5 - 1,500 subscribers"}
            exchange(server.port, request(RSS, agent))  # rendered: the WSGI path
            etag, _ = validators(server.port, RSS, gzip=False)
            before = server.server.fast_path.answered
            exchange(server.port, request(RSS, agent))
            exchange(server.port, request(RSS, {**agent, "If-None-Match": etag}))
            assert server.server.fast_path.answered == before + 2
    assert endpoint.stats() == {"feed_responses": 4, "not_modified": 1}
    assert recorder.flush() == 4
    assert totals(connect_state(tmp_path / "state"))["main"][0] == 1500


def test_pipelined_requests_are_answered_in_order_on_one_connection(app: Any):
    with serve(app, fast=True) as server:
        etag, _ = validators(server.port, RSS, gzip=False)
        batch = [
            request(RSS),
            request(RSS, {"If-None-Match": etag}),
            request(RSS, method="HEAD"),
            request(urls.TAG_INDEX),  # a page: Flask, on a worker thread
            request(RSS, {"Accept-Encoding": "gzip"}),
        ]
        with socket.create_connection((HOST, server.port), timeout=10) as sock:
            sock.sendall(b"".join(batch))
            stream = sock.makefile("rb")
            answers = [read_response(stream, head_only=i == 2) for i in range(len(batch))]
    statuses = [answer.split(b" ", 2)[1] for answer in answers]
    assert statuses == [b"200", b"304", b"200", b"200", b"200"]
    assert answers[0].endswith(b"</rss>\n") or answers[0].rstrip().endswith(b"</rss>")
    assert b"Content-Encoding: gzip" in answers[4]


def test_what_the_socket_does_not_take_at_once_is_sent_later_in_order(app: Any):
    """A small send buffer and a slow reader: the raw path's rest waits in waitress's buffer."""
    with serve(app, fast=True) as server:
        # Accepted sockets inherit the listener's send buffer: a small one here.
        server.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        exchange(server.port, request(RSS))  # cached from here on
        full = exchange(server.port, request(RSS))
        before = server.server.fast_path.answered
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(10)
            sock.connect((HOST, server.port))
            sock.sendall(request(RSS) * 20)
            stream = sock.makefile("rb")
            answers = [read_response(stream) for _ in range(20)]
        assert server.server.fast_path.answered > before
    assert all(undated(answer) == undated(full) for answer in answers)


def test_headers_waitress_sets_itself_are_left_to_waitress():
    assert wire_header("200 OK", [("Connection", "close")], "feedsvc") is None
    before, after = wire_header("304 Not Modified", [("ETag", '"x"'), ("Vary", "A")], "s") or (
        b"",
        b"",
    )
    assert before + b"Mon, 01 Jan 2001 00:00:00 GMT" + after == (
        b"HTTP/1.1 304 Not Modified\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\n"
        b'Etag: "x"\r\nServer: s\r\nVary: A\r\n\r\n'
    )


def test_raw_answers_are_charged_to_the_clients_cpu_share(app: Any):
    """The loop's reads (and the raw answers made in them) count against the client's share."""
    settings = ConnectionSettings(client_cpu_percent=1, per_client_threads=4)

    def create(app: Any, **options: Any) -> Any:
        answers = app.extensions[ENDPOINT].answers_from_memory
        return create_server(app, settings, 0, answers, cpu_burst=1e-9, **options)

    with WaitressThread(app, create=create) as server:
        exchange(server.port, request(RSS))  # rendered and cached
        budgets = server.server.cpu_budgets
        before = server.server.fast_path.answered
        with socket.create_connection((HOST, server.port), timeout=10) as sock:
            stream = sock.makefile("rb")
            for _ in range(3):
                sock.sendall(request(RSS))
                assert read_response(stream).startswith(b"HTTP/1.1 200 OK")
        assert server.server.fast_path.answered == before + 3
        assert budgets.throttled > 0  # each answer's cost held the next request back a moment


def test_behind_trusted_proxies_every_answer_takes_the_wsgi_path(bundled_content: Path):
    """ProxyFix must rewrite the environ first (client address, scheme, host): no raw path."""
    with feedsvc_app(bundled_content, proxy_hops=1) as app, serve(app, fast=True) as server:
        forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        for _ in range(3):
            answer = exchange(server.port, request(RSS, forwarded))
            assert answer.startswith(b"HTTP/1.1 200 OK")
            assert b"https://feeds.example/" in answer
        assert server.server.fast_path.answered == 0
