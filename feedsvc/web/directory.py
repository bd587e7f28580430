"""The directory pages (``/``, ``/tags/``, ``/tags/<slug>/``) and every other spelling.

Paths that name a page or a feed in a non-canonical spelling (see
:mod:`feedsvc.feeds.routing`) are redirected permanently to the canonical
one; canonical feed URLs never get here (the fast path answers them).
"""

from __future__ import annotations

from urllib.parse import unquote

from flask import Blueprint, abort, request
from werkzeug.wrappers import Response

from feedsvc.feeds import urls
from feedsvc.feeds.routing import Refusal, Target, resolve
from feedsvc.web import pages
from feedsvc.web.respond import base_url, cacheable, permanent_redirect, service

blueprint = Blueprint("directory", __name__)
HTML = "text/html"


@blueprint.get(urls.DIRECTORY)
def directory() -> Response:
    """Every feed of the site."""
    catalog = service().catalog
    return cacheable(pages.directory_page(catalog, base_url()), HTML, catalog)


@blueprint.get(urls.DIRECTORY + "<path:path>")
def page_or_alias(path: str) -> Response:
    """Tag pages, the tag list, and redirects from every other spelling."""
    catalog = service().catalog
    target = resolve(catalog, request.path)
    if isinstance(target, Refusal):
        abort(target.status, target.message)
    if target is None:
        abort(404)
    if not _is_canonical(target):
        return permanent_redirect(target.path, catalog)
    base = base_url()
    if target.kind == "tags":
        return cacheable(pages.tags_page(catalog, base), HTML, catalog)
    if target.kind == "tag" and target.spec is not None:
        return cacheable(pages.tag_page(catalog, base, target.spec), HTML, catalog)
    abort(404)  # a canonical feed URL never reaches Flask; no redirect loops


ALIAS_ENDPOINT = f"{blueprint.name}.{page_or_alias.__name__}"


def _is_canonical(target: Target) -> bool:
    """Whether this request already spells the target's canonical path."""
    return "#" not in target.path and unquote(target.path) == request.path
