"""Cold feeds build only what the request needs: its format, and gzip only for gzip.

A cold request for one format renders that format alone (the others join the
cached template on their own first request, tests/test_feeds_cache.py), and
the gzip copy of a variant is made on its first gzip 200: an identity
request, or any 304, never pays for it. The cache's byte bound counts the
copy from the moment it exists; the event loop never makes one (its guess
sends such a request to a worker). Through the real app and its endpoint.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

from feedsvc.feeds.cache import Variant
from feedsvc.web.respond import ENDPOINT

GZIP = {"Accept-Encoding": "gzip"}


def variants_of(service: Any, feed_key: str, fmt: str) -> list[Variant]:
    variants = service.cache.variants
    return [variants.peek(key) for key in variants.all_keys() if key[2:] == (feed_key, fmt)]


def environ(path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return EnvironBuilder(path=path, base_url="http://localhost/", headers=headers).get_environ()


def test_an_identity_request_makes_no_gzip_copy_and_a_gzip_one_makes_it_once(
    make_app: Any, bundled_content: Path
):
    app = make_app(bundled_content)
    service, endpoint = app.extensions["feedsvc"], app.extensions[ENDPOINT]
    client = app.test_client()
    plain = client.get("/rss.xml")
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    (variant,) = variants_of(service, "main", "rss")
    assert variant.gzip_copy is None
    assert endpoint.answers_from_memory(environ("/rss.xml"))
    assert not endpoint.answers_from_memory(environ("/rss.xml", GZIP))  # the loop never gzips
    assert endpoint.cached_answer(environ("/rss.xml", GZIP)) is None
    counted = service.cache.variants.size_bytes

    zipped = client.get("/rss.xml", headers=GZIP)
    assert zipped.status_code == 200 and zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert variant.gzip_copy == zipped.data
    assert service.cache.variants.size_bytes == counted + len(zipped.data)  # counted from now
    assert sum(v.size for v in service.cache.variants.values()) == counted + len(zipped.data)
    assert endpoint.answers_from_memory(environ("/rss.xml", GZIP))
    again = client.get("/rss.xml", headers=GZIP)
    assert again.data == zipped.data and again.headers["ETag"] == zipped.headers["ETag"]


def test_a_gzip_304_needs_no_gzip_copy(make_app: Any, bundled_content: Path):
    """The gzip ETag comes from the identity bytes: a revalidation costs no gzip."""
    app = make_app(bundled_content)
    service = app.extensions["feedsvc"]
    client = app.test_client()
    etag = client.get("/atom.xml", headers=GZIP).headers["ETag"]
    service.cache.variants.discard(lambda key: True)  # as after an eviction: rebuilt
    revalidated = client.get("/atom.xml", headers={**GZIP, "If-None-Match": etag})
    assert revalidated.status_code == 304 and revalidated.headers["ETag"] == etag
    (variant,) = variants_of(service, "main", "atom")
    assert variant.gzip_copy is None
