"""The parse cache: restarts from it give the same feeds, and it is never trusted blindly.

In-process loaders over real files with a real state folder (``state.db``),
then real ``feedsvc serve`` restarts. Between loads files are edited,
renamed, deleted or replaced behind the cache's back, and the database is
damaged as a disk or another version of the program would.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest
from support import REPO, fresh_load, snapshot_feeds

import feedsvc.content.parallel as parallel
import feedsvc.content.settled as settled
from feedsvc.content.loader import ContentLoader
from feedsvc.state.store import open_state

sys.path.insert(0, str(REPO))
from bench.generate import write_content
from bench.servers import feedsvc_server


@pytest.fixture(autouse=True)
def settle_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by a test are cached once 50 ms old (2 s in service)."""
    monkeypatch.setattr(settled, "SETTLED_SECONDS", 0.05)


@pytest.fixture
def content(tmp_path: Path) -> Path:
    root = write_content(tmp_path / "content", 120, 12, seed=5)
    time.sleep(0.1)  # older than SETTLED_SECONDS
    return root


def articles_read(loader: ContentLoader) -> int:
    return loader.files_read - 1  # site.yaml


def execute(state: Path, sql: str) -> None:
    with sqlite3.connect(state / "state.db") as db:
        db.execute(sql)


def test_a_restart_from_the_cache_gives_the_feeds_of_a_cold_load(content: Path, tmp_path: Path):
    state = tmp_path / "state"
    _, expected = fresh_load(content, None)
    first, filled = fresh_load(content, state)
    assert articles_read(first) == 120 and filled == expected
    warm, restarted = fresh_load(content, state)
    assert articles_read(warm) == 0  # every article from the cache
    assert restarted == expected


def test_workers_fill_the_cache_and_a_restart_reads_it(
    content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(parallel, "PARALLEL_MIN_FILES", 10)  # worker processes, chunks of 500
    monkeypatch.setattr(parallel, "LOAD_CHUNK", 25)
    state = tmp_path / "state"
    _, expected = fresh_load(content, None)
    first, filled = fresh_load(content, state)
    warm, restarted = fresh_load(content, state)
    assert articles_read(first) == 120 and articles_read(warm) == 0
    assert filled == expected and restarted == expected


def test_files_changed_while_stopped_are_read_again(content: Path, tmp_path: Path):
    state = tmp_path / "state"
    fresh_load(content, state)
    articles = content / "articles"
    names = sorted(p.name for p in articles.iterdir())
    # Edited in place with the same size, its mtime put back (ctime still moves).
    edited = articles / names[0]
    data, info = edited.read_bytes(), edited.stat()
    edited.write_bytes(
        data.replace(b'title: "', b'title: "X', 1).replace(b"views: 1", b"views: ", 1)
    )
    assert edited.stat().st_size == info.st_size
    os.utime(edited, ns=(info.st_atime_ns, info.st_mtime_ns))
    # Replaced by another file of the same size and mtime (a new inode).
    replaced = articles / names[1]
    data, info = replaced.read_bytes(), replaced.stat()
    other = articles / ".other"
    other.write_bytes(
        data.replace(b'title: "', b'title: "Y', 1).replace(b"views: 1", b"views: ", 1)
    )
    os.utime(other, ns=(info.st_atime_ns, info.st_mtime_ns))
    os.replace(other, replaced)
    (articles / names[2]).rename(articles / f"renamed-{names[2]}")
    (articles / names[3]).unlink()
    time.sleep(0.1)
    warm, restarted = fresh_load(content, state)
    assert articles_read(warm) == 3  # edited, replaced, renamed
    _, expected = fresh_load(content, None)
    assert restarted == expected
    titles = {a.slug: a.title for a in warm.all_articles()}
    assert titles[names[0].removesuffix(".yaml")].startswith("X")
    assert titles[names[1].removesuffix(".yaml")].startswith("Y")
    assert names[3].removesuffix(".yaml") not in titles


def test_a_corrupt_row_is_never_trusted_and_is_logged(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    state = tmp_path / "state"
    _, expected = fresh_load(content, state)
    # A flipped byte in one row's texts (the checksum no longer matches).
    flip = "CAST(replace(CAST(texts AS TEXT), 'a', 'b') AS BLOB)"
    execute(state, f"UPDATE parsecache_chunks SET texts = {flip}")
    with caplog.at_level(logging.WARNING, logger="feedsvc"):
        warm, restarted = fresh_load(content, state)
    assert articles_read(warm) == 120 and restarted == expected
    assert "does not match its checksum" in caplog.text


def test_rows_of_another_code_version_are_ignored_and_logged(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    state = tmp_path / "state"
    _, expected = fresh_load(content, state)
    execute(state, "UPDATE parsecache_chunks SET code = 'another version'")
    with caplog.at_level(logging.INFO, logger="feedsvc"):
        warm, restarted = fresh_load(content, state)
    assert articles_read(warm) == 120 and restarted == expected
    assert "written by another code version ignored" in caplog.text
    warm, _ = fresh_load(content, state)  # dropped, and the new rows written instead
    assert articles_read(warm) == 0


def test_a_truncated_database_is_moved_aside_and_the_files_read(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    state = tmp_path / "state"
    _, expected = fresh_load(content, state)
    db = state / "state.db"
    with db.open("r+b") as handle:
        handle.truncate(db.stat().st_size // 2)
    with caplog.at_level(logging.ERROR):
        warm, restarted = fresh_load(content, state)
    assert restarted == expected and articles_read(warm) == 120
    assert any(p.name.startswith("state.db.corrupt-") for p in state.iterdir())


def test_two_content_folders_sharing_a_cache_keep_their_own_articles(tmp_path: Path):
    one = write_content(tmp_path / "one", 40, 5, seed=1)
    two = write_content(tmp_path / "two", 40, 5, seed=2)  # the same file names, other articles
    time.sleep(0.1)
    state = tmp_path / "state"
    expected = {folder: fresh_load(folder, None)[1] for folder in (one, two)}
    for folder in (one, two, one, two):
        _, got = fresh_load(folder, state)
        assert got == expected[folder]
    assert expected[one] != expected[two]


def test_a_full_reload_with_threads_running_reads_in_worker_processes(
    content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(parallel, "PARALLEL_MIN_FILES", 10)
    monkeypatch.setattr(parallel, "LOAD_CHUNK", 25)
    store = open_state(tmp_path / "state")
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)  # a server's threads: forking is not safe
    thread.start()
    try:
        loader = ContentLoader(content, state=store)
        loader.load()
        for path in (content / "articles").iterdir():  # a checkout: new bytes in every file
            path.write_bytes(path.read_bytes().replace(b"title: ", b"title: New ", 1))
        time.sleep(0.1)
        reloaded = snapshot_feeds(loader.load())
        assert loader.files_read == 1 + 2 * 120
    finally:
        stop.set()
        thread.join()
        store.close()
    _, expected = fresh_load(content, None)
    assert reloaded == expected
    warm, restarted = fresh_load(content, tmp_path / "state")  # what the reload read was cached
    assert articles_read(warm) == 0 and restarted == expected


@pytest.mark.slow
def test_feedsvc_serve_restarts_from_the_cache_with_the_same_bytes(content: Path, tmp_path: Path):
    time.sleep(2.1)  # the service caches files unchanged for 2 s
    state = tmp_path / "state"
    paths = ["/rss.xml", "/atom.xml", "/feed.json", "/popular/atom.xml", "/feeds.opml"]
    bodies = []
    for run in range(2):
        log = tmp_path / f"serve-{run}.log"
        server = feedsvc_server(content, "--public-url", "https://feeds.test", log_path=log,
                                env={"FEEDSVC_STATE_DIR": str(state)})  # fmt: skip
        with server:
            tag_paths = [p for p in _tag_paths(server.port)][:6]
            bodies.append({p: _get(server.port, p) for p in paths + tag_paths})
        if run == 1:
            assert "parse cache: 120 of 120 files taken" in log.read_text()
    assert bodies[0] == bodies[1]


def _get(port: int, path: str) -> bytes:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200, path
        return response.read()
    finally:
        conn.close()


def _tag_paths(port: int) -> list[str]:
    import re

    opml = _get(port, "/feeds.opml").decode()
    return sorted(set(re.findall(r"https://feeds\.test(/tags/[^\"]+/rss\.xml)", opml)))


def test_rows_read_ahead_are_taken_and_the_thread_is_gone_before_workers_fork(
    content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The rows a restart takes are read by a thread during its scan
    (feedsvc.content.cacherows); the load must not fork its parse workers while
    that thread runs (a fork copies locks another thread holds), so it has ended
    by then: files changed while stopped are still parsed by forked workers."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN_FILES", 10)
    monkeypatch.setattr(parallel, "LOAD_CHUNK", 25)
    state = tmp_path / "state"
    fresh_load(content, state)
    for path in sorted((content / "articles").iterdir())[:40]:  # changed while stopped
        path.write_bytes(path.read_bytes().replace(b'title: "', b'title: "Z', 1))
    time.sleep(0.1)
    threads_before = threading.active_count()
    contexts: list[tuple[str | None, int]] = []
    choose = parallel._worker_context

    def noted() -> object:
        context = choose()
        contexts.append((context.get_start_method() if context else None,
                         threading.active_count()))  # fmt: skip
        return context

    monkeypatch.setattr(parallel, "_worker_context", noted)
    store = open_state(state)
    try:
        loader = ContentLoader(content, state=store)
        restarted = snapshot_feeds(loader.load())
    finally:
        store.close()
    assert articles_read(loader) == 40  # 80 from the rows read ahead
    assert contexts == [("fork", threads_before)]
    assert threading.active_count() == threads_before
    _, expected = fresh_load(content, None)
    assert restarted == expected


def test_rows_read_ahead_for_a_first_load_that_wants_none_are_dropped(
    content: Path, tmp_path: Path
):
    """Every file changed while stopped (none is cacheable yet): the rows read
    ahead are of no use, dropped, and the thread ends."""
    state = tmp_path / "state"
    fresh_load(content, state)
    threads_before = threading.active_count()
    for path in (content / "articles").iterdir():
        path.write_bytes(path.read_bytes())  # same bytes, new times
    warm, restarted = fresh_load(content, state)
    assert articles_read(warm) == 120
    assert threading.active_count() == threads_before
    with sqlite3.connect(state / "state.db") as db:  # the new rows are not cached yet (fresh)
        assert db.execute("SELECT count(*) FROM parsecache_chunks").fetchone() == (0,)
    _, expected = fresh_load(content, None)
    assert restarted == expected
