"""Which feed a requested path is: ``/tags/North%20Korea/atom.xml`` is the tag feed.

Counted per *feed*, all formats together: a publisher asks how many people
follow "North Korea", not how many chose Atom. (FeedBurner counted per feed
URL; the format is still kept with each aggregator report, since one
aggregator's subscribers of ``rss.xml`` and of ``atom.xml`` are different
people, and their reports add up.)

The path is read the way :mod:`feedsvc.feeds.routing` reads it (segments,
case-insensitive names, tags by slug, ``a+b`` unions in any order), without
a catalog: only answers a reader can keep (200 and 304) are counted, so a
path naming no feed never reaches here with such a status. Older pages
(``/page/N``) are archive reads, not polls, and are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from feedsvc.feeds import urls
from feedsvc.text import tag_slug

MAX_PATH = 2048
AUTO_PREFIX_SEGMENTS = 2  # /feeds/rss.xml, /news/feeds/rss.xml


@dataclass(frozen=True, slots=True)
class FeedHit:
    """A request for one feed: its key (``/``, ``/popular``, ``/tags/x``) and format."""

    feed: str
    fmt: str


def feed_of(target: str, prefix: str | None = "") -> FeedHit | None:
    """The feed a request target (path and query, as logged) names, or ``None``.

    ``prefix`` is the mount point the proxy strips (``/feeds`` in the shipped
    nginx config); a target outside it names no feed of ours. ``None`` means
    any mount point of up to :data:`AUTO_PREFIX_SEGMENTS` segments: the path
    as it is first, then without its first segments.
    """
    if len(target) > MAX_PATH:
        return None
    path = unquote(urlsplit(target).path, errors="replace")
    if prefix:
        prefix = prefix.rstrip(urls.SEP)
        if path != prefix and not path.startswith(prefix + urls.SEP):
            return None
        path = path[len(prefix) :]
    parts = urls.segments(path)
    if not parts:
        return None
    fmt = urls.FORMAT_BY_FILENAME.get(parts[-1].lower())
    if fmt is None or (len(parts) >= 3 and parts[-3].lower() == urls.PAGE_SEGMENT):
        return None  # not a feed, or an older page of one
    skips = range(min(AUTO_PREFIX_SEGMENTS, len(parts) - 1) + 1) if prefix is None else (0,)
    for skip in skips:
        feed = _feed_path(parts[skip:-1])
        if feed is not None:
            return FeedHit(feed or urls.SEP, fmt.name)
    return None


def _feed_path(parts: list[str]) -> str | None:
    """The canonical path of the feed named by the segments before the file name."""
    if not parts:
        return urls.MAIN
    first = parts[0].lower()
    if first == urls.POPULAR_SEGMENT and len(parts) == 1:
        return urls.POPULAR
    if first != urls.TAGS_SEGMENT or len(parts) < 2:
        return None
    if len(parts) >= 4 and parts[-2].lower() == urls.PAGE_SEGMENT:
        return None  # an older page
    names = urls.join(parts[1:]).split(urls.TAG_JOIN)
    slugs = sorted({tag_slug(name) for name in names if tag_slug(name)})
    if not slugs:
        return None
    return urls.tag_path(slugs[0]) if len(slugs) == 1 else urls.combined_path(tuple(slugs))


def feed_label(feed: str) -> str:
    """How reports name a feed: ``main``, ``popular``, or the tag path's last part."""
    if feed == urls.SEP:
        return "main"
    if feed == urls.POPULAR:
        return "popular"
    return unquote(feed.removeprefix(urls.SEP + urls.TAGS_SEGMENT + urls.SEP))
