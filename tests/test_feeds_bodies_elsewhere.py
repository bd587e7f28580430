"""A cold feed's missing bodies: half rendered by an idle writer, the rest by the server.

Real writer processes (killed by their process ids when a test needs one
gone); the HTML must be what rendering here gives, whatever happens to them.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import wait_for

from feedsvc.feeds.body import render_bodies, render_bodies_elsewhere
from feedsvc.feeds.markdown import render_body
from feedsvc.feeds.writers import WriterPool

URL = "https://news.example/articles/story"
WANTED = [
    (f"{URL}-{n}", f"# Part {n}\n\nSee [the map](/maps/{n}.png) and <b>bold</b> *{n}*.\n")
    for n in range(9)
]
EXPECTED = [render_body(source, url) for url, source in WANTED]


@pytest.fixture
def pool() -> Iterator[WriterPool]:
    writers = WriterPool(1)
    writers.start()
    assert writers.wait_ready(30)
    render_bodies_elsewhere(writers.render_bodies)
    try:
        yield writers
    finally:
        render_bodies_elsewhere(None)
        writers.close()


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_bodies_rendered_half_in_a_writer_are_the_bodies_rendered_here(pool: WriterPool):
    assert render_bodies(WANTED) == EXPECTED
    assert render_bodies(WANTED[:3]) == EXPECTED[:3]  # too few to be worth a round trip
    assert render_bodies([]) == []
    wait = pool.render_bodies(WANTED[:2])  # the pool's own answer, in order
    assert wait is not None and wait() == EXPECTED[:2]


def test_a_writer_killed_while_rendering_costs_a_render_here_never_a_failure(pool: WriterPool):
    (victim,) = pool.pids
    wait = pool.render_bodies(WANTED)
    assert wait is not None
    os.kill(victim, signal.SIGKILL)
    assert wait() is None and pool.replaced == 1
    assert pool.wait_ready(30) and victim not in pool.pids
    (second,) = pool.pids
    os.kill(second, signal.SIGKILL)
    wait_for(lambda: not alive(second), timeout=10)
    assert render_bodies(WANTED) == EXPECTED  # its half rendered here instead
    assert pool.replaced == 2


def test_with_every_writer_busy_nothing_waits_for_one(pool: WriterPool):
    (only,) = pool.pids
    busy = pool.render_bodies(WANTED[:1])  # takes the one idle writer
    assert busy is not None
    assert pool.render_bodies(WANTED[:1]) is None  # none idle: render here, at once
    assert render_bodies(WANTED) == EXPECTED
    assert busy() == EXPECTED[:1] and pool.pids == [only]
