"""Rendering a feed to RSS 2.0 and Atom 1.0 (feedgen) and JSON Feed 1.1.

Output is a *template*: every URL that depends on where the service is
reached (the self link) starts with :data:`BASE_TOKEN`. The cache swaps the
token for the real base URL, so serving the same feed under another host or
mount point costs a byte replace, never a second feedgen run.

Every date comes from the content (newest item change), never from the
clock: validators then change exactly when the content does.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote, urljoin

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc.content.model import Article, Snapshot
from feedsvc.content.textstore import get_text
from feedsvc.feeds.spec import FeedSpec, feed_items, page_count
from feedsvc.feeds.urls import FORMATS
from feedsvc.text import html_to_text, is_absolute_http_url, render_body, shorten
from feedsvc.version import __version__

BASE_TOKEN = "https://feedsvc-base.invalid"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
ATOM_NS = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True, slots=True)
class RenderedFeed:
    """One feed in every format, with the content date it was built from."""

    bodies: dict[str, bytes]  # format name -> template bytes (with BASE_TOKEN)
    updated: datetime


@dataclass(frozen=True, slots=True)
class _Item:
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
    image: str | None


def article_id(snapshot: Snapshot, article: Article) -> str:
    """RFC 4151 ``tag:`` URI: stable across title edits, https moves and mounts."""
    return f"tag:{snapshot.site.tag_authority}:articles/{quote(article.slug, safe='-')}"


def feed_id(snapshot: Snapshot, spec: FeedSpec) -> str:
    """Stable ``tag:`` URI of a feed (Atom ``<id>``)."""
    # Every page of a paged feed is part of one logical feed, so they share the id.
    return f"tag:{snapshot.site.tag_authority}:feeds/{quote(spec.feed_key, safe='-:+')}"


@functools.lru_cache(maxsize=4096)
def _body_html(text_ref: int, url: str) -> str:
    return render_body(get_text(text_ref)[1], url)


def article_html(article: Article, url: str) -> str:
    """An article's body as sanitised HTML, absolute against its ``url``.

    Cached because feeds overlap: one article appears in the main feed, its
    tag feeds and the popular feed, in three formats each. Keyed by the text
    reference (a new one for every edit), so a cache hit reads nothing from
    the text store and the cache holds rendered HTML only, not the Markdown.
    """
    return _body_html(article.text_ref, url)


def _item(snapshot: Snapshot, article: Article) -> _Item:
    site = snapshot.site
    url = site.article_url(quote(article.slug, safe="-"))
    content = article_html(article, url)
    image = article.image
    if image and not is_absolute_http_url(image):
        image = urljoin(url, image)
        image = image if is_absolute_http_url(image) else None
    if image:
        content = f'<figure><img src="{escape(image)}" alt=""></figure>{content}'
    summary = article.summary or shorten(html_to_text(content))
    return _Item(
        id=article_id(snapshot, article),
        url=url,
        title=article.title,
        summary=summary,
        # "]]>" cannot appear in an XML CDATA section; the escaped form means the same.
        content_html=content.replace("]]>", "]]&gt;"),
        author=article.author or site.author,
        published=article.published,
        modified=article.modified,
        tags=tuple(tag.name for tag in article.tags),
        image=image,
    )


def _feedgen(snapshot: Snapshot, spec: FeedSpec, items: list[_Item], updated: datetime):
    site = snapshot.site
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.register_extension("atomlinks", AtomLinks, atom=False, rss=True)
    fg.id(feed_id(snapshot, spec))
    fg.title(spec.title)
    fg.description(spec.description)
    fg.subtitle(spec.description)
    fg.language(site.language)
    fg.author(name=site.author)
    fg.generator("feedsvc", version=__version__)
    fg.updated(updated)
    fg.lastBuildDate(updated)
    for item in items:
        entry = fg.add_entry(order="append")  # feedgen prepends by default
        entry.id(item.id)
        entry.guid(item.id, permalink=False)
        entry.title(item.title)
        entry.link(href=item.url, rel="alternate")
        # RSS <description> holds HTML (readers unescape it once more), so plain
        # text is HTML-escaped there; Atom's <summary> is typed text as it is.
        entry.description(escape(item.summary, quote=False))
        entry.summary(item.summary)
        entry.content(item.content_html, type="html")
        entry.author(name=item.author)
        entry.dc.dc_creator(item.author)
        entry.published(item.published)
        entry.updated(item.modified)
        for tag in item.tags:
            entry.category(term=tag, label=tag)
    return fg


class AtomLinks(BaseExtension):
    """feedgen extension adding ``atom:link`` elements to an RSS channel.

    feedgen writes a single ``atom:link`` (self) in RSS; paging (RFC 5005)
    and WebSub need next/previous/first/last/hub links there too.
    """

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def extend_ns(self) -> dict[str, str]:
        return {"atom": ATOM_NS}

    def extend_rss(self, rss_feed):  # type: ignore[no-untyped-def]
        channel = rss_feed[0]
        for link in self.links:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", link)
        return rss_feed


def extra_links(snapshot: Snapshot, spec: FeedSpec, fmt: str) -> list[dict[str, str]]:
    """Paging (RFC 5005) and WebSub hub links of one feed document."""
    links: list[dict[str, str]] = []
    pages = page_count(snapshot, spec)
    if spec.pageable and pages > 1:

        def page_link(rel: str, page: int) -> dict[str, str]:
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


def _set_links(fg: FeedGenerator, snapshot: Snapshot, spec: FeedSpec, fmt: str) -> None:
    # The self link is set before the alternate one: feedgen's RSS <link> takes
    # the last alternate, and RSS keeps only one atom:link (the rest go
    # through the AtomLinks extension).
    media_type = FORMATS[fmt].content_type.split(";")[0]
    fg.link(href=BASE_TOKEN + spec.url_path(fmt), rel="self", type=media_type, replace=True)
    fg.link(href=_home_url(snapshot, spec), rel="alternate")
    links = extra_links(snapshot, spec, fmt)
    if fmt == "rss":
        fg.atomlinks.links = links
    else:
        for link in links:
            fg.link(**link)


def _home_url(snapshot: Snapshot, spec: FeedSpec) -> str:
    return snapshot.site.site_url + "/"


def _json_feed(snapshot: Snapshot, spec: FeedSpec, items: list[_Item]) -> bytes:
    site = snapshot.site
    document = {
        "version": JSON_FEED_VERSION,
        "title": spec.title,
        "home_page_url": _home_url(snapshot, spec),
        "feed_url": BASE_TOKEN + spec.url_path("json"),
        **_json_paging(snapshot, spec),
        "description": spec.description,
        "language": site.language,
        "authors": [{"name": site.author}],
        "items": [
            {
                "id": item.id,
                "url": item.url,
                "title": item.title,
                "summary": item.summary,
                "content_html": item.content_html,
                "date_published": item.published.isoformat(),
                "date_modified": item.modified.isoformat(),
                "authors": [{"name": item.author}],
                "tags": list(item.tags),
                **({"image": item.image} if item.image else {}),
            }
            for item in items
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


def _json_paging(snapshot: Snapshot, spec: FeedSpec) -> dict[str, object]:
    """JSON Feed's ``next_url`` (older page) and ``hubs`` (WebSub)."""
    extra: dict[str, object] = {}
    for link in extra_links(snapshot, spec, "json"):
        if link["rel"] == "next":
            extra["next_url"] = link["href"]
        elif link["rel"] == "hub":
            extra["hubs"] = [{"type": "WebSub", "url": link["href"]}]
    return extra


def render_feed(snapshot: Snapshot, spec: FeedSpec) -> RenderedFeed:
    """Render one feed in all formats (a single feedgen build serves RSS and Atom)."""
    articles = feed_items(snapshot, spec)
    items = [_item(snapshot, article) for article in articles]
    updated = max((a.modified for a in articles), default=EPOCH)
    fg = _feedgen(snapshot, spec, items, updated)
    bodies: dict[str, bytes] = {}
    _set_links(fg, snapshot, spec, "rss")
    fg.description(escape(spec.description, quote=False))  # HTML in RSS, as for items
    bodies["rss"] = fg.rss_str(pretty=False)
    _set_links(fg, snapshot, spec, "atom")
    fg.subtitle(spec.description)  # plain text in Atom
    bodies["atom"] = fg.atom_str(pretty=False)
    bodies["json"] = _json_feed(snapshot, spec, items)
    assert set(bodies) == set(FORMATS)
    return RenderedFeed(bodies=bodies, updated=updated)
