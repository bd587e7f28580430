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
from feedsvc.web.wake import LoopWaker

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


def burner_server(app: Burner, **options: Any) -> WaitressThread:
    """feedsvc's server for ``app``: 20 % of a core a client, a 0.02 s burst."""
    settings = ConnectionSettings(client_cpu_percent=20, per_client_threads=4)

    def create(app: Any, **adjustments: Any) -> Any:
        return create_server(app, settings, 0, None, cpu_burst=0.02, **adjustments)

    return WaitressThread(app, threads=4, create=create, **options)


@pytest.fixture
def burner() -> Iterator[tuple[Burner, Any]]:
    app = Burner()
    with burner_server(app) as server:
        yield app, server


def connect(port: int, source: str) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(WAIT)
    sock.bind((source, 0))
    sock.connect((HOST, port))
    return sock


def ask(sock: socket.socket, path: str) -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


def burn_until_throttled(sock: socket.socket, budgets: CpuBudgets) -> None:
    """Spend 0.1 s of CPU as 127.0.0.1; return once it is charged (over the burst)."""
    ask(sock, "/burn")
    assert answered(sock).startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + WAIT
    while budgets.allows("127.0.0.1"):  # charged once the worker is done
        assert time.monotonic() < deadline, "the burn was never charged"
        time.sleep(0.001)


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
        burn_until_throttled(heavy, budgets)
        sent = time.monotonic()
        ask(heavy, "/heavy-again")
        ask(light, "/light")
        assert answered(light).startswith(b"HTTP/1.1 200")
        assert answered(heavy).startswith(b"HTTP/1.1 200")  # served once its debt drained
        waited = time.monotonic() - sent
    assert app.order == ["/burn", "/light", "/heavy-again"]
    assert waited >= (0.1 - 0.02) / 0.2 * 0.5  # a lower bound: the debt cannot drain faster
    assert budgets.throttled > 0


def test_a_throttled_client_is_read_when_its_debt_drains_not_at_the_poll_timeout():
    """Nobody else's traffic and a one-minute poll: only the loop's own wake-up
    (web/wake.py) can get the throttled client's next request read; without it
    the request sat unread until the poll timed out, long after the debt drained."""
    app = Burner()
    with burner_server(app, loop_timeout=60) as server:
        budgets, waker = server.server.cpu_budgets, server.server.cpu_waker
        with connect(server.port, "127.0.0.1") as sock:  # times out after WAIT (10 s)
            burn_until_throttled(sock, budgets)
            ask(sock, "/after-the-debt")
            assert answered(sock).startswith(b"HTTP/1.1 200")
    assert app.order == ["/burn", "/after-the-debt"]
    assert budgets.throttled > 0 and waker.wakes >= 1


def test_one_wake_due_covers_every_later_ask_and_an_earlier_one_moves_it():
    pulls: list[float] = []
    waker = LoopWaker(lambda: pulls.append(time.monotonic()))
    asked = time.monotonic()
    waker.after(5)
    for _ in range(100):  # every poll asks again for each throttled channel
        waker.after(6)
    assert waker.moves == 1
    waker.after(0.05)  # sooner than the one due: moves it
    assert waker.moves == 2
    deadline = time.monotonic() + WAIT
    while not pulls:
        assert time.monotonic() < deadline, "the loop was never woken"
        time.sleep(0.01)
    assert pulls[0] - asked >= 0.05  # not before it was asked for
    assert waker.wakes == 1
    waker.after(0.05)  # nothing due any more: a new wake
    assert waker.moves == 3


def test_drains_in_is_the_time_to_the_burst():
    clock = Clock()
    budgets = CpuBudgets(0.25, burst=0.5, clock=clock)
    assert budgets.drains_in("a") == 0.0
    budgets.charge("a", 0.7)
    assert budgets.drains_in("a") == pytest.approx(0.8)  # 0.2 over at 0.25 a second
    clock.now += 0.81  # (exactly 0.8 may leave a rounding error over the burst)
    assert budgets.allows("a") and budgets.drains_in("a") == 0.0


def test_without_a_share_nothing_is_counted_or_held():
    server: Any = create_server(
        lambda *_: [], ConnectionSettings(client_cpu_percent=0), 0, None, host=HOST, port=0
    )
    try:
        assert server.cpu_budgets is None and server.task_dispatcher.budgets is None
    finally:
        server.close()
        server.task_dispatcher.shutdown()
