"""Flask app factory: the directory pages, OPML, health, redirects and errors.

Feed URLs themselves are answered by :class:`~feedsvc.serving.FeedEndpoint`
in front of this app (see that module for why). Everything here is cheap,
escapes all content through Jinja, and never returns a 500 for input a client
controls.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from flask import Flask, Response, abort, current_app, redirect, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from . import __version__
from .browser import EMBED_CSP, EMBED_MAX_ITEMS, EMBED_THEMES, embed_fragment
from .config import ServiceSettings
from .feeds import FORMAT_BY_FILENAME, FORMATS, FeedSpec
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import RequestCounter, collect
from .routing import Redirect, Refused, resolve
from .service import FeedService, View
from .serving import CORS_HEADERS, FeedEndpoint, preflight_headers, request_base_url
from .text import tag_slug
from .websub import WebSubNotifier

log = logging.getLogger("feedsvc")

HTML_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def _service() -> FeedService:
    return current_app.extensions["feedsvc"]


def _base_url() -> str:
    service = _service()
    base = service.settings.public_url or request_base_url(request.environ)
    if base is None:
        abort(400, "invalid Host header")
    return base


def feed_links(base: str, spec: FeedSpec) -> list[dict[str, str]]:
    """Absolute URL of a feed in each format, for pages and OPML."""
    return [
        {"format": fmt.name, "label": fmt.label, "url": base + spec.url_path(fmt),
         "type": fmt.content_type.split(";")[0]}
        for fmt in FORMATS.values()
    ]  # fmt: skip


def _directory_context(view: View, base: str) -> dict[str, Any]:
    feeds = view.feeds
    main, popular = feeds["main"], feeds["popular"]
    tags = [spec for spec in feeds.values() if spec.kind == "tag"]
    return {
        "site": view.snapshot.site,
        "base": base,
        "main": {"spec": main, "links": feed_links(base, main),
                 "count": len(view.snapshot.articles)},
        "popular": {"spec": popular, "links": feed_links(base, popular)},
        "tags": [
            {"spec": spec, "links": feed_links(base, spec), "count": len(spec.tag.articles),
             "page": f"{base}/tags/#{quote(spec.tag.slug)}"}
            for spec in tags
        ],
        "version": __version__,
    }  # fmt: skip


def _html(body: str, view: View) -> Response:
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = HTML_CSP
    response.headers["Cache-Control"] = f"public, max-age={view.snapshot.site.cache_max_age}"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.add_etag()
    return response.make_conditional(request)


def opml_document(view: View, base: str) -> str:
    """OPML 2.0 listing every feed (RSS flavour), for importing into readers."""
    site = view.snapshot.site
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{quoteattr(site.title)[1:-1]} feeds</title></head>",
        "  <body>",
    ]
    for spec in view.feeds.values():
        lines.append(
            f'    <outline type="rss" version="RSS2" text={quoteattr(spec.title)} '
            f"title={quoteattr(spec.title)} xmlUrl={quoteattr(base + spec.url_path('rss'))} "
            f"htmlUrl={quoteattr(site.site_url + '/')}/>"
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _feed_alias(path: str) -> Response:
    """Redirect another spelling of a feed URL to its canonical form, or refuse.

    ``/tags/NorthKorea/rss.xml``, ``/tags/china+North%20Korea/rss.xml``,
    ``/page/1/rss.xml`` and trailing slashes all get a 308; unknown tags and
    pages past the end a 404; too many combined tags a 400 saying so.
    """
    view = _service().view
    if path.startswith("/tags/") and not path.rstrip("/").endswith(tuple(FORMAT_BY_FILENAME)):
        # A tag without a format: its entry on the tags page.
        slugs = sorted({tag_slug(p) for p in path[6:].strip("/").split("+") if p.strip()})
        if len(slugs) == 1 and slugs[0] in view.snapshot.tags:
            return _redirect(f"/tags/#{quote(slugs[0])}")
        abort(404, "unknown tag")
    resolution = resolve(view.snapshot, path)
    if isinstance(resolution, Redirect):
        return _redirect(resolution.path)
    if isinstance(resolution, Refused):
        abort(resolution.status, resolution.message)
    return _redirect(resolution.spec.url_path(resolution.fmt))  # canonical but missed the fast path


def _redirect(path: str) -> Response:
    """A permanent (308) redirect to a path under this app's mount point."""
    response = redirect(request.script_root + path, code=308)
    response.autocorrect_location_header = False
    return response


def _embed(feed: str) -> Response:
    """Headlines of a feed as a small HTML document other sites may frame."""
    view = _service().view
    trimmed = feed.strip("/")
    resolution = resolve(view.snapshot, (f"/{trimmed}" if trimmed else "") + "/rss.xml")
    if isinstance(resolution, Refused):
        abort(resolution.status, resolution.message)
    if isinstance(resolution, Redirect):
        canonical = resolution.path.rsplit("/", 1)[0]
        query = request.query_string.decode("latin-1")
        target = f"{request.script_root}/embed{canonical}/" + (f"?{query}" if query else "")
        response = redirect(target, code=308)
        response.autocorrect_location_header = False
        return response
    theme = request.args.get("theme", "auto")
    if theme not in EMBED_THEMES:
        abort(400, "theme must be one of: " + ", ".join(EMBED_THEMES))
    raw_limit = request.args.get("limit", "5")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= EMBED_MAX_ITEMS:
        abort(400, f"limit must be a whole number from 1 to {EMBED_MAX_ITEMS}")
    body = embed_fragment(view.snapshot, resolution.spec, _base_url(), theme, int(raw_limit))
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = EMBED_CSP
    response.headers["Cache-Control"] = f"public, max-age={view.snapshot.site.cache_max_age}"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.add_etag()
    return response.make_conditional(request)


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
    app = Flask(__name__)
    app.extensions["feedsvc"] = service
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.get("/")
    def directory() -> Response:
        view = _service().view
        return _html(render_template("index.html", **_directory_context(view, _base_url())), view)

    @app.get("/tags/")
    def tags_page() -> Response:
        view = _service().view
        return _html(render_template("tags.html", **_directory_context(view, _base_url())), view)

    @app.get("/tags")
    def tags_page_no_slash() -> Response:
        return redirect(request.script_root + "/tags/", code=308)

    @app.get("/tags/<path:rest>")
    @app.get("/page/<path:rest>")
    @app.get("/popular/<path:rest>")
    def feed_alias(rest: str) -> Response:
        return _feed_alias(request.path)

    @app.get("/embed/", defaults={"feed": ""})
    @app.get("/embed/<path:feed>")
    def embed(feed: str) -> Response:
        return _embed(feed)

    @app.get("/feeds.opml")
    def opml() -> Response:
        view = _service().view
        body = opml_document(view, _base_url())
        response = Response(body, mimetype="text/x-opml")
        response.headers["Cache-Control"] = f"public, max-age={view.snapshot.site.cache_max_age}"
        response.add_etag(hashlib.blake2b(body.encode(), digest_size=12).hexdigest())
        return response.make_conditional(request)

    @app.get("/healthz")
    def healthz() -> Response:
        service = _service()
        view = service.view
        snapshot = view.snapshot
        errors = [p.to_dict() for p in snapshot.errors]
        body = {
            "status": "degraded" if errors else "ok",
            "content_valid": not errors,
            "version": snapshot.version,
            "articles": len(snapshot.articles),
            "tags": len(snapshot.tags),
            "feeds": len(view.feeds),
            "loaded_at": view.loaded_at.isoformat(),
            "last_reload_at": service.last_reload_at.isoformat()
            if service.last_reload_at
            else None,
            "reloads": service.reloads,
            "renders": service.cache.renders,
            "errors": errors,
            "warnings": [p.to_dict() for p in snapshot.problems if p.severity == "warning"],
        }
        response = app.json.response(body)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.before_request
    def cors_preflight() -> Response | None:
        if request.method != "OPTIONS" or request.routing_exception is not None:
            return None
        response = Response(status=204)
        for name, value in preflight_headers(request.environ):
            response.headers[name] = value
        return response

    pages_counter = RequestCounter()

    @app.get("/metrics")
    def metrics() -> Response:
        endpoint: FeedEndpoint = current_app.extensions["feedsvc.endpoint"]
        body = collect(_service(), endpoint.counter, pages_counter)
        return Response(
            body, content_type=METRICS_CONTENT_TYPE, headers={"Cache-Control": "no-store"}
        )

    @app.after_request
    def common_headers(response: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        pages_counter.add((rule, str(response.status_code)))
        for name, value in CORS_HEADERS:
            response.headers.setdefault(name, value)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        framable = request.url_rule is not None and request.url_rule.rule.startswith("/embed/")
        if response.mimetype == "text/html" and not framable:
            response.headers.setdefault("X-Frame-Options", "DENY")  # only embeds are framed
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        text = error.description if error.code in (400, 404) and error.description else error.name
        if error.code == 404 and "requested URL was not found" in (error.description or ""):
            text = "not found"
        response = Response(f"{error.code} {text}\n", status=error.code, mimetype="text/plain")
        if error.code == 405:
            response.headers["Allow"] = "GET, HEAD, OPTIONS"
        return response

    notifier = WebSubNotifier(service)
    service.listeners.append(notifier)
    app.extensions["feedsvc.websub"] = notifier

    endpoint = app.extensions["feedsvc.endpoint"] = FeedEndpoint(app.wsgi_app, service)
    app.wsgi_app = endpoint  # type: ignore[method-assign]
    hops = settings.proxy_hops
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
    if watch:
        service.start_watching()
    return app
