"""Rendered HTML pages (and OPML), kept per content version like feeds.

A page is built once per (page, base URL, catalog sequence), one build at a time
(a burst of requests for a cold page builds it once), and kept with
its gzip copy, both strong ETags and a ``Last-Modified`` in a
:class:`~feedsvc.feeds.cache.BoundedLRU` bounded in bytes (an eighth of
``FEEDSVC_CACHE_MB``, on top of the feed cache's share). A conditional
request is answered from the cached entry's validators before anything is
built; a new content version is a new key, so stale pages simply age out.

Keys never hold a raw query string: views pass only what changes the answer
(an embed's theme and limit with defaults dropped, a normalised tag search),
so ``/?x=1``, ``/?x=2`` … are all the one cached ``/``.

``Last-Modified`` is the newest change among the newest articles, kept from
moving backwards (per page and base URL) by a
:class:`~feedsvc.feeds.lastmodified.LastModifiedLedger`, as for feeds.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Any

from werkzeug.http import http_date

from feedsvc.feeds.cache import BoundedLRU, Variant, gzip_bytes, strong_etag
from feedsvc.feeds.catalog import Catalog
from feedsvc.feeds.lastmodified import LastModifiedLedger
from feedsvc.feeds.spec import feed_items
from feedsvc.web import policy
from feedsvc.web.negotiate import accepts_gzip, client_copy_is_stale

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# A page is served exactly as a feed variant is: bytes, gzip copy, strong
# ETags, Last-Modified and type.
Page = Variant


def newest_change(catalog: Catalog) -> datetime:
    """The newest change (published or updated) among the main feed's articles.

    The newest articles, not all of them: cheap at any size. An edit older
    than those still moves a page's ``Last-Modified`` forward, because the
    ledger dates changed bytes one second after their previous date.
    """
    newest = EPOCH
    for article in feed_items(catalog.snapshot, catalog.feeds["main"]):
        changed = article.updated or article.published
        if changed > newest:
            newest = changed
    return newest


class PageCache:
    """Pages by key, bounded in bytes; counts builds."""

    def __init__(self, max_bytes: int) -> None:
        self.pages: BoundedLRU[Page] = BoundedLRU(max_bytes, lambda page: page.size)
        self.ledger = LastModifiedLedger()
        self._newest: tuple[int, datetime] = (-1, EPOCH)
        self._build_lock = threading.Lock()
        self.builds = 0

    def newest(self, catalog: Catalog) -> datetime:
        """:func:`newest_change` of this catalog, computed once per sequence."""
        seq, date = self._newest
        if seq != catalog.seq:
            date = newest_change(catalog)
            self._newest = (catalog.seq, date)
        return date

    def page(
        self,
        key: tuple[Hashable, ...],
        catalog: Catalog,
        base: str,
        build: Callable[[], str | bytes],
        content_type: str,
        *,
        dated: datetime | None = None,
        ledger: bool = True,
    ) -> Page:
        """The page for ``key`` under ``base`` at this content version, built on a miss.

        ``dated`` overrides the content date (a feed's view takes the feed's);
        ``ledger=False`` for pages a client names freely (searches), which
        must not grow the ledger.
        """
        full_key = (key, base, catalog.seq)
        found = self.pages.get(full_key)
        if found is not None:
            return found
        with self._build_lock:  # a burst on a cold page builds it once
            found = self.pages.get(full_key)
            if found is None:
                found = self._build(full_key, catalog, base, build, content_type, dated, ledger)
        return found

    def _build(
        self,
        full_key: tuple[Hashable, ...],
        catalog: Catalog,
        base: str,
        build: Callable[[], str | bytes],
        content_type: str,
        dated: datetime | None,
        ledger: bool,
    ) -> Page:
        key = full_key[0]
        built = build()
        body = built.encode("utf-8") if isinstance(built, str) else built
        date = (dated or self.newest(catalog)).replace(microsecond=0)
        if ledger:
            digest = hashlib.blake2b(body, digest_size=12).hexdigest()
            date = self.ledger.observe(f"{base}|{key!r}", "page", catalog.seq, digest, date)
        page = Page(body, strong_etag(body), gzip_bytes(body), strong_etag(body, "-gz"),
                    date, content_type)  # fmt: skip
        self.builds += 1
        return self.pages.put(full_key, page)


def choose(environ: dict[str, Any], page: Page) -> tuple[bool, bool]:
    """(send gzip, client's copy is out of date) for this request."""
    gz = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
    etag = page.gzip_etag if gz else page.etag
    return gz, client_copy_is_stale(environ, etag, page.last_modified)


def page_headers(page: Page, gz: bool, modified: bool) -> policy.Headers:
    """Representation headers of a 200 (or 304) of ``page``; policy headers are added apart."""
    headers: policy.Headers = [
        ("ETag", page.gzip_etag if gz else page.etag),
        ("Last-Modified", http_date(page.last_modified)),
    ]
    if gz:
        headers.append(("Content-Encoding", "gzip"))
    if modified:
        body = page.gzip_body if gz else page.body
        headers += [("Content-Type", page.content_type), ("Content-Length", str(len(body)))]
    return headers
