"""The feed hot path: a thin WSGI layer in front of Flask for feed URLs.

A feed request is a dict lookup (URL -> feed), a cache lookup (-> bytes and
validators), Werkzeug's conditional-request check and precomputed headers.
Flask's routing and request context would cost about half the throughput,
so feed URLs are answered here; every other URL (and every non-canonical
spelling of a feed URL) falls through to the Flask app.

HTTP rules kept here: strong ETags per encoding, ``If-None-Match`` wins over
``If-Modified-Since`` (RFC 9110 §13.2.2, via Werkzeug), 304s carry the
validators, HEAD sends headers only, ``Vary: Accept-Encoding`` everywhere,
CORS for embedding, 405 with ``Allow`` for other methods.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from werkzeug.http import http_date, parse_accept_header
from werkzeug.sansio.http import is_resource_modified

from feedsvc.feeds.cache import Variant
from feedsvc.feeds.catalog import Catalog
from feedsvc.feeds.routing import lookup
from feedsvc.feeds.spec import FeedSpec
from feedsvc.feeds.urls import FeedFormat
from feedsvc.service.core import FeedService
from feedsvc.web.metrics import RequestCounter, feed_answers
from feedsvc.web.pages import feed_page, wants_html
from feedsvc.web.policy import HTML_CSP

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Headers = list[tuple[str, str]]

ALLOWED_METHODS = "GET, HEAD, OPTIONS"
# Feed URLs answer browsers' navigations with an HTML page (see browser.py).
VARY = "Accept-Encoding, Sec-Fetch-Dest"
CORS_HEADERS: Headers = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "ETag, Last-Modified"),
]
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$"
)


GZIP_CODINGS = frozenset({"gzip", "x-gzip"})  # RFC 9110 §8.4.1.3: x-gzip is gzip
_MEMO_LIMIT = 256  # longer Accept-Encoding values are parsed, never memoised


def gzip_quality(accept_encoding: str | None) -> float:
    """Quality the client gives gzip in ``Accept-Encoding`` (RFC 9110 §12.5.3).

    An explicit ``gzip`` (or ``x-gzip``) entry wins over ``*``, whatever their
    order: ``gzip;q=0, *`` refuses gzip, ``*`` alone accepts it, ``*;q=0``
    refuses it. Werkzeug's ``Accept.quality`` returns the first match in
    quality order, which would let ``*`` override an explicit ``gzip;q=0``.
    Entries with an invalid q-value are dropped by the parser (no gzip).
    """
    if not accept_encoding:
        return 0.0
    explicit: float | None = None
    wildcard = 0.0
    for coding, quality in parse_accept_header(accept_encoding):
        coding = coding.lower()
        if coding in GZIP_CODINGS:
            explicit = max(explicit or 0.0, quality)
        elif coding == "*":
            wildcard = quality
    return wildcard if explicit is None else explicit


@functools.lru_cache(maxsize=512)
def _accepts_gzip_memo(accept_encoding: str) -> bool:
    return gzip_quality(accept_encoding) > 0


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether to send the gzip copy for this ``Accept-Encoding`` value.

    Real clients send a handful of distinct short values, so answers are
    memoised; long values (which only a hostile client sends) are not, so
    they cannot pin memory in the memo.
    """
    if not accept_encoding:
        return False
    if len(accept_encoding) > _MEMO_LIMIT:
        return gzip_quality(accept_encoding) > 0
    return _accepts_gzip_memo(accept_encoding)


def request_base_url(environ: dict[str, Any]) -> str | None:
    """``scheme://host/prefix`` of this request, or ``None`` for a bogus Host.

    Runs after ProxyFix (when proxy hops are trusted), so forwarded scheme,
    host and prefix are already applied to the environ. An HTTP/1.1 request
    without Host is invalid (RFC 9112 §3.2: answer 400); HTTP/1.0 may omit
    it, and gets the server's own name.
    """
    host = environ.get("HTTP_HOST")
    scheme = environ.get("wsgi.url_scheme", "http")
    if not host:
        if environ.get("SERVER_PROTOCOL") != "HTTP/1.0":
            return None
        host = environ.get("SERVER_NAME", "localhost")
        port = environ.get("SERVER_PORT", "")
        if port and port != ("443" if scheme == "https" else "80"):
            host = f"{host}:{port}"
    if not _HOST.match(host) or scheme not in ("http", "https"):
        return None
    prefix = environ.get("SCRIPT_NAME", "")
    if prefix:
        prefix = quote(prefix.encode("latin-1").rstrip(b"/"), safe="/-._~!$&'()*+,;=:@")
    return f"{scheme}://{host}{prefix}"


def plain_response(
    start_response: StartResponse,
    status: str,
    text: str,
    extra: Headers = (),  # type: ignore[assignment]
) -> list[bytes]:
    """A short ``text/plain`` answer (errors that never reach Flask)."""
    body = (text + "\n").encode("utf-8")
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("X-Content-Type-Options", "nosniff"),
        *CORS_HEADERS,
        *extra,
    ]
    start_response(status, headers)
    return [body]


def preflight_headers(environ: dict[str, Any]) -> Headers:
    """Answer to a CORS preflight or a plain OPTIONS request."""
    requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "")
    allowed = "If-None-Match, If-Modified-Since, Cache-Control"
    if requested and re.fullmatch(r"[A-Za-z0-9\-, ]{1,512}", requested):
        allowed = requested
    return [
        ("Allow", ALLOWED_METHODS),
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Methods", ALLOWED_METHODS),
        ("Access-Control-Allow-Headers", allowed),
        ("Access-Control-Max-Age", "86400"),
        ("Content-Length", "0"),
    ]


def _variant_headers(variant: Variant, max_age: int) -> dict[str, Headers]:
    """Header lists for 200/304 in both encodings, built once per variant."""
    common = [
        ("Last-Modified", http_date(variant.last_modified)),
        ("Cache-Control", f"public, max-age={max_age}"),
        ("Vary", VARY),
        *CORS_HEADERS,
    ]
    identity_200 = [
        ("Content-Type", variant.content_type),
        ("Content-Length", str(len(variant.body))),
        ("ETag", variant.etag),
        ("X-Content-Type-Options", "nosniff"),
        *common,
    ]
    gzip_200 = [
        ("Content-Type", variant.content_type),
        ("Content-Encoding", "gzip"),
        ("Content-Length", str(len(variant.gzip_body))),
        ("ETag", variant.gzip_etag),
        ("X-Content-Type-Options", "nosniff"),
        *common,
    ]
    return {
        "200": identity_200,
        "200gz": gzip_200,
        "304": [("ETag", variant.etag), *common],
        "304gz": [("ETag", variant.gzip_etag), ("Content-Encoding", "gzip"), *common],
    }


class FeedEndpoint:
    """WSGI middleware answering canonical feed URLs from the cache."""

    def __init__(self, app: WSGIApp, service: FeedService) -> None:
        self.app = app
        self.service = service
        self.public_url = service.settings.public_url
        self.counter = RequestCounter()  # (feed kind, format, status): /healthz and /metrics

    def stats(self) -> dict[str, int]:
        """Feed responses (200 and 304, pages for browsers excluded) and how many were 304."""
        answered, not_modified = feed_answers(self.counter)
        return {"feed_responses": answered, "not_modified": not_modified}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        view = self.service.view
        path = environ.get("PATH_INFO", "")
        route = lookup(view, path)
        if route is None:
            if path == "*" and environ.get("REQUEST_METHOD") == "OPTIONS":
                # ``OPTIONS *`` asks about the server as a whole (RFC 9110 §9.3.7).
                start_response("204 No Content", preflight_headers(environ))
                return []
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        spec, fmt = route
        if method == "OPTIONS":
            self.counter.add((spec.kind, fmt.name, "204"))
            start_response("204 No Content", preflight_headers(environ))
            return []
        if method not in ("GET", "HEAD"):
            self.counter.add((spec.kind, fmt.name, "405"))
            return plain_response(
                start_response, "405 Method Not Allowed", "405 method not allowed",
                [("Allow", ALLOWED_METHODS)],
            )  # fmt: skip
        base = self.public_url or request_base_url(environ)
        if base is None:
            return plain_response(
                start_response, "400 Bad Request", "400 missing or invalid Host header"
            )
        if self.public_url is None:
            self.service.note_base(base)
        return self.serve(environ, start_response, view, route, base, method == "HEAD")

    def serve(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        view: Catalog,
        route: tuple[FeedSpec, FeedFormat],
        base: str,
        head: bool,
    ) -> Iterable[bytes]:
        """Answer one feed request (200 or 304) from the variant cache."""
        spec, fmt = route
        variant = self.service.variant(view, base, spec, fmt)
        if wants_html(environ):
            return self.serve_page(start_response, view, variant, spec, fmt, base, head)
        headers = variant.extra.get("headers")
        if headers is None:
            headers = variant.extra["headers"] = _variant_headers(
                variant, view.snapshot.site.cache_max_age
            )
        gz = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
        etag = variant.gzip_etag if gz else variant.etag
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
        # Two shortcuts before Werkzeug's full RFC 9110 evaluation (half the cost
        # of this method): no validator at all, and our own strong tag sent back
        # verbatim (what readers and proxies do), which matches whatever
        # If-Modified-Since says because If-None-Match takes precedence.
        if if_none_match is None and if_modified_since is None:
            modified = True
        elif if_none_match == etag:
            modified = False
        else:
            modified = is_resource_modified(
                http_if_none_match=if_none_match,
                http_if_modified_since=if_modified_since,
                etag=etag,
                last_modified=variant.last_modified,
            )
        if not modified:
            self.counter.add((spec.kind, fmt.name, "304"))
            start_response("304 Not Modified", headers["304gz" if gz else "304"])
            return []
        self.counter.add((spec.kind, fmt.name, "200"))
        start_response("200 OK", headers["200gz" if gz else "200"])
        if head:
            return []
        return [variant.gzip_body if gz else variant.body]

    def serve_page(
        self,
        start_response: StartResponse,
        view: Catalog,
        variant: Variant,
        spec: FeedSpec,
        fmt: FeedFormat,
        base: str,
        head: bool,
    ) -> Iterable[bytes]:
        """The HTML page about a feed, for a person who navigated to its URL."""
        page = variant.extra.get("page")
        if page is None:
            page = variant.extra["page"] = feed_page(view.snapshot, spec, fmt, base)
        self.counter.add((spec.kind, "html", "200"))
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(page))),
                ("Cache-Control", "private, no-cache"),
                ("Vary", VARY),
                ("Content-Security-Policy", HTML_CSP),
                ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"),
                *CORS_HEADERS,
            ],
        )
        return [] if head else [page]
