"""Response policy, defined once: security, CORS, caching and method headers.

Every response the service sends takes its policy headers from here; the
fast path (:mod:`feedsvc.web.endpoint`) and the Flask app apply them and
spell none of their own.

* The one stylesheet of every HTML page is inlined and allowed by hash:
  no static route (no file is served from disk by request path) and no
  origin to get wrong behind a proxy or under ``FEEDSVC_PUBLIC_URL``; the
  Content-Security-Policy allows exactly this stylesheet and, of images,
  web URLs (no ``data:``): the site's icon is the one image a page loads.
* Pages may not be framed, except the embed fragment, which exists to be.
* Feeds are readable cross-origin (``Access-Control-Allow-Origin: *``) so
  other sites can embed them; every other response says so too.
* Feed URLs answer browsers' navigations with an HTML page, so feed
  responses vary on ``Sec-Fetch-Dest`` as well as ``Accept-Encoding``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import re

Headers = list[tuple[str, str]]

STYLESHEET = (importlib.resources.files(__package__) / "static" / "feedsvc.css").read_text("utf-8")
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLESHEET.encode()).digest()).decode()
# Nothing but our own inline stylesheet, no scripts, no framing; forms (the tag
# search) submit to this origin only. Images from http(s) URLs: the site's icon
# (site.yaml ``icon``, usually on the news site's origin) is the one image pages load.
HTML_CSP = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src http: https:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The embed fragment is meant to be framed by any site; it carries its own
# inline style so the embedding page needs nothing else.
EMBED_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

ALLOWED_METHODS = "GET, HEAD, OPTIONS"
ALLOW: Headers = [("Allow", ALLOWED_METHODS)]
NOSNIFF: Headers = [("X-Content-Type-Options", "nosniff")]
CORS: Headers = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "ETag, Last-Modified"),
]
# Every response of the service carries these (the Flask app sets them if unset).
EVERY_RESPONSE: Headers = [*CORS, *NOSNIFF]
FEED_VARY = "Accept-Encoding, Sec-Fetch-Dest"
PAGE_VARY = "Accept-Encoding"  # pages are served gzipped when the client allows

# HTML: directory and tag pages, the browser view of a feed, the embed fragment.
NO_REFERRER: Headers = [("Referrer-Policy", "no-referrer")]
PAGE: Headers = [
    ("Content-Security-Policy", HTML_CSP),
    *NO_REFERRER,
    ("X-Frame-Options", "DENY"),  # only embeds are framed
]
EMBED: Headers = [("Content-Security-Policy", EMBED_CSP), *NO_REFERRER]

# Cache-Control values. Pages about a feed vary on a request header no shared
# cache should key on, so they are private (see web/pages.py).
PRIVATE = "private, no-cache"
NO_STORE = "no-store"

# A feed request refused because every render slot is busy: retry soon, keep nothing.
BUSY: Headers = [("Retry-After", "1"), ("Cache-Control", NO_STORE)]
_REQUEST_HEADERS_OK = re.compile(r"[A-Za-z0-9\-, ]{1,512}")
_DEFAULT_REQUEST_HEADERS = "If-None-Match, If-Modified-Since, Cache-Control"


def public(max_age: int) -> str:
    """``Cache-Control`` of anything shared caches may keep for ``max_age`` seconds."""
    return f"public, max-age={max_age}"


def shared_cache(max_age: int) -> Headers:
    """Caching headers of a page or file shared caches may keep (public, ``max_age``)."""
    return [("Cache-Control", public(max_age))]


def page(max_age: int) -> Headers:
    """Caching headers of a cached page (HTML or OPML), 200 and 304 alike."""
    return [*shared_cache(max_age), ("Vary", PAGE_VARY)]


UNCACHED: Headers = [("Cache-Control", NO_STORE)]  # health and metrics: always fresh


def feed(max_age: int) -> Headers:
    """Policy headers of every feed response, 200 and 304 alike."""
    return [*shared_cache(max_age), ("Vary", FEED_VARY), *CORS]


def html_page(*, framable: bool) -> Headers:
    """Policy headers of an HTML response: the embed fragment, or any other page."""
    return EMBED if framable else PAGE


def feed_page(content_length: int) -> Headers:
    """Every header of the browser view of a feed (answered by the fast path)."""
    return [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(content_length)),
        ("Cache-Control", PRIVATE),
        ("Vary", FEED_VARY),
        ("Content-Security-Policy", HTML_CSP),
        *NOSNIFF,
        *NO_REFERRER,
        *CORS,
    ]


def plain_text(content_length: int) -> Headers:
    """Headers of a short ``text/plain`` answer that never reaches Flask."""
    return [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(content_length)),
        *NOSNIFF,
        *CORS,
    ]


def preflight(requested_headers: str) -> Headers:
    """Answer to a CORS preflight or a plain OPTIONS request.

    ``requested_headers`` is ``Access-Control-Request-Headers``: echoed when
    it is a plain list of header names, else the validators are allowed.
    """
    allowed = _DEFAULT_REQUEST_HEADERS
    if requested_headers and _REQUEST_HEADERS_OK.fullmatch(requested_headers):
        allowed = requested_headers
    return [
        *ALLOW,
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Methods", ALLOWED_METHODS),
        ("Access-Control-Allow-Headers", allowed),
        ("Access-Control-Max-Age", "86400"),
        ("Content-Length", "0"),
    ]
