"""The bounded caches behind every feed response: bytes bound, LRU order, one render.

Real renders of real content; threads are real and every wait is bounded.
"""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

from feedsvc.content.loader import ContentLoader
from feedsvc.feeds.cache import BoundedLRU, FeedCache, Variant
from feedsvc.feeds.document import BASE_TOKEN
from feedsvc.feeds.render import RenderedFeed, render_feed
from feedsvc.feeds.spec import feed_fingerprint, main_feed


def test_the_lru_is_bounded_by_bytes_and_evicts_the_least_recently_used():
    lru: BoundedLRU[bytes] = BoundedLRU(10, len)
    lru.put("a", b"1234")
    lru.put("b", b"1234")
    assert lru.get("a") == b"1234"  # "a" is now the most recently used
    lru.put("c", b"1234")  # 12 bytes > 10: the least recently used ("b") goes
    assert lru.get("b") is None and lru.get("a") == b"1234" and lru.get("c") == b"1234"
    assert lru.size_bytes == 8 and len(lru) == 2 and lru.evictions == 1
    assert lru.pop("a") == b"1234" and lru.pop("a") is None
    assert lru.size_bytes == 4
    lru.put("huge", b"x" * 100)  # one entry over the bound is kept alone
    assert len(lru) == 1 and lru.get("huge") is not None


def test_a_burst_of_requests_for_a_cold_feed_renders_it_once(small_content: Path):
    snapshot = ContentLoader(small_content).load()
    spec = main_feed(snapshot)
    cache = FeedCache(1 << 20)
    calls = []
    started = threading.Barrier(8)

    def render() -> RenderedFeed:
        calls.append(1)
        return render_feed(snapshot, spec)

    def request() -> None:
        started.wait(timeout=10)
        cache.template(feed_fingerprint(snapshot, spec), render)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(calls) == 1 and cache.renders == 1


def test_a_variant_is_the_template_under_one_base_url_with_its_own_validators(
    small_content: Path,
):
    snapshot = ContentLoader(small_content).load()
    spec = main_feed(snapshot)
    cache = FeedCache(1 << 20)
    base = 'https://example.test/a&b"c'  # needs escaping in XML and in JSON

    def variant(fmt: str) -> Variant:
        key = (base, 1, spec.key, fmt)
        return cache.variant(
            key, feed_fingerprint(snapshot, spec), "text/x", lambda: render_feed(snapshot, spec)
        )

    rss, feed = variant("rss"), variant("json")
    assert cache.renders == 1 and cache.variant_builds == 2  # one template, two variants
    assert BASE_TOKEN.encode() not in rss.body + feed.body
    assert b"https://example.test/a&amp;b&quot;c/rss.xml" in rss.body
    assert json.loads(feed.body)["feed_url"] == base + "/feed.json"
    assert gzip.decompress(rss.gzip_body) == rss.body
    assert rss.etag != rss.gzip_etag and rss.etag.startswith('"') and rss.etag.endswith('"')
    assert variant("rss") is rss and cache.variant_builds == 2
