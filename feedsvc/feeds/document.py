"""What one feed document says, decided once for every format.

:func:`feed_document` turns a feed of a snapshot into plain data: ids,
titles, dates, links and items with their HTML. The writers
(:mod:`.render` for RSS and Atom, :mod:`.jsonfeed`) only spell it out;
they decide nothing.

Every URL that depends on where the service is reached (self and paging
links) starts with :data:`BASE_TOKEN`, so a document is a *template*: the
cache swaps the token for the request's base URL. Every date comes from the
content (newest item change), never from the clock: validators then change
exactly when the content does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

from feedsvc.content.branding import Brand
from feedsvc.content.model import Article, Attachment, Image, Snapshot
from feedsvc.feeds.body import (
    article_attachments,
    article_image,
    body_url,
    figure_html,
    item_html,
    prefetch_bodies,
)
from feedsvc.feeds.spec import FeedSpec, feed_items, page_count
from feedsvc.feeds.urls import FORMATS
from feedsvc.text import html_to_text, shorten

BASE_TOKEN = "https://feedsvc-base.invalid"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Link = dict[str, str]  # rel and href of an extra link (paging, hub)

# Feed size. One huge article must not make every feed it is in huge (a 3.8 MB
# article made the main feed 21.5 MB per format, and feeds then evicted each
# other from the cache). An item carries its full HTML up to MAX_ITEM_HTML
# bytes, and a document carries at most FEED_HTML_BUDGET bytes of item HTML;
# past either, an item carries its summary and a link to the article instead.
# With titles, summaries and markup escaping (Atom escapes HTML) a document
# then stays under FEED_BYTES_LIMIT, Google News' limit for a feed.
MAX_ITEM_HTML = 128 * 1024
FEED_HTML_BUDGET = 1024 * 1024
FEED_BYTES_LIMIT = 2 * 1024 * 1024
READ_MORE = "Read the full article"


@dataclass(frozen=True, slots=True)
class FeedItem:
    """Everything the three formats say about one article, computed once."""

    id: str
    url: str
    title: str
    summary: str
    content_html: str
    author: str
    published: datetime
    modified: datetime
    tags: tuple[str, ...]
    image: Image | None  # absolute URL
    attachments: tuple[Attachment, ...] = ()  # absolute URLs


@dataclass(frozen=True, slots=True)
class FeedDocument:
    """Everything one feed says; per-format parts are keyed by format name."""

    id: str
    title: str
    description: str
    language: str
    author: str
    home_url: str
    updated: datetime  # the newest item change (EPOCH for an empty feed)
    items: list[FeedItem]
    self_urls: dict[str, str]  # the document's own URL (BASE_TOKEN + path)
    links: dict[str, list[Link]]  # paging (RFC 5005) and WebSub hub links
    icon: Brand | None = None  # square mark (absolute URL)
    logo: Brand | None = None  # wide mark


def article_id(snapshot: Snapshot, article: Article) -> str:
    """RFC 4151 ``tag:`` URI: stable across title edits, https moves and mounts."""
    return f"tag:{snapshot.site.tag_authority}:articles/{quote(article.slug, safe='-')}"


def feed_id(snapshot: Snapshot, spec: FeedSpec) -> str:
    """Stable ``tag:`` URI of a feed (Atom ``<id>``)."""
    # Every page of a paged feed is part of one logical feed, so they share the id.
    return f"tag:{snapshot.site.tag_authority}:feeds/{quote(spec.feed_key, safe='-:+')}"


def feed_item(snapshot: Snapshot, article: Article) -> FeedItem:
    """One article as a feed item: absolute URLs, HTML content, a summary."""
    site = snapshot.site
    url = body_url(snapshot, article)
    image = article_image(article, url)
    content = item_html(article, url, image)
    return FeedItem(
        id=article_id(snapshot, article),
        url=url,
        title=article.title,
        summary=article.summary or shorten(html_to_text(content)),
        # "]]>" cannot appear in an XML CDATA section; the escaped form means the same.
        content_html=content.replace("]]>", "]]&gt;"),
        author=article.author or site.author,
        published=article.published,
        modified=article.modified,
        tags=tuple(tag.name for tag in article.tags),
        image=image,
        attachments=article_attachments(article, url),
    )


def shortened(item: FeedItem) -> FeedItem:
    """``item`` with its summary and a link to the article in place of its full HTML."""
    figure = figure_html(item.image) if item.image else ""
    html = (
        f"{figure}<p>{escape(item.summary, quote=False)}</p>"
        f'<p><a href="{escape(item.url)}">{READ_MORE}</a></p>'
    )
    return replace(item, content_html=html)


def budgeted_items(items: list[FeedItem]) -> list[FeedItem]:
    """Items within :data:`MAX_ITEM_HTML` each and :data:`FEED_HTML_BUDGET` in all.

    Items keep their order and number (paging stays right); only the HTML of
    an item over a limit is replaced by its summary and a link.
    """
    left = FEED_HTML_BUDGET
    kept = []
    for item in items:
        size = len(item.content_html.encode("utf-8"))
        if size > MAX_ITEM_HTML or size > left:
            item = shortened(item)
            size = len(item.content_html.encode("utf-8"))
        left -= size
        kept.append(item)
    return kept


def extra_links(snapshot: Snapshot, spec: FeedSpec, fmt: str, pages: int) -> list[Link]:
    """Paging (RFC 5005) and WebSub hub links of one feed document of ``pages`` pages."""
    links: list[Link] = []
    if spec.pageable and pages > 1:

        def page_link(rel: str, page: int) -> Link:
            return {"rel": rel, "href": BASE_TOKEN + spec.url_path(fmt, page)}

        links.append(page_link("first", 1))
        if spec.page > 1:
            links.append(page_link("previous", spec.page - 1))
        if spec.page < pages:
            links.append(page_link("next", spec.page + 1))
        links.append(page_link("last", pages))
    if snapshot.site.websub_hub:
        links.append({"rel": "hub", "href": snapshot.site.websub_hub})
    return links


def feed_document(snapshot: Snapshot, spec: FeedSpec) -> FeedDocument:
    """Decide everything ``spec``'s document says, in every format."""
    site = snapshot.site
    articles = feed_items(snapshot, spec)
    prefetch_bodies([(article, body_url(snapshot, article)) for article in articles])
    pages = page_count(snapshot, spec)
    return FeedDocument(
        id=feed_id(snapshot, spec),
        title=spec.title,
        description=spec.description,
        language=site.language,
        author=site.author,
        home_url=site.site_url + "/",
        updated=max((a.modified for a in articles), default=EPOCH),
        items=budgeted_items([feed_item(snapshot, article) for article in articles]),
        self_urls={fmt: BASE_TOKEN + spec.url_path(fmt) for fmt in FORMATS},
        links={fmt: extra_links(snapshot, spec, fmt, pages) for fmt in FORMATS},
        icon=site.icon,
        logo=site.logo,
    )
