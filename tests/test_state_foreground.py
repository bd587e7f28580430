"""Deferrable writes let a render finish first: the gate, and the writers that ask it.

Real threads, real SQLite state folders (tmp_path), a real service rendering
real feeds; a render is held open through the document-writer seam
(:func:`~feedsvc.feeds.render.use_writer`), which then writes the real feed.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from support import Clock

from feedsvc.content import scan as scan_module
from feedsvc.content.events import ContentEvents
from feedsvc.content.loader import ContentLoader
from feedsvc.feeds import rowwriter as rowwriter_module
from feedsvc.feeds.document import FeedDocument
from feedsvc.feeds.render import use_writer, write_document
from feedsvc.feeds.rendered import RenderedBodies
from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings
from feedsvc.state import deferred as deferred_module
from feedsvc.state.deferred import DeferredWrites
from feedsvc.state.foreground import FOREGROUND, Foreground
from feedsvc.state.store import StateStore, connect_file, open_state
from feedsvc.web.app import create_app

LONG = 60.0  # longer than any test: "waits until the render ends", never "until the bound"


class Render:
    """A render running in a thread of its own until :meth:`end` (``gate.busy()``)."""

    def __init__(self, gate: Foreground) -> None:
        self.started, self._end = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, args=(gate,))
        self.thread.start()
        assert self.started.wait(10)

    def _run(self, gate: Foreground) -> None:
        with gate.busy():
            self.started.set()
            self._end.wait(30)

    def end(self) -> None:
        self._end.set()
        self.thread.join(10)


class Waiter:
    """``gate.wait_quiet(...)`` in a thread; :attr:`result` once it returned."""

    def __init__(self, gate: Foreground, longest: float, give_up=None) -> None:
        self.result: bool | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(gate, longest, give_up))
        self.thread.start()

    def _run(self, gate: Foreground, longest: float, give_up) -> None:
        self.result = gate.wait_quiet(longest, give_up)
        self.done.set()


def test_nothing_rendering_means_no_wait():
    gate = Foreground(quiet=0.01)
    assert gate.wait_quiet(LONG) is True
    assert gate.waits == 0


def test_a_waiter_returns_once_the_render_ended_and_stayed_quiet():
    gate = Foreground(quiet=0.01)
    render = Render(gate)
    assert gate.running == 1
    waiter = Waiter(gate, LONG)
    assert not waiter.done.wait(0.2)  # the render is still running
    render.end()
    assert waiter.done.wait(10)
    assert waiter.result is True
    assert gate.running == 0
    assert gate.waits == 1


def test_a_render_that_never_ends_delays_a_waiter_by_its_bound_only():
    gate = Foreground(quiet=0.01)
    render = Render(gate)
    try:
        assert gate.wait_quiet(0.05) is False  # not quiet, but no longer waiting
    finally:
        render.end()


def test_a_waiter_asked_to_hurry_stops_waiting_when_woken():
    gate = Foreground(quiet=0.01)
    render = Render(gate)
    hurry = threading.Event()
    waiter = Waiter(gate, LONG, hurry.is_set)
    try:
        assert not waiter.done.wait(0.1)
        hurry.set()
        gate.wake()
        assert waiter.done.wait(10)
        assert waiter.result is False
    finally:
        render.end()


def count(path: Path, table: str) -> int:
    """Rows another process reading the file sees."""
    reader = connect_file(str(path))
    try:
        return int(reader.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        reader.close()


@pytest.fixture
def render_and_writes(
    rows_state: StateStore, monkeypatch
) -> Iterator[tuple[Render, DeferredWrites]]:
    """A render running, and deferred writes that wait for it without a bound."""
    monkeypatch.setattr(deferred_module, "DEFER_LONGEST_S", LONG)
    deferred = DeferredWrites(rows_state)
    render = Render(FOREGROUND)
    try:
        yield render, deferred
    finally:
        render.end()
        deferred.close()


def insert(n: int) -> Callable[[sqlite3.Connection], object]:
    return lambda db: db.execute("INSERT INTO t_rows (n) VALUES (?)", (n,))


def test_deferred_writes_wait_for_a_render_to_end(rows_state: StateStore, render_and_writes):
    render, deferred = render_and_writes
    assert rows_state.path is not None
    deferred.submit("test rows", insert(1))
    assert not deferred.flush(timeout=0) and count(rows_state.path, "t_rows") == 0
    threading.Event().wait(0.2)
    assert count(rows_state.path, "t_rows") == 0  # still held: the render runs
    render.end()
    assert deferred.flush(timeout=10)
    assert count(rows_state.path, "t_rows") == 1


def test_flushing_or_closing_deferred_writes_does_not_wait_for_renders(
    rows_state: StateStore, render_and_writes
):
    _, deferred = render_and_writes
    assert rows_state.path is not None
    deferred.submit("test rows", insert(1))
    assert deferred.flush(timeout=10)  # while the render still runs
    assert count(rows_state.path, "t_rows") == 1
    deferred.submit("test rows", insert(2))
    deferred.close()
    assert count(rows_state.path, "t_rows") == 2


def test_rendered_bodies_are_written_after_the_render_or_at_once_when_flushed(
    tmp_path: Path, monkeypatch
):
    monkeypatch.setattr(rowwriter_module, "DEFER_LONGEST_S", LONG)
    state = open_state(tmp_path / "state")
    bodies = RenderedBodies(state)
    assert bodies.kept and state.path is not None
    first, second = bodies.key("https://x.example/a", "*a*"), bodies.key("https://x.example/b", "b")
    render = Render(FOREGROUND)
    try:
        bodies.put_rendered([(first, "<p><em>a</em></p>")])
        threading.Event().wait(0.2)
        assert bodies.get(first) is None  # held while the render runs
        bodies.flush()  # a caller that needs it now (the pre-render's last rows) does not wait
        assert bodies.get(first) == "<p><em>a</em></p>"
        bodies.put_rendered([(second, "<p>b</p>")])
    finally:
        render.end()
    for _ in range(500):  # the render is over: written within QUIET_S, without a flush
        if bodies.get(second) is not None:
            break
        threading.Event().wait(0.01)
    assert bodies.get(second) == "<p>b</p>"
    bodies.close()
    state.close()


def test_a_feed_render_holds_a_body_write_until_it_ends(
    small_content: Path, tmp_path: Path, clock: Clock, monkeypatch
):
    """Through the real service: the writes of one cold feed wait while the next renders."""
    monkeypatch.setattr(rowwriter_module, "DEFER_LONGEST_S", LONG)
    monkeypatch.setattr(FOREGROUND, "quiet", LONG)  # the first feed's writes wait for the next
    settings = ServiceSettings(
        content_dir=small_content, reload_interval=0, state_dir=str(tmp_path / "state")
    )
    service = FeedService(settings, clock=clock, prewarm=False)
    client = create_app(settings, service=service, watch=False).test_client()
    assert service.state.path is not None
    entered, release = threading.Event(), threading.Event()
    seen_running: list[int] = []

    def held_writer(doc: FeedDocument, formats: Sequence[str]) -> dict[str, bytes]:
        seen_running.append(FOREGROUND.running)
        if any("/tags/china/" in url for url in doc.self_urls.values()):
            entered.set()
            release.wait(30)
        return write_document(doc, formats)

    previous = use_writer(held_writer)
    try:
        assert client.get("/tags/health/rss.xml").status_code == 200  # its bodies: queued
        held = threading.Thread(target=client.get, args=("/tags/china/rss.xml",))
        held.start()
        assert entered.wait(10)
        threading.Event().wait(0.2)
        assert count(service.state.path, "feeds_rendered_bodies") == 0
        release.set()
        held.join(10)
        FOREGROUND.quiet = 0.01  # (restored by monkeypatch) quiet soon after the last render
        FOREGROUND.wake()
        for _ in range(500):
            if count(service.state.path, "feeds_rendered_bodies"):
                break
            threading.Event().wait(0.01)
        assert count(service.state.path, "feeds_rendered_bodies") > 0
        assert seen_running and all(n >= 1 for n in seen_running)  # each write inside a render
    finally:
        release.set()
        use_writer(previous)
        service.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux")
def test_the_watchers_full_comparison_steps_aside_for_a_render_and_a_poll_does_not(
    small_content: Path, monkeypatch
):
    monkeypatch.setattr(scan_module, "PACE_LONGEST_S", LONG)
    watched = ContentLoader(small_content)
    watched.load()
    watched.events = ContentEvents(watched.content_dir, watched.articles_dir)
    polled = ContentLoader(small_content)
    polled.load()
    (small_content / "articles" / "gamma.yaml").write_text(
        (small_content / "articles" / "gamma.yaml").read_text().replace("Gamma", "Gamma two")
    )
    render = Render(FOREGROUND)
    try:
        results: list[set[str]] = []

        def load(loader: ContentLoader) -> None:
            results.append({article.title for article in loader.load().articles})

        polling = threading.Thread(target=load, args=(polled,))  # explicit: never paced
        polling.start()
        polling.join(10)
        assert not polling.is_alive()
        assert "Gamma two" in results[-1]
        waits = FOREGROUND.waits
        first_look = threading.Thread(target=load, args=(watched,))  # every file: paced
        first_look.start()
        first_look.join(0.2)
        assert first_look.is_alive()  # waiting for the render
    finally:
        render.end()
    first_look.join(10)
    assert not first_look.is_alive()
    assert FOREGROUND.waits > waits
    assert "Gamma two" in results[-1]
    watched.events.close()
