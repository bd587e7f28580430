"""Flask app factory: the directory pages, OPML, health, redirects and errors.

Feed URLs themselves are answered by :class:`~feedsvc.web.endpoint.FeedEndpoint`
in front of this app (see that module for why). Everything here is cheap,
escapes all content through Jinja, and never returns a 500 for input a client
controls.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import quoteattr

from flask import Flask, Response, abort, current_app, render_template, request
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from feedsvc.feeds.catalog import Catalog
from feedsvc.feeds.routing import Refusal, Target, resolve
from feedsvc.feeds.spec import FeedSpec, feed_items
from feedsvc.feeds.urls import FORMATS, article_url
from feedsvc.service.core import FeedService
from feedsvc.service.websub import WebSubNotifier
from feedsvc.settings import ServiceSettings
from feedsvc.version import __version__
from feedsvc.web.endpoint import CORS_HEADERS, FeedEndpoint, preflight_headers, request_base_url
from feedsvc.web.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from feedsvc.web.metrics import RequestCounter, collect
from feedsvc.web.pages import EMBED_CSP, EMBED_MAX_ITEMS, EMBED_THEMES, embed_fragment
from feedsvc.web.policy import HTML_CSP, STYLESHEET

log = logging.getLogger("feedsvc")


def _service() -> FeedService:
    return current_app.extensions["feedsvc"]


def _base_url() -> str:
    """Public base URL: FEEDSVC_PUBLIC_URL, else this request's (after ProxyFix)."""
    service = _service()
    base = service.settings.public_url or request_base_url(request.environ)
    if base is None:
        abort(400, "missing or invalid Host header")
    return base


def breakable_url(url: str) -> Markup:
    """A URL, escaped, with line-break opportunities after each path ``/``.

    Long feed URLs then wrap at segment boundaries on a phone instead of
    mid-word; ``<wbr>`` adds nothing to the text, so a copied URL is intact.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return escape(url)
    host, slash, path = rest.partition("/")
    return escape(f"{scheme}://{host}{slash}") + Markup("/<wbr>").join(
        escape(part) for part in path.split("/")
    )


def _cache_control(view: Catalog) -> str:
    return f"public, max-age={view.snapshot.site.cache_max_age}"


def feed_links(base: str, spec: FeedSpec) -> list[dict[str, str]]:
    """Absolute URL of a feed in each format, for pages and OPML."""
    return [
        {"format": fmt.name, "label": fmt.label, "url": base + spec.url_path(fmt),
         "type": fmt.content_type.split(";")[0]}
        for fmt in FORMATS.values()
    ]  # fmt: skip


def _tag_context(base: str, spec: FeedSpec) -> dict[str, Any]:
    assert spec.tag is not None
    return {
        "spec": spec,
        "links": feed_links(base, spec),
        "count": len(spec.tag.articles),
        "page": base + spec.path + "/",
    }


def _directory_context(view: Catalog, base: str) -> dict[str, Any]:
    feeds = view.feeds
    main, popular = feeds["main"], feeds["popular"]
    return {
        "site": view.snapshot.site,
        "base": base,
        "stylesheet": STYLESHEET,
        "main": {"spec": main, "links": feed_links(base, main),
                 "count": len(view.snapshot.articles)},
        "popular": {"spec": popular, "links": feed_links(base, popular)},
        "tags": [_tag_context(base, spec) for spec in feeds.values() if spec.kind == "tag"],
        "version": __version__,
    }  # fmt: skip


def _article_links(view: Catalog, spec: FeedSpec) -> list[dict[str, Any]]:
    """The items of a feed as links to the articles on the news site."""
    site = view.snapshot.site
    return [
        {"title": a.title, "url": article_url(site, a.slug),
         "published": a.published}
        for a in feed_items(view.snapshot, spec)
    ]  # fmt: skip


def _html(body: str, view: Catalog) -> Response:
    response = Response(body, mimetype="text/html")
    response.headers["Cache-Control"] = _cache_control(view)
    response.add_etag()
    return response.make_conditional(request)


def opml_document(view: Catalog, base: str) -> str:
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


def _permanent_redirect(path: str, view: Catalog) -> Response:
    """308 to a canonical path under the public base URL (absolute Location).

    An absolute URL built from FEEDSVC_PUBLIC_URL (or the forwarded scheme,
    host and prefix of trusted proxies) stays right behind a proxy that
    strips a path prefix, where a bare ``/tags/...`` would escape the mount.
    """
    location = _base_url() + path
    response = Response(f"308 Permanent Redirect\n{location}\n", status=308,
                        mimetype="text/plain")  # fmt: skip
    response.headers["Location"] = location
    response.headers["Cache-Control"] = _cache_control(view)
    return response


def _is_canonical(target: Target) -> bool:
    """Whether this request already spells the target's canonical path."""
    return "#" not in target.path and unquote(target.path) == request.path


def _embed(feed: str) -> Response:
    """Headlines of a feed as a small HTML document other sites may frame."""
    view = _service().view
    trimmed = feed.strip("/")
    target = resolve(view, (f"/{trimmed}" if trimmed else "") + "/rss.xml")
    if isinstance(target, Refusal):
        abort(target.status, target.message)
    if target is None or target.spec is None:
        abort(404)
    canonical = target.path.rsplit("/", 1)[0]
    if unquote(canonical) != (f"/{trimmed}" if trimmed else "") or (trimmed and feed[-1] != "/"):
        query = request.query_string.decode("latin-1")
        return _permanent_redirect(f"/embed{canonical}/" + (f"?{query}" if query else ""), view)
    theme = request.args.get("theme", "auto")
    if theme not in EMBED_THEMES:
        abort(400, "theme must be one of: " + ", ".join(EMBED_THEMES))
    raw_limit = request.args.get("limit", "5")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= EMBED_MAX_ITEMS:
        abort(400, f"limit must be a whole number from 1 to {EMBED_MAX_ITEMS}")
    body = embed_fragment(view.snapshot, target.spec, _base_url(), theme, int(raw_limit))
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = EMBED_CSP
    response.headers["Cache-Control"] = _cache_control(view)
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
    # No static route: the stylesheet is inlined (see HTML_CSP), so no file is
    # ever served from disk by request path.
    app = Flask(__name__, static_folder=None)
    app.extensions["feedsvc"] = service
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.jinja_env.filters["breakable"] = breakable_url
    # Werkzeug's own slash redirects would build a Location from the raw
    # request, ignoring FEEDSVC_PUBLIC_URL; other spellings go through
    # aliases.resolve and _permanent_redirect instead.
    app.url_map.merge_slashes = False
    app.url_map.redirect_defaults = False

    @app.get("/")
    def directory() -> Response:
        view = _service().view
        return _html(render_template("index.html", **_directory_context(view, _base_url())), view)

    @app.get("/<path:path>")
    def page_or_alias(path: str) -> Response:
        """Tag pages, the tag list, and redirects from every other spelling."""
        view = _service().view
        target = resolve(view, request.path)
        if isinstance(target, Refusal):
            abort(target.status, target.message)
        if target is None:
            abort(404)
        if not _is_canonical(target):
            return _permanent_redirect(target.path, view)
        context = _directory_context(view, _base_url())
        if target.kind == "tags":
            return _html(render_template("tags.html", **context), view)
        if target.kind == "tag" and target.spec is not None:
            tag = _tag_context(context["base"], target.spec)
            articles = _article_links(view, target.spec)
            return _html(render_template("tag.html", tag=tag, articles=articles, **context), view)
        abort(404)  # a canonical feed URL never reaches Flask; no redirect loops

    @app.get("/embed/", defaults={"feed": ""})
    @app.get("/embed/<path:feed>")
    def embed(feed: str) -> Response:
        return _embed(feed)

    @app.get("/feeds.opml")
    def opml() -> Response:
        view = _service().view
        body = opml_document(view, _base_url())
        response = Response(body, mimetype="text/x-opml")
        response.headers["Cache-Control"] = _cache_control(view)
        response.add_etag()  # a strong ETag from the bytes served, as for the pages
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
            "watch": service.watch_mode,
            "files_read": service.loader.files_read,
            "renders": service.cache.renders,
            "http": endpoint.stats(),
            "errors": errors,
            "warnings": [p.to_dict() for p in snapshot.problems if p.severity == "warning"],
        }
        response = app.json.response(body)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.before_request
    def cors_preflight() -> Response | None:
        """Answer OPTIONS (CORS preflight) on every URL that names something."""
        if request.method != "OPTIONS" or request.routing_exception is not None:
            return None
        if request.endpoint == "page_or_alias" and resolve(_service().view, request.path) is None:
            abort(404)
        response = Response(status=204)
        del response.headers["Content-Type"]
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
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", HTML_CSP)
            response.headers.setdefault("Referrer-Policy", "no-referrer")
            framable = request.url_rule is not None and request.url_rule.rule.startswith("/embed/")
            if not framable:
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
    app.extensions["feedsvc.service.websub"] = notifier

    endpoint = FeedEndpoint(app.wsgi_app, service)
    app.extensions["feedsvc.endpoint"] = endpoint
    app.wsgi_app = endpoint  # type: ignore[method-assign]
    hops = settings.proxy_hops
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
    if watch:
        service.start_watching()
    return app
