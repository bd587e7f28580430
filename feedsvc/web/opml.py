"""``/feeds.opml``: every feed in one OPML 2.0 file, for importing into a reader."""

from __future__ import annotations

from functools import partial
from xml.sax.saxutils import quoteattr

from flask import Blueprint
from werkzeug.wrappers import Response

from feedsvc.feeds import urls
from feedsvc.feeds.catalog import Catalog
from feedsvc.web.respond import base_url, cached_page, service

blueprint = Blueprint("opml", __name__)


def opml_document(catalog: Catalog, base: str) -> str:
    """OPML 2.0 listing every feed (RSS flavour), for importing into readers."""
    site = catalog.snapshot.site
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{quoteattr(site.title)[1:-1]} feeds</title></head>",
        "  <body>",
    ]
    for spec in catalog.feeds.values():
        lines.append(
            f'    <outline type="rss" version="RSS2" text={quoteattr(spec.title)} '
            f"title={quoteattr(spec.title)} xmlUrl={quoteattr(base + spec.url_path('rss'))} "
            f"htmlUrl={quoteattr(urls.site_home(site))}/>"
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


@blueprint.get(urls.OPML)
def opml() -> Response:
    """The OPML file, cached per content version; its strong ETag is computed from the bytes."""
    catalog = service().catalog
    build = partial(opml_document, catalog, base_url())
    return cached_page(catalog, ("opml",), build, "text/x-opml; charset=utf-8")
