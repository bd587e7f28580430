"""The rendered-body store: exactly what rendering returns, kept across restarts, never stale.

Real SQLite state folders (tmp_path) opened and closed as the service does;
rows are damaged with ``sqlite3`` as a broken disk or a hand edit would.
"""

from __future__ import annotations

import sqlite3
import threading
import zlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedsvc.feeds.markdown import render_body
from feedsvc.feeds.prerender import KeyPrefixes
from feedsvc.feeds.rendered import TABLE_NAME, RenderedBodies, renderer_version
from feedsvc.state.store import StateStore, memory_state, open_state

URL = "https://news.example/articles/a-story"
SOURCE = (
    '# A story\n\nSee [the map](/images/map.png) and ![a chart](chart.png "Chart").\n\n'
    '<script>alert(1)</script> <a href="javascript:x">no</a> *done*\n'
)

# Markdown and HTML fragments whose combinations exercise links, images, raw
# HTML, code, entities and the characters the sanitiser and XML care about.
PIECES = [
    "# Title", "## Sub", "*em*", "**strong**", "`code`", "```\nfenced\n```", "> quote",
    "- item", "1. first", "[link](/relative)", "[abs](https://other.example/x?y=1#z)",
    "![img](pic.png)", "[frag](#notes)", "[mail](mailto:a@b.example)", "<b>bold</b>",
    "<script>x()</script>", "<img src=x onerror=y>", "<a href='//cdn.example/p'>p</a>",
    "&amp; &nbsp; &#x1F600;", "\u00a0lead", "[js](javascript:alert(1))", "<!-- c -->",
    "| a | b |\n|---|---|\n| 1 | 2 |", "\t\tindented", "é 북한 \U0001f600", "\x00\x1b", "\n\n",
]  # fmt: skip
BASES = st.sampled_from([
    "https://news.example/articles/a", "http://127.0.0.1:8080/a/b/c", "https://x.example/",
    "https://news.example/blog/articles/%E5%8C%97", "http://h.example/p?q=1",
])  # fmt: skip
SOURCES = st.lists(st.sampled_from(PIECES) | st.text(max_size=40), max_size=12).map(
    lambda parts: " ".join(parts)
)


def kept_state(folder: Path) -> StateStore:
    state = open_state(folder)
    assert state.durable
    return state


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sources=st.lists(SOURCES, min_size=1, max_size=4), base=BASES)
def test_kept_bodies_are_exactly_what_rendering_returns(tmp_path: Path, sources, base):
    state = open_state(tmp_path / "state")
    try:
        first, again = RenderedBodies(state), RenderedBodies(state)
        for source in sources:
            expected = render_body(source, base)
            assert first.html(base, source) == expected  # rendered, then kept
            first.flush()
            assert again.html(base, source) == expected  # from the state
        assert again.renders == 0 and again.hits == len(sources)
        first.close()
        again.close()
    finally:
        state.close()


def test_kept_bodies_survive_a_restart_of_the_state(tmp_path: Path):
    state = kept_state(tmp_path / "state")
    bodies = RenderedBodies(state)
    assert bodies.html(URL, SOURCE) == render_body(SOURCE, URL)
    bodies.close()  # its queued write done first
    state.close()
    state = kept_state(tmp_path / "state")  # as a restarted service opens it
    bodies = RenderedBodies(state)
    assert bodies.html(URL, SOURCE) == render_body(SOURCE, URL)
    assert (bodies.hits, bodies.renders) == (1, 0)
    bodies.close()
    state.close()


def test_an_edit_or_another_url_is_rendered_anew(tmp_path: Path):
    state = kept_state(tmp_path / "state")
    bodies = RenderedBodies(state)
    bodies.html(URL, SOURCE)
    bodies.flush()
    edited = SOURCE.replace("the map", "the new map")
    assert bodies.html(URL, edited) == render_body(edited, URL)
    other = "https://mirror.example/articles/a-story"
    assert bodies.html(other, SOURCE) == render_body(SOURCE, other)
    bodies.flush()
    assert "https://mirror.example/images/map.png" in bodies.html(other, SOURCE)
    assert (bodies.renders, bodies.hits) == (3, 1)
    state.close()


def test_a_new_renderer_version_never_reads_the_old_rows(tmp_path: Path):
    state = kept_state(tmp_path / "state")
    old = RenderedBodies(state, version="markdown-it-py 0.0; nh3 0.0; feedsvc.text old")
    old.html(URL, "x")
    old.close()
    current = RenderedBodies(state)
    assert current.version == renderer_version() != "markdown-it-py 0.0; nh3 0.0; feedsvc.text old"
    assert current.html(URL, "x") == render_body("x", URL)
    assert (current.hits, current.renders) == (0, 1)
    state.close()


def test_the_version_names_the_libraries_and_our_code():
    version = renderer_version()
    assert version.startswith("cmarkgfm ") and "; markdown-it-py " in version
    assert "; nh3 " in version
    assert "; feedsvc.text " in version


def _damage(folder: Path, html: bytes) -> None:
    with sqlite3.connect(folder / "state.db") as db:
        db.execute(f"UPDATE {TABLE_NAME} SET html = ?", (html,))


def test_a_damaged_row_is_never_served(tmp_path: Path):
    folder = tmp_path / "state"
    state = kept_state(folder)
    bodies = RenderedBodies(state)
    expected = bodies.html(URL, SOURCE)
    bodies.close()
    for damage in (
        zlib.compress(b"<p>someone else's body</p>"),  # valid zlib, wrong content
        b"not zlib at all",
        zlib.compress(b"\xff\xfe not utf-8")[:-3],  # truncated
    ):
        _damage(folder, damage)
        again = RenderedBodies(state)
        assert again.html(URL, SOURCE) == expected
        assert (again.rejected, again.hits, again.renders) == (1, 0, 1)
        again.close()
        later = RenderedBodies(state)
        assert later.html(URL, SOURCE) == expected and later.hits == 1  # rewritten whole
        later.close()
    state.close()


def test_a_row_copied_under_another_key_is_never_served(tmp_path: Path):
    folder = tmp_path / "state"
    state = kept_state(folder)
    bodies = RenderedBodies(state)
    bodies.html(URL, "first")
    bodies.html(URL, "second")
    bodies.close()
    with sqlite3.connect(folder / "state.db") as db:
        rows = db.execute(f"SELECT key, html, check_hash FROM {TABLE_NAME}").fetchall()
        (_, html_a, check_a), (key_b, _, _) = rows
        db.execute(f"UPDATE {TABLE_NAME} SET html = ?, check_hash = ? WHERE key = ?",
                   (html_a, check_a, key_b))  # fmt: skip
    again = RenderedBodies(state)
    assert again.html(URL, "first") == render_body("first", URL)
    assert again.html(URL, "second") == render_body("second", URL)
    assert again.rejected == 1
    again.close()
    state.close()


def test_a_state_in_memory_keeps_nothing_and_still_renders():
    state = memory_state()
    bodies = RenderedBodies(state)
    assert not bodies.kept
    assert bodies.html(URL, SOURCE) == render_body(SOURCE, URL)
    assert bodies.missing([b"k"]) == {b"k"}
    with state.reading() as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert TABLE_NAME not in tables  # no copy of every body in memory
    state.close()


def test_a_closed_state_costs_a_render_never_a_failure(tmp_path: Path):
    state = kept_state(tmp_path / "state")
    bodies = RenderedBodies(state)
    bodies.close()
    state.close()
    assert bodies.html(URL, SOURCE) == render_body(SOURCE, URL)


def test_prune_keeps_current_bodies_and_drops_the_rest(tmp_path: Path):
    state = kept_state(tmp_path / "state")
    bodies = RenderedBodies(state)
    for text in ("old", "current"):
        bodies.html(URL, text)
    bodies.flush()
    current = {bodies.key(URL, "current")}
    assert bodies.prune(current, before=0) == 0  # nothing made before time 0
    assert bodies.prune(current, before=2**50) == 1
    bodies.flush()
    assert bodies.missing([bodies.key(URL, "old"), *current]) == {bodies.key(URL, "old")}
    bodies.close()
    state.close()


def test_the_walks_compact_key_record_prunes_as_a_set_of_the_keys_would(tmp_path: Path):
    """KeyPrefixes (what the pre-render's walk keeps for the prune, ~10x smaller
    than a set): the same rows kept and dropped, whatever order keys came in."""
    state = kept_state(tmp_path / "state")
    bodies = RenderedBodies(state)
    texts = [f"body {n}" for n in range(40)]
    for text in texts:
        bodies.html(URL, text)
    bodies.flush()
    keys = [bodies.key(URL, text) for text in texts]
    current = KeyPrefixes()
    current.add(keys[30:])
    current.add(reversed(keys[10:30:2]))
    assert len(current) == 20
    assert all(key in current for key in keys[30:] + keys[10:30:2])
    assert not any(key in current for key in keys[:10] + keys[11:30:2])
    assert "not bytes" not in current
    assert bodies.prune(current, before=2**50) == 20
    bodies.flush()
    assert bodies.missing(keys) == set(keys[:10] + keys[11:30:2])
    bodies.close()
    state.close()


def test_a_lookup_never_waits_for_another_writer(tmp_path: Path):
    """A write transaction held open elsewhere (another owner, another process) blocks no read."""
    state = kept_state(tmp_path / "state")
    bodies = RenderedBodies(state)
    bodies.html(URL, SOURCE)
    bodies.flush()
    again = RenderedBodies(state)
    with state.transaction() as db:  # the shared connection holds the write lock meanwhile
        db.execute("CREATE TABLE elsewhere (x)")
        assert again.html(URL, SOURCE) == render_body(SOURCE, URL) and again.hits == 1
    assert not state.degraded
    again.close()
    bodies.close()
    state.close()


def test_no_writer_thread_until_the_first_write(tmp_path: Path):
    """The service makes this before its first load, which forks parse workers only
    while the process has a single thread: making it must start no thread."""
    state = kept_state(tmp_path / "state")
    try:
        before = set(threading.enumerate())
        idle = RenderedBodies(state)
        assert set(threading.enumerate()) == before
        bodies = RenderedBodies(state)
        assert bodies.html(URL, SOURCE + " read") == render_body(SOURCE + " read", URL)
        bodies.flush()
        started = set(threading.enumerate()) - before
        assert [thread.name for thread in started] == ["feedsvc-bodies-writer"]
        idle.close()  # never started: nothing to stop
        bodies.close()
    finally:
        state.close()


def test_a_feeds_bodies_looked_up_at_once_are_those_looked_up_one_by_one(tmp_path: Path):
    """RenderedBodies.many (one query for a cold feed's bodies): the same HTML as
    html() for each, stored ones read, missing ones rendered and kept, a damaged
    one never served."""
    folder = tmp_path / "state"
    state = kept_state(folder)
    wanted = [(f"{URL}-{n}", f"{SOURCE}\n\nPart {n} [here](/p/{n})") for n in range(7)]
    expected = [render_body(source, url) for url, source in wanted]
    first = RenderedBodies(state)
    assert [first.html(url, source) for url, source in wanted[:4]] == expected[:4]
    damaged = first.key(*wanted[1])
    first.close()
    with sqlite3.connect(folder / "state.db") as db:  # one of the four stored rows damaged
        db.execute(f"UPDATE {TABLE_NAME} SET html = ? WHERE key = ?", (b"broken", damaged))
    again = RenderedBodies(state)
    assert again.many(wanted) == expected
    assert (again.hits, again.renders, again.rejected) == (3, 4, 1)
    again.flush()
    assert again.many(wanted) == expected and again.hits == 3 + 7  # all kept now
    assert again.many([]) == []
    again.close()
    state.close()
