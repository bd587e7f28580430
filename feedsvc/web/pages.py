"""What the HTML pages show: the directory, tag pages, feeds in a browser, embeds.

Pure functions of a :class:`~feedsvc.feeds.catalog.Catalog` (or snapshot) and
the public base URL, rendered through the one Jinja environment
(:mod:`feedsvc.web.html`). The Flask views and the fast path decide *when*
to answer with a page (and keep it: :mod:`feedsvc.web.pagecache`); this
module decides what is on it.

Every page stays small however many tags there are: ``/`` shows the
:data:`TOP_TAGS` biggest, the tag list shows :data:`TAGS_PER_PAGE` compact
lines a page, a search at most :data:`SEARCH_RESULTS`, and a tag page only
its own feeds.

A person who clicks a feed link gets XML or a download; a feed reader must
get the exact feed bytes. So a browser navigation to a feed URL (see
:func:`feedsvc.web.negotiate.wants_html`) gets :func:`feed_page`, an HTML page
about the feed. Why not XSLT: browsers are removing it. Shared caches stay
correct because every feed response says ``Vary: Accept-Encoding,
Sec-Fetch-Dest`` and the page is ``Cache-Control: private, no-cache``: no
shared cache stores it, so no reader can ever be served a cached HTML page.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedsvc.content.model import Snapshot
from feedsvc.feeds import urls
from feedsvc.feeds.body import article_html
from feedsvc.feeds.catalog import Catalog
from feedsvc.feeds.spec import FeedSpec, feed_items
from feedsvc.feeds.urls import FORMATS, FeedFormat, article_url
from feedsvc.text import html_to_text, shorten, tag_slug
from feedsvc.web.html import render

EMBED_THEMES = ("auto", "light", "dark")
EMBED_MAX_ITEMS = 20
SHORT_LABELS = {"rss": "RSS", "atom": "Atom", "json": "JSON"}  # one line per tag
TOP_TAGS = 30  # tags on the directory page, by article count
TAGS_PER_PAGE = 100  # lines of a page of the tag list
SEARCH_RESULTS = 100  # tags shown for a search
MAX_QUERY = 100  # characters of a tag search that count


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
        url = article_url(site, article.slug)
        summary = article.summary or shorten(html_to_text(article_html(article, url)))
        result.append(
            Headline(article.title, url, article.published, summary,
                     tuple(t.name for t in article.tags))
        )  # fmt: skip
    return result


def feed_page(snapshot: Snapshot, spec: FeedSpec, fmt: FeedFormat, base: str) -> bytes:
    """The HTML page a browser gets for a feed URL."""
    feed_url = base + spec.url_path(fmt)
    others = [(f, base + spec.url_path(f)) for f in FORMATS.values() if f != fmt]
    return render(
        "feed_page.html", site=snapshot.site, spec=spec, fmt=fmt, base=base,
        feed_url=feed_url, other_formats=others, items=headlines(snapshot, spec),
    ).encode("utf-8")  # fmt: skip


def embed_fragment(snapshot: Snapshot, spec: FeedSpec, base: str, theme: str, limit: int) -> bytes:
    """A small self-contained HTML document of headlines, for an iframe."""
    return render(
        "embed.html", site=snapshot.site, spec=spec, theme=theme,
        feed_url=base + spec.url_path("rss"), items=headlines(snapshot, spec, limit),
    ).encode("utf-8")  # fmt: skip


def feed_links(base: str, spec: FeedSpec) -> list[dict[str, str]]:
    """Absolute URL of a feed in each format, for pages and OPML."""
    return [
        {"format": fmt.name, "label": fmt.label, "url": base + spec.url_path(fmt),
         "type": fmt.content_type.split(";")[0], "short": SHORT_LABELS[fmt.name]}
        for fmt in FORMATS.values()
    ]  # fmt: skip


def _tag_context(base: str, spec: FeedSpec) -> dict[str, Any]:
    assert spec.tag is not None
    return {
        "spec": spec,
        "links": feed_links(base, spec),
        "count": len(spec.tag.articles),
        "page": base + urls.html_page(spec.path),
    }


def tag_specs(catalog: Catalog) -> list[FeedSpec]:
    """Every tag's feed, in the catalog's order (by slug)."""
    return [spec for spec in catalog.feeds.values() if spec.kind == "tag"]


def _count(spec: FeedSpec) -> int:
    return len(spec.tag.articles) if spec.tag is not None else 0


def tag_index_pages(catalog: Catalog) -> int:
    """How many pages the tag list has (at least one)."""
    return max(1, -(-len(catalog.snapshot.tags) // TAGS_PER_PAGE))


def _directory_context(catalog: Catalog, base: str) -> dict[str, Any]:
    feeds = catalog.feeds
    main, popular = feeds["main"], feeds["popular"]
    return {
        "site": catalog.snapshot.site,
        "base": base,
        "main": {"spec": main, "links": feed_links(base, main),
                 "count": len(catalog.snapshot.articles)},
        "popular": {"spec": popular, "links": feed_links(base, popular)},
    }  # fmt: skip


def directory_page(catalog: Catalog, base: str) -> str:
    """``/``: the main and popular feeds, the biggest tags, autodiscovery links."""
    top = heapq.nlargest(TOP_TAGS, tag_specs(catalog), key=_count)
    return render(
        "index.html", tags=[_tag_context(base, spec) for spec in top],
        tag_total=len(catalog.snapshot.tags), **_directory_context(catalog, base),
    )  # fmt: skip


def _pager(base: str, page: int, pages: int) -> list[dict[str, Any]]:
    return [
        {"number": n, "url": base + urls.tag_index_path(n), "current": n == page}
        for n in range(1, pages + 1)
    ]


def tags_page(catalog: Catalog, base: str, page: int = 1) -> str:
    """``/tags/`` and ``/tags/page/N/``: one page of the tag list, a line per tag."""
    specs = tag_specs(catalog)[(page - 1) * TAGS_PER_PAGE : page * TAGS_PER_PAGE]
    return render(
        "tags.html", site=catalog.snapshot.site, base=base, query="",
        tags=[_tag_context(base, spec) for spec in specs], page=page,
        pager=_pager(base, page, tag_index_pages(catalog)), tag_total=len(catalog.snapshot.tags),
    )  # fmt: skip


def search_query(raw: str) -> str:
    """A tag search as typed, normalised: spaces collapsed, case folded, bounded."""
    return " ".join(raw.split()).casefold()[:MAX_QUERY]


def _matches(spec: FeedSpec, query: str, slug: str) -> bool:
    tag = spec.tag
    return tag is not None and (query in tag.name.casefold() or bool(slug and slug in tag.slug))


def tag_search_page(catalog: Catalog, base: str, query: str) -> str:
    """``/tags/?q=…``: the tags whose name or slug contains ``query`` (normalised)."""
    slug = tag_slug(query)
    found = [spec for spec in tag_specs(catalog) if _matches(spec, query, slug)]
    found.sort(key=lambda spec: (not spec.tags[0].slug.startswith(slug), -_count(spec)))
    return render(
        "tags.html", site=catalog.snapshot.site, base=base, query=query, matches=len(found),
        tags=[_tag_context(base, spec) for spec in found[:SEARCH_RESULTS]], page=1, pager=[],
        tag_total=len(catalog.snapshot.tags),
    )  # fmt: skip


def tag_page(catalog: Catalog, base: str, spec: FeedSpec) -> str:
    """``/tags/<slug>/``: one tag's feeds and the articles in them now (no other tag)."""
    site = catalog.snapshot.site
    articles = [
        {"title": a.title, "url": article_url(site, a.slug), "published": a.published}
        for a in feed_items(catalog.snapshot, spec)
    ]
    return render("tag.html", tag=_tag_context(base, spec), articles=articles, site=site, base=base)
