"""``/embed/…``: a feed's latest headlines as a small HTML document other sites may frame.

The fragment is the one page allowed in a frame (its policy headers are
:data:`feedsvc.web.policy.EMBED`, applied by :mod:`feedsvc.web.hooks` to this
blueprint's pages). ``theme`` and ``limit`` are checked; other spellings of
the feed redirect to the canonical ``/embed/<feed path>/``.
"""

from __future__ import annotations

from urllib.parse import unquote

from flask import Blueprint, abort, request
from werkzeug.wrappers import Response

from feedsvc.feeds import urls
from feedsvc.feeds.routing import Refusal, resolve
from feedsvc.web.pages import EMBED_MAX_ITEMS, EMBED_THEMES, embed_fragment
from feedsvc.web.respond import base_url, cacheable, permanent_redirect, service

blueprint = Blueprint("embed", __name__)
_ROOT = urls.embed_path(urls.MAIN)


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
    theme = request.args.get("theme", "auto")
    if theme not in EMBED_THEMES:
        abort(400, "theme must be one of: " + ", ".join(EMBED_THEMES))
    limit = urls.whole_number(request.args.get("limit", "5"), 1, EMBED_MAX_ITEMS)
    if limit is None:
        abort(400, f"limit must be a whole number from 1 to {EMBED_MAX_ITEMS}")
    body = embed_fragment(catalog.snapshot, target.spec, base_url(), theme, limit)
    return cacheable(body, "text/html", catalog)
