"""web/cpushare.py: a CPU budget per client address, and the server not reading
a client over it (real waitress server, real sockets, real CPU time)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from servers import WaitressThread

from bench.servers import HOST
from feedsvc.settings import ConnectionSettings
from feedsvc.web.cpushare import CpuBudgets
from feedsvc.web.server import create_server

WAIT = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_debt_over_the_burst_drains_at_the_share_and_is_per_client():
    clock = Clock()
    budgets = CpuBudgets(0.25, burst=0.5, clock=clock)
    assert budgets.allows("a")
    budgets.charge("a", 0.4)
    assert budgets.allows("a")  # within the burst
    budgets.charge("a", 0.3)  # 0.7 owed
    assert not budgets.allows("a") and budgets.allows("b")
    clock.now += 0.7  # 0.175 drained: 0.525 owed
    assert not budgets.allows("a")
    clock.now += 0.2  # 0.475 owed
    assert budgets.allows("a")
    assert budgets.throttled == 2
    clock.now += 10
    budgets.charge("a", 0.1)  # the old debt drained to nothing, never below
    assert budgets._debt_now("a", clock.now) == pytest.approx(0.1)


def test_only_the_most_recently_charged_clients_are_remembered():
    budgets = CpuBudgets(0.25, max_clients=3)
    for key in "abcd":
        budgets.charge(key, 1.0)
    assert budgets.allows("a")  # forgotten, so free again: the bound is on memory
    assert not budgets.allows("d")


@pytest.mark.parametrize("share", [0.0, -1.0])
def test_a_share_must_be_positive(share: float):
    with pytest.raises(ValueError, match="share must be positive"):
        CpuBudgets(share)


def test_the_share_is_off_behind_trusted_proxies_or_at_zero():
    assert ConnectionSettings().client_cpu_share() == 0.25
    assert ConnectionSettings().client_cpu_share(proxy_hops=1) is None
    assert ConnectionSettings(client_cpu_percent=0).client_cpu_share() is None
    assert (
        ConnectionSettings.from_env({"FEEDSVC_CLIENT_CPU_PERCENT": "50"}).client_cpu_percent == 50
    )
    with pytest.raises(ValueError, match="CLIENT_CPU_PERCENT must be at least 0"):
        ConnectionSettings.from_env({"FEEDSVC_CLIENT_CPU_PERCENT": "-1"})


class Burner:
    """``/burn`` spends 0.1 s of CPU; every other path answers at once. Records the order."""

    def __init__(self) -> None:
        self.order: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path == "/burn":
            until = time.thread_time() + 0.1
            while time.thread_time() < until:
                pass
        self.order.append(path)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


@pytest.fixture
def burner() -> Iterator[tuple[Burner, Any]]:
    app = Burner()
    settings = ConnectionSettings(client_cpu_percent=20, per_client_threads=4)

    def create(app: Any, **options: Any) -> Any:
        return create_server(app, settings, 0, None, cpu_burst=0.02, **options)

    with WaitressThread(app, threads=4, create=create) as server:
        yield app, server


def connect(port: int, source: str) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(WAIT)
    sock.bind((source, 0))
    sock.connect((HOST, port))
    return sock


def ask(sock: socket.socket, path: str) -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


def answered(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n\r\nok"):
        chunk = sock.recv(4096)
        assert chunk, "connection closed"
        data += chunk
    return data


def test_a_client_over_its_budget_is_not_read_while_others_are_served(
    burner: tuple[Burner, Any],
):
    """0.1 s of CPU against a burst of 0.02 s at 20 %: the client's next request
    waits (unread, not refused) about 0.4 s while another client is answered."""
    app, server = burner
    budgets = server.server.cpu_budgets
    heavy, light = connect(server.port, "127.0.0.1"), connect(server.port, "127.0.0.2")
    with heavy, light:
        ask(heavy, "/burn")
        assert answered(heavy).startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + WAIT
        while budgets.allows("127.0.0.1"):  # charged once the worker is done
            assert time.monotonic() < deadline, "the burn was never charged"
            time.sleep(0.001)
        sent = time.monotonic()
        ask(heavy, "/heavy-again")
        ask(light, "/light")
        assert answered(light).startswith(b"HTTP/1.1 200")
        assert answered(heavy).startswith(b"HTTP/1.1 200")  # served once its debt drained
        waited = time.monotonic() - sent
    assert app.order == ["/burn", "/light", "/heavy-again"]
    assert waited >= (0.1 - 0.02) / 0.2 * 0.5  # a lower bound: the debt cannot drain faster
    assert budgets.throttled > 0


def test_without_a_share_nothing_is_counted_or_held():
    server: Any = create_server(
        lambda *_: [], ConnectionSettings(client_cpu_percent=0), 0, None, host=HOST, port=0
    )
    try:
        assert server.cpu_budgets is None and server.task_dispatcher.budgets is None
    finally:
        server.close()
        server.task_dispatcher.shutdown()
