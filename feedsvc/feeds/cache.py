"""Rendered feed bytes, their gzip copies and validators, in bounded memory.

Two levels, both LRU and bounded in bytes:

* **templates**: one :class:`~feedsvc.feeds.filled.Template` per feed
  *fingerprint* (the feed's items and settings). Rendering (feedgen) happens
  only on a template miss, so a reload re-renders only the feeds whose items
  changed, and a rarely read tag's template is evicted instead of pinning
  memory. Once served, a format's template is kept filled for its first base
  URL (:mod:`.filled`), the very bytes its variant serves: held once.
* **variants**: the bytes actually served for one (base URL, content version,
  feed, format): the template with the base URL filled in, its gzip copy and
  both strong ETags. Making one costs at most a byte splice and a hash, never
  a render; the bound keeps a client that invents Host headers from growing
  memory.

Each variant's ``Last-Modified`` comes from the ledger in
:mod:`.lastmodified`, which derives it from the content yet never moves it
backwards.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from feedsvc.feeds.filled import TOKEN, Filled, Template, base_replacement, fill_at_tokens
from feedsvc.feeds.lastmodified import LastModifiedLedger
from feedsvc.feeds.lru import BoundedLRU as BoundedLRU  # its users import it from here
from feedsvc.feeds.render import ALL_FORMATS, RenderedFeed

# Renders a feed in the formats named (those a template lacks): render_feed, partially applied.
Render = Callable[[Sequence[str]], RenderedFeed]
VariantKey = tuple[str, int, str, str]  # (base URL, catalog sequence, feed key, format)


def strong_etag(body: bytes, suffix: str = "") -> str:
    """Quoted strong ETag derived from the bytes alone (identical across instances)."""
    return f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}{suffix}"'


def gzip_bytes(body: bytes) -> bytes:
    """Deterministic gzip (no timestamp), so every instance serves the same bytes."""
    return gzip.compress(body, compresslevel=6, mtime=0)


SLOT_WAIT = 0.05  # seconds a cold request waits for a render slot before its 503


class CacheBusy(Exception):
    """Every render slot is taken: answer 503 (Retry-After) instead of taking a thread."""


@dataclass(slots=True)
class Variant:
    """Bytes served for one URL at one content version and base URL, with validators.

    A feed in one format, or a page (:mod:`feedsvc.web.pagecache`).

    The gzip copy of a feed built for a request is made on its first gzip
    request (:attr:`gzip_body`), not with the variant: gzip at level 6 costs
    about as much as rendering the format, and a cold request asking for
    identity never needs it. Its ETag comes from the identity bytes, so a
    304 needs no copy either. ``grown`` tells the cache holding the variant
    that it got bigger (the bound counts the copy from then on).
    """

    body: bytes
    etag: str
    gzip_copy: bytes | None  # None until first needed
    gzip_etag: str
    last_modified: datetime
    content_type: str
    extra: dict[str, object] = field(default_factory=dict)  # serving layer's memo
    grown: Callable[[], None] | None = None

    @property
    def gzip_body(self) -> bytes:
        """The gzip copy, made now if this is its first use (same bytes on every instance)."""
        found = self.gzip_copy
        if found is None:
            found = self.gzip_copy = gzip_bytes(self.body)
            if self.grown is not None:
                self.grown()
        return found

    @property
    def size(self) -> int:
        """Approximate memory held by this variant (the gzip copy once made)."""
        copy = self.gzip_copy
        return len(self.body) + (len(copy) if copy is not None else 0) + 512


def fill_base(template: bytes, fmt: str, base_url: str) -> bytes:
    """Put the request's base URL where the renderer left :data:`BASE_TOKEN`."""
    return template.replace(TOKEN, base_replacement(fmt, base_url))


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
        self.templates: BoundedLRU[Template] = BoundedLRU(max_bytes // 2, lambda t: t.size)
        self.variants: BoundedLRU[Variant] = BoundedLRU(max_bytes // 2, lambda v: v.size)
        self.ledger = LastModifiedLedger()
        self._render_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(render_slots) if render_slots > 0 else None
        self.renders = 0
        self.variant_builds = 0
        self.busy = 0  # requests refused because every render slot was taken

    def template(
        self,
        fingerprint: str,
        render: Render,
        formats: Sequence[str] = ALL_FORMATS,
        *,
        protected: bool = False,
    ) -> Template:
        """The rendered feed for ``fingerprint`` holding (at least) ``formats``.

        Only the formats it lacks are rendered: a cold request for RSS
        renders RSS alone (about half the work of all three), and the
        Atom and JSON bytes join the same entry on their own first request.
        Each format's bytes do not depend on which were rendered with it,
        so ETags and Last-Modified are the same whatever the order.
        Renders are serialised: under a burst of requests for a cold feed,
        one thread renders and the others reuse its result.
        """
        found = self.templates.get(fingerprint)
        if found is not None and all(fmt in found.stored for fmt in formats):
            return found
        with self._render_lock:
            found = self.templates.get(fingerprint)
            have = found.stored if found is not None else {}
            missing = tuple(fmt for fmt in formats if fmt not in have)
            if found is None or missing:
                rendered = render(missing)
                self.renders += 1
                if found is None:
                    made = Template(dict(rendered.bodies), rendered.updated)
                    found = self.templates.put(fingerprint, made, protected=protected)
                else:  # same fingerprint: same content, same date; a new entry, not a mutation
                    found = Template({**have, **rendered.bodies}, found.updated)
                    self.templates.swap(fingerprint, found)
        return found

    def variant(
        self,
        key: VariantKey,
        fingerprint: str,
        content_type: str,
        render: Render,
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

    def has_variant(self, key: VariantKey, *, gzip: bool = False) -> bool:
        """Whether ``key``'s bytes are in memory (no render, no hit counted, no promotion).

        ``gzip``: its gzip copy too (else a request for it would gzip).
        """
        found = self.variants.peek(key)
        return found is not None and (not gzip or found.gzip_copy is not None)

    def rekey_variant(self, old: VariantKey, new: VariantKey) -> bool:
        """Move a variant to another key (a feed unchanged by a reload); False if absent."""
        moved = self.variants.rekey(old, new)
        variant = self.variants.peek(new) if moved else None
        if variant is not None:  # its gzip copy, made later, is counted under its new key
            variant.grown = partial(self.variants.resize, new)
        return moved

    def cached_variant(self, key: VariantKey) -> Variant | None:
        """``key``'s bytes if in memory (a hit, as :meth:`variant` counts it), never a render."""
        return self.variants.get(key)

    def _build_variant(
        self,
        key: VariantKey,
        fingerprint: str,
        content_type: str,
        render: Render,
        protected: bool,
    ) -> Variant:
        """The template (rendered on a miss) under one base URL, with validators.

        Gzipped now only when prewarmed; otherwise on its first gzip request
        (:attr:`Variant.gzip_body`).
        """
        base_url, seq, feed_key, fmt = key
        body, template_hash, updated = self._filled(fingerprint, render, fmt, base_url, protected)
        last_modified = self.ledger.observe(feed_key, fmt, seq, template_hash, updated)
        variant = Variant(
            body=body,
            etag=strong_etag(body),
            gzip_copy=gzip_bytes(body) if protected else None,  # prewarmed: hot, gzip now
            gzip_etag=strong_etag(body, "-gz"),
            last_modified=last_modified,
            content_type=content_type,
            grown=partial(self.variants.resize, key),
        )
        self.variant_builds += 1
        return self.variants.put(key, variant, protected=protected)

    def _filled(
        self, fingerprint: str, render: Render, fmt: str, base_url: str, protected: bool
    ) -> tuple[bytes, str, datetime]:
        """``fmt``'s bytes under ``base_url``, its template's hash and content date.

        A format served for the first time is kept filled in its template
        (:mod:`.filled`), so the variant built now and the template share one
        ``bytes``; later variants under the same base URL share it too.
        """
        replacement = base_replacement(fmt, base_url)
        entry = self.template(fingerprint, render, (fmt,), protected=protected)
        kept = entry.stored[fmt]
        if isinstance(kept, Filled):
            return kept.under(replacement), kept.template_hash, entry.updated
        filled = fill_at_tokens(kept, replacement)
        with self._render_lock:  # template() swaps entries under it too
            now = self.templates.peek(fingerprint)
            if now is not None and now.stored.get(fmt) is kept:
                self.templates.swap(fingerprint, now.with_format(fmt, filled))
        return filled.body, filled.template_hash, entry.updated
