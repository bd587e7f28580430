"""``/feeds.opml``: every feed for importing into a reader, with validators from its bytes."""

from __future__ import annotations

from pathlib import Path

import yaml
from support import article, write_yaml

from feedsvc.feeds.cache import strong_etag


def test_opml_etag_is_the_hash_of_the_served_bytes_and_revalidates(make_app, small_content):
    client = make_app(small_content).test_client()
    first = client.get("/feeds.opml")
    assert first.status_code == 200 and first.mimetype == "text/x-opml"
    etag = first.headers["ETag"]
    # Strong, and a function of exactly the bytes served (as for feeds and the other pages).
    assert etag == strong_etag(first.data)
    assert client.head("/feeds.opml").headers["ETag"] == etag
    again = client.get("/feeds.opml", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    stale = client.get("/feeds.opml", headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.data == first.data


def test_opml_etag_changes_with_the_content_and_the_public_url(make_app, small_content: Path):
    app = make_app(small_content)
    client = app.test_client()
    before = client.get("/feeds.opml")
    write_yaml(
        small_content / "articles" / "delta.yaml",
        article("Delta", "2025-12-04T00:00:00Z", tags=["Brand New Tag"]),
    )
    assert app.extensions["feedsvc"].reload()
    after = client.get("/feeds.opml")
    assert b"/tags/brand-new-tag/rss.xml" in after.data
    assert after.headers["ETag"] != before.headers["ETag"]
    # The old validator no longer matches: a reader downloads the new list.
    assert (
        client.get("/feeds.opml", headers={"If-None-Match": before.headers["ETag"]}).status_code
        == 200
    )
    site = yaml.safe_load((small_content / "site.yaml").read_text())
    site["title"] = "Renamed Times"
    write_yaml(small_content / "site.yaml", site)
    assert app.extensions["feedsvc"].reload()
    renamed = client.get("/feeds.opml")
    assert b"Renamed Times" in renamed.data and renamed.headers["ETag"] != after.headers["ETag"]
    other_host = client.get("/feeds.opml", headers={"Host": "feeds.other.test"})
    assert b"http://feeds.other.test/rss.xml" in other_host.data
    assert other_host.headers["ETag"] != renamed.headers["ETag"]
