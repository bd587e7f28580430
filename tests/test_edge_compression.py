"""Compression at the edge: gzip negotiation, ETags per encoding, conditionals, HEAD.

Every test runs through Flask's test client and through a real waitress
server on 127.0.0.1, because headers such as Content-Length and HEAD
handling are finally decided by the server, not by the app.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from edgekit import copy_bundled_content, feedsvc_app
from servers import fetcher_for

from feedsvc.web import negotiate as serving

FEEDS = ["/rss.xml", "/atom.xml", "/feed.json", "/popular/feed.json", "/tags/china/rss.xml"]

# Accept-Encoding value -> whether the gzip copy is served (RFC 9110 §12.5.3).
NEGOTIATION = {
    "gzip": True,
    "GZIP": True,
    "x-gzip": True,  # §8.4.1.3: equivalent to gzip
    "gzip, deflate, br": True,
    "br;q=1.0, gzip;q=0.8, *;q=0.1": True,
    "gzip;q=0.001": True,
    "gzip ; q=0.5": True,
    "*": True,
    "*;q=0, gzip": True,  # explicit gzip wins over the wildcard
    "identity;q=0.5, *;q=0.1": True,
    "gzip;q=0": False,
    "gzip; q=0.000": False,
    "gzip;q=0, *": False,  # an explicit refusal wins over '*' whatever the order
    "*, gzip;q=0": False,
    "*;q=0": False,
    "identity": False,
    "identity, *;q=0": False,
    "br": False,
    "deflate, br, zstd": False,
    "": False,
    "gzip;q=2": False,  # invalid q-value: entry ignored
    "gzip;q=abc": False,
    ";;;,,,": False,
}


def varies_on_encoding(reply) -> bool:
    """``Vary`` names Accept-Encoding (other negotiated headers may join it)."""
    return "accept-encoding" in {v.strip().lower() for v in reply.headers["Vary"].split(",")}


@pytest.fixture(scope="module")
def edge_app(tmp_path_factory):
    with feedsvc_app(copy_bundled_content(tmp_path_factory.mktemp("gz") / "content")) as app:
        yield app


@pytest.fixture(scope="module", params=["flask", "waitress"])
def fetch(request, edge_app):
    with fetcher_for(edge_app, request.param) as fetcher:
        yield fetcher


@pytest.mark.parametrize(("accept", "wants_gzip"), NEGOTIATION.items())
def test_accept_encoding_q_values(fetch, accept, wants_gzip):
    plain = fetch("/atom.xml")
    reply = fetch("/atom.xml", headers={"Accept-Encoding": accept})
    assert reply.status == 200
    assert varies_on_encoding(reply)
    if wants_gzip:
        assert reply.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(reply.body) == plain.body
        assert reply.headers["ETag"] != plain.headers["ETag"]
    else:
        assert "Content-Encoding" not in reply.headers
        assert reply.body == plain.body
        assert reply.headers["ETag"] == plain.headers["ETag"]
    assert int(reply.headers["Content-Length"]) == len(reply.body)


@pytest.mark.parametrize("path", FEEDS)
def test_both_encodings_vary_and_carry_their_own_strong_etag(fetch, path):
    plain = fetch(path)
    zipped = fetch(path, headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(zipped.body) == plain.body
    for reply in (plain, zipped):
        assert varies_on_encoding(reply)
        assert reply.headers["ETag"].startswith('"')
        assert reply.headers["Content-Type"] == plain.headers["Content-Type"]
        assert reply.headers["Last-Modified"] == plain.headers["Last-Modified"]
    assert zipped.headers["ETag"] != plain.headers["ETag"]


@pytest.mark.parametrize("path", FEEDS)
def test_conditional_requests_work_for_each_encoding(fetch, path):
    plain = fetch(path)
    zipped = fetch(path, headers={"Accept-Encoding": "gzip"})
    plain_etag, gzip_etag = plain.headers["ETag"], zipped.headers["ETag"]

    again = fetch(path, headers={"Accept-Encoding": "gzip", "If-None-Match": gzip_etag})
    assert again.status == 304 and again.body == b""
    assert again.headers["ETag"] == gzip_etag
    assert varies_on_encoding(again)  # a 304 carries Vary too (RFC 9110 §15.4.5)
    assert again.headers["Last-Modified"] == plain.headers["Last-Modified"]

    again = fetch(path, headers={"If-None-Match": plain_etag})
    assert again.status == 304 and again.headers["ETag"] == plain_etag

    # A validator of the other encoding names another representation: full answer.
    other = fetch(path, headers={"Accept-Encoding": "gzip", "If-None-Match": plain_etag})
    assert other.status == 200 and other.headers["Content-Encoding"] == "gzip"
    other = fetch(path, headers={"Accept-Encoding": "identity", "If-None-Match": gzip_etag})
    assert other.status == 200 and "Content-Encoding" not in other.headers

    # A cache holding both may list both; dates work for both encodings.
    both = f"{plain_etag}, {gzip_etag}"
    for accept in ("gzip", "identity"):
        assert fetch(path, headers={"Accept-Encoding": accept, "If-None-Match": both}).status == 304
        since = {"Accept-Encoding": accept, "If-Modified-Since": plain.headers["Last-Modified"]}
        assert fetch(path, headers=since).status == 304


@pytest.mark.parametrize("accept", ["gzip", "identity"])
def test_head_sends_the_get_headers_of_its_encoding_without_a_body(fetch, accept):
    for path in FEEDS:
        get = fetch(path, headers={"Accept-Encoding": accept})
        head = fetch(path, method="HEAD", headers={"Accept-Encoding": accept})
        assert head.status == 200 and head.body == b""
        for name in ("ETag", "Content-Length", "Content-Type", "Vary", "Last-Modified"):
            assert head.headers[name] == get.headers[name], (path, name)
        assert head.headers.get("Content-Encoding") == get.headers.get("Content-Encoding")
        conditional = {"Accept-Encoding": accept, "If-None-Match": get.headers["ETag"]}
        assert fetch(path, method="HEAD", headers=conditional).status == 304


def test_gzip_copies_are_made_once_per_content_version(demo_app):
    """Requests reuse the stored gzip bytes: no variant is rebuilt, no gzip per request."""
    service = demo_app.extensions["feedsvc"]
    client = demo_app.test_client()
    first = {p: client.get(p, headers={"Accept-Encoding": "gzip"}).data for p in FEEDS}
    builds = service.cache.variant_builds
    for _ in range(5):
        for path in FEEDS:
            assert client.get(path, headers={"Accept-Encoding": "gzip"}).data == first[path]
    assert service.cache.variant_builds == builds


def test_gzip_bytes_are_deterministic_across_instances(make_app, bundled_content: Path):
    """Two replicas behind one CDN must agree on bytes and ETags of the gzip copy too."""
    replies = []
    for _ in range(2):
        client = make_app(bundled_content).test_client()
        replies.append(client.get("/rss.xml", headers={"Accept-Encoding": "gzip"}))
    assert replies[0].data == replies[1].data
    assert replies[0].headers["ETag"] == replies[1].headers["ETag"]


def test_long_accept_encoding_values_are_not_memoised(client):
    """A client inventing huge Accept-Encoding values cannot fill the memo."""
    memo = serving._accepts_gzip_memo
    memo.cache_clear()
    client.get("/rss.xml", headers={"Accept-Encoding": "gzip"})
    for n in range(50):
        value = "br;q=0.5, " * 100 + f"x-{n};q=0.1, gzip;q=0"
        response = client.get("/rss.xml", headers={"Accept-Encoding": value})
        assert "Content-Encoding" not in response.headers
    assert memo.cache_info().currsize == 1
