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

V = TypeVar("V")
VariantKey = tuple[str, int, str, str]  # (base URL, catalog sequence, feed key, format)


def strong_etag(body: bytes, suffix: str = "") -> str:
    """Quoted strong ETag derived from the bytes alone (identical across instances)."""
    return f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}{suffix}"'


def gzip_bytes(body: bytes) -> bytes:
    """Deterministic gzip (no timestamp), so every instance serves the same bytes."""
    return gzip.compress(body, compresslevel=6, mtime=0)


class BoundedLRU(Generic[V]):
    """Thread-safe LRU bounded by the summed size of its values."""

    def __init__(self, max_bytes: int, size_of: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.evictions = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        """The value for ``key`` (marked as recently used), or ``None``."""
        value = self._items.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
            try:  # noqa: SIM105 - contextlib.suppress costs more than the lookup itself
                self._items.move_to_end(key)
            except KeyError:  # evicted by another thread meanwhile; the value is still valid
                pass
        return value

    def put(self, key: Hashable, value: V) -> V:
        """Store ``value``; evict least recently used entries beyond the bound."""
        size = self._size_of(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= self._size_of(old)
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= self._size_of(evicted)
                self.evictions += 1
        return value

    def pop(self, key: Hashable) -> V | None:
        """Remove and return the value for ``key`` (``None`` if absent)."""
        with self._lock:
            value = self._items.pop(key, None)
            if value is not None:
                self._bytes -= self._size_of(value)
        return value

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size_bytes(self) -> int:
        """Sum of the sizes of the stored values."""
        return self._bytes


@dataclass(slots=True)
class Variant:
    """Bytes served for one (base URL, version, feed, format), with validators."""

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
    """Templates and variants for every version, bounded; counts renders."""

    def __init__(self, max_bytes: int) -> None:
        self.templates: BoundedLRU[RenderedFeed] = BoundedLRU(
            max_bytes // 2, lambda r: sum(len(b) for b in r.bodies.values()) + 512
        )
        self.variants: BoundedLRU[Variant] = BoundedLRU(max_bytes // 2, lambda v: v.size)
        self.ledger = LastModifiedLedger()
        self._render_lock = threading.Lock()
        self.renders = 0
        self.variant_builds = 0

    def template(self, fingerprint: str, render: Callable[[], RenderedFeed]) -> RenderedFeed:
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
                found = self.templates.put(fingerprint, render())
                self.renders += 1
        return found

    def variant(
        self,
        key: VariantKey,
        fingerprint: str,
        content_type: str,
        render: Callable[[], RenderedFeed],
    ) -> Variant:
        """Served bytes for ``key`` = (base URL, catalog sequence, feed key, format)."""
        found = self.variants.get(key)
        if found is not None:
            return found  # the hot path: every request for a warm feed ends here
        return self._build_variant(key, fingerprint, content_type, render)

    def _build_variant(
        self,
        key: VariantKey,
        fingerprint: str,
        content_type: str,
        render: Callable[[], RenderedFeed],
    ) -> Variant:
        """The template (rendered on a miss) under one base URL, gzipped, with validators."""
        base_url, seq, feed_key, fmt = key
        rendered = self.template(fingerprint, render)
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
        return self.variants.put(key, variant)
