"""Feeds that read well in a browser, and embeddable headline fragments.

A person who clicks a feed link gets XML or a download; a feed reader must
get the exact feed bytes. Browsers mark top-level navigations with
``Sec-Fetch-Dest: document`` (Chromium, Firefox and Safari all send it), and
feed readers never do, so a navigation to a feed URL gets an HTML page about
the feed instead. Why not XSLT: browsers are removing it. Why not content
negotiation on ``Accept``: many readers send ``text/html`` in ``Accept``.

Shared caches stay correct because every feed response says
``Vary: Accept-Encoding, Sec-Fetch-Dest`` and the HTML page is
``Cache-Control: private, no-cache``: no shared cache stores it, so no reader
can ever be served a cached HTML page. ``?raw`` shows the feed itself.

The page and the embed fragment are rendered with Jinja (autoescaping on)
outside Flask, because the feed hot path runs in front of Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from feedsvc.content.model import Snapshot
from feedsvc.feeds.body import article_html
from feedsvc.feeds.spec import FeedSpec, feed_items
from feedsvc.feeds.urls import FORMATS, FeedFormat
from feedsvc.text import html_to_text, shorten
from feedsvc.version import __version__

_env = Environment(
    loader=PackageLoader("feedsvc.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

# The embed fragment is meant to be framed by any site; it carries its own
# inline style so the embedding page needs nothing else.
EMBED_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
EMBED_THEMES = ("auto", "light", "dark")
EMBED_MAX_ITEMS = 20


def wants_html(environ: dict[str, Any]) -> bool:
    """True for a browser navigation that did not ask for the raw feed."""
    if environ.get("HTTP_SEC_FETCH_DEST") != "document":
        return False
    query = environ.get("QUERY_STRING", "")
    return not any(part.split("=", 1)[0] == "raw" for part in query.split("&"))


@dataclass(frozen=True, slots=True)
class Headline:
    """One item as people see it on a page."""

    title: str
    url: str
    published: datetime
    summary: str
    tags: tuple[str, ...]


def headlines(snapshot: Snapshot, spec: FeedSpec, limit: int | None = None) -> list[Headline]:
    """The feed's items for pages: title, link, date, summary."""
    site = snapshot.site
    result = []
    for article in feed_items(snapshot, spec)[:limit]:
        url = site.article_url(article.slug)
        summary = article.summary or shorten(html_to_text(article_html(article, url)))
        result.append(
            Headline(article.title, url, article.published, summary,
                     tuple(t.name for t in article.tags))
        )  # fmt: skip
    return result


def feed_page(snapshot: Snapshot, spec: FeedSpec, fmt: FeedFormat, base: str) -> bytes:
    """The HTML page a browser gets for a feed URL."""
    feed_url = base + spec.url_path(fmt)
    return (
        _env.get_template("feed_page.html")
        .render(
            site=snapshot.site,
            spec=spec,
            fmt=fmt,
            base=base,
            feed_url=feed_url,
            other_formats=[(f, base + spec.url_path(f)) for f in FORMATS.values() if f != fmt],
            items=headlines(snapshot, spec),
            version=__version__,
        )
        .encode("utf-8")
    )


def embed_fragment(snapshot: Snapshot, spec: FeedSpec, base: str, theme: str, limit: int) -> bytes:
    """A small self-contained HTML document of headlines, for an iframe."""
    return (
        _env.get_template("embed.html")
        .render(
            site=snapshot.site,
            spec=spec,
            theme=theme,
            feed_url=base + spec.url_path("rss"),
            items=headlines(snapshot, spec, limit),
        )
        .encode("utf-8")
    )
