"""What the next start reads, kept current while the service runs (content/keeper.py).

After edits and new popularity counts, a keep (the watcher's, once quiet, or a
graceful shutdown's) writes the index row and parse cache rows for the edited
files, so the next start restores the indexes and parses nothing, and serves
exactly what a load without any cache serves. A file changed again after it
was read is never kept. Real files in tmp_path, a real state folder, fresh
loaders and real FeedService instances as restarts.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import REPO, fresh_load, wait_for

import feedsvc.content.keeper as keeper
import feedsvc.content.settled as settled
from feedsvc.content.loader import ContentLoader
from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings
from feedsvc.state.store import open_state

sys.path.insert(0, str(REPO))
from bench.generate import write_content

RESTORED = "index cache: the indexes of"
RECOUNTED = "other view counts"
SETTLED = 0.3


@pytest.fixture(autouse=True)
def settle_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by a test are cached once 0.3 s old (2 s in service); a read
    0.1 s after a write is neither racy (50 ms) nor settled."""
    monkeypatch.setattr(settled, "SETTLED_SECONDS", SETTLED)
    monkeypatch.setattr(keeper, "SETTLED_SECONDS", SETTLED)


@pytest.fixture
def content(tmp_path: Path) -> Path:
    root = write_content(tmp_path / "content", 120, 10, seed=3)
    (root / "popularity.yaml").write_text("")
    time.sleep(SETTLED)
    return root


def retitle(path: Path, title: str) -> None:
    text = path.read_text()
    first, rest = text.split("\n", 1)
    assert first.startswith("title:")
    path.write_text(f'title: "{title}"\n{rest}')


def restart(content: Path, state: Path, caplog: pytest.LogCaptureFixture):  # type: ignore[no-untyped-def]
    """A fresh loader's first load: (restored, recounted, files parsed, feeds)."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="feedsvc"):
        loader, feeds = fresh_load(content, state)
    specials = 2  # site.yaml and popularity.yaml are read at every start
    return RESTORED in caplog.text, RECOUNTED in caplog.text, loader.files_read - specials, feeds


@contextmanager
def serving(content: Path, state: Path) -> Iterator[ContentLoader]:
    """A loader on the state folder after its first load, as a running service holds it."""
    store = open_state(state)
    try:
        loader = ContentLoader(content, state=store)
        loader.load()
        yield loader
    finally:
        store.close()


def test_edits_and_counts_are_kept_for_the_next_start(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    state = tmp_path / "state"
    fresh_load(content, state)  # the first start: parsed, indexed, kept
    with serving(content, state) as loader:
        assert not loader.keeper.behind
        names = sorted(p.name for p in (content / "articles").glob("*.yaml"))
        retitle(content / "articles" / names[4], "Edited while serving")
        (content / "articles" / "0-first-by-name.yaml").write_text(
            (content / "articles" / names[7]).read_text().replace("title:", "title: New", 1)
        )
        (content / "articles" / names[9]).unlink()
        (content / "popularity.yaml").write_text(f"{names[2][:-5]}: 777\n")
        time.sleep(0.1)
        loader.load()  # patched in memory; the edited files read too soon to cache
        assert loader.keeper.behind
        time.sleep(SETTLED)
        assert loader.keeper.keep(wait=True)
        assert not loader.keeper.behind and not loader.keeper.keep(wait=True)
    expected = fresh_load(content, None)[1]
    restored, recounted, parsed, feeds = restart(content, state, caplog)
    assert restored and not recounted and parsed == 0 and feeds == expected


def test_without_a_keep_the_next_start_indexes_and_parses_again(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    state = tmp_path / "state"
    fresh_load(content, state)
    with serving(content, state) as loader:
        retitle(next((content / "articles").glob("*.yaml")), "Edited, never kept")
        time.sleep(0.1)
        loader.load()
    expected = fresh_load(content, None)[1]
    restored, _, parsed, feeds = restart(content, state, caplog)
    assert not restored and parsed == 1 and feeds == expected


def test_new_counts_alone_restore_all_but_the_views_order_then_are_kept(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    state = tmp_path / "state"
    fresh_load(content, state)
    names = sorted(p.stem for p in (content / "articles").glob("*.yaml"))
    (content / "popularity.yaml").write_text(f"{names[0]}: 5000\n{names[3]}: 12\n")
    time.sleep(SETTLED)
    expected = fresh_load(content, None)[1]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="feedsvc"), serving(content, state) as loader:
        assert RESTORED in caplog.text and RECOUNTED in caplog.text
        assert loader.keeper.behind  # the row still has the old counts
        assert loader.keeper.keep(wait=True)
    restored, recounted, parsed, feeds = restart(content, state, caplog)
    assert restored and not recounted and parsed == 0 and feeds == expected


def test_a_file_changed_again_after_its_read_is_not_kept(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    state = tmp_path / "state"
    fresh_load(content, state)
    path = next((content / "articles").glob("*.yaml"))
    with serving(content, state) as loader:
        retitle(path, "Read by the service!")
        time.sleep(0.1)
        loader.load()
        # Written again after the read, same size and mtime (its ctime moves: a new
        # identity; within one clock tick it might not, and only the bytes tell).
        stat = os.stat(path)
        retitle(path, "Written after a read")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        time.sleep(SETTLED)
        loader.keeper.keep(wait=True)
    expected = fresh_load(content, None)[1]
    restored, _, parsed, feeds = restart(content, state, caplog)
    assert not restored and parsed == 1 and feeds == expected


def test_a_graceful_shutdown_and_the_watcher_keep(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
):  # fmt: skip
    state = tmp_path / "state"
    settings = ServiceSettings(content_dir=content, reload_interval=0.05, state_dir=str(state))
    monkeypatch.setattr(keeper, "QUIET_SECONDS", 0.3)
    names = sorted((content / "articles").glob("*.yaml"))
    service = FeedService(settings, prewarm=False)
    try:
        service.start_watching()
        retitle(names[1], "Kept by the watcher")
        wait_for(lambda: b"Kept by the watcher" in _main(service), what="the edit served")
        wait_for(lambda: service.loader.keeper.keeps >= 1, what="a keep once quiet")
    finally:
        service.close()
    restored, _, parsed, feeds = restart(content, state, caplog)
    assert restored and parsed == 0 and feeds == fresh_load(content, None)[1]
    service = FeedService(settings, prewarm=False)  # no watcher: kept at close
    try:
        retitle(names[2], "Kept at shutdown")
        time.sleep(0.1)
        service.reload()
        time.sleep(SETTLED)  # settled before the shutdown
    finally:
        service.close()
    restored, _, parsed, feeds = restart(content, state, caplog)
    assert restored and parsed == 0 and feeds == fresh_load(content, None)[1]


def _main(service: FeedService) -> bytes:
    return b"".join(article.title.encode() for article in service.catalog.snapshot.articles)
