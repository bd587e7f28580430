"""The base URLs readers use are tracked safely from every request thread.

Without a fixed public URL each request notes its base URL (scheme, Host,
mount), and only the ``max_base_urls`` most recent are kept for prewarming.
Request threads note bases while others evict them and reload or WebSub
threads list them: no interleaving may raise, which over HTTP would be a 500.

CPython's GIL happens to switch threads only at a few points (calls into
Python code, loop ends), and a check-then-act on a dict can fall between two
of them: correct by luck of the interpreter, not by design, and wrong on a
free-threaded one. While threads race here, a line tracer yields the GIL
before every line of the service's own code, so any two steps may
interleave, as they may without a GIL.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from servers import HOST, WaitressThread

import feedsvc.service
from feedsvc.service.base_urls import BaseURLs
from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings

MAX_BASES = 2
HOSTS = [f"reader-{n}.test" for n in range(MAX_BASES * 4)]  # four times what is kept


SERVICE_CODE = str(Path(feedsvc.service.__file__).parent)


def _yield_before_each_line(frame: FrameType, event: str, arg: object) -> Any:
    if event == "line":
        time.sleep(0)  # releases the GIL: another thread may run this very moment
    return _yield_before_each_line


def _trace_service_code(frame: FrameType, event: str, arg: object) -> Any:
    if event == "call" and frame.f_code.co_filename.startswith(SERVICE_CODE):
        return _yield_before_each_line
    return None  # everything else runs untraced, at full speed


@contextmanager
def preemptive_service() -> Iterator[None]:
    """Threads started meanwhile may be switched before any line of feedsvc.service."""
    previous = threading.gettrace()
    threading.settrace(_trace_service_code)
    try:
        yield
    finally:
        threading.settrace(previous)  # type: ignore[arg-type]


def race(workers: list[Callable[[], None]], seconds: float) -> list[BaseException]:
    """Run ``workers`` at once, each in its own thread; the exceptions they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def run(work: Callable[[], None]) -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:  # reported by the test, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    with preemptive_service():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 30)
    assert not [t for t in threads if t.is_alive()], "a racing thread did not finish"
    return errors


def test_the_most_recent_bases_are_kept_least_recent_first():
    bases = BaseURLs(limit=3)
    for base in ("https://a.test", "https://b.test", "https://a.test", "https://c.test"):
        bases.note(base)
    assert bases.recent() == ["https://b.test", "https://a.test", "https://c.test"]
    bases.note("https://d.test")  # over the limit: the least recent goes
    assert bases.recent() == ["https://a.test", "https://c.test", "https://d.test"]
    bases.note("https://d.test")
    bases.note("https://a.test")
    assert bases.recent(2) == ["https://d.test", "https://a.test"]
    assert (
        bases.recent(10) == bases.recent() == ["https://c.test", "https://d.test", "https://a.test"]
    )
    assert bases.recent(0) == []


def test_noting_and_listing_bases_from_many_threads_never_raises(small_content: Path):
    settings = ServiceSettings(content_dir=small_content, reload_interval=0, max_base_urls=2)
    service = FeedService(settings, prewarm=False)
    deadline = time.monotonic() + 3.0

    def note(offset: int) -> Callable[[], None]:
        def work() -> None:
            for n in range(200_000):
                service.note_base(f"https://{HOSTS[(n + offset) % len(HOSTS)]}")
                if n % 256 == 0 and time.monotonic() > deadline:
                    return

        return work

    def list_bases() -> None:
        while time.monotonic() < deadline:
            assert len(service.known_bases) <= MAX_BASES

    try:
        errors = race([note(offset) for offset in range(6)] + [list_bases], seconds=3.0)
    finally:
        service.stop()
    assert not errors, repr(errors[:3])
    known = service.known_bases
    assert 0 < len(known) <= MAX_BASES
    assert set(known) <= {f"https://{host}" for host in HOSTS}


def test_many_hosts_over_http_never_get_a_500(make_app: Callable[..., Any], small_content: Path):
    """More distinct Host headers than are kept, from many connections at once."""
    app = make_app(small_content, max_base_urls=MAX_BASES)
    service = app.extensions["feedsvc"]
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + 5.0
    failed = threading.Event()

    def client(offset: int, port: int) -> Callable[[], None]:
        def work() -> None:
            conn = http.client.HTTPConnection(HOST, port, timeout=10)
            try:
                for n in range(5_000):
                    host = HOSTS[(n + offset) % len(HOSTS)]
                    conn.request("GET", "/rss.xml", headers={"Host": host})
                    response = conn.getresponse()
                    response.read()
                    with lock:
                        statuses[response.status] = statuses.get(response.status, 0) + 1
                    if response.status >= 500:
                        failed.set()
                    if failed.is_set() or time.monotonic() > deadline:
                        return
                    if response.will_close:
                        conn.close()
                        conn = http.client.HTTPConnection(HOST, port, timeout=10)
            finally:
                conn.close()

        return work

    with preemptive_service(), WaitressThread(app, threads=8) as server:
        errors = race([client(offset, server.port) for offset in range(8)], seconds=5.0)
    assert not errors, repr(errors[:3])
    assert set(statuses) == {200}, statuses
    assert sum(statuses.values()) >= 100  # the race really ran
    assert 0 < len(service.known_bases) <= MAX_BASES
