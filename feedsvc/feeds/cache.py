"""Rendered feed bytes, their gzip copies and validators, in bounded memory.

Two levels, both LRU and bounded in bytes:

* **templates**: one :class:`~feedsvc.feeds.render.RenderedFeed` per feed
  *fingerprint* (the feed's items and settings). Rendering (feedgen) happens
  only on a template miss, so a reload re-renders only the feeds whose items
  changed, and a rarely read tag's template is evicted instead of pinning
  memory.
* **variants**: the bytes actually served for one (base URL, content version,
  feed, format): the template with the base URL filled in, its gzip copy and
  both strong ETags. Making one costs a byte replace, a hash and a gzip, never
  a render; the bound keeps a client that invents Host headers from growing
  memory.

Each variant's ``Last-Modified`` comes from the ledger in
:mod:`.lastmodified`, which derives it from the content yet never moves it
backwards.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar
from xml.sax.saxutils import escape as xml_escape

from feedsvc.feeds.document import BASE_TOKEN
from feedsvc.feeds.lastmodified import LastModifiedLedger
from feedsvc.feeds.render import RenderedFeed
from feedsvc.memory import release_free_memory

V = TypeVar("V")
VariantKey = tuple[str, int, str, str]  # (base URL, catalog sequence, feed key, format)
PROBATION_SHARE = 0.25  # of each cache's bound: entries not yet read twice
# Evicted this much, free memory is handed back to the system (malloc_trim): a
# sweep of cold feeds otherwise leaves the bytes it evicted held by malloc.
TRIM_AFTER_BYTES = 16 * 1024 * 1024


def strong_etag(body: bytes, suffix: str = "") -> str:
    """Quoted strong ETag derived from the bytes alone (identical across instances)."""
    return f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}{suffix}"'


def gzip_bytes(body: bytes) -> bytes:
    """Deterministic gzip (no timestamp), so every instance serves the same bytes."""
    return gzip.compress(body, compresslevel=6, mtime=0)


SLOT_WAIT = 0.05  # seconds a cold request waits for a render slot before its 503


class CacheBusy(Exception):
    """Every render slot is taken: answer 503 (Retry-After) instead of taking a thread."""


class BoundedLRU(Generic[V]):
    """Thread-safe segmented LRU (SLRU) bounded by the summed size of its values.

    A new entry enters *probation* (the last :data:`PROBATION_SHARE` of the
    bound); read again there, it moves to *protected*, whose least recently
    used entries step back to probation when it is full. Only probation
    evicts. A flood of URLs read once each (made-up tag combinations, pages,
    hosts) churns probation alone, so feeds read again and again stay cached.
    Prewarmed entries (the likeliest feeds) go straight to protected.
    """

    def __init__(self, max_bytes: int, size_of: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self.protected_max = max_bytes - int(max_bytes * PROBATION_SHARE)
        self._size_of = size_of
        self._protected: OrderedDict[Hashable, V] = OrderedDict()
        self._probation: OrderedDict[Hashable, V] = OrderedDict()
        self._protected_bytes = 0
        self._probation_bytes = 0
        self._lock = threading.Lock()
        self.evictions = 0
        self._evicted_bytes = 0  # since memory was last handed back to the system
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        """The value for ``key`` (now most recent; promoted if on probation), or ``None``."""
        value = self._protected.get(key)
        if value is not None:
            self.hits += 1
            try:  # noqa: SIM105 - contextlib.suppress costs more than the lookup itself
                self._protected.move_to_end(key)
            except KeyError:  # stepped back to probation meanwhile; the value is still valid
                pass
            return value
        value = self._probation.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        with self._lock:  # read a second time: worth keeping
            if self._probation.pop(key, None) is not None:
                size = self._size_of(value)
                self._probation_bytes -= size
                self._protected[key] = value
                self._protected_bytes += size
                self._rebalance()
        return value

    def put(self, key: Hashable, value: V, *, protected: bool = False) -> V:
        """Store ``value`` on probation (``protected``: among the kept); evict beyond the bound."""
        size = self._size_of(value)
        with self._lock:
            self._remove(key)
            if protected:
                self._protected[key] = value
                self._protected_bytes += size
            else:
                self._probation[key] = value
                self._probation_bytes += size
            self._rebalance()
        if self._evicted_bytes >= TRIM_AFTER_BYTES:  # outside the lock: a trim takes ms
            self._evicted_bytes = 0
            release_free_memory()
        return value

    def _rebalance(self) -> None:
        """Step protected entries back to probation, then evict probation's oldest (locked)."""
        while self._protected_bytes > self.protected_max and len(self._protected) > 1:
            key, value = self._protected.popitem(last=False)
            size = self._size_of(value)
            self._protected_bytes -= size
            self._probation[key] = value  # a last chance: read again, it is back
            self._probation_bytes += size
        while self.size_bytes > self.max_bytes and len(self) > 1:
            if len(self._probation) > 1 or not self._protected:
                _, evicted = self._probation.popitem(last=False)
                self._probation_bytes -= self._size_of(evicted)
            else:  # one entry bigger than probation's share: it is kept alone, as in an LRU
                _, evicted = self._protected.popitem(last=False)
                self._protected_bytes -= self._size_of(evicted)
            self.evictions += 1
            self._evicted_bytes += self._size_of(evicted)

    def _remove(self, key: Hashable) -> V | None:
        """Take ``key`` out of whichever segment holds it (locked)."""
        value = self._protected.pop(key, None)
        if value is not None:
            self._protected_bytes -= self._size_of(value)
            return value
        value = self._probation.pop(key, None)
        if value is not None:
            self._probation_bytes -= self._size_of(value)
        return value

    def pop(self, key: Hashable) -> V | None:
        """Remove and return the value for ``key`` (``None`` if absent)."""
        with self._lock:
            return self._remove(key)

    def rekey(self, old: Hashable, new: Hashable) -> bool:
        """Move a value to another key, in the segment it was in; False if absent."""
        with self._lock:
            if old not in self or old == new:
                return old in self
            self._remove(new)
            for segment in (self._protected, self._probation):
                value = segment.pop(old, None)
                if value is not None:
                    segment[new] = value
                    return True
        return False

    def discard(self, doomed: Callable[[Hashable], bool]) -> int:
        """Remove every entry whose key ``doomed`` names; returns how many."""
        with self._lock:
            keys = [key for segment in (self._protected, self._probation) for key in segment]
            gone = [key for key in keys if doomed(key)]
            for key in gone:
                self._remove(key)
        return len(gone)

    def values(self) -> list[V]:
        """Every stored value (a copy of the list): tests and metrics."""
        with self._lock:
            return [*self._protected.values(), *self._probation.values()]

    def __contains__(self, key: Hashable) -> bool:
        return key in self._protected or key in self._probation

    def __len__(self) -> int:
        return len(self._protected) + len(self._probation)

    @property
    def size_bytes(self) -> int:
        """Sum of the sizes of the stored values."""
        return self._protected_bytes + self._probation_bytes

    @property
    def protected_keys(self) -> list[Hashable]:
        """Keys of the protected segment (least recently used first): tests and metrics."""
        with self._lock:
            return list(self._protected)


@dataclass(slots=True)
class Variant:
    """Bytes served for one URL at one content version and base URL, with validators.

    A feed in one format, or a page (:mod:`feedsvc.web.pagecache`).
    """

    body: bytes
    etag: str
    gzip_body: bytes
    gzip_etag: str
    last_modified: datetime
    content_type: str
    extra: dict[str, object] = field(default_factory=dict)  # serving layer's memo

    @property
    def size(self) -> int:
        """Approximate memory held by this variant."""
        return len(self.body) + len(self.gzip_body) + 512


def fill_base(template: bytes, fmt: str, base_url: str) -> bytes:
    """Put the request's base URL where the renderer left :data:`BASE_TOKEN`."""
    if fmt == "json":
        replacement = json.dumps(base_url, ensure_ascii=False)[1:-1]
    else:
        replacement = xml_escape(base_url, {'"': "&quot;"})
    return template.replace(BASE_TOKEN.encode(), replacement.encode("utf-8"))


class FeedCache:
    """Templates and variants for every version, bounded; counts renders.

    ``render_slots`` bounds the requests building bytes at once (each holds a
    server thread while it waits for the one render lock): a request past
    the bound waits at most :data:`SLOT_WAIT` for a slot (a burst of cold
    feeds after a reload queues briefly, as renders take milliseconds), then
    raises :class:`CacheBusy`, so a flood of cold URLs leaves threads for
    cached answers and is slowed rather than answered in a tight loop.
    0: no bound.
    """

    def __init__(self, max_bytes: int, render_slots: int = 0) -> None:
        self.templates: BoundedLRU[RenderedFeed] = BoundedLRU(
            max_bytes // 2, lambda r: sum(len(b) for b in r.bodies.values()) + 512
        )
        self.variants: BoundedLRU[Variant] = BoundedLRU(max_bytes // 2, lambda v: v.size)
        self.ledger = LastModifiedLedger()
        self._render_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(render_slots) if render_slots > 0 else None
        self.renders = 0
        self.variant_builds = 0
        self.busy = 0  # requests refused because every render slot was taken

    def template(
        self, fingerprint: str, render: Callable[[], RenderedFeed], *, protected: bool = False
    ) -> RenderedFeed:
        """The rendered feed for ``fingerprint``, rendering it on a miss only.

        Renders are serialised: under a burst of requests for a cold feed,
        one thread renders and the others reuse its result.
        """
        found = self.templates.get(fingerprint)
        if found is not None:
            return found
        with self._render_lock:
            found = self.templates.get(fingerprint)
            if found is None:
                found = self.templates.put(fingerprint, render(), protected=protected)
                self.renders += 1
        return found

    def variant(
        self,
        key: VariantKey,
        fingerprint: str,
        content_type: str,
        render: Callable[[], RenderedFeed],
        *,
        gated: bool = False,
        protected: bool = False,
    ) -> Variant:
        """Served bytes for ``key`` = (base URL, catalog sequence, feed key, format).

        ``gated`` (a request): a miss needs a render slot (:class:`CacheBusy`
        if none is free). ``protected`` (prewarming): kept as if read twice.
        """
        found = self.variants.get(key)
        if found is not None:
            return found  # the hot path: every request for a warm feed ends here
        slots = self._slots if gated else None
        if slots is None:
            return self._build_variant(key, fingerprint, content_type, render, protected)
        if not slots.acquire(timeout=SLOT_WAIT):
            self.busy += 1
            raise CacheBusy
        try:
            return self._build_variant(key, fingerprint, content_type, render, protected)
        finally:
            slots.release()

    def has_variant(self, key: VariantKey) -> bool:
        """Whether ``key``'s bytes are in memory (no render, no hit counted, no promotion)."""
        return key in self.variants

    def cached_variant(self, key: VariantKey) -> Variant | None:
        """``key``'s bytes if in memory (a hit, as :meth:`variant` counts it), never a render."""
        return self.variants.get(key)

    def _build_variant(
        self,
        key: VariantKey,
        fingerprint: str,
        content_type: str,
        render: Callable[[], RenderedFeed],
        protected: bool,
    ) -> Variant:
        """The template (rendered on a miss) under one base URL, gzipped, with validators."""
        base_url, seq, feed_key, fmt = key
        rendered = self.template(fingerprint, render, protected=protected)
        template = rendered.bodies[fmt]
        template_hash = hashlib.blake2b(template, digest_size=12).hexdigest()
        last_modified = self.ledger.observe(feed_key, fmt, seq, template_hash, rendered.updated)
        body = fill_base(template, fmt, base_url)
        variant = Variant(
            body=body,
            etag=strong_etag(body),
            gzip_body=gzip_bytes(body),
            gzip_etag=strong_etag(body, "-gz"),
            last_modified=last_modified,
            content_type=content_type,
        )
        self.variant_builds += 1
        return self.variants.put(key, variant, protected=protected)
