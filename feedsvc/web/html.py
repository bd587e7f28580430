"""The one Jinja environment of every HTML page, and its render helper.

Flask views and the fast path's browser view of a feed render through
:func:`render`; Flask's own template environment is never created. Every
template gets the inline stylesheet, the version and the public paths of the
service's pages (:data:`PATHS`) as globals, so no template spells a path and
no page can forget its stylesheet. Autoescaping is on for every template.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from feedsvc.feeds import urls
from feedsvc.version import __version__
from feedsvc.web.policy import STYLESHEET

# Paths of the service's own pages, for links (templates prefix the base URL).
PATHS = {
    "directory": urls.DIRECTORY,
    "tags": urls.TAG_INDEX,
    "opml": urls.OPML,
    "health": urls.HEALTHZ,
    "embed": urls.embed_path(urls.MAIN),
    "embed_popular": urls.embed_path(urls.POPULAR),
    "embed_tag": urls.embed_path(urls.TAG_INDEX + "<tag>"),
}


def breakable_url(url: str) -> Markup:
    """A URL, escaped, with line-break opportunities after each path ``/``.

    Long feed URLs then wrap at segment boundaries on a phone instead of
    mid-word; ``<wbr>`` adds nothing to the text, so a copied URL is intact.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return escape(url)
    host, slash, path = rest.partition(urls.SEP)
    return escape(f"{scheme}://{host}{slash}") + Markup(urls.SEP + "<wbr>").join(
        escape(part) for part in path.split(urls.SEP)
    )


_env = Environment(
    loader=PackageLoader("feedsvc.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_env.filters["breakable"] = breakable_url
_env.globals.update(stylesheet=STYLESHEET, version=__version__, paths=PATHS)


def render(template: str, **context: Any) -> str:
    """One template of ``web/templates`` rendered with ``context``."""
    return _env.get_template(template).render(**context)
