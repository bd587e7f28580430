"""The bounded caches behind every feed response: bytes bound, LRU order, one render.

Real renders of real content; threads are real and every wait is bounded.
"""

from __future__ import annotations

import gzip
import itertools
import json
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bench.generate import write_content
from feedsvc.content.loader import ContentLoader
from feedsvc.feeds.cache import BoundedLRU, CacheBusy, FeedCache, Variant
from feedsvc.feeds.document import BASE_TOKEN
from feedsvc.feeds.filled import Filled
from feedsvc.feeds.render import RenderedFeed, render_feed
from feedsvc.feeds.routing import lookup
from feedsvc.feeds.spec import feed_fingerprint, main_feed
from feedsvc.service.prewarm import variant_key


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

    def render(formats: Sequence[str]) -> RenderedFeed:
        calls.append(1)
        return render_feed(snapshot, spec, formats)

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
            key, feed_fingerprint(snapshot, spec), "text/x", partial(render_feed, snapshot, spec)
        )

    rss, feed = variant("rss"), variant("json")
    # One template, two variants: each format rendered on its own first request.
    assert cache.renders == 2 and cache.variant_builds == 2
    assert set(cache.templates.values()[0].bodies) == {"rss", "json"}
    assert BASE_TOKEN.encode() not in rss.body + feed.body
    assert b"https://example.test/a&amp;b&quot;c/rss.xml" in rss.body
    assert json.loads(feed.body)["feed_url"] == base + "/feed.json"
    assert gzip.decompress(rss.gzip_body) == rss.body
    assert rss.etag != rss.gzip_etag and rss.etag.startswith('"') and rss.etag.endswith('"')
    assert variant("rss") is rss and cache.variant_builds == 2


def test_entries_read_once_cannot_evict_entries_read_again():
    """Segmented LRU: a flood of one-off keys churns probation; twice-read keys stay."""
    lru: BoundedLRU[bytes] = BoundedLRU(100, len)
    for key in ("hot1", "hot2", "hot3"):
        lru.put(key, b"x" * 10)
        assert lru.get(key) is not None  # read again: protected
    lru.put("warm", b"x" * 10, protected=True)  # prewarmed: protected at once
    for n in range(1000):
        lru.put(f"once{n}", b"y" * 10)
    assert all(key in lru for key in ("hot1", "hot2", "hot3", "warm"))
    assert lru.size_bytes <= 100 and lru.evictions > 900
    assert set(lru.protected_keys) == {"hot1", "hot2", "hot3", "warm"}


def test_protected_entries_step_back_to_probation_when_it_is_full():
    lru: BoundedLRU[bytes] = BoundedLRU(100, len)  # protected holds 75 bytes
    for n in range(11):
        lru.put(n, b"x" * 10)
        lru.get(n)
    assert lru.protected_keys == [4, 5, 6, 7, 8, 9, 10]  # 0..3 stepped back, 0 evicted
    assert 0 not in lru and 1 in lru and lru.size_bytes == 100
    assert lru.get(1) is not None and lru.protected_keys[-1] == 1  # read again: back in
    assert lru.rekey(1, "one") and "one" in lru and 1 not in lru
    assert lru.protected_keys[-1] == "one" and not lru.rekey(1, "uno")


def test_a_request_past_the_render_slots_is_refused_not_queued(small_content: Path):
    """With every slot building bytes, another cold request gets CacheBusy at once,
    while a cached feed is still answered."""
    snapshot = ContentLoader(small_content).load()
    spec = main_feed(snapshot)
    cache = FeedCache(1 << 20, render_slots=1)
    fingerprint = feed_fingerprint(snapshot, spec)
    cache.variant(("b", 1, "main", "rss"), fingerprint, "t", partial(render_feed, snapshot, spec))
    rendering, release = threading.Event(), threading.Event()

    def slow_render(formats: Sequence[str]) -> RenderedFeed:
        rendering.set()
        release.wait(timeout=10)
        return render_feed(snapshot, spec, formats)

    def cold(key: tuple[str, int, str, str]) -> Variant:
        return cache.variant(key, "other", "t", slow_render, gated=True)

    holder = threading.Thread(target=cold, args=(("b", 1, "x", "rss"),))
    holder.start()
    try:
        assert rendering.wait(timeout=10)
        with pytest.raises(CacheBusy):
            cold(("b", 1, "y", "rss"))
        assert cache.busy == 1
        hit = cache.variant(("b", 1, "main", "rss"), fingerprint, "t", slow_render, gated=True)
        assert hit.body
    finally:
        release.set()
        holder.join(timeout=30)
    assert cold(("b", 1, "y", "rss")).body  # the slot is free again


@pytest.mark.slow
def test_a_flood_of_one_off_combinations_keeps_the_hot_feeds_cached(make_app: Any, tmp_path: Path):
    """Real requests through the app: hot feeds read twice survive hundreds of
    made-up tag combinations in a cache too small for them all."""
    content = write_content(tmp_path / "site", 400, 40, body_bytes=(300, 600))
    app = make_app(content, cache_bytes=3 << 20)
    client, service = app.test_client(), app.extensions["feedsvc"]
    catalog = service.catalog
    slugs = sorted(catalog.snapshot.tags)
    hot = ["/rss.xml", "/atom.xml", *(f"/tags/{slug}/rss.xml" for slug in slugs[:6])]
    for _ in range(2):
        assert all(client.get(path).status_code == 200 for path in hot)
    renders = service.cache.renders
    statuses: Counter[int] = Counter()
    for combo in itertools.islice(itertools.combinations(slugs, 3), 400):
        statuses[client.get(f"/tags/{'+'.join(combo)}/rss.xml").status_code] += 1
    assert statuses[200] == 400 and service.cache.renders >= renders + 400
    assert service.cache.variants.evictions > 0  # the flood did not fit
    for path in hot:
        spec, fmt = lookup(catalog, path) or (None, None)
        assert spec is not None and fmt is not None
        assert variant_key("http://localhost", catalog, spec, fmt) in service.cache.variants
    renders = service.cache.renders
    assert all(client.get(path).status_code == 200 for path in hot)
    assert service.cache.renders == renders


def test_a_cold_request_renders_its_own_format_and_the_validators_do_not_depend_on_the_order(
    small_content: Path,
):
    """Formats join one template lazily; bytes, ETags and Last-Modified are the same
    whichever format a reader asked for first (two caches, opposite orders)."""
    snapshot = ContentLoader(small_content).load()
    spec = main_feed(snapshot)
    fingerprint = feed_fingerprint(snapshot, spec)
    served = []
    for order in (("json", "atom", "rss"), ("rss", "atom", "json")):
        cache = FeedCache(1 << 20)
        rendered: list[tuple[str, ...]] = []

        def render(formats: Sequence[str], log: list[tuple[str, ...]] = rendered) -> RenderedFeed:
            log.append(tuple(formats))
            return render_feed(snapshot, spec, formats)

        got = {fmt: cache.variant(("b", 1, "main", fmt), fingerprint, "t", render) for fmt in order}
        assert rendered == [(fmt,) for fmt in order]  # one format each, on its own request
        template = cache.templates.get(fingerprint)
        assert template is not None and set(template.bodies) == set(order)
        kept = [v.body for v in got.values()]  # filled for base "b": the variants' own bytes
        assert all(isinstance(template.stored[f], Filled) for f in order)
        assert cache.templates.size_bytes == template.size  # the grown entry counted anew
        assert template.size >= sum(len(body) for body in kept) + 512
        served.append({f: (v.body, v.etag, v.gzip_etag, v.last_modified) for f, v in got.items()})
    assert served[0] == served[1]


def test_a_swapped_value_keeps_its_place_and_its_bytes_are_counted_anew():
    lru: BoundedLRU[bytes] = BoundedLRU(100, len)
    lru.put("a", b"x" * 10, protected=True)
    lru.put("b", b"x" * 10)
    lru.swap("a", b"x" * 30)
    assert lru.size_bytes == 40 and lru.protected_keys == ["a"]
    lru.swap("b", b"y" * 80)  # past the bound (30 + 80): probation's entry goes
    assert lru.size_bytes == 80 and lru.evictions == 1  # (an entry past probation's share stays)
    lru.swap("new", b"z")  # absent: put on probation
    assert "new" in lru


def test_a_carried_over_variant_counts_its_gzip_copy_under_its_new_key(small_content: Path):
    """A reload carries an unchanged feed's variant to the new catalog's key
    (FeedCache.rekey_variant); its gzip copy, made later, is still counted."""
    snapshot = ContentLoader(small_content).load()
    spec = main_feed(snapshot)
    cache = FeedCache(1 << 20)
    render = partial(render_feed, snapshot, spec)
    fingerprint = feed_fingerprint(snapshot, spec)
    built = cache.variant(("b", 1, "main", "rss"), fingerprint, "t", render)
    assert built.gzip_copy is None and cache.variants.size_bytes == built.size
    assert cache.rekey_variant(("b", 1, "main", "rss"), ("b", 2, "main", "rss"))
    assert not cache.rekey_variant(("b", 1, "main", "atom"), ("b", 2, "main", "atom"))
    assert gzip.decompress(built.gzip_body) == built.body
    assert cache.variants.size_bytes == built.size == len(built.body) + len(built.gzip_body) + 512
    assert cache.has_variant(("b", 2, "main", "rss"), gzip=True)
    prewarmed = cache.variant(("b", 2, "main", "json"), fingerprint, "t", render, protected=True)
    assert prewarmed.gzip_copy is not None  # prewarmed: hot, gzipped at once


def test_discard_while_readers_promote_keys_never_raises():
    """A reload's discard runs while readers' get() reorder keys without the lock.

    A Python loop over a segment, switched out by the GIL mid-way, met
    'OrderedDict mutated during iteration' (seen once in tests/test_live_load.py);
    a switch interval of a microsecond makes it happen within the second.
    """
    lru: BoundedLRU[int] = BoundedLRU(10**9, lambda value: 1)
    for n in range(3000):
        lru.put(("feed", n), n, protected=True)
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        for n in itertools.count(step=7):
            if stop.is_set():
                return
            lru.get(("feed", n % 3000))

    def discard() -> None:
        try:
            for _ in range(200):
                lru.discard(lambda key: False)
        except RuntimeError as exc:
            errors.append(exc)
        finally:
            stop.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=read), threading.Thread(target=discard)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
        stop.set()
    assert errors == []
    assert len(lru) == 3000
