"""Which rendered bytes exist when: served variants, and prewarming the likeliest.

A request asks for a feed's *variant* (its bytes under one base URL) and
gets it from the cache, built on a miss from the cached template, rendered
on a template miss. Before a new catalog is swapped in (and at start), the
feeds readers are likeliest to ask for are built ahead, so that the first
requests after a reload find them ready.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from functools import partial

from feedsvc.feeds.cache import FeedCache, Variant, VariantKey
from feedsvc.feeds.catalog import Catalog
from feedsvc.feeds.render import render_feed
from feedsvc.feeds.spec import FeedSpec
from feedsvc.feeds.urls import FORMATS, FeedFormat
from feedsvc.service.base_urls import BaseURLs

PREWARM_FEEDS = 256  # feeds rendered before a swap; the rest render on first request
# A site with at most this many feeds is prewarmed whole before serving starts; a
# bigger one gets its main and popular feeds first and the rest in the background,
# so that start-up time does not grow with the number of tags.
START_PREWARM_FEEDS = 16
PREWARM_BASES = 4  # the most recently seen base URLs get their variants prewarmed


def variant_key(base_url: str, catalog: Catalog, spec: FeedSpec, fmt: FeedFormat) -> VariantKey:
    """Cache key of a served variant: (base URL, catalog sequence, feed key, format)."""
    return (base_url, catalog.seq, spec.key, fmt.name)


def feed_variant(
    cache: FeedCache,
    catalog: Catalog,
    base_url: str,
    spec: FeedSpec,
    fmt: FeedFormat,
    *,
    gated: bool = False,
    protected: bool = False,
) -> Variant:
    """Served bytes and validators of ``spec`` in ``fmt`` under ``base_url``.

    ``gated`` for requests (a miss needs a render slot), ``protected`` for
    prewarming (kept as a feed read twice): see :meth:`FeedCache.variant`.
    """
    return cache.variant(
        (base_url, catalog.seq, spec.key, fmt.name),  # variant_key(), inlined: every request
        catalog.fingerprint(spec),
        fmt.content_type,
        partial(render_feed, catalog.snapshot, spec),  # of the formats the template lacks
        gated=gated,
        protected=protected,
    )


def forget_stale(cache: FeedCache, old: Catalog, new: Catalog) -> int:
    """After a swap, drop what only older catalogs can ask for; returns entries dropped.

    Variants are keyed by catalog sequence, so those of older catalogs are
    never read again (a request still holding the old catalog rebuilds what
    it needs). Templates are keyed by fingerprint: those of feeds whose
    fingerprint changed (as far as the new catalog computed it) or that are
    gone go too. Memory held by a deleted or edited article is returned at
    the reload, not whenever the LRU gets round to it.
    """
    seq = new.seq
    dropped = cache.variants.discard(lambda key: isinstance(key, tuple) and key[1] < seq)
    stale = []
    for key, fingerprint in old.fingerprints.items():
        now = new.fingerprints.get(key)
        gone = key.startswith("tag:") and key not in new.feeds
        if gone or (now is not None and now != fingerprint):
            stale.append(fingerprint)
    for fingerprint in stale:
        dropped += cache.templates.pop(fingerprint) is not None
    return dropped


def likeliest_feeds(catalog: Catalog, limit: int) -> list[FeedSpec]:
    """Main, popular, then the biggest tags (ties in slug order): at most ``limit``."""
    feeds = catalog.feeds
    biggest = heapq.nsmallest(
        max(0, limit - 2), catalog.snapshot.tags.values(), key=lambda e: -len(e.articles)
    )
    specs = [feeds["main"], feeds["popular"], *(feeds[f"tag:{e.slug}"] for e in biggest)]
    return specs[:limit]


class Prewarmer:
    """Builds the likeliest variants ahead of requests, within the cache's bound.

    ``current`` returns the catalog being served: a background prewarm stops
    once a reload has replaced the catalog it was started for.
    """

    def __init__(self, cache: FeedCache, bases: BaseURLs, current: Callable[[], Catalog]) -> None:
        self.cache = cache
        self.bases = bases
        self._current = current
        self.thread: threading.Thread | None = None

    def start(self, catalog: Catalog) -> None:
        """Prewarm at start: all of a small site now, a big one mostly in the background."""
        if len(catalog.feeds) <= START_PREWARM_FEEDS:
            self.prewarm(catalog)
            return
        self.prewarm(catalog, limit=2)  # main and popular: the first requests
        self.thread = threading.Thread(
            target=self.prewarm, args=(catalog,), name="feedsvc-prewarm", daemon=True
        )
        self.thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the start-up background prewarm (if any); True once it has finished."""
        thread = self.thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def stop(self) -> None:
        """Wait (briefly) for a background prewarm still running."""
        if self.thread is not None:
            self.thread.join(timeout=30)
            self.thread = None

    def prewarm(
        self, catalog: Catalog, limit: int = PREWARM_FEEDS, previous: Catalog | None = None
    ) -> int:
        """Render the likeliest feeds (main, popular, biggest tags); returns how many.

        Bounded twice: by ``limit`` and by the cache itself. Prewarming stops at
        the first eviction, because rendering past the cache's bound would
        evict the feeds just rendered (the most wanted ones first) and a reload
        would then re-render all of them. Afterwards the prewarmed entries are
        touched from least to most wanted, so the LRU evicts rare tags first.

        With ``previous`` (a reload), a feed whose fingerprint did not change
        takes over its served variants from the previous catalog instead of
        rebuilding them (a byte replace, a gzip and two hashes each): same
        bytes, same validators. Nothing else is built for it: a variant or
        template it did not have before the reload (a base URL seen since, an
        entry evicted) is built on its first request, as it would have been
        without the reload. A one-file edit then costs only the feeds it touched.
        """
        bases = self.bases.recent(PREWARM_BASES)
        cache = self.cache
        evictions = cache.templates.evictions + cache.variants.evictions
        done: list[FeedSpec] = []
        for spec in likeliest_feeds(catalog, limit):
            if previous is None and self._current() is not catalog:
                break  # a reload replaced this catalog while it was prewarmed in the background
            fingerprint = catalog.fingerprint(spec)
            done.append(spec)
            if previous is not None and previous.fingerprints.get(spec.key) == fingerprint:
                self._carry_over(previous, catalog, spec, bases)
                continue
            cache.template(
                fingerprint, partial(render_feed, catalog.snapshot, spec), protected=True
            )
            for base in bases:
                for fmt in FORMATS.values():
                    feed_variant(cache, catalog, base, spec, fmt, protected=True)
            if cache.templates.evictions + cache.variants.evictions > evictions:
                break
        for spec in reversed(done):  # most wanted touched last: evicted last
            cache.templates.get(catalog.fingerprint(spec))
            for base in bases:
                for fmt in FORMATS.values():
                    cache.variants.get(variant_key(base, catalog, spec, fmt))
        return len(done)

    def _carry_over(
        self, previous: Catalog, catalog: Catalog, spec: FeedSpec, bases: list[str]
    ) -> None:
        """Move an unchanged feed's variants from the previous catalog's keys to the new ones."""
        for base in bases:
            for fmt in FORMATS.values():
                self.cache.rekey_variant(
                    variant_key(base, previous, spec, fmt), variant_key(base, catalog, spec, fmt)
                )
