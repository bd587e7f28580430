"""Helpers of the Flask views: the running service, the base URL, cached pages.

Everything a view needs from the request context, typed, in one place: the
:class:`~feedsvc.service.core.FeedService` the app serves, the public base
URL of this request, a page from the page cache (conditional, gzip) and a
permanent redirect to a canonical path.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, cast

from flask import Response, abort, current_app, request
from werkzeug.wrappers import Response as BaseResponse

from feedsvc.feeds.catalog import Catalog
from feedsvc.feeds.urls import mount_prefix
from feedsvc.service.core import FeedService
from feedsvc.web import policy
from feedsvc.web.metrics import RequestCounter
from feedsvc.web.negotiate import request_base_url
from feedsvc.web.pagecache import PageCache, choose, page_headers
from feedsvc.web.pagememo import PAGE_MARK

if TYPE_CHECKING:
    from feedsvc.web.endpoint import FeedEndpoint

# Keys of app.extensions (cli.py and tests read the first two).
SERVICE = "feedsvc"
WEBSUB = "feedsvc.service.websub"
ENDPOINT = "feedsvc.endpoint"
PAGES_COUNTER = "feedsvc.pages"
PAGE_CACHE = "feedsvc.pagecache"


def service() -> FeedService:
    """The service this app answers from."""
    return cast(FeedService, current_app.extensions[SERVICE])


def feed_endpoint() -> FeedEndpoint:
    """The fast path in front of this app (its counters feed /healthz and /metrics)."""
    return cast("FeedEndpoint", current_app.extensions[ENDPOINT])


def pages_counter() -> RequestCounter:
    """Responses of this app (everything but feeds) by route and status."""
    return cast(RequestCounter, current_app.extensions[PAGES_COUNTER])


def page_cache() -> PageCache:
    """Rendered pages of this app (shared with the fast path's feed views)."""
    return cast(PageCache, current_app.extensions[PAGE_CACHE])


def base_url() -> str:
    """Public base URL: FEEDSVC_PUBLIC_URL, else this request's (after ProxyFix)."""
    settings = service().settings
    base = settings.public_url or request_base_url(request.environ, settings.allowed_hosts)
    if base is None:
        abort(400, "missing or invalid Host header")
    return base


def cached_page(
    catalog: Catalog,
    key: tuple[Hashable, ...],
    build: Callable[[], str | bytes],
    mimetype: str,
    *,
    ledger: bool = True,
) -> BaseResponse:
    """A page from the page cache (built on a miss): 304, or its gzip or plain bytes.

    ``key`` names what changes the answer (never the raw query string); the
    base URL and the content version are added here.
    """
    base = base_url()
    page = page_cache().page(key, catalog, base, build, mimetype, ledger=ledger)
    rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
    request.environ[PAGE_MARK] = ((key, base, catalog.seq), rule)  # remembered: web/pagememo.py
    gz, modified = choose(request.environ, page)
    if modified:
        response = Response(page.gzip_body if gz else page.body, content_type=page.content_type)
    else:
        response = Response(status=304, content_type=page.content_type)
    response.headers.update(policy.page(catalog.snapshot.site.cache_max_age))
    response.headers.update(page_headers(page, gz, modified=False))
    return response


def permanent_redirect(path: str, catalog: Catalog) -> Response:
    """308 to a canonical path: absolute under FEEDSVC_PUBLIC_URL, else relative.

    Without a public URL the Location is the path under this request's mount
    prefix (SCRIPT_NAME, or a trusted proxy's X-Forwarded-Prefix), with no
    scheme and host: a relative reference (RFC 9110 §10.2.2), so that a Host
    header a client made up never reaches a redirect a shared cache keeps
    (an open redirect). The mount prefix keeps it right behind a proxy that
    strips a path prefix, where a bare ``/tags/...`` would escape the mount.
    """
    base_url()  # an invalid Host (or one not allowed) is refused here as everywhere
    public_url = service().settings.public_url
    prefix = request.environ.get("SCRIPT_NAME", "")
    if public_url:
        location = public_url + path
    else:  # never ``//host/...``: that would name another host
        location = "/" + ((mount_prefix(prefix) if prefix else "") + path).lstrip("/")
    response = Response(f"308 Permanent Redirect\n{location}\n", status=308,
                        mimetype="text/plain")  # fmt: skip
    response.headers["Location"] = location
    response.headers.update(policy.shared_cache(catalog.snapshot.site.cache_max_age))
    return response
