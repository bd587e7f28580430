"""Helpers of the Flask views: the running service, the base URL, cacheable answers.

Everything a view needs from the request context, typed, in one place: the
:class:`~feedsvc.service.core.FeedService` the app serves, the public base
URL of this request, a conditional (ETag) response for a page and a
permanent redirect to a canonical path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from flask import Response, abort, current_app, request
from werkzeug.wrappers import Response as BaseResponse

from feedsvc.feeds.catalog import Catalog
from feedsvc.feeds.urls import mount_prefix
from feedsvc.service.core import FeedService
from feedsvc.web import policy
from feedsvc.web.metrics import RequestCounter
from feedsvc.web.negotiate import request_base_url

if TYPE_CHECKING:
    from feedsvc.web.endpoint import FeedEndpoint

# Keys of app.extensions (cli.py and tests read the first two).
SERVICE = "feedsvc"
WEBSUB = "feedsvc.service.websub"
ENDPOINT = "feedsvc.endpoint"
PAGES_COUNTER = "feedsvc.pages"


def service() -> FeedService:
    """The service this app answers from."""
    return cast(FeedService, current_app.extensions[SERVICE])


def feed_endpoint() -> FeedEndpoint:
    """The fast path in front of this app (its counters feed /healthz and /metrics)."""
    return cast("FeedEndpoint", current_app.extensions[ENDPOINT])


def pages_counter() -> RequestCounter:
    """Responses of this app (everything but feeds) by route and status."""
    return cast(RequestCounter, current_app.extensions[PAGES_COUNTER])


def base_url() -> str:
    """Public base URL: FEEDSVC_PUBLIC_URL, else this request's (after ProxyFix)."""
    settings = service().settings
    base = settings.public_url or request_base_url(request.environ, settings.allowed_hosts)
    if base is None:
        abort(400, "missing or invalid Host header")
    return base


def cacheable(body: str | bytes, mimetype: str, catalog: Catalog) -> BaseResponse:
    """A page shared caches may keep: strong ETag from its bytes, conditional on the request."""
    response = Response(body, mimetype=mimetype)
    response.headers.update(policy.shared_cache(catalog.snapshot.site.cache_max_age))
    response.add_etag()
    return response.make_conditional(request)


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
