"""web/pagecache.py: every page rendered once per content version, served like a feed.

The real app on real content files through Flask's test client; the cache's
own counters say when a page was built.
"""

from __future__ import annotations

import gzip
import threading
from pathlib import Path
from typing import Any

from support import article, write_yaml
from werkzeug.http import http_date, parse_date

from feedsvc.feeds.cache import strong_etag
from feedsvc.web.pagecache import PageCache
from feedsvc.web.respond import PAGE_CACHE

PAGES = ("/", "/tags/", "/tags/china/", "/feeds.opml", "/embed/", "/tags/?q=korea")
NAVIGATION = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}


def cache_of(app: Any) -> PageCache:
    cache = app.extensions[PAGE_CACHE]
    assert isinstance(cache, PageCache)
    return cache


def test_each_page_is_built_once_and_revalidated_without_building(demo_app: Any):
    client, cache = demo_app.test_client(), cache_of(demo_app)
    for path in PAGES:
        first = client.get(path)
        assert first.status_code == 200, path
        assert first.headers["ETag"] == strong_etag(first.data), path
        built = cache.builds
        again = client.get(path)
        assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
        same = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert same.status_code == 304 and same.data == b"", path
        assert same.headers["ETag"] == first.headers["ETag"]
        since = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
        assert since.status_code == 304, path
        assert client.head(path).headers["ETag"] == first.headers["ETag"]
        assert cache.builds == built, f"{path} was built again"


def test_query_strings_never_make_a_new_page(demo_app: Any):
    """Pages ignore their query string (the tag search's ``q`` aside)."""
    client, cache = demo_app.test_client(), cache_of(demo_app)
    plain = {path: client.get(path) for path in ("/", "/tags/", "/tags/china/", "/feeds.opml")}
    built = cache.builds
    for path, response in plain.items():
        for query in ("x=1", "x=2", "utm_source=mail&utm_medium=x", "page=2", "q"):
            other = client.get(f"{path}?{query}")
            assert other.data == response.data, (path, query)
            assert other.headers["ETag"] == response.headers["ETag"], (path, query)
    assert cache.builds == built


def test_equivalent_embed_urls_share_one_entry(demo_app: Any):
    """Only theme and limit count, and their default values are the same as none."""
    client, cache = demo_app.test_client(), cache_of(demo_app)
    plain = client.get("/embed/")
    built = cache.builds
    for query in ("theme=auto", "limit=5", "limit=5&theme=auto", "ref=blog", "theme=auto&x=1"):
        assert client.get(f"/embed/?{query}").headers["ETag"] == plain.headers["ETag"], query
    assert cache.builds == built
    dark = client.get("/embed/?theme=dark&limit=3")
    assert client.get("/embed/?limit=3&theme=dark&x=9").headers["ETag"] == dark.headers["ETag"]
    assert dark.headers["ETag"] != plain.headers["ETag"]
    assert cache.builds == built + 1


def test_tag_searches_are_normalised_into_one_entry(demo_app: Any):
    client, cache = demo_app.test_client(), cache_of(demo_app)
    first = client.get("/tags/?q=korea")
    built = cache.builds
    for spelling in ("KOREA", "%20korea%20", "Korea&x=1", "++koREA+"):
        assert client.get(f"/tags/?q={spelling}").data == first.data, spelling
    assert cache.builds == built
    assert client.get("/tags/?q=").data == client.get("/tags/").data  # empty: the list


def test_pages_are_gzipped_when_the_client_allows_and_say_they_vary(demo_app: Any):
    client = demo_app.test_client()
    for path in PAGES:
        plain = client.get(path)
        zipped = client.get(path, headers={"Accept-Encoding": "gzip, deflate"})
        assert zipped.headers["Content-Encoding"] == "gzip", path
        assert gzip.decompress(zipped.data) == plain.data, path
        assert zipped.headers["ETag"] == strong_etag(plain.data, "-gz"), path
        assert "Content-Encoding" not in plain.headers
        for response in (plain, zipped):
            assert response.headers["Vary"] == "Accept-Encoding", path
        revalidated = client.get(
            path, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]}
        )
        assert revalidated.status_code == 304, path
        # The plain bytes' tag does not match the gzip copy (strong ETags per encoding).
        crossed = client.get(
            path, headers={"Accept-Encoding": "gzip", "If-None-Match": plain.headers["ETag"]}
        )
        assert crossed.status_code == 200, path


def test_the_browser_view_of_a_feed_is_cached_and_gzipped(demo_app: Any):
    client, cache = demo_app.test_client(), cache_of(demo_app)
    page = client.get("/tags/china/rss.xml", headers=NAVIGATION)
    built = cache.builds
    zipped = client.get("/tags/china/rss.xml", headers={**NAVIGATION, "Accept-Encoding": "gzip"})
    assert gzip.decompress(zipped.data) == page.data
    assert zipped.headers["Content-Length"] == str(len(zipped.data))
    again = client.get(
        "/tags/china/rss.xml", headers={**NAVIGATION, "If-None-Match": page.headers["ETag"]}
    )
    assert again.status_code == 304
    assert "Content-Type" not in again.headers and "Content-Length" not in again.headers
    assert cache.builds == built


def test_a_new_content_version_is_a_new_page_dated_by_its_newest_article(
    make_app: Any, small_content: Path
):
    app = make_app(small_content)
    client, cache = app.test_client(), cache_of(app)
    first = client.get("/")
    # gamma.yaml, published 2025-12-03 (date only: 00:00 UTC), is the newest article.
    assert first.headers["Last-Modified"] == "Wed, 03 Dec 2025 00:00:00 GMT"
    write_yaml(
        small_content / "articles" / "delta.yaml",
        article("Delta", "2025-12-04T08:30:00Z", tags=["Health"]),
    )
    assert app.extensions["feedsvc"].reload()
    built = cache.builds
    stale = client.get("/", headers={"If-None-Match": first.headers["ETag"]})
    assert stale.status_code == 200 and stale.data != first.data  # 4 articles now, not 3
    assert cache.builds == built + 1
    assert stale.headers["Last-Modified"] == "Thu, 04 Dec 2025 08:30:00 GMT"
    old_date = http_date(parse_date(first.headers["Last-Modified"]))
    assert client.get("/", headers={"If-Modified-Since": old_date}).status_code == 200


def test_last_modified_never_moves_backwards_when_the_newest_article_goes(
    make_app: Any, small_content: Path
):
    app = make_app(small_content)
    client = app.test_client()
    first = client.get("/tags/")
    (small_content / "articles" / "gamma.yaml").unlink()  # the newest article
    assert app.extensions["feedsvc"].reload()
    after = client.get("/tags/")
    assert after.data != first.data
    assert parse_date(after.headers["Last-Modified"]) > parse_date(first.headers["Last-Modified"])


def test_the_page_cache_is_bounded_by_its_share_of_the_memory_setting(
    make_app: Any, small_content: Path
):
    app = make_app(small_content, cache_bytes=64 * 1024 * 8)  # pages get 64 KiB
    client, cache = app.test_client(), cache_of(app)
    assert cache.pages.max_bytes == 64 * 1024  # an eighth of the setting
    feeds = app.extensions["feedsvc"].cache
    assert feeds.templates.max_bytes + feeds.variants.max_bytes == 64 * 1024 * 7  # the rest
    for n in range(40):  # searches a client invents: each a page, none kept for ever
        assert client.get(f"/tags/?q=x{n}").status_code == 200
    assert cache.pages.size_bytes <= cache.pages.max_bytes
    assert cache.pages.evictions > 0


def test_a_burst_of_requests_for_a_cold_page_builds_it_once(demo_app: Any):
    cache = cache_of(demo_app)
    start = threading.Barrier(8)
    etags: list[str] = []

    def ask() -> None:
        client = demo_app.test_client()
        start.wait(timeout=10)
        etags.append(client.get("/tags/").headers["ETag"])

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(etags) == 8 and len(set(etags)) == 1
    assert cache.builds == 1


def test_an_edit_that_leaves_the_newest_date_alone_still_moves_last_modified(
    make_app: Any, small_content: Path
):
    """Pages are dated by the newest articles; other changes move the date one second on."""
    app = make_app(small_content)
    client = app.test_client()
    before = client.get("/tags/health/")
    write_yaml(
        small_content / "articles" / "alpha.yaml",  # the oldest article, now also on Health
        article("Alpha", "2025-12-01T10:00:00+09:00", tags=["North Korea", "Health"], views=50),
    )
    assert app.extensions["feedsvc"].reload()
    after = client.get(
        "/tags/health/", headers={"If-Modified-Since": before.headers["Last-Modified"]}
    )
    assert after.status_code == 200 and b"Alpha" in after.data
    moved = parse_date(after.headers["Last-Modified"]) - parse_date(before.headers["Last-Modified"])
    assert moved.total_seconds() == 1
