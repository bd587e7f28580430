"""Rendering a feed: RSS 2.0 and Atom 1.0 through feedgen, JSON Feed beside it.

:func:`render_feed` is the one entry point: it has :mod:`.document` decide
what the feed says, then has each format written. This module knows XML (by
way of feedgen) and nothing of requests or caching; its output is a
*template* whose base-dependent URLs start with
:data:`~feedsvc.feeds.document.BASE_TOKEN`.

feedgen pitfalls handled here: ``add_entry()`` prepends by default, and RSS
keeps only one ``atom:link`` (the :class:`RssChannelExtras` extension adds the rest).
Enclosures, Media RSS and the channel's icon and logo are written by the
:mod:`.mediarss` extension (feedgen keeps the last RSS enclosure, and ties
Atom's logo to RSS's image).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

from feedsvc.content.model import Snapshot
from feedsvc.feeds.document import FeedDocument, FeedItem, Link, feed_document
from feedsvc.feeds.jsonfeed import json_feed
from feedsvc.feeds.spec import FeedSpec
from feedsvc.feeds.urls import FORMATS
from feedsvc.state.foreground import FOREGROUND
from feedsvc.version import __version__

if TYPE_CHECKING:  # imported where an RSS or Atom feed is built (see _feed_generator)
    from feedgen.feed import FeedGenerator

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
_DC_CREATOR = f"{{{DC_NS}}}creator"


ALL_FORMATS = tuple(FORMATS)


@dataclass(frozen=True, slots=True)
class RenderedFeed:
    """One feed in some or all formats, with the content date it was built from.

    ``bodies`` holds only the formats asked for: a first request renders its
    own format alone (half the work of all three), the cache adds the others
    on their own first requests (:meth:`~feedsvc.feeds.cache.FeedCache.template`).
    """

    bodies: dict[str, bytes]  # format name -> template bytes (with BASE_TOKEN)
    updated: datetime


def render_feed(
    snapshot: Snapshot, spec: FeedSpec, formats: Sequence[str] = ALL_FORMATS
) -> RenderedFeed:
    """Render one feed in ``formats`` (all by default) from one decided document.

    The document is decided here (it needs the snapshot); the writing goes
    to the writer in use (:func:`use_writer`: a writer process, or
    :func:`write_document` here), which gives the same bytes either way.
    Marked as foreground work: deferrable writes wait for it to end
    (:mod:`feedsvc.state.foreground`).
    """
    with FOREGROUND.busy():
        doc = feed_document(snapshot, spec)
        return RenderedFeed(bodies=_writer(doc, formats), updated=doc.updated)


def write_document(doc: FeedDocument, formats: Sequence[str] = ALL_FORMATS) -> dict[str, bytes]:
    """``doc`` spelled out in ``formats``: format name -> template bytes.

    RSS and Atom share a single feedgen build when both are asked for; a
    format not asked for costs nothing. Each format's bytes are the same
    whichever others are written with it (tests/test_feeds_render.py).
    Also what a writer process runs (:mod:`.writers`).
    """
    bodies: dict[str, bytes] = {}
    fg = _feed_generator(doc, formats) if "rss" in formats or "atom" in formats else None
    for fmt in formats:
        if fmt == "rss":
            bodies[fmt] = _rss(fg, doc)
        elif fmt == "atom":
            bodies[fmt] = _atom(fg, doc)
        elif fmt == "json":
            bodies[fmt] = json_feed(doc)
        else:
            raise KeyError(fmt)
    return bodies


# Writes a decided document in the formats named (write_document, or a writer pool's write).
DocumentWriter = Callable[[FeedDocument, Sequence[str]], dict[str, bytes]]
_writer: DocumentWriter = write_document


def use_writer(writer: DocumentWriter | None) -> DocumentWriter:
    """Have every later :func:`render_feed` write through ``writer`` (``None``: here).

    Process-wide, like the body cache (:func:`~feedsvc.feeds.body.keep_rendered_bodies`):
    every writer gives the same bytes, so it only matters where the CPU is
    spent. Returns the writer used until now.
    """
    global _writer
    previous, _writer = _writer, writer or write_document
    return previous


def rss_feed(doc: FeedDocument) -> bytes:
    """RSS alone, from a fresh feedgen build (the benchmark's render-per-request peer)."""
    return _rss(_feed_generator(doc, ("rss",)), doc)


class RssChannelExtras:
    """feedgen extension for what RSS has beyond feedgen: more ``atom:link``
    elements in the channel, and each item's ``dc:creator``.

    feedgen writes a single ``atom:link`` (self) in RSS; paging (RFC 5005)
    and WebSub need next/previous/first/last/hub links there too. RSS's
    ``<author>`` must be an e-mail address, so the author's name goes in
    Dublin Core's ``dc:creator`` (:class:`DcCreator`).

    One extension, not feedgen's ``dc`` beside an ``atomlinks`` of our own:
    feedgen's Dublin Core entry part looks at fifteen fields per item to write
    one, and an extension without an entry part costs a raised and caught
    ImportError per item (``add_entry`` registers every extension on it). The
    namespaces come in the order the two gave them (``dc``, then ``atom``),
    so the bytes are the same. feedgen calls extensions by these method names
    (duck typing: no base class needed).
    """

    def __init__(self) -> None:
        self.links: list[Link] = []

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS, "atom": ATOM_NS}

    def extend_rss(self, rss_feed: Any) -> Any:  # lxml element (lxml is untyped)
        from lxml import etree  # loaded by feedgen already: a dict look-up

        channel = rss_feed[0]
        for link in self.links:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", link)
        return rss_feed

    def extend_atom(self, atom_feed: Any) -> Any:  # registered for RSS only
        return atom_feed


class DcCreator:
    """Entry half of :class:`RssChannelExtras`: an item's ``dc:creator``, as
    feedgen's ``dc`` extension wrote it (after feedgen's own elements)."""

    def __init__(self) -> None:
        self.creator: str | None = None

    def extend_rss(self, item: Any) -> Any:  # lxml element (lxml is untyped)
        from lxml import etree  # loaded by feedgen already: a dict look-up

        if self.creator is not None:
            etree.SubElement(item, _DC_CREATOR).text = self.creator
        return item

    def extend_atom(self, entry: Any) -> Any:  # registered for RSS only
        return entry


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # fmt: skip


def rfc2822_date(date: datetime) -> str:
    """feedgen's ``formatRFC2822`` without its two ``setlocale()`` calls per date.

    feedgen switches the whole process to the C locale and back around each
    ``strftime`` (for English day and month names): ~5 us a date, a tenth of
    an item's RSS, and not thread-safe. The names are spelled here; the
    numbers ``strftime`` writes are the same in every locale.
    """
    day, month = _DAY_NAMES[date.weekday()], _MONTH_NAMES[date.month - 1]
    return date.strftime(f"{day}, %d {month} %Y %H:%M:%S %z")


@functools.cache
def _dates_without_setlocale() -> None:
    """Have feedgen spell RSS dates with :func:`rfc2822_date` (the same bytes,
    tests/test_feeds_render.py); feedgen still writes every element."""
    import feedgen.entry
    import feedgen.feed

    feedgen.entry.formatRFC2822 = feedgen.feed.formatRFC2822 = rfc2822_date


def _feed_generator(doc: FeedDocument, formats: Sequence[str]) -> FeedGenerator:  # untyped
    # feedgen, lxml and dateutil (~6 MB resident) are imported on the first
    # RSS or Atom build, not with this module: a server whose writer
    # processes do the writing never loads them (issue 14 item 4).
    from feedgen.feed import FeedGenerator

    from feedsvc.feeds.mediarss import MediaEntry, MediaFeed

    _dates_without_setlocale()
    fg = FeedGenerator()
    fg.register_extension("extras", RssChannelExtras, DcCreator, atom=False, rss=True)
    fg.register_extension("media", MediaFeed, MediaEntry, atom=True, rss=True)
    fg.media.icon, fg.media.logo = doc.icon, doc.logo
    fg.media.title, fg.media.link = doc.title, doc.home_url  # RSS <image> repeats the channel's
    fg.id(doc.id)
    fg.title(doc.title)
    fg.description(doc.description)
    fg.subtitle(doc.description)
    fg.language(doc.language)
    fg.author(name=doc.author)
    fg.generator("feedsvc", version=__version__)
    fg.updated(doc.updated)
    fg.lastBuildDate(doc.updated)
    rss, atom = "rss" in formats, "atom" in formats
    for item in doc.items:
        _add_entry(fg, item, rss=rss, atom=atom)
    return fg


def _add_entry(fg: FeedGenerator, item: FeedItem, *, rss: bool, atom: bool) -> None:
    """Add ``item``, with only the setters whose fields the formats written use.

    feedgen's setters fill RSS and Atom fields at once; the ones below that
    fill one format's fields alone are called only when it is written (a
    cold request writes its own format alone), so the other's bytes never
    depend on them (tests/test_feeds_render.py compares both ways).
    """
    entry = fg.add_entry(order="append")  # feedgen prepends by default
    entry.guid(item.id, permalink=False)  # RSS <guid> and Atom <id> both
    entry.title(item.title)
    entry.link(href=item.url, rel="alternate")
    if rss:
        # RSS <description> holds HTML (readers unescape it once more), so plain
        # text is HTML-escaped there; Atom's <summary> is typed text as it is.
        entry.description(escape(item.summary, quote=False))  # Atom's content: set below
        entry.extras.creator = item.author
    if atom:
        entry.summary(item.summary)  # RSS's description only when it has none
        entry.author(name=item.author)  # RSS's <author> only with an e-mail: never here
        entry.updated(item.modified)  # and the item's lastBuildDate, which RSS never writes
    entry.content(item.content_html, type="html")
    entry.published(item.published)
    if item.tags:  # one call: feedgen checks and maps its whole list on each
        entry.category([{"term": tag, "label": tag} for tag in item.tags])
    entry.media.image, entry.media.attachments = item.image, item.attachments


def _set_links(fg: FeedGenerator, doc: FeedDocument, fmt: str) -> None:
    # The self link is set before the alternate one: feedgen's RSS <link> takes
    # the last alternate, and RSS keeps only one atom:link (the rest go
    # through the RssChannelExtras extension).
    media_type = FORMATS[fmt].content_type.split(";")[0]
    fg.link(href=doc.self_urls[fmt], rel="self", type=media_type, replace=True)
    fg.link(href=doc.home_url, rel="alternate")
    if fmt == "rss":
        fg.extras.links = doc.links[fmt]
    else:
        for link in doc.links[fmt]:
            fg.link(**link)


def _rss(fg: FeedGenerator, doc: FeedDocument) -> bytes:
    _set_links(fg, doc, "rss")
    fg.description(escape(doc.description, quote=False))  # HTML in RSS, as for items
    body: bytes = fg.rss_str(pretty=False)
    return body


def _atom(fg: FeedGenerator, doc: FeedDocument) -> bytes:
    _set_links(fg, doc, "atom")
    fg.subtitle(doc.description)  # plain text in Atom
    body: bytes = fg.atom_str(pretty=False)
    return body
