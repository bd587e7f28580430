"""HTTP contract of feed URLs: headers, conditional requests, methods, errors."""

from __future__ import annotations

import gzip
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from feedcheck import parse_feed
from support import article, write_yaml
from werkzeug.http import http_date, parse_date

FEED_PATHS = ["/rss.xml", "/atom.xml", "/feed.json", "/popular/rss.xml", "/tags/china/atom.xml"]
CONTENT_TYPES = {
    "rss.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
    "feed.json": "application/feed+json; charset=utf-8",
}


@pytest.mark.parametrize("path", FEED_PATHS)
def test_feed_response_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPES[path.rsplit("/", 1)[1]]
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert etag == f'"{hashlib.blake2b(response.data, digest_size=12).hexdigest()}"'
    assert parse_date(response.headers["Last-Modified"]) is not None
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Vary"] == "Accept-Encoding, Sec-Fetch-Dest"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert int(response.headers["Content-Length"]) == len(response.data)


@pytest.mark.parametrize("path", FEED_PATHS)
def test_if_none_match_gives_304_with_validators(client, path):
    first = client.get(path)
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    for name in ("ETag", "Last-Modified", "Cache-Control", "Vary"):
        assert again.headers[name] == first.headers[name]


def test_if_none_match_lists_weak_and_star(client):
    etag = client.get("/rss.xml").headers["ETag"]
    assert client.get("/rss.xml", headers={"If-None-Match": f'"nope", {etag}'}).status_code == 304
    assert client.get("/rss.xml", headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    assert client.get("/rss.xml", headers={"If-None-Match": "*"}).status_code == 304
    assert client.get("/rss.xml", headers={"If-None-Match": '"other"'}).status_code == 200


def test_if_modified_since_is_compared_as_a_date(client):
    last_modified = parse_date(client.get("/rss.xml").headers["Last-Modified"])
    for value in (last_modified, last_modified + timedelta(days=3)):
        response = client.get("/rss.xml", headers={"If-Modified-Since": http_date(value)})
        assert response.status_code == 304
    # The same instant in the obsolete RFC 850 form is still a match.
    rfc850 = last_modified.strftime("%A, %d-%b-%y %H:%M:%S GMT")
    assert client.get("/rss.xml", headers={"If-Modified-Since": rfc850}).status_code == 304
    earlier = http_date(last_modified - timedelta(seconds=1))
    assert client.get("/rss.xml", headers={"If-Modified-Since": earlier}).status_code == 200


def test_if_none_match_wins_over_if_modified_since(client):
    last_modified = client.get("/rss.xml").headers["Last-Modified"]
    response = client.get(
        "/rss.xml", headers={"If-None-Match": '"stale"', "If-Modified-Since": last_modified}
    )
    assert response.status_code == 200


def test_head_has_get_headers_and_no_body(client):
    for path in [*FEED_PATHS, "/", "/feeds.opml", "/healthz", "/tags/"]:
        get, head = client.get(path), client.head(path)
        assert head.status_code == 200, path
        assert head.data == b""
        assert head.headers.get("ETag") == get.headers.get("ETag")
        assert head.headers["Content-Type"] == get.headers["Content-Type"]


def test_gzip_copy_has_its_own_etag_and_conditional(client):
    plain = client.get("/atom.xml")
    zipped = client.get("/atom.xml", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    again = client.get(
        "/atom.xml", headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]}
    )
    assert again.status_code == 304
    for refused in ("gzip;q=0", "identity", "br", ""):
        response = client.get("/atom.xml", headers={"Accept-Encoding": refused})
        assert "Content-Encoding" not in response.headers, refused


def test_unknown_paths_and_tags_are_404_with_a_short_body(client):
    for path in ("/nope", "/tags/no-such-tag/rss.xml", "/tags/china/rss.xml.bak", "/rss.xml/x"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/plain"
        assert len(response.data) < 100


def test_other_methods_are_405_with_allow(client):
    for method in ("post", "put", "delete", "patch"):
        for path in ("/rss.xml", "/", "/healthz"):
            response = getattr(client, method)(path)
            assert response.status_code == 405, (method, path)
            assert "GET" in response.headers["Allow"]


def test_requests_never_render_once_content_is_loaded(demo_app):
    service = demo_app.extensions["feedsvc"]
    client = demo_app.test_client()
    renders = service.cache.renders
    assert renders == len(service.catalog.feeds)  # rendered once each, before serving
    for _ in range(20):
        for path in ["/rss.xml", "/atom.xml", "/feed.json", "/popular/feed.json"]:
            assert client.get(path).status_code == 200
            assert client.get(path, headers={"Accept-Encoding": "gzip"}).status_code == 200
        for tag in service.catalog.snapshot.tags:
            from urllib.parse import quote

            assert client.get(f"/tags/{quote(tag)}/rss.xml").status_code == 200
    assert service.cache.renders == renders


def test_edit_gives_200_new_etag_and_later_last_modified(make_app, small_content: Path):
    app = make_app(small_content)
    client = app.test_client()
    first = client.get("/rss.xml")
    path = small_content / "articles" / "beta.yaml"
    data = yaml.safe_load(path.read_text())
    data["title"] = "Beta (corrected)"
    write_yaml(path, data)
    assert app.extensions["feedsvc"].reload() is True
    response = client.get("/rss.xml", headers={"If-None-Match": first.headers["ETag"]})
    assert response.status_code == 200
    assert response.headers["ETag"] != first.headers["ETag"]
    assert parse_date(response.headers["Last-Modified"]) > parse_date(
        first.headers["Last-Modified"]
    )
    # A feed the edit did not touch keeps its validators.
    untouched = client.get("/tags/health/rss.xml")
    assert app.extensions["feedsvc"].reload(force=True) is False
    assert client.get("/tags/health/rss.xml").headers["ETag"] == untouched.headers["ETag"]


def test_last_modified_never_moves_backwards(make_app, small_content: Path):
    app = make_app(small_content)
    client = app.test_client()
    seen = [parse_date(client.get("/rss.xml").headers["Last-Modified"])]
    (small_content / "articles" / "gamma.yaml").unlink()  # the newest article goes away
    app.extensions["feedsvc"].reload()
    seen.append(parse_date(client.get("/rss.xml").headers["Last-Modified"]))
    write_yaml(small_content / "articles" / "old.yaml", article("Old", "2020-01-01T00:00:00Z"))
    app.extensions["feedsvc"].reload()
    seen.append(parse_date(client.get("/rss.xml").headers["Last-Modified"]))
    assert seen == sorted(seen) and len(set(seen)) == 3
    titles = [e.title for e in parse_feed(client.get("/rss.xml").data, "rss").entries]
    assert titles == ["Beta", "Alpha", "Old"]


def test_identical_content_gives_identical_validators_across_instances(make_app, bundled_content):
    first = make_app(bundled_content).test_client()
    second = make_app(bundled_content).test_client()
    for path in FEED_PATHS:
        a, b = first.get(path), second.get(path)
        assert a.data == b.data
        assert a.headers["ETag"] == b.headers["ETag"]
        assert a.headers["Last-Modified"] == b.headers["Last-Modified"]


def test_healthz_reports_counts_and_version(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["content_valid"] is True
    assert body["articles"] == 7 and body["tags"] == 9
    assert body["errors"] == []
    assert len(body["version"]) == 32


def test_directory_lists_every_feed_with_autodiscovery(client):
    page = client.get("/").get_data(as_text=True)
    assert '<link rel="alternate" type="application/rss+xml"' in page
    assert 'href="http://localhost/rss.xml"' in page
    assert "http://localhost/tags/%EB%B6%81%ED%95%9C/feed.json" in page
    opml = client.get("/feeds.opml").get_data(as_text=True)
    assert opml.count("<outline ") == 2 + 9
