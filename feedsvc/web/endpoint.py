"""The feed hot path: a thin WSGI layer in front of Flask for feed URLs.

A feed request is a dict lookup (URL -> feed), a cache lookup (-> bytes and
validators), Werkzeug's conditional-request check and precomputed headers.
Flask's routing and request context would cost about half the throughput,
so feed URLs are answered here; every other URL (and every non-canonical
spelling of a feed URL) falls through to the Flask app.

HTTP rules kept here: strong ETags per encoding, ``If-None-Match`` wins over
``If-Modified-Since`` (RFC 9110 §13.2.2, via Werkzeug), 304s carry the
validators, HEAD sends headers only, ``Vary`` on every feed response, CORS
for embedding, 405 with ``Allow`` for other methods. The headers themselves
are :mod:`feedsvc.web.policy`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from werkzeug.http import http_date

from feedsvc.feeds.cache import CacheBusy, Variant
from feedsvc.feeds.catalog import Catalog
from feedsvc.feeds.routing import lookup
from feedsvc.feeds.spec import FeedSpec
from feedsvc.feeds.urls import FeedFormat
from feedsvc.service.core import FeedService
from feedsvc.web import policy
from feedsvc.web.metrics import RequestCounter, feed_answers
from feedsvc.web.negotiate import (
    accepts_gzip,
    client_copy_is_stale,
    from_loopback,
    request_base_url,
    wants_html,
)
from feedsvc.web.pagecache import PageCache, choose, page_headers
from feedsvc.web.pagememo import PageMemo
from feedsvc.web.pages import feed_page

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Headers = policy.Headers
_BODY_HEADERS = ("Content-Length", "Content-Type")  # not on a 304
VariantHeaders = dict[str, Headers]


def plain_response(
    start_response: StartResponse, status: str, text: str, extra: Headers | None = None
) -> list[bytes]:
    """A short ``text/plain`` answer (errors that never reach Flask)."""
    body = (text + "\n").encode("utf-8")
    start_response(status, [*policy.plain_text(len(body)), *(extra or [])])
    return [body]


def _variant_headers(variant: Variant, max_age: int, key: str) -> Headers:
    """The header list of one answer (200/304, ``gz`` for gzip) of a variant.

    Only a gzip 200 reads the gzip copy (its length), so a 304 or an
    identity 200 never has one made (:attr:`Variant.gzip_body`).
    """
    common = [("Last-Modified", http_date(variant.last_modified)), *policy.feed(max_age)]
    if key == "200":
        length = str(len(variant.body))
        return [("Content-Type", variant.content_type), ("Content-Length", length),
                ("ETag", variant.etag), *policy.NOSNIFF, *common]  # fmt: skip
    if key == "200gz":
        length = str(len(variant.gzip_body))
        return [("Content-Type", variant.content_type), ("Content-Encoding", "gzip"),
                ("Content-Length", length), ("ETag", variant.gzip_etag),
                *policy.NOSNIFF, *common]  # fmt: skip
    if key == "304":
        return [("ETag", variant.etag), *common]
    return [("ETag", variant.gzip_etag), ("Content-Encoding", "gzip"), *common]


def _headers(variant: Variant, max_age: int, key: str) -> Headers:
    """One answer's header list, built on its first use and kept with the variant."""
    found = cast(VariantHeaders | None, variant.extra.get("headers"))
    if found is None:
        found = variant.extra["headers"] = {}
    headers = found.get(key)
    if headers is None:
        headers = found[key] = _variant_headers(variant, max_age, key)
    return headers


_STATUS_LINES = {"200": "200 OK", "304": "304 Not Modified"}


def answer_key(environ: dict[str, Any], variant: Variant) -> str:
    """Which of a variant's answers a request gets: ``200``/``304``, ``gz`` for gzip."""
    gz = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
    etag = variant.gzip_etag if gz else variant.etag
    status = "200" if client_copy_is_stale(environ, etag, variant.last_modified) else "304"
    return status + "gz" if gz else status


@dataclass(frozen=True, slots=True)
class FeedAnswer:
    """One feed response from the cache: the WSGI path and the loop's raw path both send it."""

    route: tuple[FeedSpec, FeedFormat]
    variant: Variant
    key: str  # "200", "200gz", "304" or "304gz": see answer_key()
    max_age: int

    @property
    def status_line(self) -> str:
        """``200 OK`` or ``304 Not Modified``."""
        return _STATUS_LINES[self.key[:3]]

    @property
    def headers(self) -> Headers:
        """The variant's header list for this answer (built once per variant)."""
        return _headers(self.variant, self.max_age, self.key)

    @property
    def body(self) -> bytes:
        """The bytes of a 200 (identity or gzip); nothing for a 304."""
        if self.key == "200":
            return self.variant.body
        return self.variant.gzip_body if self.key == "200gz" else b""

    @property
    def labels(self) -> tuple[str, str, str]:
        """The request counter's labels: (feed kind, format, status)."""
        spec, fmt = self.route
        return (spec.kind, fmt.name, self.key[:3])


class FeedEndpoint:
    """WSGI middleware answering canonical feed URLs from the cache."""

    def __init__(
        self, app: WSGIApp, service: FeedService, pages: PageCache, pages_counter: RequestCounter
    ) -> None:
        self.app = app
        self.service = service
        self.pages = pages
        self.memo = PageMemo(pages, pages_counter)  # cached pages answered without Flask
        self.public_url = service.settings.public_url
        self.allowed_hosts = service.settings.allowed_hosts
        # Behind trusted proxies the base URL comes from forwarded headers, which
        # ProxyFix applies only inside the WSGI call: no guessing before it.
        self.guess_bases = service.settings.proxy_hops == 0 or self.public_url is not None
        self.counter = RequestCounter()  # (feed kind, format, status): /healthz and /metrics

    def stats(self) -> dict[str, int]:
        """Feed responses (200 and 304, pages for browsers excluded) and how many were 304."""
        answered, not_modified = feed_answers(self.counter)
        return {"feed_responses": answered, "not_modified": not_modified}

    def answers_from_memory(self, environ: dict[str, Any]) -> bool:
        """Whether :meth:`__call__` would answer ``environ`` without rendering anything.

        The server answers such requests on its event loop instead of handing
        them to a worker thread (:mod:`feedsvc.web.server`): a cached feed
        then costs one pass of the loop, not a hand-over to another thread
        that must win the GIL back from whatever the workers are rendering.
        A wrong guess only costs time, never a different answer.
        """
        read = self._plain_read(environ)
        if read is None:
            return False
        catalog, route, base = read
        if route is None:
            return (
                base is not None
                and self.memo.find(self.memo.key(environ, catalog.seq, base)) is not None
            )
        gz = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))  # no gzip made on the loop
        return base is None or self.service.has_variant(catalog, base, *route, gzip=gz)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """A GET/HEAD of a canonical feed URL: page for browsers, else 304 or the bytes."""
        catalog = self.service.catalog
        route = lookup(catalog, environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD", "GET")
        if route is None or method not in ("GET", "HEAD"):
            return self.not_a_feed_read(environ, start_response, route, method)
        spec, fmt = route
        base = self.public_url or request_base_url(environ, self.allowed_hosts)
        if base is None:
            return plain_response(
                start_response, "400 Bad Request", "400 missing or invalid Host header"
            )
        if self.public_url is None and (self.allowed_hosts or from_loopback(environ)):
            self.service.note_base(base)  # prewarmed and pinged: only hosts passing the rule
        try:
            variant = self.service.variant(catalog, base, spec, fmt)
        except CacheBusy:  # every render slot taken: keep this thread for cached answers
            self.counter.add((spec.kind, fmt.name, "503"))
            return plain_response(
                start_response, "503 Service Unavailable", "503 busy; retry shortly", policy.BUSY
            )
        if wants_html(environ):
            return self.serve_page(
                environ, start_response, catalog, variant, route, base, method == "HEAD"
            )
        answer = FeedAnswer(route, variant, answer_key(environ, variant),
                            catalog.snapshot.site.cache_max_age)  # fmt: skip
        self.counter.add(answer.labels)
        start_response(answer.status_line, answer.headers)
        return [answer.body] if answer.body and method != "HEAD" else []

    def _plain_read(
        self, environ: dict[str, Any]
    ) -> tuple[Catalog, tuple[FeedSpec, FeedFormat] | None, str | None] | None:
        """(catalog, feed route, base URL) of a GET/HEAD the loop may answer, else ``None``.

        ``None`` when the base URL cannot be known before the WSGI call (trusted
        proxy hops without a public URL) or the client is a browser wanting HTML.
        """
        if not self.guess_bases or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return None
        if wants_html(environ):
            return None
        catalog = self.service.catalog
        route = lookup(catalog, environ.get("PATH_INFO", ""))
        return catalog, route, self.public_url or request_base_url(environ, self.allowed_hosts)

    def cached_answer(self, environ: dict[str, Any]) -> FeedAnswer | None:
        """What :meth:`__call__` would answer from memory for a plain feed read, else ``None``.

        For the event loop's raw path (:mod:`feedsvc.web.fastpath`), which
        sends the answer itself: ``None`` for anything that is not a GET/HEAD
        of a cached feed by a feed reader (pages, renders, errors), which
        then takes the WSGI path. The decisions are :meth:`__call__`'s own
        (same helpers, same order), so both paths give the same answer.
        """
        read = self._plain_read(environ)
        if read is None:
            return None
        catalog, route, base = read
        if route is None or base is None:
            return None
        variant = self.service.cached_variant(catalog, base, *route)
        if variant is None:  # a render: a worker's job
            return None
        key = answer_key(environ, variant)
        if key == "200gz" and variant.gzip_copy is None:  # gzip to make: a worker's job too
            return None
        if self.public_url is None and (self.allowed_hosts or from_loopback(environ)):
            self.service.note_base(base)
        return FeedAnswer(route, variant, key, catalog.snapshot.site.cache_max_age)

    def not_a_feed_read(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        route: tuple[FeedSpec, FeedFormat] | None,
        method: str,
    ) -> Iterable[bytes]:
        """Everything but GET/HEAD of a feed: Flask, a preflight, or 405."""
        if route is None:
            if environ.get("PATH_INFO") == "*" and method == "OPTIONS":
                # ``OPTIONS *`` asks about the server as a whole (RFC 9110 §9.3.7).
                start_response("204 No Content", policy.preflight(_requested_headers(environ)))
                return []
            if method in ("GET", "HEAD"):
                return self.page(environ, start_response)
            return self.app(environ, start_response)
        spec, fmt = route
        if method == "OPTIONS":
            self.counter.add((spec.kind, fmt.name, "204"))
            start_response("204 No Content", policy.preflight(_requested_headers(environ)))
            return []
        self.counter.add((spec.kind, fmt.name, "405"))
        return plain_response(
            start_response, "405 Method Not Allowed", "405 method not allowed", policy.ALLOW
        )

    def page(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """A GET/HEAD of anything but a feed: a remembered cached page, else Flask."""
        base = self.public_url or request_base_url(environ, self.allowed_hosts)
        if base is None:
            return self.app(environ, start_response)  # Flask's 400 for the Host
        key = self.memo.key(environ, self.service.catalog.seq, base)
        found = self.memo.find(key)
        if found is None:
            return self.memo.ask_flask(self.app, environ, start_response, key)
        return self.memo.answer(environ, start_response, found, gz=key[-1])

    def serve_page(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        catalog: Catalog,
        variant: Variant,
        route: tuple[FeedSpec, FeedFormat],
        base: str,
        head: bool,
    ) -> Iterable[bytes]:
        """The HTML page about a feed, for a person who navigated to its URL.

        Cached like every page (:mod:`.pagecache`), dated like the feed; a
        conditional request is answered from the cached validators.
        """
        spec, fmt = route
        page = self.pages.page(
            ("feed", spec.key, fmt.name), catalog, base,
            lambda: feed_page(catalog.snapshot, spec, fmt, base),
            "text/html; charset=utf-8", dated=variant.last_modified,
        )  # fmt: skip
        gz, modified = choose(environ, page)
        body = page.gzip_body if gz else page.body
        headers = [*policy.feed_page(len(body)), *page_headers(page, gz, modified=False)]
        if not modified:
            self.counter.add((spec.kind, "html", "304"))
            start_response("304 Not Modified", [h for h in headers if h[0] not in _BODY_HEADERS])
            return []
        self.counter.add((spec.kind, "html", "200"))
        start_response("200 OK", headers)
        return [] if head else [body]


def _requested_headers(environ: dict[str, Any]) -> str:
    return str(environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", ""))
