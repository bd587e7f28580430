"""Feed writer processes: the same bytes as writing here, replaced when they die, gone at the end.

Real processes throughout: a :class:`WriterPool` of ``python -c`` writers on
real pipes, killed by their process ids; ``feedsvc serve`` with its pool,
stopped by SIGTERM, its writers looked up in ``/proc``.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from feedcheck import parse_feed
from support import snapshot_feeds, wait_for

from bench.servers import feedsvc_server
from feedsvc.content.loader import ContentLoader
from feedsvc.content.model import Snapshot
from feedsvc.feeds.document import feed_document
from feedsvc.feeds.render import ALL_FORMATS, use_writer, write_document
from feedsvc.feeds.spec import all_feeds, main_feed
from feedsvc.feeds.writerprocess import cpu_spent_elsewhere, decode, encode
from feedsvc.feeds.writers import WRITER_NICENESS, WriterPool

FORMAT_SETS = [("rss",), ("atom",), ("json",), ("json", "rss"), ALL_FORMATS]


@pytest.fixture
def pool() -> Iterator[WriterPool]:
    writers = WriterPool(2)
    writers.start()
    assert writers.wait_ready(30)
    try:
        yield writers
    finally:
        writers.close()


@pytest.fixture
def snapshot(bundled_content: Path) -> Snapshot:
    return ContentLoader(bundled_content).load()


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_writer_gives_the_bytes_written_here(pool: WriterPool, snapshot: Snapshot):
    for spec in all_feeds(snapshot):
        doc = feed_document(snapshot, spec)
        for formats in FORMAT_SETS:
            assert pool.write(doc, formats) == write_document(doc, formats), (spec.key, formats)
    assert pool.written == len(all_feeds(snapshot)) * len(FORMAT_SETS)
    assert pool.written_here == 0


def test_feeds_rendered_through_the_pool_are_the_feeds_rendered_here(
    pool: WriterPool, snapshot: Snapshot
):
    here = snapshot_feeds(snapshot)
    previous = use_writer(pool.write)
    try:
        through_pool = snapshot_feeds(snapshot)
    finally:
        use_writer(previous)
    assert through_pool == here
    assert pool.written == len(all_feeds(snapshot))


def test_a_document_crosses_the_pipe_whole(snapshot: Snapshot):
    for spec in all_feeds(snapshot):
        doc = feed_document(snapshot, spec)
        assert decode(encode(doc, ("atom", "rss"))) == (doc, ("atom", "rss"))


def test_a_killed_writer_is_replaced_and_the_feed_still_written(
    pool: WriterPool, snapshot: Snapshot
):
    doc = feed_document(snapshot, main_feed(snapshot))
    expected = write_document(doc, ("rss",))
    (victim,) = pool.pids
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: not alive(victim), timeout=10)
    assert pool.write(doc, ("rss",)) == expected  # written here this once
    assert pool.replaced == 1 and pool.written_here == 1
    assert pool.wait_ready(30)
    assert victim not in pool.pids
    assert pool.write(doc, ("rss",)) == expected  # by the new writer
    assert pool.written == 1


def test_a_writer_that_fails_is_replaced_and_the_error_raised_here(
    pool: WriterPool, snapshot: Snapshot
):
    doc = feed_document(snapshot, main_feed(snapshot))
    (first,) = pool.pids
    with pytest.raises(KeyError):
        pool.write(doc, ("xml",))  # no such format: the writer's error, then ours
    assert pool.replaced == 1
    wait_for(lambda: not alive(first), timeout=10)
    assert pool.wait_ready(30)
    assert pool.write(doc, ("json",)) == write_document(doc, ("json",))


def test_until_a_writer_is_ready_feeds_are_written_here(snapshot: Snapshot):
    writers = WriterPool(1)
    try:
        doc = feed_document(snapshot, main_feed(snapshot))
        assert writers.write(doc, ("atom",)) == write_document(doc, ("atom",))
        assert writers.written_here == 1
        assert len(writers.pids) == 1  # that write started one
        assert writers.wait_ready(30)
    finally:
        writers.close()


def test_close_ends_every_writer(snapshot: Snapshot):
    writers = WriterPool(2)
    writers.start()
    assert writers.wait_ready(30)
    pids = writers.pids
    writers.close()
    assert pids and not any(alive(pid) for pid in pids)
    doc = feed_document(snapshot, main_feed(snapshot))
    assert writers.write(doc, ("rss",)) == write_document(doc, ("rss",))  # closed: here
    assert writers.pids == []


def test_closing_the_pool_under_a_busy_writer_still_answers_that_feed(snapshot: Snapshot):
    writers = WriterPool(1)
    writers.start()
    assert writers.wait_ready(30)
    doc = feed_document(snapshot, main_feed(snapshot))
    big = dataclasses.replace(doc, items=doc.items * 400)  # ~0.1 s to write
    answers: list[dict[str, bytes]] = []
    thread = threading.Thread(target=lambda: answers.append(writers.write(big, ALL_FORMATS)))
    thread.start()
    wait_for(lambda: not writers._idle, timeout=10)  # taken: the write is under way
    pids = writers.pids
    writers.close()
    thread.join(30)
    assert answers == [write_document(big, ALL_FORMATS)]
    assert not any(alive(pid) for pid in pids)


def test_writers_run_niced_below_the_server(pool: WriterPool):
    (pid,) = pool.pids
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + WRITER_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, pid) == expected


def test_the_cpu_a_writer_spends_is_charged_to_the_thread_that_asked(
    pool: WriterPool, snapshot: Snapshot
):
    doc = feed_document(snapshot, main_feed(snapshot))
    cpu_spent_elsewhere()
    other: list[float] = []

    def elsewhere() -> None:
        pool.write(doc, ALL_FORMATS)
        other.append(cpu_spent_elsewhere())

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert other[0] > 0
    assert cpu_spent_elsewhere() == 0.0  # not this thread's


def writer_pids(server_pid: int) -> list[int]:
    """The feed writers among a server's child processes."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == server_pid and b"feedsvc.feeds.writerprocess" in command:
            found.append(int(entry.name))
    return found


COLD = ["/tags/china+northkorea/rss.xml", "/tags/diplomacy+health/atom.xml",
        "/tags/health+sanctions/feed.json", "/tags/china+security/rss.xml"]  # fmt: skip


@pytest.mark.slow
def test_serve_writes_cold_feeds_in_writers_replaces_a_killed_one_and_stops_them(
    bundled_content: Path,
):
    public = "https://feeds.example.test"  # the same links from both servers
    off = {"FEEDSVC_PUBLIC_URL": public, "FEEDSVC_WRITER_PROCESSES": "off"}
    with feedsvc_server(bundled_content, env=off) as plain:
        expected = {path: plain.get(path) for path in COLD}
    on = {"FEEDSVC_PUBLIC_URL": public, "FEEDSVC_WRITER_PROCESSES": "on"}
    with feedsvc_server(bundled_content, env=on) as server:
        wait_for(lambda: writer_pids(server.pid), timeout=30)
        wait_for(lambda: "feed writer ready" in server.log(), timeout=30)
        (first,) = writer_pids(server.pid)
        for path in COLD[:2]:
            status, _, body = server.get(path)
            assert (status, body) == (expected[path][0], expected[path][2])
            assert status == 200
        os.kill(first, signal.SIGKILL)
        for path in COLD[2:]:  # the first written here, then by the replacement
            status, _, body = server.get(path)
            assert (status, body) == (expected[path][0], expected[path][2])
        parse_feed(body, "rss")
        wait_for(lambda: writer_pids(server.pid) not in ([], [first]), timeout=30)
        pids = writer_pids(server.pid)
    assert server.returncode == 0  # stopped by SIGTERM (by PID) when the block ended
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in [first, *pids])
    assert "feed writer replaced" in server.log()


def test_writer_processes_are_on_unless_the_environment_says_off():
    from feedsvc.settings import ServiceSettings

    assert ServiceSettings.from_env({}).writer_processes
    assert not ServiceSettings.from_env({"FEEDSVC_WRITER_PROCESSES": "off"}).writer_processes
    assert not ServiceSettings().writer_processes  # built directly (tests, embedding): here
    with pytest.raises(ValueError, match="FEEDSVC_WRITER_PROCESSES"):
        ServiceSettings.from_env({"FEEDSVC_WRITER_PROCESSES": "sometimes"})


def test_a_server_importing_its_modules_loads_no_xml_writer_or_reference_markdown():
    """feedgen, lxml, dateutil and markdown-it-py (~7 MB resident) load only where
    used: in the writer processes, or on a body cmark may render unlike the
    reference (issue 14 item 4). A fresh interpreter: this one has them all."""
    code = (
        "import sys, feedsvc.cli, feedsvc.web.app, feedsvc.web.admin, feedsvc.service.core\n"
        "from feedsvc.feeds.markdown import render_body\n"
        "html = render_body('Some *text*.', 'http://127.0.0.1/')\n"
        "assert html == '<p>Some <em>text</em>.</p>\\n', html\n"
        "names = ('feedgen', 'lxml', 'dateutil', 'markdown_it')\n"
        "print(sorted(name for name in names if name in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
