"""The directory pages (``/``, ``/tags/``, ``/tags/<slug>/``) and every other spelling.

Pages are cached per content version and base URL
(:mod:`feedsvc.web.pagecache`): query strings are ignored, except ``q`` on
``/tags/``, the tag search (normalised, so spellings of one search share an
entry). The tag list is split into pages: ``/tags/``, ``/tags/page/2/`` …

Paths that name a page or a feed in a non-canonical spelling (see
:mod:`feedsvc.feeds.routing`) are redirected permanently to the canonical
one; canonical feed URLs never get here (the fast path answers them).
"""

from __future__ import annotations

from functools import partial
from urllib.parse import unquote

from flask import Blueprint, abort, request
from werkzeug.wrappers import Response

from feedsvc.feeds import urls
from feedsvc.feeds.catalog import Catalog
from feedsvc.feeds.routing import Refusal, Target, resolve
from feedsvc.web import pages, policy
from feedsvc.web.respond import base_url, cached_page, permanent_redirect, service

blueprint = Blueprint("directory", __name__)
HTML = "text/html; charset=utf-8"
SEARCH = "q"  # the tag search's one parameter; every other query parameter is ignored


@blueprint.get(urls.DIRECTORY)
def directory() -> Response:
    """The main and popular feeds and the biggest tags (any query string is ignored)."""
    catalog = service().catalog
    base = base_url()
    return cached_page(catalog, ("directory",), lambda: pages.directory_page(catalog, base), HTML)


@blueprint.get(urls.DIRECTORY + "<path:path>")
def page_or_alias(path: str) -> Response:
    """Tag pages, the tag list, and redirects from every other spelling."""
    catalog = service().catalog
    number = urls.tag_index_number(request.path)
    if number is not None:
        return _tag_list(number)
    target = resolve(catalog, request.path)
    if isinstance(target, Refusal):
        if target.status == 410:  # a retired tag: say so, and let caches keep the answer
            return gone(target.message, catalog)
        abort(target.status, target.message)
    if target is None:
        abort(404)
    if not _is_canonical(target):
        return permanent_redirect(target.path, catalog)
    base = base_url()
    if target.kind == "tags":
        query = pages.search_query(request.args.get(SEARCH, ""))
        if query:
            build = partial(pages.tag_search_page, catalog, base, query)
            return cached_page(catalog, ("search", query), build, HTML, ledger=False)
        return _tag_list(1)
    if target.kind == "tag" and target.spec is not None:
        build = partial(pages.tag_page, catalog, base, target.spec)
        return cached_page(catalog, ("tag", target.spec.key), build, HTML)
    abort(404)  # a canonical feed URL never reaches Flask; no redirect loops


def _tag_list(number: int) -> Response:
    """Page ``number`` of the tag list (404 past the last)."""
    catalog = service().catalog
    if number > pages.tag_index_pages(catalog):
        abort(404, "no such page of the tag list")
    build = partial(pages.tags_page, catalog, base_url(), number)
    return cached_page(catalog, ("tags", number), build, HTML)


def gone(message: str, catalog: Catalog) -> Response:
    """410 Gone with its reason (feed readers unsubscribe), cacheable like a redirect."""
    response = Response(f"410 Gone\n{message}\n", status=410, mimetype="text/plain")
    response.headers.update(policy.shared_cache(catalog.snapshot.site.cache_max_age))
    return response


ALIAS_ENDPOINT = f"{blueprint.name}.{page_or_alias.__name__}"


def _is_canonical(target: Target) -> bool:
    """Whether this request already spells the target's canonical path."""
    return "#" not in target.path and unquote(target.path) == request.path
