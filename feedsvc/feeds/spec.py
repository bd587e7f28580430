"""Which articles go in which feed, and the URL each feed lives at.

A feed is described by a :class:`FeedSpec`; its items come from the snapshot
by :func:`feed_items`. Rendering to bytes lives in :mod:`feedsvc.feeds.render`;
serving lives in the web layer. This module knows nothing of Flask or XML.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from dataclasses import dataclass, replace
from typing import Literal

from feedsvc.content.model import Article, Snapshot, TagEntry
from feedsvc.feeds.urls import (
    FORMATS,
    MAIN,
    POPULAR,
    FeedFormat,
    combined_path,
    feed_path,
    tag_path,
)

FeedKind = Literal["main", "tag", "tags", "popular"]


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed independent of format: what it is called and where it lives.

    ``page`` > 1 is an older page of the same feed (RFC 5005 paging): its URL
    inserts ``/page/N`` before the file name.
    """

    key: str
    kind: FeedKind
    title: str
    description: str
    path: str  # URL path before the file name: urls.MAIN, urls.POPULAR, urls.tag_path(slug)
    tags: tuple[TagEntry, ...] = ()
    page: int = 1

    @property
    def tag(self) -> TagEntry | None:
        """The tag of a single-tag feed."""
        return self.tags[0] if self.kind == "tag" else None

    @property
    def feed_key(self) -> str:
        """Key of the feed regardless of page."""
        return self.key.split("@", 1)[0]

    @property
    def pageable(self) -> bool:
        """Main and tag feeds page back through history; the popular feed does not."""
        return self.kind != "popular"

    def url_path(self, fmt: FeedFormat | str, page: int | None = None) -> str:
        """Path of this feed in one format, percent-encoded, e.g. ``/tags/x/rss.xml``."""
        feed_format = FORMATS[fmt] if isinstance(fmt, str) else fmt
        return feed_path(self.path, feed_format, self.page if page is None else page)

    def at_page(self, page: int) -> FeedSpec:
        """The same feed at another page."""
        key = self.feed_key if page == 1 else f"{self.feed_key}@{page}"
        return replace(self, key=key, page=page)


def main_feed(snapshot: Snapshot) -> FeedSpec:
    """The newest articles of the whole site."""
    site = snapshot.site
    return FeedSpec("main", "main", site.title, site.description or site.title, MAIN)


def popular_feed(snapshot: Snapshot) -> FeedSpec:
    """The most viewed articles (optionally within a window of days)."""
    site = snapshot.site
    window = f" in the last {site.popular_window_days} days" if site.popular_window_days else ""
    return FeedSpec(
        "popular",
        "popular",
        f"{site.title}: Most popular",
        f"The most read articles of {site.title}{window}.",
        POPULAR,
    )


def tag_feed(snapshot: Snapshot, slug: str) -> FeedSpec | None:
    """The newest articles with one tag, or ``None`` for an unknown tag."""
    entry = snapshot.tags.get(slug)
    if entry is None:
        return None
    site = snapshot.site
    return FeedSpec(
        f"tag:{slug}",
        "tag",
        f"{site.title}: {entry.name}",
        f"Articles of {site.title} tagged {entry.name}.",
        tag_path(slug),
        (entry,),
    )


def combined_feed(snapshot: Snapshot, slugs: tuple[str, ...]) -> FeedSpec | None:
    """The union of several tags, or ``None`` if any tag is unknown.

    ``slugs`` must already be canonical: sorted, distinct, two or more.
    """
    entries = tuple(snapshot.tags.get(slug) for slug in slugs)
    if len(slugs) < 2 or any(entry is None for entry in entries):
        return None
    site = snapshot.site
    names = " + ".join(entry.name for entry in entries)  # type: ignore[union-attr]
    return FeedSpec(
        "tags:" + "+".join(slugs),
        "tags",
        f"{site.title}: {names}",
        f"Articles of {site.title} tagged {names}.",
        combined_path(slugs),
        entries,  # type: ignore[arg-type]
    )


def all_feeds(snapshot: Snapshot) -> list[FeedSpec]:
    """Every feed of a snapshot: main, popular, then tags in slug order."""
    feeds = [main_feed(snapshot), popular_feed(snapshot)]
    feeds.extend(tag_feed(snapshot, slug) for slug in snapshot.tags)  # type: ignore[misc]
    return feeds


def feed_by_key(snapshot: Snapshot, key: str) -> FeedSpec | None:
    """Inverse of ``FeedSpec.key``."""
    if key == "main":
        return main_feed(snapshot)
    if key == "popular":
        return popular_feed(snapshot)
    if key.startswith("tag:"):
        return tag_feed(snapshot, key[4:])
    if key.startswith("tags:"):
        return combined_feed(snapshot, tuple(key[5:].split("+")))
    return None


def _all_items(snapshot: Snapshot, spec: FeedSpec) -> tuple[Article, ...] | list[Article]:
    """Every article of a feed across all its pages, in feed order."""
    if spec.kind == "main":
        return snapshot.articles
    if spec.kind == "popular":
        return snapshot.popular[: snapshot.site.popular_items]
    if spec.kind == "tag":
        return spec.tags[0].articles
    merged = heapq.merge(
        *(entry.articles for entry in spec.tags),
        key=lambda a: (-a.published.timestamp(), a.slug),
    )
    seen: set[str] = set()
    union = []
    for article in merged:
        if article.slug not in seen:
            seen.add(article.slug)
            union.append(article)
    return union


def page_count(snapshot: Snapshot, spec: FeedSpec) -> int:
    """How many pages the feed has (at least one, even when empty)."""
    if not spec.pageable:
        return 1
    total = len(_all_items(snapshot, spec))
    return max(1, math.ceil(total / snapshot.site.items_per_feed))


def page_exists(snapshot: Snapshot, spec: FeedSpec, page: int) -> bool:
    """Whether ``spec`` has a page ``page``, cheaply when bounds decide.

    A combination's union is at least its biggest tag and at most the sum of
    its tags: a page past the sum is a 404 (and one within the biggest tag
    is there) without merging thousands of articles to count them.
    """
    if page == 1:
        return True
    if page < 1 or not spec.pageable:
        return False
    if spec.kind == "tags":
        size = snapshot.site.items_per_feed
        lengths = [len(entry.articles) for entry in spec.tags]
        if page > math.ceil(sum(lengths) / size):
            return False
        if page <= math.ceil(max(lengths) / size):
            return True
    return page <= page_count(snapshot, spec)


def feed_items(snapshot: Snapshot, spec: FeedSpec) -> tuple[Article, ...]:
    """The articles of a feed page, in feed order."""
    items = _all_items(snapshot, spec)
    if not spec.pageable:
        return tuple(items)
    size = snapshot.site.items_per_feed
    start = (spec.page - 1) * size
    return tuple(items[start : start + size])


def feed_fingerprint(snapshot: Snapshot, spec: FeedSpec) -> str:
    """Identity of a feed's rendered bytes, independent of request and clock.

    Two snapshots give the same fingerprint for a feed exactly when it would
    render to the same bytes, so unaffected feeds are not re-rendered after
    an edit elsewhere. The page count is included because every page links
    to the last one.
    """
    digest = hashlib.blake2b(digest_size=16)
    pages = page_count(snapshot, spec)
    digest.update(repr((snapshot.site, spec.key, spec.title, spec.path, pages)).encode())
    for article in feed_items(snapshot, spec):
        digest.update(f"{article.slug}\0{article.revision}\n".encode())
    return digest.hexdigest()
