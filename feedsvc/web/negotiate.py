"""What a request asks for, read from its WSGI environ (sans-IO, no Flask).

Which encoding (gzip or not), whether a person navigated to a feed URL (an
HTML page about the feed instead of the feed), and the public base URL the
request was made under. Shared by the fast path and the Flask app.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Collection
from datetime import datetime
from typing import Any

from werkzeug.http import parse_accept_header
from werkzeug.sansio.http import is_resource_modified

from feedsvc.feeds.urls import mount_prefix

GZIP_CODINGS = frozenset({"gzip", "x-gzip"})  # RFC 9110 §8.4.1.3: x-gzip is gzip
_MEMO_LIMIT = 256  # longer Accept-Encoding values are parsed, never memoised
# Longer Accept-Encoding values are not parsed at all (identity is sent): real
# clients send well under 100 bytes, and parsing 250 KB cost ~100 ms of CPU.
PARSE_LIMIT = 1024
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


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


def _valid_name(name: str) -> bool:
    """A DNS name or IPv4 address: labels of 1-63 letters, digits, ``-`` or ``_``."""
    if not name or len(name) > 253:
        return False
    for label in name.split("."):
        if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not _LABEL_CHARS.issuperset(label):
            return False
    return True


def _valid_ipv6(literal: str) -> bool:
    """An IPv6 address as written between brackets (no zone id)."""
    if "%" in literal or len(literal) > 45:
        return False
    try:
        ipaddress.IPv6Address(literal)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=256)
def _normalise_memo(host: str, scheme: str) -> str | None:
    return normalise_host(host, scheme)


def normalised_host(host: str, scheme: str = "http") -> str | None:
    """:func:`normalise_host`, memoised: a server sees a handful of real hosts.

    The memo is a bounded LRU, so made-up hosts cost at most a parse each.
    """
    return _normalise_memo(host, scheme) if len(host) <= 100 else normalise_host(host, scheme)


def normalise_host(host: str, scheme: str = "http") -> str | None:
    """``host[:port]`` lower-cased, or ``None`` when it is not a valid Host value.

    Valid: a DNS name or IPv4 address (no empty label: ``a..b`` is refused;
    one trailing dot is dropped) or a bracketed IPv6 literal, then an
    optional port from 1 to 65535. The scheme's default port is dropped and
    leading zeros of a port are too, so every spelling of one host gives one
    base URL (and one cache entry).
    """
    if len(host) > 260:
        return None
    host = host.lower()
    port = ""
    if host.startswith("["):
        literal, bracket, rest = host[1:].partition("]")
        if not bracket or not _valid_ipv6(literal):
            return None
        name = f"[{literal}]"
        if rest:
            if rest[0] != ":":
                return None
            port = rest[1:]
            if not port:
                return None
    else:
        name, colon, port = host.partition(":")
        if colon and not port:
            return None
        if name.endswith("."):
            name = name[:-1]
        if not _valid_name(name):
            return None
    if port:
        if not port.isascii() or not port.isdigit() or len(port) > 5 or not 0 < int(port) < 65536:
            return None
        port = str(int(port))
        if port == _DEFAULT_PORTS.get(scheme):
            port = ""
    return f"{name}:{port}" if port else name


def host_allowed(host: str, allowed: Collection[str]) -> bool:
    """Whether ``host`` (normalised, port ignored) is in ``allowed``.

    As Django's ``ALLOWED_HOSTS``: an entry ``example.org`` names that host
    alone, ``.example.org`` names it and every subdomain, ``*`` names any
    host. An empty ``allowed`` allows every valid host.
    """
    if not allowed or "*" in allowed:
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name in allowed:
        return True
    return any(
        entry.startswith(".") and (name == entry[1:] or name.endswith(entry)) for entry in allowed
    )


def request_base_url(environ: dict[str, Any], allowed: Collection[str] = ()) -> str | None:
    """``scheme://host/prefix`` of this request, or ``None`` for a bogus Host.

    Runs after ProxyFix (when proxy hops are trusted), so forwarded scheme,
    host and prefix are already applied to the environ. An HTTP/1.1 request
    without Host is invalid (RFC 9112 §3.2: answer 400); HTTP/1.0 may omit
    it, and gets the server's own name. The host is validated and
    normalised by :func:`normalise_host`, and must be one of ``allowed``
    (``FEEDSVC_ALLOWED_HOSTS``) when that is not empty.
    """
    raw = environ.get("HTTP_HOST")
    scheme = environ.get("wsgi.url_scheme", "http")
    if scheme not in _DEFAULT_PORTS:
        return None
    if not raw:
        if environ.get("SERVER_PROTOCOL") != "HTTP/1.0":
            return None
        raw = environ.get("SERVER_NAME", "localhost")
        port = environ.get("SERVER_PORT", "")
        if port:
            raw = f"{raw}:{port}"
    host = normalised_host(raw, scheme)
    if host is None or not host_allowed(host, allowed):
        return None
    prefix = environ.get("SCRIPT_NAME", "")
    return f"{scheme}://{host}{mount_prefix(prefix) if prefix else ''}"


def from_loopback(environ: dict[str, Any]) -> bool:
    """Whether the request's TCP peer is this machine (127.0.0.0/8 or ``::1``).

    The peer, not the forwarded client: behind a trusted proxy ProxyFix
    keeps the proxy's own address in ``werkzeug.proxy_fix.orig``.
    """
    orig = environ.get("werkzeug.proxy_fix.orig")
    addr = str((orig if isinstance(orig, dict) else environ).get("REMOTE_ADDR", ""))
    return addr.startswith("127.") or addr == "::1"


def client_copy_is_stale(environ: dict[str, Any], etag: str, last_modified: datetime) -> bool:
    """Whether the client's copy (if it names one) is out of date (RFC 9110 §13.2.2).

    One check for feeds and pages. Two shortcuts before Werkzeug's full
    evaluation (half the cost of a request): no validator at all, and our
    own strong tag sent back verbatim (what readers and proxies do), which
    matches whatever If-Modified-Since says because If-None-Match takes
    precedence.
    """
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if if_none_match is None and if_modified_since is None:
        return True
    if if_none_match == etag:
        return False
    return is_resource_modified(
        http_if_none_match=if_none_match,
        http_if_modified_since=if_modified_since,
        etag=etag,
        last_modified=last_modified,
    )
