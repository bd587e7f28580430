"""``/embed/…``: a feed's latest headlines as a small HTML document other sites may frame.

The fragment is the one page allowed in a frame (its policy headers are
:data:`feedsvc.web.policy.EMBED`, applied by :mod:`feedsvc.web.hooks` to this
blueprint's pages). ``theme`` and ``limit`` are checked; other spellings of
the feed redirect to the canonical ``/embed/<feed path>/``. Fragments are
cached per content version (:mod:`feedsvc.web.pagecache`), keyed by the feed
and the non-default theme and limit only: other query parameters are
ignored, and ``?theme=auto&limit=5`` shares the entry of no query at all.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import unquote

from flask import Blueprint, abort, request
from werkzeug.wrappers import Response

from feedsvc.feeds import urls
from feedsvc.feeds.routing import Refusal, resolve
from feedsvc.web.pages import EMBED_MAX_ITEMS, EMBED_THEMES, embed_fragment
from feedsvc.web.respond import base_url, cached_page, permanent_redirect, service

blueprint = Blueprint("embed", __name__)
_ROOT = urls.embed_path(urls.MAIN)
DEFAULT_THEME = "auto"
DEFAULT_LIMIT = 5


@blueprint.get(_ROOT, defaults={"feed": ""})
@blueprint.get(_ROOT + "<path:feed>")
def embed(feed: str) -> Response:
    """Headlines of a feed, themed and limited by the query string."""
    catalog = service().catalog
    path = urls.embed_feed(feed)
    target = resolve(catalog, urls.feed_path(path, urls.FORMATS["rss"]))
    if isinstance(target, Refusal):
        abort(target.status, target.message)
    if target is None or target.spec is None:
        abort(404)
    canonical = urls.parent(target.path)
    if unquote(canonical) != path or (path != urls.MAIN and not feed.endswith(urls.SEP)):
        query = request.query_string.decode("latin-1")
        return permanent_redirect(
            urls.embed_path(canonical) + (f"?{query}" if query else ""), catalog
        )
    theme, limit = embed_options()
    base = base_url()
    build = partial(embed_fragment, catalog.snapshot, target.spec, base, theme, limit)
    key = ("embed", target.spec.key, *normalised_options(theme, limit))
    return cached_page(catalog, key, build, "text/html; charset=utf-8")


def embed_options() -> tuple[str, int]:
    """``theme`` and ``limit`` of the query string, checked (400 otherwise)."""
    theme = request.args.get("theme", DEFAULT_THEME)
    if theme not in EMBED_THEMES:
        abort(400, "theme must be one of: " + ", ".join(EMBED_THEMES))
    limit = urls.whole_number(request.args.get("limit", str(DEFAULT_LIMIT)), 1, EMBED_MAX_ITEMS)
    if limit is None:
        abort(400, f"limit must be a whole number from 1 to {EMBED_MAX_ITEMS}")
    return theme, limit


def normalised_options(theme: str, limit: int) -> tuple[str, ...]:
    """What of (theme, limit) names a distinct page: default values dropped."""
    return (
        *((f"theme={theme}",) if theme != DEFAULT_THEME else ()),
        *((f"limit={limit}",) if limit != DEFAULT_LIMIT else ()),
    )
