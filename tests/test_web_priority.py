"""The event loop is scheduled ahead of the worker threads (web/priority.py).

Read back from the kernel through /proc: each thread's nice value and, on
kernels with EEVDF custom slices (6.12+), the loop's scheduler slice.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.servers import feedsvc_server
from feedsvc.web.priority import (
    LOOP_SLICE_NS,
    WORKER_NICE_STEP,
    lower_thread,
    short_slice_for_this_thread,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")


def thread_nice(pid: int, tid: int) -> int:
    """A thread's nice value from /proc/PID/task/TID/stat (field 19, after the command name)."""
    stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def thread_slice(pid: int, tid: int) -> int | None:
    """A thread's scheduler slice in ns (``se.slice`` in /proc/PID/task/TID/sched), if shown."""
    for line in Path(f"/proc/{pid}/task/{tid}/sched").read_text().splitlines():
        if line.startswith("se.slice"):
            return int(line.split(":")[1])
    return None


def in_a_thread(work: Callable[[int], object]) -> object:
    """Run ``work(native thread id)`` in a short-lived thread (its settings die with it)."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(work(threading.get_native_id())))
    thread.start()
    thread.join(timeout=10)
    return result[0]


def test_serve_nices_every_thread_but_the_loop(bundled_content: Path):
    base = os.getpriority(os.PRIO_PROCESS, 0)
    with feedsvc_server(bundled_content) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/rss.xml")
        assert conn.getresponse().read()
        conn.close()
        pid = server.pid
        nice = {}
        for tid in [int(name) for name in os.listdir(f"/proc/{pid}/task")]:
            with contextlib.suppress(FileNotFoundError):  # a short-lived thread, ended since
                nice[tid] = thread_nice(pid, tid)
        loop_slice = thread_slice(pid, pid)
    assert nice.pop(pid) == base  # the main thread runs the event loop
    workers = list(nice.values())
    assert len(workers) >= 4  # waitress's worker threads, at least
    assert set(workers) == {min(19, base + WORKER_NICE_STEP)}
    assert "worker threads niced" in server.log()
    if "short slice for the loop" in server.log() and loop_slice is not None:
        assert loop_slice == LOOP_SLICE_NS


def test_lower_thread_steps_down_and_stops_at_19():
    base = os.getpriority(os.PRIO_PROCESS, 0)

    def twice(tid: int) -> tuple[bool, int, bool, int]:
        first = lower_thread(tid, 3)
        after_first = os.getpriority(os.PRIO_PROCESS, tid)
        second = lower_thread(tid, 40)
        return first, after_first, second, os.getpriority(os.PRIO_PROCESS, tid)

    assert in_a_thread(twice) == (True, min(19, base + 3), True, 19)
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the calling thread is untouched


def test_lower_thread_of_a_thread_that_ended_says_no():
    ended = threading.Thread(target=lambda: None)
    ended.start()
    ended.join()
    assert ended.native_id is not None
    assert lower_thread(ended.native_id + 10_000_000) is False  # no such thread id


def test_short_slice_applies_to_the_calling_thread_only():
    before = thread_slice(os.getpid(), threading.get_native_id())

    def ask(tid: int) -> tuple[bool, int | None]:
        return short_slice_for_this_thread(), thread_slice(os.getpid(), tid)

    granted, seen = in_a_thread(ask)  # type: ignore[misc]
    if not granted or seen is None:
        pytest.skip("no custom scheduler slices here")
    assert seen == LOOP_SLICE_NS
    assert thread_slice(os.getpid(), threading.get_native_id()) == before
