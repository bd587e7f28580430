"""The snapshot and lint indexes kept with the parse cache (content/indexcache.py).

A restart on unchanged content restores them; anything that could make them
wrong (a file changed, added or removed, other popularity counts, another code
version, a damaged row) makes the load index the articles again, and the feeds,
the snapshot version and the problems are always those of a load without any
cache. Real files in tmp_path, a real state folder, fresh loaders as restarts.
"""

from __future__ import annotations

import logging
import pickle
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import REPO, fresh_load, snapshot_feeds

import feedsvc.content.settled as settled
from feedsvc.content.indexcache import IndexCache
from feedsvc.content.loader import ContentLoader
from feedsvc.content.parsecache import ParseCache
from feedsvc.state.store import open_state

sys.path.insert(0, str(REPO))
from bench.generate import write_content

RESTORED = "index cache: the indexes of"


@pytest.fixture(autouse=True)
def settle_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by a test are cached once 50 ms old (2 s in service)."""
    monkeypatch.setattr(settled, "SETTLED_SECONDS", 0.05)


def article(title: str, tags: str, published: str, extra: str = "") -> str:
    return (
        f'title: "{title}"\npublished: {published}\ntags: [{tags}]\n'
        f'summary: "Summary."\n{extra}body: |\n  Body of {title}.\n'
    )


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """Generated articles (drafts among them), plus what the lint index keeps: a
    title filed twice, a tag spelled two ways, an update not due yet, and counts
    in popularity.yaml."""
    root = write_content(tmp_path / "content", 150, 12, seed=7)
    articles = root / "articles"
    soon = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    (articles / "twice-a.yaml").write_text(article("Filed twice", '"North Korea"', "2024-01-02"))
    (articles / "twice-b.yaml").write_text(article("Filed  TWICE", '"north korea"', "2024-01-03"))
    later = f"updated: {soon}\n"
    (articles / "later.yaml").write_text(article("Updated later", '"Trade"', "2024-02-01", later))
    (root / "popularity.yaml").write_text("twice-a: 500\nlater: 40\n")
    time.sleep(0.1)  # older than SETTLED_SECONDS
    return root


def load(
    content: Path, state: Path | None, caplog: pytest.LogCaptureFixture
) -> tuple[bool, dict[str, bytes], ContentLoader]:
    """A restart's first load: whether it restored the indexes, and its feeds."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="feedsvc"):
        loader, feeds = fresh_load(content, state)
    return RESTORED in caplog.text, feeds, loader


def cold(content: Path) -> dict[str, bytes]:
    return fresh_load(content, None)[1]


def test_a_restart_on_unchanged_content_restores_the_indexes(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    state = tmp_path / "state"
    expected = cold(content)
    assert b"same title as" in expected["problems"] and b"spelled" in expected["problems"]
    restored, first, _ = load(content, state, caplog)
    assert not restored and first == expected  # indexed, and kept
    restored, again, _ = load(content, state, caplog)
    assert restored and again == expected
    restored, third, _ = load(content, state, caplog)
    assert restored and third == expected


def test_a_changed_added_or_removed_file_is_indexed_again(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    state = tmp_path / "state"
    load(content, state, caplog)
    articles = content / "articles"
    names = sorted(p.name for p in articles.glob("a*.yaml"))
    changes = [
        lambda: (articles / names[5]).write_text(article("On top", '"Trade"', "2025-06-01")),
        lambda: (articles / "added.yaml").write_text(
            article("Filed twice", '"Trade"', "2024-05-05")
        ),
        lambda: (articles / "twice-b.yaml").unlink(),
        lambda: (articles / names[9]).rename(articles / f"renamed-{names[9]}"),
    ]
    for change in changes:
        change()
        time.sleep(0.1)
        expected = cold(content)
        restored, feeds, _ = load(content, state, caplog)
        assert not restored and feeds == expected
        assert "the articles changed since it was kept" in caplog.text
        restored, feeds, _ = load(content, state, caplog)  # kept again after indexing
        assert restored and feeds == expected


def test_other_popularity_counts_sort_only_the_views_order_again(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    state = tmp_path / "state"
    load(content, state, caplog)
    (content / "popularity.yaml").write_text("twice-b: 900\n")
    expected = cold(content)
    restored, feeds, _ = load(content, state, caplog)
    assert restored and feeds == expected  # the version and the popular feed included
    assert "other view counts; the popularity order sorted again" in caplog.text


def test_another_code_version_is_indexed_again(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
):  # fmt: skip
    state = tmp_path / "state"
    expected = cold(content)
    load(content, state, caplog)
    with sqlite3.connect(state / "state.db") as db:
        db.execute("UPDATE indexcache_rows SET code = 'another version'")
    restored, feeds, _ = load(content, state, caplog)
    assert not restored and feeds == expected
    assert "kept by another code version" in caplog.text
    restored, feeds, _ = load(content, state, caplog)
    assert restored and feeds == expected
    # A new code version: the parse cache's rows and the kept indexes both go.
    monkeypatch.setattr(ParseCache, "__init__", _other_code(ParseCache.__init__))
    restored, feeds, loader = load(content, state, caplog)
    assert not restored and feeds == expected and loader.files_read > 150


def _other_code(init):  # type: ignore[no-untyped-def]
    def patched(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        init(self, *args, **kwargs)
        self.code = "a later version"

    return patched


def test_a_damaged_row_is_never_trusted(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    state = tmp_path / "state"
    expected = cold(content)
    load(content, state, caplog)
    # A flipped byte: the checksum no longer matches.
    with sqlite3.connect(state / "state.db") as db:
        (body,) = db.execute("SELECT body FROM indexcache_rows").fetchone()
        flipped = bytearray(body)
        flipped[len(flipped) // 2] ^= 0x40
        db.execute("UPDATE indexcache_rows SET body = ?", (bytes(flipped),))
    restored, feeds, _ = load(content, state, caplog)
    assert not restored and feeds == expected
    assert "does not match its checksum" in caplog.text
    # Intact bytes (the checksum matches) of another shape: ignored too.
    store = open_state(state)
    try:
        cache = ParseCache(store, str(content / "articles"), "unused")
        kept = IndexCache.beside(cache)
        assert kept is not None
        with sqlite3.connect(state / "state.db") as db:
            (body,) = db.execute("SELECT body FROM indexcache_rows").fetchone()
            parts = list(pickle.loads(body))
            parts[-2] = parts[-2][: len(parts[-2]) // 2]  # half the views order
            short = pickle.dumps(tuple(parts), protocol=5)
            db.execute("UPDATE indexcache_rows SET body = ?, checksum = ?",
                       (short, kept._checksum(short)))  # fmt: skip
    finally:
        store.close()
    restored, feeds, _ = load(content, state, caplog)
    assert not restored and feeds == expected


def test_a_restored_index_is_patched_by_reloads_like_a_fresh_one(
    content: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    state = tmp_path / "state"
    load(content, state, caplog)
    store = open_state(state)
    try:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="feedsvc"):
            loader = ContentLoader(content, state=store)
            loader.load()
        assert RESTORED in caplog.text
        articles = content / "articles"
        (articles / "twice-a.yaml").write_text(article("Now alone", '"Trade"', "2024-01-02"))
        (articles / "third.yaml").write_text(article("filed twice", '"NORTH KOREA"', "2026-01-01"))
        (articles / sorted(p.name for p in articles.glob("a*.yaml"))[3]).unlink()
        patched = snapshot_feeds(loader.load())
    finally:
        store.close()
    assert patched == cold(content)
