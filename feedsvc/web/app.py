"""Flask app factory: the fast path for feeds in front of the page blueprints.

Feed URLs are answered by :class:`~feedsvc.web.endpoint.FeedEndpoint` in
front of this app (see that module for why). The app itself is a few
blueprints, one per job, each cheap and escaping all content through the one
Jinja environment (:mod:`feedsvc.web.html`):

* :mod:`~feedsvc.web.directory`: ``/``, ``/tags/``, tag pages, redirects of other spellings;
* :mod:`~feedsvc.web.embed`: ``/embed/…`` headline fragments other sites frame;
* :mod:`~feedsvc.web.opml`: ``/feeds.opml``;
* :mod:`~feedsvc.web.health`: ``/healthz`` and ``/metrics``;
* :mod:`~feedsvc.web.hooks`: CORS preflight, policy headers, plain-text errors.
"""

from __future__ import annotations

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from feedsvc.feeds.lastmodified import LastModifiedLedger
from feedsvc.service.core import FeedService
from feedsvc.service.websub import WebSubNotifier
from feedsvc.settings import ServiceSettings
from feedsvc.web import directory, embed, health, hooks, opml
from feedsvc.web.endpoint import FeedEndpoint
from feedsvc.web.metrics import RequestCounter
from feedsvc.web.pagecache import PageCache
from feedsvc.web.respond import ENDPOINT, PAGE_CACHE, PAGES_COUNTER, SERVICE, WEBSUB

BLUEPRINTS = (directory.blueprint, embed.blueprint, opml.blueprint, health.blueprint,
              hooks.blueprint)  # fmt: skip


def create_app(
    settings: ServiceSettings | None = None,
    *,
    service: FeedService | None = None,
    watch: bool = True,
) -> Flask:
    """Build the app; the content is loaded (and checked) before it returns.

    ``settings`` default to the environment (``FEEDSVC_*``). ``watch`` starts
    the content reload thread when the reload interval is positive.
    """
    settings = settings or ServiceSettings.from_env()
    service = service or FeedService(settings)
    # No static route: the stylesheet is inlined (see web/policy.py), so no file
    # is ever served from disk by request path.
    app = Flask(__name__, static_folder=None)
    if isinstance(app.json, DefaultJSONProvider):
        app.json.sort_keys = False  # /healthz keeps its documented field order
    # Werkzeug's own slash redirects would build a Location from the raw
    # request, ignoring FEEDSVC_PUBLIC_URL; other spellings go through
    # routing.resolve and a permanent redirect instead (web/directory.py).
    app.url_map.merge_slashes = False
    app.url_map.redirect_defaults = False
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.extensions[SERVICE] = service
    pages_counter = app.extensions[PAGES_COUNTER] = RequestCounter()
    notifier = WebSubNotifier(service)
    service.listeners.append(notifier)
    app.extensions[WEBSUB] = notifier

    page_cache = app.extensions[PAGE_CACHE] = PageCache(settings.page_cache_bytes)
    # Pages' Last-Modified never goes back across restarts either (its own table).
    page_cache.ledger = LastModifiedLedger(
        service.state, table="web_page_last_modified", deferred=service.deferred
    )
    endpoint = FeedEndpoint(app.wsgi_app, service, page_cache, pages_counter)
    app.extensions[ENDPOINT] = endpoint
    app.wsgi_app = endpoint  # type: ignore[method-assign]  # Flask's documented middleware idiom
    hops = settings.proxy_hops
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # likewise
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
    if watch:
        service.start_watching()
    return app
