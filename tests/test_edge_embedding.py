"""Embedding in other sites: CORS, the HTML directory, escaping, page security headers.

Run through Flask's test client and a real waitress server. The hostile
content (markup in titles, tags, site title and description) is written as
real YAML files and must come out as text on every page.
"""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from xml.dom import minidom

import pytest
from edgekit import copy_bundled_content, feedsvc_app
from feedcheck import parse_feed
from servers import WaitressThread, fetcher_for, raw_request
from support import SITE, article, feed_paths, write_yaml

from feedsvc.web.policy import STYLESHEET

TAG_PAGES = ["/tags/northkorea/", "/tags/%EB%B6%81%ED%95%9C/", "/tags/china/"]
ALL_PAGES = ["/", "/tags/", *TAG_PAGES]
PREFLIGHT = {
    "Origin": "https://blog.example",
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "if-none-match",
}
# Hostile text the loader keeps as text (markup in these fields is turned into
# plain text at load; see test_text.py): pages must escape it.
EVIL_TITLE = "x<y and y>z & \"quoted\" 'apos' </title"
EVIL_TAG = 'x<y & "z" 2>1'
EVIL_SITE = "<i>Evil</i> & Co <script>alert('site')</script>"
EVIL_DESCRIPTION = "</style><script>alert('css')</script><style>"
# Every element our templates write; anything else on a page came from content.
OUR_ELEMENTS = {
    "html", "head", "meta", "title", "style", "link", "body", "header", "nav", "main",
    "footer", "section", "article", "h1", "h2", "h3", "p", "a", "span", "ul", "ol", "li",
    "code", "time", "wbr", "pre", "form", "label", "input", "button", "strong",
}  # fmt: skip


class Page(HTMLParser):
    """Elements, attributes, text and the inline stylesheet of an HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.style: list[str] = []
        self._in_style = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.style if self._in_style else self.text).append(data)

    def urls(self) -> list[str]:
        return [a[k] for _, a in self.elements for k in ("href", "src") if a.get(k)]

    def alternates(self) -> list[dict[str, str | None]]:
        return [a for tag, a in self.elements if tag == "link" and a.get("rel") == "alternate"]


@pytest.fixture(scope="module", params=["flask", "waitress"])
def fetch(request, tmp_path_factory):
    content = copy_bundled_content(tmp_path_factory.mktemp("embed") / "content")
    with feedsvc_app(content) as app, fetcher_for(app, request.param) as fetcher:
        fetcher.app = app
        yield fetcher


@pytest.fixture(scope="module")
def evil_fetch(tmp_path_factory):
    root = tmp_path_factory.mktemp("evil") / "content"
    write_yaml(root / "site.yaml", {**SITE, "title": EVIL_SITE, "description": EVIL_DESCRIPTION})
    write_yaml(
        root / "articles" / "evil.yaml",
        article(EVIL_TITLE, "2025-12-01T10:00:00Z", tags=[EVIL_TAG, '"q" & <u>', "북한"]),
    )
    write_yaml(root / "articles" / "plain.yaml", article("Plain", "2025-12-02T10:00:00Z"))
    with feedsvc_app(root) as app, fetcher_for(app, "flask") as fetcher:
        fetcher.app = app
        yield fetcher


def test_cors_allows_embedding_everything(fetch):
    paths = [*feed_paths(fetch.app), "/feeds.opml", "/healthz", *ALL_PAGES]
    for path in [*paths, "/nope", "/tags/NorthKorea/rss.xml"]:
        reply = fetch(path, headers={"Origin": "https://blog.example"})
        assert reply.headers["Access-Control-Allow-Origin"] == "*", path
    feed = fetch("/rss.xml")
    assert {"ETag", "Last-Modified"} <= {
        h.strip() for h in feed.headers["Access-Control-Expose-Headers"].split(",")
    }
    not_modified = fetch("/rss.xml", headers={"If-None-Match": feed.headers["ETag"]})
    assert not_modified.status == 304
    assert not_modified.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_preflight_is_answered_on_every_url(fetch):
    paths = [*feed_paths(fetch.app)[::4], "/feeds.opml", "/healthz", *ALL_PAGES]
    for path in [*paths, "/tags/NorthKorea/rss.xml", "/tags"]:
        reply = fetch(path, method="OPTIONS", headers=PREFLIGHT)
        assert reply.status == 204, path
        assert reply.body == b""
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
        assert "GET" in reply.headers["Access-Control-Allow-Methods"]
        assert reply.headers["Access-Control-Allow-Headers"] == "if-none-match"
        assert int(reply.headers["Access-Control-Max-Age"]) > 0
        assert reply.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert fetch("/nope", method="OPTIONS", headers=PREFLIGHT).status == 404
    odd = {**PREFLIGHT, "Access-Control-Request-Headers": "x-a, <script>"}
    allowed = fetch("/rss.xml", method="OPTIONS", headers=odd).headers
    assert "<" not in allowed["Access-Control-Allow-Headers"]


def test_options_star_asks_about_the_server(tmp_path):
    """``OPTIONS *`` (only expressible on the wire) is about the server as a whole."""
    with (
        feedsvc_app(copy_bundled_content(tmp_path / "content")) as app,
        WaitressThread(app) as server,
    ):
        status, head, _ = raw_request(
            server.port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    assert status == 204
    assert b"Allow: GET, HEAD, OPTIONS" in head
    assert b"Access-Control-Allow-Origin: *" in head


def test_directory_lists_every_feed_with_counts_copyable_urls_and_autodiscovery(fetch):
    base = fetch.base_url
    view = fetch.app.extensions["feedsvc"].catalog
    reply = fetch("/")
    page = Page(reply.text)
    links = set(page.urls())
    for path in feed_paths(fetch.app):
        assert base + path in links, path  # a small site: every tag is among the biggest
        # The URL itself, to copy (<wbr> only offers line breaks; it copies as nothing),
        # on the directory for the main and popular feeds, on its page for a tag's.
        tag_page = path.rsplit("/", 1)[0] + "/" if path.startswith("/tags/") else "/"
        copyable = fetch(tag_page).text.replace("<wbr>", "")
        assert f"<code>{base + path}</code>" in copyable, path
    alternates = page.alternates()
    assert [(a["type"], a["href"]) for a in alternates] == [
        (t, base + p + f)
        for p in ("", "/popular")
        for t, f in (
            ("application/rss+xml", "/rss.xml"),
            ("application/atom+xml", "/atom.xml"),
            ("application/feed+json", "/feed.json"),
        )
    ]
    assert all(a["title"] for a in alternates)
    text = " ".join(" ".join(page.text).split())
    for spec in view.feeds.values():
        if spec.tag is not None:
            n = len(spec.tag.articles)
            assert f"{spec.tag.name} {n} article{'s' if n != 1 else ''}" in text


def test_tags_page_lists_every_tag_and_tag_pages_offer_their_feeds(fetch):
    base = fetch.base_url
    view = fetch.app.extensions["feedsvc"].catalog
    tags = Page(fetch("/tags/").text)
    tag_specs = [s for s in view.feeds.values() if s.tag is not None]
    for spec in tag_specs:
        assert base + spec.path + "/" in tags.urls()
        assert base + spec.url_path("atom") in tags.urls()
    korean = Page(fetch("/tags/%EB%B6%81%ED%95%9C/").text)
    assert [a["href"] for a in korean.alternates()] == [
        base + "/tags/%EB%B6%81%ED%95%9C/" + f for f in ("rss.xml", "atom.xml", "feed.json")
    ]
    assert "북한" in " ".join(korean.text)
    assert "https://news.example.com/articles/sample-north-korea-korean" in korean.urls()


def test_every_page_and_feed_is_reachable_by_links_from_the_root(fetch):
    base = fetch.base_url
    view = fetch.app.extensions["feedsvc"].catalog
    statuses: dict[str, int] = {}
    queue = [base + "/"]
    while queue and len(statuses) < 500:
        url = queue.pop()
        if url in statuses:
            continue
        reply = fetch(url[len(base) :])
        statuses[url] = reply.status
        if reply.headers.get("Content-Type", "").startswith("text/html"):
            for link in Page(reply.text).urls():
                link = link.split("#")[0]
                if link.startswith(base + "/") and link not in statuses:
                    queue.append(link)
    expected = {base + p for p in feed_paths(fetch.app)}
    expected |= {base + p for p in ("/", "/tags/", "/feeds.opml", "/healthz")}
    expected |= {base + s.path + "/" for s in view.feeds.values() if s.tag is not None}
    assert expected <= set(statuses), expected - set(statuses)
    # Links point at canonical URLs: nothing is a redirect or an error.
    assert {url: s for url, s in statuses.items() if s != 200} == {}


def _style_hash(style: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()


def test_html_pages_send_a_restrictive_csp_and_nosniff(fetch):
    for path in ALL_PAGES:
        reply = fetch(path)
        assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        directives = reply.headers["Content-Security-Policy"].split("; ")
        policy = dict(d.split(" ", 1) for d in directives)
        assert policy["default-src"] == "'none'"  # no scripts, fonts, frames, connections
        assert "script-src" not in policy
        assert policy["frame-ancestors"] == "'none'"
        assert policy["base-uri"] == "'none'"
        assert policy["form-action"] == "'self'"  # the tag search submits to us only
        style = "".join(Page(reply.text).style)
        assert style == STYLESHEET
        assert policy["style-src"] == f"'{_style_hash(style)}'"  # only our own stylesheet
        assert "unsafe" not in reply.headers["Content-Security-Policy"]
    for path in ("/rss.xml", "/feeds.opml", "/healthz", "/nope", "/tags/NorthKorea/"):
        assert fetch(path).headers["X-Content-Type-Options"] == "nosniff", path


def test_pages_are_built_for_small_screens(fetch):
    reply = fetch("/")
    page = Page(reply.text)
    metas = {a.get("name"): a.get("content") for tag, a in page.elements if tag == "meta"}
    assert metas["viewport"] == "width=device-width, initial-scale=1"
    assert ("html", {"lang": "en"}) in page.elements
    assert re.search(r"body \{[^}]*max-width: \d+rem", STYLESHEET)
    assert "overflow-wrap: anywhere" in STYLESHEET  # long feed URLs wrap instead of overflowing
    assert len(STYLESHEET) < 4096


def test_content_is_escaped_on_every_page(evil_fetch):
    view = evil_fetch.app.extensions["feedsvc"].catalog
    tag_pages = [s.path + "/" for s in view.feeds.values() if s.tag is not None]
    assert len(tag_pages) == 3  # the evil article's tags; the plain one has none
    for path in ["/", "/tags/", *tag_pages]:
        reply = evil_fetch(path)
        assert reply.status == 200, path
        page = Page(reply.text)
        assert {tag for tag, _ in page.elements} <= OUR_ELEMENTS, path
        for tag, attrs in page.elements:
            assert not any(name.startswith("on") for name in attrs), (path, tag, attrs)
            assert not any((v or "").lower().startswith("javascript:") for v in attrs.values())
        assert "".join(page.style) == STYLESHEET  # the description did not close <style>
        text = " ".join(page.text)
        assert EVIL_SITE in text
        assert (EVIL_DESCRIPTION in text) == (path == "/")  # shown on the directory only
        if path in tag_pages:
            assert EVIL_TITLE in text  # each tag page lists the article by title
    assert EVIL_TAG in " ".join(Page(evil_fetch("/").text).text)
    opml = minidom.parseString(evil_fetch("/feeds.opml").body)
    titles = {o.getAttribute("title") for o in opml.getElementsByTagName("outline")}
    assert f"{EVIL_SITE}: {EVIL_TAG}" in titles
    for fmt, name in (("rss", "rss.xml"), ("atom", "atom.xml"), ("json", "feed.json")):
        feed = parse_feed(evil_fetch("/" + name).body, fmt)
        assert EVIL_TITLE in [e.title for e in feed.entries]
