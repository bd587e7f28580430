"""In-process servers for tests: the app on a real waitress in a thread.

It listens on 127.0.0.1 only and is stopped by the test that started it
(by closing the server). Plus two clients: a small HTTP/1.1 one on
``http.client`` and a raw-socket one that puts exactly the given bytes on
the wire (invalid UTF-8, bogus request lines) for hostile-client tests.
Server *processes* (``feedsvc serve``, nginx) are :mod:`bench.servers`'.

Usage::

    with WaitressThread(app) as server:
        status, headers, body = http_request(server.port, "/rss.xml")
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Self

from waitress import wasyncore
from waitress.server import create_server
from werkzeug.datastructures import Headers

from bench.servers import HOST, wait_http


class WaitressThread:
    """A WSGI app on a real waitress server in a daemon thread.

    Binds port 0 (the kernel picks a free port, no race), so ``port`` is only
    known after :meth:`start`. Extra keyword arguments are waitress
    adjustments; ``clear_untrusted_proxy_headers`` defaults to ``False`` as
    in ``feedsvc serve``, so that ProxyFix, not waitress, decides which
    X-Forwarded headers count.
    """

    def __init__(
        self, app: Any, *, threads: int = 4, create: Callable[..., Any] = create_server,
        loop_timeout: float = 0.05, **adjustments: Any,
    ) -> None:  # fmt: skip
        self.app = app
        self.loop_timeout = loop_timeout  # one poll's limit (waitress's own: 1 s)
        self.create = create  # waitress's create_server, or feedsvc's (web/server.py)
        self.adjustments = {
            "threads": threads,
            "clear_untrusted_proxy_headers": False,
            "ident": "feedsvc-test",
            **adjustments,
        }
        self.server: Any = None
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port waitress listens on."""
        return int(self.server.effective_port)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    def start(self) -> Self:
        """Bind and start serving; returns once connections are accepted."""
        self.server = self.create(self.app, host=HOST, port=0, **self.adjustments)
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="waitress", daemon=True)
        self.thread.start()
        wait_http(self.port, None, timeout=10)  # accepting connections
        return self

    def _serve(self) -> None:
        """waitress's loop, one poll at a time, closed by this same thread.

        Closing the sockets from another thread while this one sits in
        select() fails with EBADF; a flag checked between polls avoids it.
        """
        server = self.server
        socket_map = server._map  # the server, its trigger and every open channel
        try:
            while not self._stopping.is_set():
                wasyncore.loop(
                    timeout=self.loop_timeout,
                    map=socket_map,
                    use_poll=server.adj.asyncore_use_poll,
                    count=1,
                )
        finally:
            server.task_dispatcher.shutdown()
            wasyncore.close_all(socket_map)

    def stop(self) -> None:
        """Stop polling, close the listening socket and every channel; join the thread."""
        if self.thread is not None:
            self._stopping.set()
            self.server.pull_trigger()  # end a long poll now
            self.thread.join(timeout=10)
            if self.thread.is_alive():
                raise RuntimeError("waitress thread did not stop")
        self.server = self.thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def http_request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request over a fresh connection: (status, headers, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` byte for byte; every byte answered until the server closes (bounded)."""
    chunks = []
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> tuple[int, bytes, bytes]:
    """Send ``data`` byte for byte; return (status, raw header block, body).

    The request should ask for ``Connection: close`` (or be HTTP/1.0): the
    response is read until the server closes. Status 0 means the server
    closed without answering.
    """
    response = exchange(port, data, timeout)
    if not response:
        return 0, b"", b""
    head, _, body = response.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    parts = status_line.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
    return status, head, body


@dataclass(frozen=True)
class Reply:
    """One HTTP response, whichever way it was fetched."""

    status: int
    headers: Headers  # case-insensitive
    body: bytes

    @property
    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8")


class FlaskFetcher:
    """Requests through Flask's test client (the whole WSGI stack, no socket)."""

    name = "flask"

    def __init__(self, app: Any, base_url: str = "http://localhost") -> None:
        self.client = app.test_client()
        self.base_url = base_url

    def __call__(
        self, path: str, *, method: str = "GET", headers: Mapping[str, str] | None = None
    ) -> Reply:
        response = self.client.open(
            path, method=method, headers=dict(headers or {}), base_url=self.base_url
        )
        return Reply(response.status_code, Headers(response.headers), response.get_data())


class SocketFetcher:
    """Requests over a real TCP connection to a server on 127.0.0.1."""

    name = "waitress"

    def __init__(self, port: int) -> None:
        self.port = port
        self.base_url = f"http://{HOST}:{port}"

    def __call__(
        self, path: str, *, method: str = "GET", headers: Mapping[str, str] | None = None
    ) -> Reply:
        status, received, body = http_request(self.port, path, method=method, headers=headers)
        return Reply(status, Headers(list(received.items())), body)


@contextmanager
def fetcher_for(app: Any, kind: str, **waitress: Any) -> Iterator[FlaskFetcher | SocketFetcher]:
    """A fetcher for ``app``: ``"flask"`` (test client) or ``"waitress"`` (real server)."""
    if kind == "flask":
        yield FlaskFetcher(app)
        return
    with WaitressThread(app, **waitress) as server:
        yield SocketFetcher(server.port)
