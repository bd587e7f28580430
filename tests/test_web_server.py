"""web/server.py: ``feedsvc serve``'s waitress (real server, real sockets).

Keep-alive after a 304, the queue log, and what one client can do: hold
connections, trickle a request, frame a request ambiguously.
"""

from __future__ import annotations

import http.client
import logging
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import WaitressThread, exchange

from bench.servers import HOST, REPO, ServerProcess, feedsvc_server, fetch
from feedsvc.settings import ConnectionSettings
from feedsvc.web.fairqueue import FairDispatcher
from feedsvc.web.server import RateLimit, create_server, tune_interpreter, waitress_adjustments


def test_304_keeps_the_connection_open_and_the_next_request_is_framed_right(
    bundled_content: Path,
):
    with feedsvc_server(bundled_content) as server:
        port = server.port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/rss.xml")
        first = conn.getresponse()
        body = first.read()
        sock = conn.sock
        assert first.status == 200 and not first.will_close

        conn.request("GET", "/rss.xml", headers={"If-None-Match": first.getheader("ETag")})
        not_modified = conn.getresponse()
        assert not_modified.read() == b""
        assert not_modified.status == 304
        assert not_modified.getheader("Connection") is None
        assert not not_modified.will_close
        assert not_modified.getheader("ETag") == first.getheader("ETag")

        # Same socket, and the 304 left nothing behind that could corrupt the next answer.
        conn.request("GET", "/rss.xml", headers={"Accept-Encoding": "gzip"})
        again = conn.getresponse()
        assert again.status == 200 and again.getheader("Content-Encoding") == "gzip"
        assert len(again.read()) == int(again.getheader("Content-Length"))
        conn.request("GET", "/rss.xml")
        third = conn.getresponse()
        assert third.read() == body
        assert conn.sock is sock

        # A client that asks for close still gets it after a 304.
        conn.request(
            "GET",
            "/rss.xml",
            headers={"If-None-Match": first.getheader("ETag"), "Connection": "close"},
        )
        closing = conn.getresponse()
        closing.read()
        assert closing.status == 304 and closing.will_close
        conn.close()
    assert server.returncode == 0  # stopped by SIGTERM when the block ended


def test_rate_limit_lets_one_record_through_per_interval():
    limit = RateLimit(interval=3600)
    records = [
        logging.LogRecord("waitress.queue", logging.WARNING, __file__, 1, "Task queue depth is %d",
                          (n,), None)
        for n in range(5)
    ]  # fmt: skip
    assert [limit.filter(r) for r in records] == [True, False, False, False, False]
    assert limit.dropped == 4
    limit._next = 0  # the interval has passed
    later = logging.LogRecord("waitress.queue", logging.WARNING, "f", 1, "depth %d", (9,), None)
    assert limit.filter(later)
    assert later.getMessage() == "depth 9 (and 4 similar messages)"


# -- connections and framing: what one client can do to the server ----------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    content = tmp_path_factory.mktemp("framing") / "content"
    shutil.copytree(REPO / "content", content)
    env = {"FEEDSVC_MAX_BODY_BYTES": "1000", "FEEDSVC_MAX_HEADER_BYTES": "4096"}
    with feedsvc_server(content, env=env) as server:
        yield server


SMUGGLED = b"GET /smuggled.xml HTTP/1.1\r\nHost: x\r\n\r\n"
AMBIGUOUS = {
    "CL and TE": b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "TE and CL": b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "CL and empty TE": b"Content-Length: 5\r\nTransfer-Encoding: \r\n\r\n0\r\n\r\n",
    "TE folded": b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "folded header": b"X-A: b\r\n c\r\n\r\n",
    "differing CLs": b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n0\r\n\r\n",
    "equal CLs": b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nabcde",
    "signed CL": b"Content-Length: +5\r\n\r\nabcde",
    "bad chunk size": b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nabcde\r\n0\r\n\r\n",
    "chunk size with space": b"Transfer-Encoding: chunked\r\n\r\n5 \r\nabcde\r\n0\r\n\r\n",
    "bare LF in a header": b"X-A: b\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "CR in a header": b"X-A: b\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", AMBIGUOUS)
def test_ambiguous_framing_is_a_400_and_nothing_pipelined_behind_it_is_answered(
    served: ServerProcess, name: str
):
    """Request smuggling needs two parsers to disagree on where a request ends:
    whatever the framing ambiguity, one 400, then the connection is closed."""
    request = b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n" + AMBIGUOUS[name]
    response = exchange(served.port, request + SMUGGLED)
    assert response.split(b" ", 2)[1] == b"400", response[:200]
    assert response.count(b"HTTP/1.") == 1


def test_transfer_encoding_in_http_1_0_is_a_400(served: ServerProcess):
    """HTTP/1.0 has no chunked coding: waitress framed such a request by its
    Content-Length, a proxy might by the chunks (RFC 9112 §6.1: faulty)."""
    request = b"GET /rss.xml HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
    response = exchange(served.port, request + b"0\r\n\r\n" + SMUGGLED)
    assert response.startswith(b"HTTP/1.0 400 ") and response.count(b"HTTP/1.") == 1


def test_an_unknown_transfer_coding_is_a_501_and_closes(served: ServerProcess):
    request = b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
    response = exchange(served.port, request + b"0\r\n\r\n" + SMUGGLED)
    assert response.startswith(b"HTTP/1.1 501 ") and response.count(b"HTTP/1.") == 1


def test_well_framed_pipelined_requests_are_all_answered(served: ServerProcess):
    chunked = b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    sized = b"GET /atom.xml HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
    last = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    response = exchange(served.port, chunked + sized + last)
    assert response.count(b"HTTP/1.1 200 OK\r\n") == 3


def test_headers_and_bodies_over_the_limits_are_refused(served: ServerProcess):
    big_header = b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 5000 + b"\r\n\r\n"
    assert exchange(served.port, big_header).split(b" ", 2)[1] == b"431"
    big_body = b"POST /rss.xml HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    assert exchange(served.port, big_body).startswith(b"HTTP/1.1 413 ")


@pytest.mark.slow
def test_hundreds_of_idle_connections_do_not_lock_a_reader_out(served: ServerProcess):
    """waitress stops accepting at its connection limit (its default: 100), so
    100 idle sockets used to leave every reader waiting for the idle timeout."""
    idle = []
    try:
        for _ in range(300):
            idle.append(socket.create_connection((HOST, served.port), timeout=5))
        status, _, body = fetch(served.port, "/rss.xml", timeout=5)
        assert status == 200 and body.startswith(b"<?xml")
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.slow
def test_a_header_trickled_byte_by_byte_is_cut_off_at_the_timeout(bundled_content: Path):
    """Slowloris: one header line every 0.3 s kept waitress's idle timer fresh
    forever. The whole request must now arrive within the timeout (2 s here)."""
    with feedsvc_server(bundled_content, env={"FEEDSVC_IDLE_TIMEOUT": "2"}) as server:
        with socket.create_connection((HOST, server.port), timeout=5) as sock:
            sock.sendall(b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n")
            started, closed = time.monotonic(), False
            while not closed and time.monotonic() - started < 15:
                try:
                    sock.sendall(b"X-Trickle: 1\r\n")
                    sock.settimeout(0.3)
                    closed = sock.recv(1024) == b""
                except TimeoutError:
                    continue
                except OSError:  # reset or broken pipe: closed by the server
                    closed = True
            assert closed
        # An idle keep-alive connection is closed too; a fresh one is served.
        with socket.create_connection((HOST, server.port), timeout=10) as sock:
            assert sock.recv(1024) == b""
        assert fetch(server.port, "/rss.xml")[0] == 200


def test_connection_settings_become_waitress_adjustments():
    adjustments = waitress_adjustments(ConnectionSettings(connection_limit=50, idle_timeout=7))
    assert adjustments["connection_limit"] == 50 and adjustments["channel_timeout"] == 7
    # Timed-out channels are looked for often enough; poll() has no 1024-descriptor limit.
    assert adjustments["cleanup_interval"] == 1 and adjustments["asyncore_use_poll"] is True


@pytest.mark.parametrize(
    ("connections", "proxy_hops", "cap"),
    [(ConnectionSettings(), 0, 2), (ConnectionSettings(per_client_threads=3), 0, 3),
     (ConnectionSettings(per_client_threads=3), 1, None)],
)  # fmt: skip
def test_worker_threads_are_shared_per_client_address_unless_proxies_are_trusted(
    connections: ConnectionSettings, proxy_hops: int, cap: int | None
):
    """8 threads: a quarter per address by default; behind trusted proxies every
    request comes from the proxy, so no cap (the dispatcher itself:
    tests/test_web_fairqueue.py)."""
    server: Any = create_server(
        lambda *_: [], connections, proxy_hops, host=HOST, port=0, threads=8
    )
    try:
        dispatcher = server.task_dispatcher
        assert isinstance(dispatcher, FairDispatcher)
        assert dispatcher.per_client == cap and len(dispatcher.threads) == 8
    finally:
        server.close()
        server.task_dispatcher.shutdown()  # what run() does when interrupted
    assert not dispatcher.threads


@pytest.mark.slow
def test_at_the_connection_limit_the_longest_idle_connection_makes_way(bundled_content: Path):
    """With a limit of 20, 100 idle sockets: each new client still gets in, the
    oldest idle sockets are the ones closed, and the log says so once."""
    env = {"FEEDSVC_CONNECTION_LIMIT": "20"}
    with feedsvc_server(bundled_content, env=env) as server:
        idle = []
        try:
            for _ in range(100):
                idle.append(socket.create_connection((HOST, server.port), timeout=5))
            assert fetch(server.port, "/rss.xml", timeout=5)[0] == 200
            idle[0].settimeout(5)
            assert idle[0].recv(1) == b""  # the first one opened was closed
            idle[-1].settimeout(0.2)
            with pytest.raises(TimeoutError):  # the newest one is still open
                idle[-1].recv(1)
        finally:
            for sock in idle:
                sock.close()
    assert server.log().count("connection limit reached") == 1


class Echo:
    """A WSGI app naming the path and the thread that answered; ``/hold…`` waits,
    ``/big…`` answers 8 MB (more than a socket's buffers hold)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.threads: dict[str, str] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ["PATH_INFO"]
        self.threads[path] = threading.current_thread().name
        if path.startswith("/hold"):
            self.release.wait(10)
        body = b"x" * (8 << 20) if path.startswith("/big") else f"<{path}>".encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]


def in_memory(environ: dict[str, Any]) -> bool:
    """What the echo app "has cached": paths under /fast and /big."""
    return str(environ["PATH_INFO"]).startswith(("/fast", "/big"))


@pytest.fixture
def echo() -> Iterator[tuple[Echo, WaitressThread]]:
    """The echo app on feedsvc's server: one worker thread, no per-client cap."""
    app = Echo()

    def create(app: Any, **settings: Any) -> Any:
        return create_server(
            app, ConnectionSettings(per_client_threads=1), 1, in_memory, **settings
        )

    with WaitressThread(app, threads=1, create=create) as server:
        try:
            yield app, server
        finally:
            app.release.set()  # never leave the worker held


def read_responses(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` HTTP responses from ``sock`` (Content-Length framed): their bodies."""
    stream = sock.makefile("rb")
    bodies = []
    for _ in range(count):
        length = 0
        while (line := stream.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        bodies.append(stream.read(length))
    return bodies


def test_what_the_app_has_in_memory_is_answered_on_the_loop_while_every_worker_is_busy(
    echo: tuple[Echo, WaitressThread],
):
    """The one worker is held; a cached answer still comes, from the loop's thread."""
    app, server = echo
    held = socket.create_connection((HOST, server.port), timeout=10)
    held.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 10
    while "/hold" not in app.threads and time.monotonic() < deadline:
        time.sleep(0.005)
    status, _, body = fetch(server.port, "/fast", timeout=5)
    assert (status, body) == (200, b"</fast>")
    assert app.threads["/fast"] == "waitress"  # WaitressThread's loop thread
    app.release.set()
    assert read_responses(held, 1) == [b"</hold>"]
    held.close()
    assert app.threads["/hold"] != "waitress"


def test_pipelined_answers_keep_their_order_across_loop_and_workers(
    echo: tuple[Echo, WaitressThread],
):
    app, server = echo
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(b"".join(
            f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            for path in ("/fast1", "/hold", "/fast2", "/slow", "/fast3")
        ))  # fmt: skip
        time.sleep(0.2)
        app.release.set()
        assert read_responses(sock, 5) == [
            b"</fast1>",
            b"</hold>",
            b"</fast2>",
            b"</slow>",
            b"</fast3>",
        ]
    assert app.threads["/fast1"] == "waitress" and app.threads["/slow"] != "waitress"


def test_the_loop_never_queues_bytes_behind_a_client_that_is_not_reading(
    echo: tuple[Echo, WaitressThread],
):
    """8 MB waits in the buffer of a client that reads nothing: the next request,
    cached or not, goes to a worker (which may block on that buffer; the loop,
    which drains every buffer, must never)."""
    app, server = echo
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 10
        while "/fast" not in app.threads and time.monotonic() < deadline:
            time.sleep(0.005)
        assert fetch(server.port, "/fast-other", timeout=5)[2] == b"</fast-other>"  # loop alive
        bodies = read_responses(sock, 2)
    assert [len(bodies[0]), bodies[1]] == [8 << 20, b"</fast>"]
    assert app.threads["/big"] == "waitress" and app.threads["/fast"] != "waitress"


def test_serving_hands_the_gil_over_every_half_millisecond():
    """feedsvc serve shortens Python's 5 ms switch interval (web/server.py says why)."""
    before = sys.getswitchinterval()
    try:
        tune_interpreter()
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    finally:
        sys.setswitchinterval(before)


def test_a_request_that_came_with_the_connection_is_answered_on_accept():
    """No loop turn at all: accepting the connection reads and answers it."""
    server: Any = create_server(
        Echo(), ConnectionSettings(), 0, in_memory, host=HOST, port=0, threads=1
    )
    try:
        with socket.create_connection((HOST, server.effective_port), timeout=5) as sock:
            sock.sendall(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.05)  # the request reaches the server's socket buffer
            server.handle_accept()  # what the loop does when the listener is ready
            sock.settimeout(5)
            assert read_responses(sock, 1) == [b"</fast>"]
    finally:
        server.close()
        server.task_dispatcher.shutdown()
