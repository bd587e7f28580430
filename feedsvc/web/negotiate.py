"""What a request asks for, read from its WSGI environ (sans-IO, no Flask).

Which encoding (gzip or not), whether a person navigated to a feed URL (an
HTML page about the feed instead of the feed), and the public base URL the
request was made under. Shared by the fast path and the Flask app.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from werkzeug.http import parse_accept_header

from feedsvc.feeds.urls import mount_prefix

GZIP_CODINGS = frozenset({"gzip", "x-gzip"})  # RFC 9110 §8.4.1.3: x-gzip is gzip
_MEMO_LIMIT = 256  # longer Accept-Encoding values are parsed, never memoised
# Longer Accept-Encoding values are not parsed at all (identity is sent): real
# clients send well under 100 bytes, and parsing 250 KB cost ~100 ms of CPU.
PARSE_LIMIT = 1024
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$"
)


def gzip_quality(accept_encoding: str | None) -> float:
    """Quality the client gives gzip in ``Accept-Encoding`` (RFC 9110 §12.5.3).

    An explicit ``gzip`` (or ``x-gzip``) entry wins over ``*``, whatever their
    order: ``gzip;q=0, *`` refuses gzip, ``*`` alone accepts it, ``*;q=0``
    refuses it. Werkzeug's ``Accept.quality`` returns the first match in
    quality order, which would let ``*`` override an explicit ``gzip;q=0``.
    Entries with an invalid q-value are dropped by the parser (no gzip).
    A value over :data:`PARSE_LIMIT` characters is not read (no gzip), so the
    cost of a hostile header is bounded.
    """
    if not accept_encoding or len(accept_encoding) > PARSE_LIMIT:
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


def wants_html(environ: dict[str, Any]) -> bool:
    """True for a browser navigation to a feed URL that did not ask for the raw feed.

    Browsers mark top-level navigations with ``Sec-Fetch-Dest: document``
    (Chromium, Firefox and Safari all send it) and feed readers never do.
    ``Accept`` is not used: many readers send ``text/html`` in it.
    ``?raw`` shows the feed itself.
    """
    if environ.get("HTTP_SEC_FETCH_DEST") != "document":
        return False
    query = environ.get("QUERY_STRING", "")
    return not any(part.split("=", 1)[0] == "raw" for part in query.split("&"))


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
    return f"{scheme}://{host}{mount_prefix(prefix) if prefix else ''}"
