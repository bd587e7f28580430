"""Which articles go in which feed, and the URL each feed lives at.

A feed is described by a :class:`FeedSpec`; its items come from the snapshot
by :func:`feed_items`. Rendering to bytes lives in :mod:`feedsvc.render`;
serving lives in the web layer. This module knows nothing of Flask or XML.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from .store import Article, Snapshot, TagEntry

FeedKind = Literal["main", "tag", "popular"]


@dataclass(frozen=True, slots=True)
class FeedFormat:
    """One serialisation: its file name in URLs and its media type."""

    name: str
    filename: str
    content_type: str
    label: str


FORMATS: dict[str, FeedFormat] = {
    "rss": FeedFormat("rss", "rss.xml", "application/rss+xml; charset=utf-8", "RSS 2.0"),
    "atom": FeedFormat("atom", "atom.xml", "application/atom+xml; charset=utf-8", "Atom 1.0"),
    "json": FeedFormat("json", "feed.json", "application/feed+json; charset=utf-8", "JSON Feed"),
}
FORMAT_BY_FILENAME: dict[str, FeedFormat] = {f.filename: f for f in FORMATS.values()}


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed independent of format: what it is called and where it lives."""

    key: str
    kind: FeedKind
    title: str
    description: str
    path: str  # URL path before the file name: "", "/popular", "/tags/north-korea"
    tag: TagEntry | None = None

    def url_path(self, fmt: FeedFormat | str) -> str:
        """Path of this feed in one format, percent-encoded, e.g. ``/tags/x/rss.xml``."""
        feed_format = FORMATS[fmt] if isinstance(fmt, str) else fmt
        return f"{self.path}/{feed_format.filename}"


def tag_path(slug: str) -> str:
    """URL path of a tag's feeds; non-ASCII slugs are percent-encoded (UTF-8)."""
    return "/tags/" + quote(slug, safe="-")


def main_feed(snapshot: Snapshot) -> FeedSpec:
    """The newest articles of the whole site."""
    site = snapshot.site
    return FeedSpec("main", "main", site.title, site.description or site.title, "")


def popular_feed(snapshot: Snapshot) -> FeedSpec:
    """The most viewed articles (optionally within a window of days)."""
    site = snapshot.site
    window = f" in the last {site.popular_window_days} days" if site.popular_window_days else ""
    return FeedSpec(
        "popular",
        "popular",
        f"{site.title}: Most popular",
        f"The most read articles of {site.title}{window}.",
        "/popular",
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
        entry,
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
    return None


def feed_items(snapshot: Snapshot, spec: FeedSpec) -> tuple[Article, ...]:
    """The articles of a feed, in feed order."""
    site = snapshot.site
    if spec.kind == "main":
        return snapshot.articles[: site.items_per_feed]
    if spec.kind == "popular":
        return snapshot.popular[: site.popular_items]
    assert spec.tag is not None
    return spec.tag.articles[: site.items_per_feed]


def feed_fingerprint(snapshot: Snapshot, spec: FeedSpec) -> str:
    """Identity of a feed's rendered bytes, independent of request and clock.

    Two snapshots give the same fingerprint for a feed exactly when it would
    render to the same bytes, so unaffected feeds are not re-rendered after
    an edit elsewhere.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((snapshot.site, spec.key, spec.title, spec.path)).encode())
    for article in feed_items(snapshot, spec):
        digest.update(f"{article.slug}\0{article.revision}\n".encode())
    return digest.hexdigest()
