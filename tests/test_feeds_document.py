"""feeds/document.py: the feed byte budget, with real article files of megabytes.

One huge article must not make every feed it is in huge: an item carries at
most MAX_ITEM_HTML of HTML, a document at most FEED_HTML_BUDGET in all; past
that an item carries its summary and a link. Feeds stay parseable, other
items intact, and the memory of a deleted article is returned at the reload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from feedcheck import parse_feed
from support import article, fmt_of, write_yaml

from feedsvc.feeds.document import FEED_BYTES_LIMIT, MAX_ITEM_HTML, READ_MORE

FEEDS = ["/rss.xml", "/atom.xml", "/feed.json", "/tags/health/rss.xml", "/tags/health/atom.xml"]


def _paragraphs(size: int, word: str) -> str:
    """Markdown of about ``size`` bytes: paragraphs of plain words."""
    paragraph = " ".join([word] * 120) + " <tag> & more.\n\n"
    return paragraph * (size // len(paragraph) + 1)


def _fetch_all(client: Any) -> dict[str, bytes]:
    bodies = {}
    for path in FEEDS:
        response = client.get(path)
        assert response.status_code == 200, path
        bodies[path] = response.data
    return bodies


@pytest.mark.slow
def test_a_4_mb_article_keeps_every_feed_under_the_budget(
    make_app: Any, small_content: Path, monkeypatch: pytest.MonkeyPatch
):
    """Files over 1 MiB are refused by default; a site that raises the limit is still safe."""
    monkeypatch.setenv("FEEDSVC_MAX_ARTICLE_KB", "8192")
    huge = small_content / "articles" / "huge.yaml"
    write_yaml(
        huge, article("Huge", "2025-12-04", tags=["Health"], body=_paragraphs(3_900_000, "huge"))
    )
    assert 3_500_000 < huge.stat().st_size < 4 * 1024 * 1024
    app = make_app(small_content)
    client, service = app.test_client(), app.extensions["feedsvc"]
    for path, body in _fetch_all(client).items():
        assert len(body) < FEED_BYTES_LIMIT, (path, len(body))
        entries = {entry.title: entry for entry in parse_feed(body, fmt_of(path)).entries}
        assert READ_MORE in entries["Huge"].content
        assert "https://news.test/articles/huge" in entries["Huge"].content
        assert "Body of <strong>Gamma</strong>" in entries["Gamma"].content, path
    cached = service.cache.templates.size_bytes + service.cache.variants.size_bytes
    assert cached < len(FEEDS) * FEED_BYTES_LIMIT

    huge.unlink()
    assert service.reload() is True
    _fetch_all(client)
    gone = b"news.test/articles/huge"  # in the huge item's link: dropped with the old bytes
    assert not any(gone in r.bodies["rss"] for r in service.cache.templates.values())
    assert not any(gone in v.body for v in service.cache.variants.values())


def test_many_big_articles_share_one_budget(make_app: Any, small_content: Path):
    """Items just under the per-item cap: the first fill the budget, the rest are short."""
    for n in range(15):
        body = _paragraphs(MAX_ITEM_HTML - 20_000, f"w{n}")
        path = small_content / "articles" / f"big-{n:02d}.yaml"
        write_yaml(
            path, article(f"Big {n:02d}", f"2025-11-{n + 1:02d}", tags=["Health"], body=body)
        )
    client = make_app(small_content).test_client()
    for path, body in _fetch_all(client).items():
        assert len(body) < FEED_BYTES_LIMIT, (path, len(body))
        feed = parse_feed(body, fmt_of(path))
        assert len(feed.entries) == (16 if "/tags/" in path else 18)  # none dropped
        short = [e.title for e in feed.entries if READ_MORE in e.content]
        assert short and "Big 14" not in short and "Big 00" in short, path
        assert all(READ_MORE not in e.content for e in feed.entries if "Big" not in e.title)
