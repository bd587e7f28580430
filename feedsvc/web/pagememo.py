"""Cached pages answered without Flask: each page URL's final answer, remembered.

A cached page still went through Flask on every request (routing, the
request context, the view, the after-request hooks) to find bytes that were
already in the page cache: two to three times what a cached feed costs.
:class:`PageMemo` remembers, per (content version, base URL, path, query
string, encoding), which cached page Flask answered with and the exact
headers it sent; the next identical request is answered from that record
and the page cache alone, 200 or 304 (the 304 carrying what Werkzeug's
would: the 200's headers less the entity headers), and on the event loop
when the server asks (:meth:`FeedEndpoint.answers_from_memory`).

Only answers built by :func:`~feedsvc.web.respond.cached_page` are
remembered (a view marks them in the environ): their bytes depend on
nothing but the URL, the base URL and the content version. Everything else
(redirects, errors, health, metrics) always goes to Flask. A new content
version is a new key; a page the page cache has let go sends the request to
Flask, which builds it again. Records are small and bounded like the caches
(a segmented LRU: made-up query strings churn only its probation).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.http import remove_entity_headers

from feedsvc.feeds.cache import BoundedLRU
from feedsvc.web import policy
from feedsvc.web.metrics import RequestCounter
from feedsvc.web.negotiate import accepts_gzip, client_copy_is_stale
from feedsvc.web.pagecache import Page, PageCache

# The environ key a view sets to (page cache key, route rule) when it answers
# with a cached page (web/respond.py).
PAGE_MARK = "feedsvc.page"
RECORD_BYTES = 1024  # what one record is counted as (its headers, roughly)
MAX_RECORDS = 4096

MemoKey = tuple[int, str, str, str, bool]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True, slots=True)
class Record:
    """What Flask answered for one page URL: the cached page, its route, its headers."""

    page_key: tuple[Hashable, ...]
    rule: str
    headers: policy.Headers  # of the 200, in this record's encoding
    not_modified: policy.Headers  # of a 304: the same less the entity headers


class PageMemo:
    """Records of cached page answers by URL, and the answers made from them."""

    def __init__(self, pages: PageCache, counter: RequestCounter, records: int = MAX_RECORDS):
        self.pages = pages
        self.counter = counter  # Flask's page counter: a remembered answer counts as its route's
        self.records: BoundedLRU[Record] = BoundedLRU(
            records * RECORD_BYTES, lambda _: RECORD_BYTES
        )

    @staticmethod
    def key(environ: dict[str, Any], seq: int, base: str) -> MemoKey:
        """What a page answer depends on besides the conditional headers."""
        return (seq, base, environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""),
                accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING")))  # fmt: skip

    def find(self, key: MemoKey) -> tuple[Record, Page] | None:
        """The record for ``key`` and its page, if both are still in memory."""
        record = self.records.get(key)
        if record is None:
            return None
        page = self.pages.pages.get(record.page_key)
        return None if page is None else (record, page)

    def answer(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        found: tuple[Record, Page],
        gz: bool,
    ) -> list[bytes]:
        """200 (GET: the bytes; HEAD: none) or 304, exactly as Flask answered before."""
        record, page = found
        etag = page.gzip_etag if gz else page.etag
        if not client_copy_is_stale(environ, etag, page.last_modified):
            self.counter.add((record.rule, "304"))
            start_response("304 Not Modified", record.not_modified)
            return []
        self.counter.add((record.rule, "200"))
        start_response("200 OK", record.headers)
        if environ.get("REQUEST_METHOD") == "HEAD":
            return []
        return [page.gzip_body if gz else page.body]

    def ask_flask(
        self, app: WSGIApp, environ: dict[str, Any], start_response: StartResponse, key: MemoKey
    ) -> Iterable[bytes]:
        """Flask's answer, remembered when it is a cached page's 200."""
        sent: list[Any] = []

        def remembering(status: str, headers: policy.Headers, *exc_info: Any) -> Any:
            sent[:] = [status, list(headers)]
            return start_response(status, headers, *exc_info)

        body = app(environ, remembering)
        mark = environ.get(PAGE_MARK)
        if mark is not None and sent and sent[0].startswith("200 "):
            page_key, rule = mark
            headers = sent[1]
            not_modified = list(headers)
            remove_entity_headers(not_modified)
            self.records.put(key, Record(page_key, rule, headers, not_modified))
        return body
