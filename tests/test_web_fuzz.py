"""No 5xx for anything a client can send: every route of a real ``feedsvc serve``
driven with odd numbers, encodings, headers and methods, byte for byte.

Unicode digits (``²`` crashed ``int()``; ``٢`` and ``２`` were read as 2),
huge numbers, percent-encodings of invalid UTF-8, long and malformed
``Host``, ``Accept-Encoding``, ``If-None-Match``, ``If-Modified-Since``,
``Sec-Fetch-Dest`` and ``X-Forwarded-*`` values (one proxy hop is trusted, so
those are read), and every method. A few thousand requests, each on its own
connection; the answer must be a status below 500, and the server log must
hold no traceback.
"""

from __future__ import annotations

import random
import re
import socket
import time
from collections.abc import Iterator

import pytest

from bench.servers import HOST, ServerProcess, feedsvc_server, fetch
from feedsvc.feeds import urls

pytestmark = pytest.mark.slow

NUMBERS = ["²", "٢", "２", "0", "00", "-1", "+1", "1e3", "0x10", "9" * 5000, "0" * 300 + "2",
           "1.5", " 1", "%C2%B2", "%D9%A2", "%EF%BC%92", "%31", "NaN", "∞"]  # fmt: skip
SEGMENTS = ["%FF", "%C0%AF", "%00", "%2F", "%25", "..", "%2e%2e", "a" * 3000, "😀", "%E2%80%AE",
            "%G1", "%", "+", "++", "a+", "+a", "%2B", ";x", "\\", "%5C", "~", "A" * 40 + "+" * 40,
            "%F0%9F%98%80", "%ED%A0%80", "tags", "page", "embed"]  # fmt: skip
QUERIES = ["limit=²", "limit=" + "9" * 5000, "limit=%FF", "theme=%FF", "raw", "%FF=%FF",
           "a=" + "b" * 5000, "limit=1&limit=2", "limit=-0", "theme=dark&limit=%D9%A2", "&&&",
           "=", "raw=%00"]  # fmt: skip
HEADERS = [
    ("Host", "a" * 3000), ("Host", "é.example"), ("Host", "[::1]:99999999"), ("Host", ""),
    ("Host", "a..b"), ("Host", "x:²"), ("Host", "-x-"), ("Host", "localhost:0"),
    ("Accept-Encoding", "gzip;q=²"), ("Accept-Encoding", "gzip;q=1e999"),
    ("Accept-Encoding", "gzip;q=NaN"), ("Accept-Encoding", ";;;,,,"),
    ("Accept-Encoding", "gzip, " * 4000), ("Accept-Encoding", "*;q=-1"),
    ("If-None-Match", "*"), ("If-None-Match", ", ".join(f'"{n}"' for n in range(2000))),
    ("If-None-Match", 'W/""'), ("If-None-Match", '"\xff"'), ("If-None-Match", "W/"),
    ("If-Modified-Since", "garbage"), ("If-Modified-Since", "Fri, 31 Dec 99999 23:59:59 GMT"),
    ("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"), ("If-Modified-Since", "0"),
    ("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 +9999"), ("If-Modified-Since", "²" * 30),
    ("Sec-Fetch-Dest", "document"), ("Sec-Fetch-Dest", "\xff" * 100),
    ("X-Forwarded-Host", "evil..example"), ("X-Forwarded-Host", "a" * 3000),
    ("X-Forwarded-Proto", "gopher"), ("X-Forwarded-Port", "²"), ("X-Forwarded-Port", "-1"),
    ("X-Forwarded-Prefix", "/%FF/../x"), ("X-Forwarded-Prefix", "x" * 2000),
    ("X-Forwarded-For", "not-an-ip, ²"), ("Forwarded", "for=\xff;proto=https"),
    ("Accept", "*/*;q=²"), ("Range", "bytes=²-"), ("Cookie", "a" * 3000),
]  # fmt: skip
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "BREW"]


def routes(tag: str) -> list[str]:
    """Every kind of path feedsvc answers (feeds/urls.py and the Flask url_map), with
    ``{}`` where a fuzzed segment goes."""
    rss = urls.FORMATS["rss"]
    fixed = [urls.DIRECTORY, urls.TAG_INDEX, urls.OPML, urls.HEALTHZ, urls.METRICS,
             urls.embed_path(urls.MAIN), urls.embed_path(urls.POPULAR),
             urls.embed_path(urls.tag_path(tag))]  # fmt: skip
    feeds = [urls.feed_path(path, fmt) for path in (urls.MAIN, urls.POPULAR, urls.tag_path(tag))
             for fmt in urls.FORMATS.values()]  # fmt: skip
    templates = ["/page/{}/" + rss.filename, urls.tag_path(tag) + "/page/{}/" + rss.filename,
                 "/tags/{}/" + rss.filename, "/tags/{}", "/tags/" + tag + "+{}/atom.xml",
                 "/embed/tags/{}/", "/embed/page/{}/", "/{}", "/{}/rss.xml",
                 "/popular/{}"]  # fmt: skip
    return fixed + feeds + templates


def requests(tag: str, seed: int = 11) -> Iterator[bytes]:
    """The requests, as bytes on the wire (Connection: close)."""
    rng = random.Random(seed)
    all_routes = routes(tag)
    templates = [r for r in all_routes if "{}" in r]
    plain = [r for r in all_routes if "{}" not in r]

    def wire(method: str, target: str, headers: list[tuple[str, str]] = ()) -> bytes:  # type: ignore[assignment]
        names = {name.lower() for name, _ in headers}
        lines = [f"{method} {target} HTTP/1.1"]
        lines += [] if "host" in names else ["Host: localhost"]
        lines += [f"{name}: {value}" for name, value in headers] + ["Connection: close", "", ""]
        return "\r\n".join(lines).encode("utf-8", "surrogateescape")

    for template in templates:
        for value in NUMBERS + SEGMENTS:
            yield wire("GET", template.replace("{}", value))
    for route in plain + [t.replace("{}", "2") for t in templates]:
        for query in QUERIES:
            yield wire("GET", f"{route}?{query}")
        for method in METHODS:
            yield wire(method, route)
    for name, value in HEADERS:
        for route in rng.sample(plain, 6):
            yield wire("GET", route, [(name, value)])
    for _ in range(1000):  # random combinations of all of it
        route = rng.choice(all_routes).replace("{}", rng.choice(NUMBERS + SEGMENTS))
        query = f"?{rng.choice(QUERIES)}" if rng.random() < 0.4 else ""
        headers = rng.sample(HEADERS, rng.randint(0, 4))
        if sum(name == "Host" for name, _ in headers) > 1:
            headers = [h for h in headers if h[0] != "Host"]
        yield wire(rng.choice(METHODS[:3]), route + query, headers)


def status_of(port: int, request: bytes, timeout: float = 10.0) -> int:
    """The status the server answers ``request`` with (0: closed without one)."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in received and time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", received)
    return int(match.group(1)) if match else 0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from edgekit import copy_bundled_content

    content = copy_bundled_content(tmp_path_factory.mktemp("fuzz") / "content")
    with feedsvc_server(content, env={"FEEDSVC_PROXY_HOPS": "1"}) as running:
        yield running


def test_no_request_a_client_can_send_is_answered_5xx_or_logs_a_traceback(
    server: ServerProcess,
):
    opml = fetch(server.port, urls.OPML)[2].decode()
    tag = re.findall(r"/tags/([^/\"]+)/rss\.xml", opml)[0]
    failures, count = [], 0
    for request in requests(tag):
        count += 1
        status = status_of(server.port, request)
        if not 100 <= status < 500:
            failures.append((status, request[:160]))
    assert count > 1500
    assert failures == []
    log = server.log()
    assert "Traceback" not in log and "Exception" not in log, log[-3000:]


@pytest.mark.parametrize("digit", ["%C2%B2", "%D9%A2", "%EF%BC%92", "9" * 5000, "%2B2"])
def test_only_ascii_digits_count_over_http(server: ServerProcess, digit: str):
    """``٢`` and ``２`` were read as 2 and redirected to /page/2/, ``²`` was a 500:
    now each is a 404 as a page number and a 400 as an embed limit."""
    close = "\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    page = f"GET /page/{digit}/rss.xml HTTP/1.1{close}".encode()
    limit = f"GET /embed/?limit={digit} HTTP/1.1{close}".encode()
    assert (status_of(server.port, page), status_of(server.port, limit)) == (404, 400)
