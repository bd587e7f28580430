"""FairDispatcher on a real waitress server: per-client caps, round-robin, shutdown.

A small WSGI app records which client (``REMOTE_ADDR``) runs what, and
holds the requests whose path starts with ``/hold`` until the test releases
them, so the dispatcher's choices are observed as orders and counts, never
as timings. Clients connect from different loopback addresses (Linux routes
all of 127/8 to ``lo``), each with a raw socket.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from servers import WaitressThread

from bench.servers import HOST
from feedsvc.web.fairqueue import FairDispatcher, client_key

WAIT = 10.0  # seconds any one wait may take before the test fails


class Recorder:
    """The WSGI app: records starts, completions and concurrency per client."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.started: list[str] = []
        self.finished: list[str] = []
        self.running: dict[str, int] = {}
        self.most: dict[str, int] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        client, path = environ["REMOTE_ADDR"], environ["PATH_INFO"]
        with self.lock:
            self.started.append(path)
            self.running[client] = self.running.get(client, 0) + 1
            self.most[client] = max(self.most.get(client, 0), self.running[client])
        try:
            if path.startswith("/hold"):
                self.release.wait(WAIT)
        finally:
            with self.lock:
                self.running[client] -= 1
                self.finished.append(path)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded) until ``condition()`` holds."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def send(port: int, source: str, path: str) -> socket.socket:
    """Open a connection from ``source`` and send one GET of ``path`` (response unread)."""
    sock = socket.socket()
    sock.settimeout(WAIT)
    sock.bind((source, 0))
    sock.connect((HOST, port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    return sock


def response(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (empty if it closed without answering)."""
    chunks, deadline = [], time.monotonic() + WAIT
    try:
        while time.monotonic() < deadline and (chunk := sock.recv(65536)):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return b"".join(chunks)


@pytest.fixture
def app() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.release.set()  # never leave a worker thread held


def serve(app: Recorder, threads: int, per_client: int | None) -> WaitressThread:
    dispatcher = FairDispatcher(per_client)
    dispatcher.set_thread_count(threads)
    return WaitressThread(app, threads=threads, _dispatcher=dispatcher)


def test_a_flood_from_one_address_neither_exceeds_its_cap_nor_delays_another(app: Recorder):
    with serve(app, threads=4, per_client=2) as server:
        dispatcher = server.server.task_dispatcher
        flood = [send(server.port, "127.0.0.1", f"/hold/{n}") for n in range(8)]
        until(lambda: len(app.started) == 2 and dispatcher.queued == 6, "the flood to queue")
        # Two threads are free, and the reader is another client: it is served
        # now, while every flood request is still held or queued behind the cap.
        assert b"200 OK" in response(send(server.port, "127.0.0.2", "/reader"))
        assert app.finished == ["/reader"]
        assert app.started[-1] == "/reader" and len(app.started) == 3
        app.release.set()
        assert all(b"200 OK" in response(sock) for sock in flood)
    assert len(app.finished) == 9
    assert app.most == {"127.0.0.1": 2, "127.0.0.2": 1}


def test_without_a_cap_one_client_may_use_every_thread(app: Recorder):
    with serve(app, threads=3, per_client=None) as server:
        flood = [send(server.port, "127.0.0.1", f"/hold/{n}") for n in range(3)]
        until(lambda: len(app.started) == 3, "all three to run")
        app.release.set()
        assert all(b"200 OK" in response(sock) for sock in flood)
    assert app.most == {"127.0.0.1": 3}


def test_queued_tasks_are_taken_round_robin_across_clients(app: Recorder):
    with serve(app, threads=1, per_client=1) as server:
        dispatcher = server.server.task_dispatcher
        held = send(server.port, "127.0.0.9", "/hold")
        until(lambda: app.started == ["/hold"], "the only thread to be held")
        queued = []
        arrivals = [("127.0.0.1", "/a1"), ("127.0.0.1", "/a2"), ("127.0.0.1", "/a3"),
                    ("127.0.0.2", "/b1"), ("127.0.0.2", "/b2"), ("127.0.0.3", "/c1")]  # fmt: skip
        for n, (source, path) in enumerate(arrivals, 1):
            queued.append(send(server.port, source, path))
            until(lambda n=n: dispatcher.queued == n, f"{path} to queue")
        app.release.set()
        assert all(b"200 OK" in response(sock) for sock in [held, *queued])
    assert app.started == ["/hold", "/a1", "/b1", "/c1", "/a2", "/b2", "/a3"]


def test_shutdown_cancels_every_queued_task_of_every_client(app: Recorder):
    with serve(app, threads=1, per_client=1) as server:
        dispatcher = server.server.task_dispatcher
        held = send(server.port, "127.0.0.9", "/hold")
        until(lambda: app.started == ["/hold"], "the only thread to be held")
        queued = [send(server.port, f"127.0.0.{n}", f"/q{n}") for n in (1, 1, 2, 3)]
        until(lambda: dispatcher.queued == 4, "four tasks to queue")
        channels = [task for tasks in dispatcher.waiting.values() for task in tasks]
        stopper = threading.Thread(target=dispatcher.shutdown, kwargs={"timeout": WAIT})
        stopper.start()
        until(lambda: dispatcher.stop_count == 1, "shutdown to ask the thread to stop")
        app.release.set()  # the running task finishes; nothing queued may start
        stopper.join(WAIT)
        assert not stopper.is_alive()
        assert b"200 OK" in response(held)
        assert dispatcher.queued == 0 and not dispatcher.waiting and not dispatcher.queue
        assert all(channel.will_close and not channel.requests for channel in channels)
    assert app.started == ["/hold"]
    assert not any(b"200 OK" in response(sock) for sock in queued)


def test_a_service_exception_is_logged_and_the_thread_keeps_serving(
    app: Recorder, caplog: pytest.LogCaptureFixture
):
    class Broken:
        addr = ("127.0.0.5", 1)

        def service(self) -> None:
            raise RuntimeError("broken task")

        def cancel(self) -> None:
            pass

    with serve(app, threads=1, per_client=1) as server:
        server.server.task_dispatcher.add_task(Broken())
        assert b"200 OK" in response(send(server.port, "127.0.0.5", "/after"))
    assert "Exception when servicing" in caplog.text
    assert app.finished == ["/after"]


def test_clients_are_keyed_by_host_not_port():
    class Channel:
        def __init__(self, addr: object) -> None:
            self.addr = addr

    assert client_key(Channel(("127.0.0.1", 1))) == client_key(Channel(("127.0.0.1", 2)))
    assert client_key(Channel(("::1", 1, 0, 0))) == "::1"
    assert client_key(Channel("/run/feedsvc.sock")) == "/run/feedsvc.sock"
    with pytest.raises(ValueError, match="per_client"):
        FairDispatcher(0)
