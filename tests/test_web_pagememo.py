"""web/pagememo.py: a cached page's second request is answered without Flask,
exactly as Flask answered it (real app, Flask's test client)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import article, write_yaml

from feedsvc.web.pagememo import PageMemo
from feedsvc.web.respond import ENDPOINT, PAGE_CACHE, PAGES_COUNTER, SERVICE

GZIP = {"Accept-Encoding": "gzip"}
PAGES = ["/", "/tags/", "/tags/china/", "/feeds.opml", "/embed/?limit=3", "/tags/?q=chi"]


class FlaskCalls:
    """Counts the requests that reached Flask (a before-request hook of the real app)."""

    def __init__(self, app: Any) -> None:
        self.count = 0

        @app.before_request
        def seen() -> None:
            self.count += 1


def answer(response: Any) -> tuple[int, dict[str, str], bytes]:
    return response.status_code, dict(response.headers), response.get_data()


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("headers", [{}, GZIP], ids=["identity", "gzip"])
def test_the_second_request_is_answered_from_the_record_exactly_as_flask_did(
    demo_app: Any, path: str, headers: dict[str, str]
):
    client, flask = demo_app.test_client(), FlaskCalls(demo_app)
    first = answer(client.get(path, headers=headers))
    assert first[0] == 200 and flask.count == 1
    for _ in range(3):
        assert answer(client.get(path, headers=headers)) == first
    head = client.head(path, headers=headers)
    assert (head.status_code, dict(head.headers), head.get_data()) == (200, first[1], b"")
    assert flask.count == 1  # every later answer came from the record


@pytest.mark.parametrize("path", PAGES)
def test_a_304_from_the_record_carries_what_flasks_304_carries(
    make_app: Callable[..., Any], bundled_content: Path, path: str
):
    remembered, fresh = make_app(bundled_content), make_app(bundled_content)
    flask = FlaskCalls(remembered)
    etag = remembered.test_client().get(path).headers["ETag"]
    from_record = remembered.test_client().get(path, headers={"If-None-Match": etag})
    from_flask = fresh.test_client().get(path, headers={"If-None-Match": etag})
    assert flask.count == 1  # the first request only
    assert answer(from_record) == answer(from_flask)
    assert from_record.status_code == 304


def test_records_count_as_their_route_in_the_page_counter(demo_app: Any):
    client = demo_app.test_client()
    counter = demo_app.extensions[PAGES_COUNTER]
    for _ in range(3):
        client.get("/tags/")
    etag = client.get("/tags/").headers["ETag"]
    client.get("/tags/", headers={"If-None-Match": etag})
    counts = dict(counter.items())  # the tag index is Flask's catch-all route
    assert counts[("/<path:path>", "200")] == 4 and counts[("/<path:path>", "304")] == 1


def test_only_cached_pages_are_remembered(demo_app: Any):
    client = demo_app.test_client()
    memo: PageMemo = demo_app.extensions[ENDPOINT].memo
    for path in ["/healthz", "/metrics", "/tags/China/", "/tags/no-such-tag/", "/rss.xml"]:
        client.get(path)
        client.get(path)
    assert len(memo.records) == 0
    client.get("/")
    assert len(memo.records) == 1


def test_a_new_content_version_goes_back_to_flask(
    make_app: Callable[..., Any], small_content: Path
):
    app = make_app(small_content)
    flask = FlaskCalls(app)
    client = app.test_client()
    before = client.get("/").get_data()
    write_yaml(
        small_content / "articles" / "new.yaml",
        article("A brand new headline", "2026-01-10T09:00:00Z", tags=["China"]),
    )
    assert app.extensions[SERVICE].reload()
    after = client.get("/").get_data()
    assert flask.count == 2 and after != before  # the tag counts moved
    client.get("/")
    assert flask.count == 2


def test_a_page_the_cache_let_go_is_built_again_by_flask(demo_app: Any):
    client, flask = demo_app.test_client(), FlaskCalls(demo_app)
    first = client.get("/").get_data()
    demo_app.extensions[PAGE_CACHE].pages.discard(lambda key: True)
    assert client.get("/").get_data() == first
    assert flask.count == 2  # built again
    client.get("/")
    assert flask.count == 2  # and remembered again


def test_made_up_query_strings_do_not_push_a_read_page_out(demo_app: Any):
    endpoint = demo_app.extensions[ENDPOINT]
    endpoint.memo = PageMemo(endpoint.pages, endpoint.memo.counter, records=20)
    client, flask = demo_app.test_client(), FlaskCalls(demo_app)
    client.get("/")
    client.get("/")  # read twice: kept
    for n in range(200):
        client.get(f"/?x={n}")
    assert len(endpoint.memo.records) <= 20
    calls = flask.count
    client.get("/")
    assert flask.count == calls


def test_a_remembered_page_is_offered_to_the_event_loop(demo_app: Any):
    answers = demo_app.extensions[ENDPOINT].answers_from_memory
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/tags/", "QUERY_STRING": "",
               "HTTP_HOST": "localhost", "wsgi.url_scheme": "http"}  # fmt: skip
    assert not answers(environ)
    demo_app.test_client().get("/tags/", headers={"Host": "localhost"})
    assert answers(environ)
    assert not answers({**environ, "HTTP_ACCEPT_ENCODING": "gzip"})  # that copy not yet asked for
