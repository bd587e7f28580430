"""Other spellings of public URLs, and the one canonical URL each stands for.

People type feed URLs by hand and readers copy them from odd places:
``/tags/North Korea/rss.xml``, ``/tags/NorthKorea/``, ``/RSS.XML``, a trailing
slash, the tag's display name in Korean. Each such spelling names exactly one
resource. The web layer answers the canonical spelling and redirects every
other one permanently, so that readers store (and caches hold) one URL per
feed.

Pure functions over a :class:`~feedsvc.service.View`: no Flask, no request.
Paths come in percent-decoded, as ``PATH_INFO`` carries them; canonical paths
go out percent-encoded, ready for a ``Location`` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .feeds import FORMAT_BY_FILENAME, FeedFormat, FeedSpec
from .service import View
from .text import tag_slug

TargetKind = Literal["directory", "tags", "tag", "feed", "page"]

# Longer paths name nothing here; refusing them early keeps hostile requests cheap.
MAX_ALIAS_PATH = 2048
# Single-segment spellings of pages other than feeds and tags (case-insensitive).
_PAGES = {"feeds.opml": "/feeds.opml", "healthz": "/healthz", "popular": "/#popular"}


@dataclass(frozen=True, slots=True)
class Target:
    """The resource a path names, and its canonical (percent-encoded) path."""

    kind: TargetKind
    path: str
    spec: FeedSpec | None = None
    fmt: FeedFormat | None = None


def resolve(view: View, path: str) -> Target | None:
    """The resource ``path`` names, or ``None`` when it names nothing.

    Empty segments (``//``, trailing ``/``) are ignored, names are matched
    case-insensitively and tags by slug, so any spelling of a tag's display
    name finds it (a name containing ``/`` too).
    """
    if len(path) > MAX_ALIAS_PATH:
        return None
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return Target("directory", "/")
    fmt = FORMAT_BY_FILENAME.get(segments[-1].lower())
    if fmt is not None:
        spec = _feed(view, segments[:-1])
        return None if spec is None else Target("feed", spec.url_path(fmt), spec, fmt)
    first = segments[0].lower()
    if first != "tags":
        return Target("page", _PAGES[first]) if len(segments) == 1 and first in _PAGES else None
    if len(segments) == 1:
        return Target("tags", "/tags/")
    spec = _tag(view, segments[1:])
    return None if spec is None else Target("tag", spec.path + "/", spec)


def _feed(view: View, parts: list[str]) -> FeedSpec | None:
    """The feed named by the segments before the file name."""
    if not parts:
        return view.feeds["main"]
    first = parts[0].lower()
    if first == "popular" and len(parts) == 1:
        return view.feeds["popular"]
    if first == "tags" and len(parts) >= 2:
        return _tag(view, parts[1:])
    return None


def _tag(view: View, parts: list[str]) -> FeedSpec | None:
    """A tag's feed, named by its slug or any spelling of its display name."""
    slug = tag_slug("/".join(parts))
    return view.feeds.get(f"tag:{slug}") if slug else None
