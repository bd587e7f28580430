"""Files read again with the bytes they had are hashed, not parsed, and stay cached.

A checkout or ``touch`` of every file changes every identity and no byte: a
reload keeps each article without parsing it (its text store does not
grow), and writes parse cache rows under the new identities in the
background (:mod:`feedsvc.content.cachefill`), so the next start takes every
file from the cache. In-process loaders over real files and a real state
folder; the worker processes' path too.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from support import fresh_load, snapshot_feeds

import feedsvc.content.parallel as parallel
import feedsvc.content.settled as settled
from bench.generate import write_content
from feedsvc.content.loader import ContentLoader
from feedsvc.content.textstore import ensure_store
from feedsvc.state.store import open_state


@pytest.fixture(autouse=True)
def settle_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by a test are cached once 50 ms old (2 s in service)."""
    monkeypatch.setattr(settled, "SETTLED_SECONDS", 0.05)


@pytest.fixture
def content(tmp_path: Path) -> Path:
    root = write_content(tmp_path / "content", 120, 12, seed=7)
    time.sleep(0.1)  # older than SETTLED_SECONDS
    return root


def touch_every_article(root: Path, seconds: int) -> None:
    """New times (and ctime), the same bytes: what a checkout of every file does."""
    for entry in os.scandir(root / "articles"):
        os.utime(entry.path, ns=(seconds * 10**9, seconds * 10**9))
    time.sleep(0.1)  # settled: the new identities may be cached


def test_a_touch_of_every_file_parses_none_of_them(content: Path):
    loader = ContentLoader(content)
    before = loader.load()
    expected = snapshot_feeds(before)
    written = ensure_store().size()
    touch_every_article(content, 1_000_000)
    after = loader.load()
    assert snapshot_feeds(after) == expected
    assert all(a is b for a, b in zip(before.articles, after.articles, strict=True))
    assert ensure_store().size() == written  # no text stored: nothing was parsed


def test_an_edit_among_touched_files_is_read(content: Path):
    loader = ContentLoader(content)
    loader.load()
    touch_every_article(content, 1_000_000)
    path = sorted((content / "articles").iterdir())[3]
    path.write_text(path.read_text().replace("title:", "title: Edited", 1))
    snapshot = loader.load()
    edited = [a for a in snapshot.articles if a.title.startswith("Edited")]
    assert [a.slug for a in edited] == [path.stem]
    assert snapshot_feeds(snapshot) == snapshot_feeds(ContentLoader(content).load())


def test_a_broken_file_put_back_is_read_again(content: Path):
    """A broken file keeps its last good article, whose revision is the bytes put
    back: those are parsed, so the problems go (not kept as the broken read's)."""
    loader = ContentLoader(content)
    clean = loader.load()
    path = sorted((content / "articles").iterdir())[5]
    original = path.read_bytes()
    path.write_bytes(b"title: [unclosed\n")
    broken = loader.load()
    assert any(p.path.endswith(path.name) for p in broken.problems)
    path.write_bytes(original)
    restored = loader.load()
    assert restored.problems == clean.problems
    assert snapshot_feeds(restored) == snapshot_feeds(clean)


@pytest.mark.parametrize("workers", [False, True], ids=["here", "workers"])
def test_after_a_touch_the_next_start_takes_every_file_from_the_cache(
    content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: bool
):
    if workers:  # the load workers' path: chunks written by them, unchanged files left out
        monkeypatch.setattr(parallel, "PARALLEL_MIN_FILES", 10)
    state = tmp_path / "state"
    _, expected = fresh_load(content, None)
    store = open_state(state)
    try:
        loader = ContentLoader(content, state=store)
        loader.load()
        touch_every_article(content, 1_000_000)
        read = loader.files_read
        assert snapshot_feeds(loader.load()) == expected
        assert loader.files_read - read == 120  # every file read (hashed), none parsed
        assert loader.cache_fill.wait(30)
        assert loader.cache_fill.rows_written >= 1
    finally:
        store.close()
    restarted, filled = fresh_load(content, state)
    assert filled == expected
    assert restarted.files_read == 1  # site.yaml alone: every article from the cache
