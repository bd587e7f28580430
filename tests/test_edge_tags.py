"""Tag URLs: every spelling reaches the one tag feed by a 308 to its canonical URL.

Through Flask's test client and a real waitress server, at the root, under
a mount point (SCRIPT_NAME) and under FEEDSVC_PUBLIC_URL.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

import pytest
from edgekit import feedsvc_app
from feedcheck import parse_feed
from servers import FlaskFetcher, SocketFetcher, WaitressThread, fetcher_for
from support import SITE, article, feed_paths, write_yaml

KOREAN = "/tags/%EB%B6%81%ED%95%9C"  # 북한
NFD_KOREAN = "/tags/" + quote(unicodedata.normalize("NFD", "북한"))
FULLWIDTH_SOUTH = "/tags/" + quote("Ｓｏｕｔｈ Korea")

# Requested path -> canonical path it redirects to.
SPELLINGS = {
    "/tags/North%20Korea/rss.xml": "/tags/north-korea/rss.xml",
    "/tags/NORTH-KOREA/atom.xml": "/tags/north-korea/atom.xml",
    "/tags/north_korea/feed.json": "/tags/north-korea/feed.json",
    "/tags/North%20%20Korea/RSS.XML": "/tags/north-korea/rss.xml",
    "/Tags/North-Korea/Feed.JSON": "/tags/north-korea/feed.json",
    "/tags/north-korea/rss.xml/": "/tags/north-korea/rss.xml",
    "/tags/north-korea//rss.xml": "/tags/north-korea/rss.xml",
    "/tags//north-korea/atom.xml": "/tags/north-korea/atom.xml",
    "/tags/north-korea": "/tags/north-korea/",
    "/tags/North%20Korea/": "/tags/north-korea/",
    "/tags/north-korea//": "/tags/north-korea/",
    KOREAN + "/RSS.xml": KOREAN + "/rss.xml",
    KOREAN: KOREAN + "/",
    NFD_KOREAN + "/atom.xml": KOREAN + "/atom.xml",
    FULLWIDTH_SOUTH + "/rss.xml": "/tags/south-korea/rss.xml",
    "/tags": "/tags/",
    "/TAGS/": "/tags/",
    "/RSS.XML": "/rss.xml",
    "/rss.xml/": "/rss.xml",
    "/Popular/Atom.xml": "/popular/atom.xml",
    "/popular/feed.json/": "/popular/feed.json",
    "/popular": "/#popular",
    "/feeds.opml/": "/feeds.opml",
    "/healthz/": "/healthz",
}
UNKNOWN = [
    "/tags/no-such-tag/rss.xml",
    "/tags/no-such-tag/",
    "/tags/north-korea/rss.xml/extra",
    "/tags/north-korea/index.html",
    "/tags/%EB%B6%81/rss.xml",
    "/popular/popular/rss.xml",
    "/nope/rss.xml",
]


@pytest.fixture(scope="module")
def content(tmp_path_factory):
    root = tmp_path_factory.mktemp("tags") / "content"
    write_yaml(root / "site.yaml", SITE)
    articles = root / "articles"
    write_yaml(articles / "alpha.yaml", article("Alpha", "2025-12-01T10:00:00+09:00",
                                                tags=["North Korea", "China"]))  # fmt: skip
    write_yaml(
        articles / "beta.yaml", article("Beta", "2025-12-02T10:00:00Z", tags=["north korea"])
    )
    write_yaml(
        articles / "korean.yaml",
        article("북한, 다자 외교 강화 신호", "2025-12-06T11:00:00+09:00",
                tags=["북한", "Ｓｏｕｔｈ Korea"], summary="북한이 신호를 보내고 있다."),
    )  # fmt: skip
    return root


@pytest.fixture(scope="module", params=["flask", "waitress"])
def fetch(request, content):
    with feedsvc_app(content) as app, fetcher_for(app, request.param) as fetcher:
        fetcher.app = app
        yield fetcher


@pytest.mark.parametrize(("path", "canonical"), SPELLINGS.items())
def test_other_spellings_redirect_permanently_to_the_canonical_url(fetch, path, canonical):
    reply = fetch(path)
    assert reply.status == 308, path
    assert reply.headers["Location"] == canonical  # relative: the Host header is not echoed
    assert reply.headers["Cache-Control"].startswith("public, max-age=")
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    target = fetch(canonical.split("#")[0])
    assert target.status == 200
    head = fetch(path, method="HEAD")
    assert (head.status, head.headers["Location"]) == (308, reply.headers["Location"])


def test_canonical_urls_answer_directly(fetch):
    view = fetch.app.extensions["feedsvc"].catalog
    tag_pages = [s.path + "/" for s in view.feeds.values() if s.tag is not None]
    for path in [*feed_paths(fetch.app), *tag_pages, "/", "/tags/", "/feeds.opml", "/healthz"]:
        assert fetch(path).status == 200, path
    assert {s.tag.slug for s in view.feeds.values() if s.tag} == {
        "north-korea", "china", "북한", "south-korea",
    }  # fmt: skip


@pytest.mark.parametrize("path", UNKNOWN)
def test_unknown_tags_and_paths_are_404(fetch, path):
    reply = fetch(path)
    assert reply.status == 404
    assert "Location" not in reply.headers
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_korean_tag_end_to_end(fetch):
    base = fetch.base_url
    for fmt, name in (("rss", "rss.xml"), ("atom", "atom.xml"), ("json", "feed.json")):
        path = f"{KOREAN}/{name}"
        reply = fetch(path)
        assert reply.status == 200
        feed = parse_feed(reply.body, fmt)
        assert feed.self_link == base + path
        assert "북한" in feed.title
        assert [e.title for e in feed.entries] == ["북한, 다자 외교 강화 신호"]
        assert "북한" in feed.entries[0].tags
    directory = fetch("/").text
    assert f'href="{base}{KOREAN}/atom.xml"' in directory
    assert f'href="{base}{KOREAN}/"' in directory
    assert f'xmlUrl="{base}{KOREAN}/rss.xml"' in fetch("/feeds.opml").text


def test_redirects_respect_a_mount_point(content):
    """Under SCRIPT_NAME (a WSGI mount), the Location keeps the prefix."""
    with feedsvc_app(content) as app:
        fetch = FlaskFetcher(app, base_url="http://localhost/mnt")
        reply = fetch("/tags/North%20Korea/rss.xml")
        assert reply.headers["Location"] == "/mnt/tags/north-korea/rss.xml"
        feed = parse_feed(fetch("/tags/north-korea/rss.xml").body, "rss")
        assert feed.self_link == "http://localhost/mnt/tags/north-korea/rss.xml"

        with WaitressThread(app, url_prefix="/mnt") as server:
            fetch = SocketFetcher(server.port)
            mounted = f"{fetch.base_url}/mnt"
            reply = fetch(f"/mnt{KOREAN}/Atom.XML/")
            assert reply.status == 308
            assert reply.headers["Location"] == f"/mnt{KOREAN}/atom.xml"
            feed = parse_feed(fetch(f"/mnt{KOREAN}/atom.xml").body, "atom")
            assert feed.self_link == fetch.base_url + reply.headers["Location"]
            assert feed.self_link.startswith(mounted)
            assert fetch("/mnt/tags").headers["Location"] == "/mnt/tags/"


def test_redirects_use_the_public_url(content):
    public = "https://news.example.org/feeds"
    with feedsvc_app(content, public_url=public) as app, fetcher_for(app, "waitress") as fetch:
        for path, canonical in SPELLINGS.items():
            reply = fetch(path, headers={"Host": "internal:8080"})
            assert reply.headers["Location"] == public + canonical, path
