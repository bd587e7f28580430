"""web/endpoint.py: the WSGI fast path that answers canonical feed URLs in front of Flask.

What the fast path decides on its own: which requests it takes (GET/HEAD of
a canonical feed path) and which it leaves to Flask (everything else, other
spellings included); which copy (identity or gzip) and which answer (200,
304, the HTML page for a browser, 405, a preflight) each request gets; the
base URL the bytes are filled in with. These tests watch those decisions
through the real app and Flask's test client, telling the fast path's
answers from Flask's by the two request counters the app keeps (the
endpoint's, and the pages'), and read feed bytes with feedparser.
``tests/test_http.py`` and ``tests/test_edge_compression.py`` hold the
HTTP contract as a whole; this file is about who answers, and how.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from feedcheck import parse_feed
from support import SITE, article, write_yaml

from feedsvc.feeds.render import render_feed
from feedsvc.feeds.urls import FORMAT_BY_FILENAME, FORMATS
from feedsvc.web.metrics import RequestCounter
from feedsvc.web.respond import ENDPOINT, PAGES_COUNTER

KOREAN = "/tags/%EB%B6%81%ED%95%9C"
NAVIGATION = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
VARY = "Accept-Encoding, Sec-Fetch-Dest"
FORMAT_OF = {filename: fmt.name for filename, fmt in FORMAT_BY_FILENAME.items()}
# Every header of a fast-path feed answer, and nothing else (Flask adds its own).
FEED_200 = {
    "Content-Type", "Content-Length", "ETag", "X-Content-Type-Options", "Last-Modified",
    "Cache-Control", "Vary", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
}  # fmt: skip
FEED_304 = FEED_200 - {"Content-Type", "Content-Length", "X-Content-Type-Options"}


def counts(counter: RequestCounter) -> dict[tuple[str, ...], int]:
    return dict(counter.items())


def titles(client: Any, path: str) -> list[str]:
    """The entry titles of the feed at ``path``, read as a feed reader reads them."""
    return [
        e.title
        for e in parse_feed(client.get(path).data, FORMAT_OF[path.rsplit("/", 1)[1]]).entries
    ]


class Watch:
    """The endpoint's and Flask's request counters, to tell who answered."""

    def __init__(self, app: Any) -> None:
        self.endpoint = app.extensions[ENDPOINT]
        self.pages = app.extensions[PAGES_COUNTER]
        self.mark()

    def mark(self) -> None:
        self._endpoint, self._pages = counts(self.endpoint.counter), counts(self.pages)

    @staticmethod
    def new(
        counter: RequestCounter, before: dict[tuple[str, ...], int]
    ) -> dict[tuple[str, ...], int]:
        now = counts(counter)
        return {k: n - before.get(k, 0) for k, n in now.items() if n != before.get(k, 0)}

    def by_endpoint(self) -> dict[tuple[str, ...], int]:
        return self.new(self.endpoint.counter, self._endpoint)

    def by_flask(self) -> dict[tuple[str, ...], int]:
        return self.new(self.pages, self._pages)


@pytest.fixture
def paged_app(make_app: Callable[..., Any], small_content: Path) -> Any:
    """The three small articles at one per page: main has 3 pages, North Korea 2."""
    write_yaml(small_content / "site.yaml", {**SITE, "items_per_feed": 1})
    return make_app(small_content)


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/rss.xml", ("main", "rss")),
        ("/popular/atom.xml", ("popular", "atom")),
        ("/tags/china/feed.json", ("tag", "json")),
        (f"{KOREAN}/rss.xml", ("tag", "rss")),
        ("/tags/북한/rss.xml", ("tag", "rss")),  # the same PATH_INFO, sent unencoded
        ("/tags/china+diplomacy/atom.xml", ("tags", "atom")),  # resolved on demand
    ],
)
def test_canonical_feed_urls_are_answered_by_the_fast_path_alone(
    demo_app: Any, path: str, label: tuple[str, str]
):
    """Flask never sees a canonical feed URL: only the endpoint counts it, and the
    answer carries exactly the endpoint's prebuilt headers."""
    client, watch = demo_app.test_client(), Watch(demo_app)
    for headers in ({}, {"Accept-Encoding": "gzip"}):
        response = client.get(path, headers=headers)
        assert response.status_code == 200
        assert set(response.headers.keys()) == FEED_200 | (
            {"Content-Encoding"} if headers else set()
        )
    assert watch.by_endpoint() == {(*label, "200"): 2}
    assert watch.by_flask() == {}


def test_paged_feeds_are_answered_by_the_fast_path_too(paged_app: Any):
    """Older pages are not in the prebuilt table; the fast path still answers them
    (resolved once, then memoised) rather than handing readers paging back to Flask."""
    client, watch = paged_app.test_client(), Watch(paged_app)
    pages = ("/rss.xml", "/page/2/rss.xml", "/page/3/rss.xml")
    assert [titles(client, path) for path in pages] == [["Gamma"], ["Beta"], ["Alpha"]]
    assert titles(client, "/tags/north-korea/page/2/atom.xml") == ["Alpha"]
    assert watch.by_endpoint() == {("main", "rss", "200"): 3, ("tag", "atom", "200"): 1}
    assert watch.by_flask() == {}
    # A page past the end is Flask's to refuse.
    assert client.get("/page/4/rss.xml").status_code == 404
    assert watch.by_flask() == {("/<path:path>", "404"): 1}


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("/RSS.XML", "/rss.xml"),
        ("/rss.xml/", "/rss.xml"),
        ("/Popular/Atom.xml", "/popular/atom.xml"),
        ("/tags/China/feed.json", "/tags/china/feed.json"),
        ("/tags/diplomacy+china/rss.xml", "/tags/china+diplomacy/rss.xml"),
        ("/tags/북한+China/rss.xml", f"/tags/china+{KOREAN[6:]}/rss.xml"),
        ("/page/1/atom.xml", "/atom.xml"),
    ],
)
def test_other_spellings_fall_through_to_flasks_permanent_redirect(
    demo_app: Any, path: str, canonical: str
):
    """The fast path only takes the canonical spelling, so that readers (and caches)
    learn one URL per feed; following the redirect lands back on the fast path with
    the same bytes as asking for it directly."""
    client, watch = demo_app.test_client(), Watch(demo_app)
    moved = client.get(path)
    assert moved.status_code == 308
    assert moved.headers["Location"] == canonical
    assert watch.by_endpoint() == {}
    assert watch.by_flask() == {("/<path:path>", "308"): 1}
    watch.mark()
    followed = client.get(moved.headers["Location"])
    assert followed.status_code == 200 and followed.data == client.get(canonical).data
    assert watch.by_flask() == {} and sum(watch.by_endpoint().values()) == 2


@pytest.mark.parametrize("gz", [False, True])
def test_a_304_carries_the_validators_of_its_encoding_and_no_body_headers(client: Any, gz: bool):
    """A cache revalidating the gzip copy must be told it is still the gzip copy
    (ETag and Content-Encoding), with the same caching headers as the 200; a 304
    has no body, so it describes none."""
    accept = {"Accept-Encoding": "gzip"} if gz else {}
    first = client.get("/tags/china/rss.xml", headers=accept)
    again = client.get(
        "/tags/china/rss.xml", headers={**accept, "If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""
    expected = FEED_304 | ({"Content-Encoding"} if gz else set())
    assert set(again.headers.keys()) == expected
    for name in expected:
        assert again.headers[name] == first.headers[name], name


def test_a_matching_if_none_match_wins_over_any_if_modified_since(client: Any):
    """RFC 9110 §13.2.2: with If-None-Match present, If-Modified-Since is ignored,
    whether it is older than the feed, unreadable or absent."""
    etag = client.get("/atom.xml").headers["ETag"]
    for since in ("Thu, 01 Jan 1970 00:00:00 GMT", "not a date", None):
        headers = {"If-None-Match": etag} | ({"If-Modified-Since": since} if since else {})
        assert client.get("/atom.xml", headers=headers).status_code == 304, since
    # Without a tag, an unreadable date is no validator at all: the full feed.
    response = client.get("/atom.xml", headers={"If-Modified-Since": "not a date"})
    assert response.status_code == 200 and response.data
    # A date the client has seen gives a 304 with the same Last-Modified.
    last_modified = response.headers["Last-Modified"]
    again = client.get("/atom.xml", headers={"If-Modified-Since": last_modified})
    assert again.status_code == 304 and again.headers["Last-Modified"] == last_modified


@pytest.mark.parametrize(
    "headers",
    [{}, {"Accept-Encoding": "gzip"}, NAVIGATION],
    ids=["identity", "gzip", "browser page"],
)
def test_head_has_every_header_of_get_and_no_body(paged_app: Any, headers: dict[str, str]):
    """HEAD is GET without the body on every branch, including Content-Length
    (the length the body would have) and the page a browser would get."""
    client = paged_app.test_client()
    for path in ("/rss.xml", "/page/2/atom.xml", "/tags/china+health/feed.json"):
        get, head = client.get(path, headers=headers), client.head(path, headers=headers)
        assert head.status_code == get.status_code == 200
        assert head.data == b"" and len(get.data) == int(get.headers["Content-Length"]) > 0
        assert sorted(head.headers.items()) == sorted(get.headers.items()), path
        if "ETag" in get.headers:
            revalidate = {**headers, "If-None-Match": get.headers["ETag"]}
            assert client.head(path, headers=revalidate).status_code == 304


@pytest.mark.parametrize(
    ("accept", "gz"),
    [
        (None, False),
        ("gzip", True),
        ("x-gzip", True),
        ("gzip, deflate, br", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("identity", False),
        ("identity, *;q=0", False),
    ],
)
def test_the_copy_chosen_by_accept_encoding_revalidates_as_that_copy(
    client: Any, accept: str | None, gz: bool
):
    """Each Accept-Encoding gets one of two byte-exact copies, always varying on
    Accept-Encoding, and the tag it got back gives a 304 for the same copy."""
    plain = client.get("/feed.json")
    zipped = client.get("/feed.json", headers={"Accept-Encoding": "gzip"})
    headers = {"Accept-Encoding": accept} if accept is not None else {}
    response = client.get("/feed.json", headers=headers)
    expected = zipped if gz else plain
    assert response.data == expected.data and response.headers["ETag"] == expected.headers["ETag"]
    assert response.headers.get("Content-Encoding") == ("gzip" if gz else None)
    assert response.headers["Vary"] == VARY
    if gz:
        assert gzip.decompress(response.data) == plain.data
    again = client.get("/feed.json", headers={**headers, "If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers.get("Content-Encoding") == ("gzip" if gz else None)
    assert again.headers["Vary"] == VARY


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "BREW", "get"])
def test_other_methods_on_a_feed_are_405_from_the_fast_path(paged_app: Any, method: str):
    """Feeds are read-only. The fast path refuses without Flask, says what is
    allowed, and stays readable cross-origin. (Methods are case-sensitive:
    ``get`` is not GET.)"""
    client, watch = paged_app.test_client(), Watch(paged_app)
    for path in ("/rss.xml", "/page/2/rss.xml"):
        response = client.open(path, method=method)
        assert response.status_code == 405, path
        assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.mimetype == "text/plain"
        assert response.data == b"405 method not allowed\n"
    assert watch.by_endpoint() == {("main", "rss", "405"): 2}
    assert watch.by_flask() == {}
    assert watch.endpoint.stats() == {"feed_responses": 0, "not_modified": 0}


def test_options_on_a_feed_is_a_preflight_from_the_fast_path(demo_app: Any):
    """Other sites fetch feeds from scripts: a preflight is answered at once, echoing
    a plain list of requested headers and never an unsafe one."""
    client, watch = demo_app.test_client(), Watch(demo_app)
    asked = client.options("/rss.xml", headers={"Access-Control-Request-Headers": "If-None-Match"})
    assert asked.status_code == 204 and asked.data == b""
    assert asked.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert asked.headers["Access-Control-Allow-Headers"] == "If-None-Match"
    odd = client.options("/rss.xml", headers={"Access-Control-Request-Headers": "X-Foo, <script>"})
    assert odd.headers["Access-Control-Allow-Headers"] == (
        "If-None-Match, If-Modified-Since, Cache-Control"
    )
    assert watch.by_endpoint() == {("main", "rss", "204"): 2}
    assert watch.by_flask() == {}


def test_a_post_to_another_spelling_is_flasks_to_refuse(demo_app: Any):
    """The fast path's method rules are for the URLs it owns; anything else is Flask's."""
    client, watch = demo_app.test_client(), Watch(demo_app)
    assert client.post("/RSS.XML").status_code == 405
    assert watch.by_endpoint() == {}
    assert sum(watch.by_flask().values()) == 1


def test_a_browser_navigation_gets_the_page_never_a_304_of_the_feed(client: Any, demo_app: Any):
    """A person opening a feed URL gets an HTML page about it. It is private and
    never answered 304 against the feed's tag, which would show a browser the
    feed (or nothing) in its place; it is not counted as a feed answer. The page
    has validators of its own (it is cached like every page): sent back, they
    get a 304 of the page."""
    watch = Watch(demo_app)
    feed = client.get("/tags/china/atom.xml")
    pages = []
    for headers in (NAVIGATION, {**NAVIGATION, "If-None-Match": feed.headers["ETag"]}):
        page = client.get("/tags/china/atom.xml", headers=headers)
        assert page.status_code == 200 and page.mimetype == "text/html"
        assert page.headers["Cache-Control"] == "private, no-cache"
        assert page.headers["Vary"] == VARY
        assert page.headers["ETag"] != feed.headers["ETag"]
        assert "http://localhost/tags/china/atom.xml" in page.get_data(as_text=True)
        pages.append(page)
    assert pages[0].headers["ETag"] == pages[1].headers["ETag"]
    assert pages[0].headers["Last-Modified"] == feed.headers["Last-Modified"]
    again = client.get(
        "/tags/china/atom.xml", headers={**NAVIGATION, "If-None-Match": pages[0].headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == pages[0].headers["ETag"]
    assert watch.by_endpoint() == {
        ("tag", "atom", "200"): 1, ("tag", "html", "200"): 2, ("tag", "html", "304"): 1,
    }  # fmt: skip
    assert watch.by_flask() == {}
    assert watch.endpoint.stats() == {"feed_responses": 1, "not_modified": 0}


def test_only_a_query_parameter_named_raw_asks_a_browser_for_the_feed(client: Any):
    """``?raw`` is how a person asks to see the feed itself; a parameter that merely
    contains the word (a tracking tag, say) must not take the page away."""
    feed = client.get("/rss.xml").data
    for query in ("raw", "raw=1", "utm_source=x&raw"):
        assert client.get(f"/rss.xml?{query}", headers=NAVIGATION).data == feed, query
    for query in ("rawness", "draw=1", "x=raw"):
        page = client.get(f"/rss.xml?{query}", headers=NAVIGATION)
        assert page.mimetype == "text/html", query


def test_repeated_requests_get_identical_bytes_and_headers_without_new_work(demo_app: Any):
    """Readers poll: each poll must get the very bytes, tag and headers of the last
    (or caches and readers see a change that is not one), built once per content
    version, not per request."""
    service = demo_app.extensions["feedsvc"]
    client = demo_app.test_client()
    paths = [
        spec.url_path(fmt) for spec in service.catalog.feeds.values() for fmt in FORMATS.values()
    ]
    paths.append("/tags/china+diplomacy/rss.xml")
    variations = [{}, {"Accept-Encoding": "gzip"}, NAVIGATION]
    first = {
        (path, n): client.get(path, headers=headers)
        for path in paths
        for n, headers in enumerate(variations)
    }
    renders, builds = service.cache.renders, service.cache.variant_builds
    for _ in range(3):
        for (path, n), seen in first.items():
            again = client.get(path, headers=variations[n])
            assert again.data == seen.data, (path, n)
            assert list(again.headers.items()) == list(seen.headers.items()), (path, n)
    assert (service.cache.renders, service.cache.variant_builds) == (renders, builds)


def test_each_host_gets_its_own_links_and_is_remembered(client: Any, demo_app: Any):
    """Without a public URL, the bytes are filled in with the request's own base URL
    (so a feed's self link is the URL the reader used), and that base is noted so
    that reloads prewarm the feeds under it."""
    here = client.get("/rss.xml")
    there = client.get("/rss.xml", headers={"Host": "feeds.example.org:8080"})
    assert parse_feed(here.data, "rss").self_link == "http://localhost/rss.xml"
    assert parse_feed(there.data, "rss").self_link == "http://feeds.example.org:8080/rss.xml"
    assert here.headers["ETag"] != there.headers["ETag"]
    assert here.headers["Last-Modified"] == there.headers["Last-Modified"]
    assert "http://feeds.example.org:8080" in demo_app.extensions["feedsvc"].known_bases


def test_a_missing_or_bogus_host_is_a_400_from_the_fast_path(client: Any, demo_app: Any):
    """Without a public URL the Host names the feed's links; none, or one that is not
    a host name, must not end up in cached bytes. HTTP/1.0 may omit Host: the
    server's own name is used."""
    watch = Watch(demo_app)
    for overrides in ({"HTTP_HOST": ""}, {"HTTP_HOST": "evil.test/<x>"}):
        response = client.get("/rss.xml", environ_overrides=overrides)
        assert response.status_code == 400 and response.mimetype == "text/plain"
        assert response.data == b"400 missing or invalid Host header\n"
    old = client.get("/rss.xml", environ_overrides={"HTTP_HOST": "", "SERVER_PROTOCOL": "HTTP/1.0"})
    assert old.status_code == 200
    assert parse_feed(old.data, "rss").self_link == "http://localhost/rss.xml"
    assert watch.by_flask() == {} and watch.by_endpoint() == {("main", "rss", "200"): 1}


def test_a_public_url_is_used_whatever_the_host(
    make_app: Callable[..., Any], bundled_content: Path
):
    """Behind a proxy with FEEDSVC_PUBLIC_URL the Host header is not trusted or needed:
    every request gets the same bytes, linked to the public URL."""
    client = make_app(bundled_content, public_url="https://feeds.example.com").test_client()
    answers = [
        client.get("/atom.xml"),
        client.get("/atom.xml", headers={"Host": "internal:8000"}),
        client.get("/atom.xml", environ_overrides={"HTTP_HOST": ""}),
    ]
    assert all(a.status_code == 200 for a in answers)
    assert len({a.data for a in answers}) == 1
    assert parse_feed(answers[0].data, "atom").self_link == "https://feeds.example.com/atom.xml"


def test_healthz_reports_what_the_fast_path_answered(client: Any):
    """/healthz shows readers' revalidation (304s among feed answers); 405s, preflights
    and browser pages are not feed answers."""
    etag = client.get("/rss.xml").headers["ETag"]
    client.get("/rss.xml", headers={"If-None-Match": etag})
    client.head("/tags/china/rss.xml")
    client.get("/rss.xml", headers=NAVIGATION)
    client.post("/rss.xml")
    client.options("/rss.xml")
    assert client.get("/healthz").get_json()["http"] == {"feed_responses": 3, "not_modified": 1}


def test_a_page_number_that_is_not_a_number_is_a_404_not_a_crash(client: Any):
    """A client-controlled path must never raise out of the fast path (a 500, or a
    dropped connection, in front of Flask's error handling)."""
    assert client.get("/page/%C2%B2/rss.xml").status_code == 404


def test_the_fast_path_serves_the_content_of_the_current_catalog(
    make_app: Callable[..., Any], small_content: Path
):
    """The endpoint reads the service's catalog per request: after a reload the very
    next request gets the new feed, and pages memoised for the old one are gone."""
    write_yaml(small_content / "site.yaml", {**SITE, "items_per_feed": 1})
    app = make_app(small_content)
    client = app.test_client()
    assert client.get("/page/3/rss.xml").status_code == 200
    (small_content / "articles" / "alpha.yaml").unlink()
    write_yaml(small_content / "articles" / "delta.yaml", article("Delta", "2025-12-04T00:00:00Z"))
    assert app.extensions["feedsvc"].reload() is True
    pages = ("/rss.xml", "/page/2/rss.xml", "/page/3/rss.xml")
    assert [titles(client, path) for path in pages] == [["Delta"], ["Gamma"], ["Beta"]]


def test_a_cold_feed_past_the_render_slots_is_a_503_and_warm_feeds_still_answer(
    make_app: Callable[..., Any], bundled_content: Path
):
    """With the one render slot held by a slow build, another cold feed is refused at
    once (503, Retry-After, never cached) while a cached feed is served as usual."""
    app = make_app(bundled_content, render_slots=1)
    client, service = app.test_client(), app.extensions["feedsvc"]
    assert client.get("/rss.xml").status_code == 200
    building, release = threading.Event(), threading.Event()

    def slow(formats: Any) -> Any:
        building.set()
        release.wait(timeout=10)
        return render_feed(service.catalog.snapshot, service.catalog.feeds["main"], formats)

    holder = threading.Thread(
        target=lambda: service.cache.variant(("b", 0, "x", "rss"), "x", "t", slow, gated=True)
    )
    holder.start()
    try:
        assert building.wait(timeout=10)
        busy = client.get("/tags/china+diplomacy/atom.xml")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert busy.headers["Cache-Control"] == "no-store"
        assert client.get("/rss.xml").status_code == 200
    finally:
        release.set()
        holder.join(timeout=30)
    assert client.get("/tags/china+diplomacy/atom.xml").status_code == 200
    assert service.cache.busy == 1


def _environ(path: str, **extra: str) -> dict[str, Any]:
    """What the server knows of a request before any WSGI call (web/server.py)."""
    return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "HTTP_HOST": "localhost",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", **extra}  # fmt: skip


def test_only_what_is_already_in_memory_is_offered_to_the_event_loop(client: Any, demo_app: Any):
    """The server answers on its event loop only what needs no render; a wrong
    "no" costs a thread hand-over, a wrong "yes" a render on the loop."""
    answers = demo_app.extensions[ENDPOINT].answers_from_memory
    assert not answers(_environ("/tags/china/atom.xml"))  # never requested: not rendered yet
    assert client.get("/tags/china/atom.xml", headers={"Host": "localhost"}).status_code == 200
    assert answers(_environ("/tags/china/atom.xml"))
    assert answers(_environ("/tags/china/atom.xml", REQUEST_METHOD="HEAD"))
    assert not answers(_environ("/tags/china/atom.xml", HTTP_HOST="other.example"))
    assert not answers(_environ("/tags/china/atom.xml", REQUEST_METHOD="POST"))
    assert not answers(_environ("/tags/china/atom.xml", HTTP_SEC_FETCH_DEST="document"))
    assert not answers(_environ("/"))  # pages are Flask's
    assert answers(_environ("/rss.xml", HTTP_HOST="a..b"))  # a bare 400: no render either


def test_behind_trusted_proxies_without_a_public_url_nothing_is_guessed(
    make_app: Callable[..., Any], bundled_content: Path
):
    """The base URL then comes from X-Forwarded-* inside the WSGI call (ProxyFix)."""
    app = make_app(bundled_content, proxy_hops=1)
    app.test_client().get("/rss.xml", headers={"Host": "localhost"})
    assert not app.extensions[ENDPOINT].answers_from_memory(_environ("/rss.xml"))
    pinned = make_app(bundled_content, proxy_hops=1, public_url="https://news.example")
    pinned.test_client().get("/rss.xml")
    assert pinned.extensions[ENDPOINT].answers_from_memory(_environ("/rss.xml"))
