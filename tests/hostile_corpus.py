"""A corpus of hostile requests, as bytes on the wire and as WSGI environs.

Each :class:`Hostile` request can be sent byte for byte over a socket (to
waitress, or through nginx) or turned into the WSGI environ waitress would
build from it (for Flask's stack without a socket). ``expect`` lists the
statuses that are a sensible answer, whoever gives it: the app, waitress
(which refuses some requests before the app sees them, e.g. 431 for huge
headers) or nginx.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from werkzeug.test import create_environ, run_wsgi_app

OK = frozenset({200})
NOT_FOUND = frozenset({404})
BAD = frozenset({400})
NOT_ALLOWED = frozenset({405})
# 404 from the app; 400 where a server refuses bytes that are not valid in a request line.
NOT_FOUND_OR_BAD = frozenset({400, 404})
TOO_BIG = frozenset({400, 404, 413, 414, 431, 494})  # 494: nginx "request header too large"
HTTP_DATE = b"Sun, 06 Nov 1994 08:49:37 GMT"


@dataclass(frozen=True)
class Hostile:
    """One hostile request and the statuses that are a sensible answer."""

    name: str
    target: bytes
    expect: frozenset[int] = NOT_FOUND
    method: bytes = b"GET"
    headers: tuple[tuple[bytes, bytes], ...] = ()
    host: bytes | None = b"localhost"  # None: no Host header at all
    version: bytes = b"HTTP/1.1"
    body: bytes = b""

    def wire(self, prefix: bytes = b"", host: bytes | None = None) -> bytes:
        """The request as bytes, asking the server to close the connection after it."""
        target = prefix + self.target if self.target.startswith(b"/") else self.target
        lines = [self.method + b" " + target + b" " + self.version]
        if self.host is not None:
            lines.append(b"Host: " + (self.host if host is None else host))
        lines += [name + b": " + value for name, value in self.headers]
        if self.body and not any(n.lower() == b"content-length" for n, _ in self.headers):
            lines.append(b"Content-Length: " + str(len(self.body)).encode())
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + self.body

    def environ(self) -> dict[str, Any]:
        """The WSGI environ waitress builds for this request (latin-1 strings)."""
        path, _, query = self.target.partition(b"?")
        environ = create_environ()
        for key in [k for k in environ if k.startswith("HTTP_")]:
            del environ[key]
        environ.update(
            REQUEST_METHOD=self.method.decode("latin-1"),
            PATH_INFO=unquote_to_bytes(path).decode("latin-1"),
            QUERY_STRING=query.decode("latin-1"),
            REQUEST_URI=self.target.decode("latin-1"),
            RAW_URI=self.target.decode("latin-1"),
            SERVER_PROTOCOL=self.version.decode("latin-1"),
            CONTENT_LENGTH=str(len(self.body)) if self.body else "",
        )
        environ["wsgi.input"] = io.BytesIO(self.body)
        headers = list(self.headers)
        if self.host is not None:
            headers.insert(0, (b"Host", self.host))
        for name, value in headers:
            key = name.decode("latin-1").upper().replace("-", "_")
            key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key
            text = value.decode("latin-1")
            environ[key] = f"{environ[key]}, {text}" if environ.get(key) else text
        return environ


def run_in_wsgi(app: Any, request: Hostile) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send ``request`` through the whole WSGI stack of ``app`` (no socket)."""
    app_iter, status, headers = run_wsgi_app(app, request.environ(), buffered=True)
    try:
        body = b"".join(app_iter)
    finally:
        getattr(app_iter, "close", lambda: None)()
    return int(status.split(" ", 1)[0]), list(headers.items()), body


def _h(name: str, value: bytes | str) -> tuple[bytes, bytes]:
    return name.encode(), value if isinstance(value, bytes) else value.encode()


CORPUS: list[Hostile] = [
    # --- path traversal, plain and encoded -------------------------------------------
    Hostile("traversal", b"/tags/../../etc/passwd"),
    Hostile("traversal-root", b"/../../../../etc/passwd"),
    Hostile("traversal-dot-encoded", b"/tags/%2e%2e/%2e%2e/etc/passwd"),
    Hostile("traversal-slash-encoded", b"/tags/..%2f..%2fetc%2fpasswd/rss.xml"),
    Hostile("traversal-backslash", b"/tags/..%5c..%5cwindows%5cwin.ini"),
    Hostile("traversal-double-encoded", b"/tags/%252e%252e/%252e%252e/etc/passwd"),
    Hostile("traversal-overlong-utf8", b"/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd"),
    Hostile("traversal-static", b"/static/../feedsvc/web.py"),
    Hostile("source-file", b"/feedsvc/web.py"),
    Hostile("content-file", b"/content/site.yaml"),
    Hostile("dotfile", b"/.git/config"),
    Hostile("template", b"/templates/base.html"),
    Hostile("null-byte", b"/rss.xml%00.html"),
    Hostile("null-in-tag", b"/tags/%00/rss.xml"),
    # --- very long paths and tag names ----------------------------------------------
    Hostile("long-path", b"/" + b"a" * 8000),
    Hostile("long-tag", b"/tags/" + b"x" * 8000 + b"/rss.xml"),
    Hostile("long-korean-tag", b"/tags/" + b"%EB%B6%81" * 2500 + b"/rss.xml"),
    Hostile("many-segments", b"/tags/" + b"a/" * 4000 + b"rss.xml"),
    # nginx merges slashes and serves the feed; the app redirects short runs, refuses long ones.
    Hostile("many-slashes", b"/" * 5000 + b"rss.xml", expect=frozenset({200, 308, 404})),
    Hostile("huge-path", b"/" + b"a" * 300_000, expect=TOO_BIG),
    # --- invalid percent-encoding and invalid UTF-8 ---------------------------------------
    Hostile("bad-percent", b"/tags/%zz/rss.xml"),
    Hostile("lone-percent", b"/tags/%/rss.xml"),
    Hostile("short-percent", b"/tags/%e/"),
    Hostile("invalid-utf8-encoded", b"/tags/%ff%fe/rss.xml"),
    Hostile("truncated-utf8", b"/tags/%EB%B6/rss.xml"),
    Hostile("surrogate-utf8", b"/tags/%ED%A0%80/rss.xml"),
    Hostile("invalid-utf8-raw", b"/tags/\xff\xfe/rss.xml", expect=NOT_FOUND_OR_BAD),
    # Raw UTF-8 is not valid in a request line (servers refuse it); the app alone would serve it.
    Hostile("utf8-raw", b"/tags/\xeb\xb6\x81\xed\x95\x9c/rss.xml", expect=frozenset({200, 400})),
    Hostile("control-char-raw", b"/tags/a\x01b/rss.xml", expect=NOT_FOUND_OR_BAD),
    Hostile("invalid-utf8-query", b"/rss.xml?q=%ff%fe&%c0=%80", expect=OK),
    # --- unknown and duplicated query parameters ------------------------------------
    Hostile("duplicate-params", b"/rss.xml?a=1&a=2&a&&=&=x", expect=OK),
    Hostile("many-params", b"/atom.xml?" + b"x=1&" * 5000, expect=OK),
    Hostile("script-param", b"/?q=<script>alert(1)</script>", expect=OK),
    Hostile("callback-param", b"/feed.json?callback=alert", expect=OK),
    Hostile("params-on-page", b"/tags/?tag=../../etc/passwd", expect=OK),
    # --- bogus or huge conditional headers --------------------------------------------
    *[
        Hostile(f"ims-{n}", b"/rss.xml", frozenset({200, 304}),
                headers=(_h("If-Modified-Since", v),))
        for n, v in {
            "garbage": b"garbage",
            "huge": b"x" * 100_000,
            "year-9999": b"Fri, 31 Dec 9999 23:59:59 GMT",
            "year-0": b"Mon, 01 Jan 0000 00:00:00 GMT",
            "epoch": b"Thu, 01 Jan 1970 00:00:00 GMT",
            "negative": b"-1",
            "list": HTTP_DATE + b", " + HTTP_DATE,
            "bytes": b"\xff\xfe\x80",
            "bad-day": b"Sun, 99 Nov 1994 08:49:37 GMT",
        }.items()
    ],
    *[
        Hostile(f"inm-{n}-{path.decode()}", path, frozenset({200, 304}),
                headers=(_h("If-None-Match", v),))
        for path in (b"/atom.xml", b"/feeds.opml", b"/")
        for n, v in {
            "quote": b'"',
            "weak-only": b"W/",
            "commas": b", , , ,",
            "spaces": b'"a' + b" " * 100_000 + b'b"',
            "huge": b'"' + b"x" * 200_000 + b'"',
            "many": b", ".join(b'"%d"' % i for i in range(5000)),
            "bytes": b'"\xff\xfe"',
        }.items()
    ],
    Hostile("inm-star", b"/rss.xml", expect=frozenset({304}), headers=(_h("If-None-Match", "*"),)),
    Hostile("if-match", b"/rss.xml", frozenset({200, 412}), headers=(_h("If-Match", '"x"'),)),
    Hostile("if-range", b"/rss.xml", expect=OK, headers=(_h("If-Range", "garbage"),)),
    # --- Range requests -----------------------------------------------------------------
    *[
        Hostile(f"range-{n}-{path.decode()}", path, frozenset({200, 206, 416}),
                headers=(_h("Range", v),))
        for path in (b"/rss.xml", b"/", b"/feeds.opml")
        for n, v in {
            "first": b"bytes=0-10",
            "suffix": b"bytes=-5",
            "inverted": b"bytes=10-5",
            "huge-number": b"bytes=99999999999999999999999-",
            "many": b"bytes=" + b",".join(b"%d-%d" % (i, i) for i in range(2000)),
            "unit": b"chars=0-1",
            "garbage": b"\xff",
        }.items()
    ],
    # --- methods other than GET/HEAD/OPTIONS -----------------------------------------
    *[
        Hostile(f"method-{m.decode().lower()}-{p.decode()}", p, expect=NOT_ALLOWED, method=m)
        for m in (b"POST", b"PUT", b"DELETE", b"PATCH", b"TRACE", b"PROPFIND", b"BREW")
        for p in (b"/rss.xml", b"/", b"/healthz", b"/tags/NorthKorea/rss.xml")
    ],
    Hostile("post-with-body", b"/rss.xml", expect=NOT_ALLOWED, method=b"POST",
            headers=(_h("Content-Type", "application/x-www-form-urlencoded"),), body=b"a=1"),
    Hostile("post-json", b"/feeds.opml", expect=NOT_ALLOWED, method=b"POST",
            headers=(_h("Content-Type", "application/json"),), body=b'{"a":'),
    Hostile("connect", b"/rss.xml", expect=NOT_ALLOWED, method=b"CONNECT"),
    Hostile("long-method", b"/", expect=frozenset({400, 405}), method=b"A" * 1000),
    Hostile("lowercase-method", b"/rss.xml", expect=frozenset({400, 405}), method=b"get"),
    Hostile("options-unknown", b"/nope", expect=NOT_FOUND, method=b"OPTIONS"),
    # --- bad Host headers (no FEEDSVC_PUBLIC_URL: the Host makes the links) -------------------
    *[
        Hostile(f"host-{n}-{path.decode()}", path, expect=BAD, host=v)
        for path in (b"/rss.xml", b"/", b"/tags/NorthKorea/rss.xml", b"/feeds.opml")
        for n, v in {
            "script": b"evil<script>",
            "empty": b"",
            "space": b"local host",
            "long": b"a" * 300,
            "port-too-long": b"localhost:99999999",
            "userinfo": b"localhost:80@evil.example",
            "path": b"localhost/../x",
            "bytes": b"\xff\xfe",
            "list": b"localhost, evil.example",
        }.items()
    ],
    Hostile("host-missing-1.1", b"/rss.xml", expect=BAD, host=None),
    Hostile("host-missing-1.0", b"/rss.xml", expect=OK, host=None, version=b"HTTP/1.0"),
    Hostile("host-ipv6", b"/rss.xml", expect=OK, host=b"[::1]:8080"),
    Hostile("host-upper", b"/", expect=OK, host=b"LOCALHOST"),
    # waitress ignores the authority (links follow Host); nginx routes by it (404 there).
    Hostile("absolute-form", b"http://evil.example/rss.xml", expect=frozenset({200, 404})),
    # --- huge and odd headers --------------------------------------------------------------
    Hostile("huge-header", b"/rss.xml", expect=frozenset({200, 400, 431, 494}),
            headers=(_h("X-Big", b"a" * 300_000),)),
    Hostile("many-headers", b"/rss.xml", expect=frozenset({200, 400, 431, 494}),
            headers=tuple(_h(f"X-H{i}", b"v" * 100) for i in range(1500))),
    Hostile("huge-accept-encoding", b"/rss.xml", expect=OK,
            headers=(_h("Accept-Encoding", b"gzip;q=0.5, " * 15_000),)),
    Hostile("huge-cookie", b"/", expect=OK, headers=(_h("Cookie", b"a=" + b"b" * 100_000),)),
    Hostile("bad-header-name", b"/rss.xml", expect=frozenset({200, 400}),
            headers=((b"Bad Header", b"x"),)),
    Hostile("null-in-header", b"/rss.xml", expect=frozenset({200, 400}),
            headers=((b"X-A", b"b\x00c"),)),
    Hostile("bad-content-length", b"/rss.xml", expect=frozenset({200, 400}),
            headers=(_h("Content-Length", "-1"),)),
    Hostile("two-content-lengths", b"/rss.xml", expect=frozenset({200, 400}),
            headers=(_h("Content-Length", "1"), _h("Content-Length", "2")), body=b"ab"),
    Hostile("chunked-and-length", b"/rss.xml", expect=frozenset({200, 400}),
            headers=(_h("Transfer-Encoding", "chunked"), _h("Content-Length", "5")),
            body=b"0\r\n\r\n"),
    Hostile("forwarded-forged", b"/atom.xml", expect=OK,
            headers=(_h("X-Forwarded-Host", "evil.example"), _h("X-Forwarded-Proto", "gopher"),
                     _h("X-Forwarded-Prefix", "/<script>"), _h("Forwarded", "host=evil"))),
    Hostile("accept-garbage", b"/", expect=OK,
            headers=(_h("Accept", "*/*;q=abc, <>"), _h("Accept-Language", "\xff"))),
    Hostile("unknown-version", b"/rss.xml", expect=frozenset({200, 400}),
            version=b"HTTP/9.9"),
]  # fmt: skip
