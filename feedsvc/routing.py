"""Feed URLs: which feed a path names, and its canonical spelling.

Readers store feed URLs forever, so each feed has exactly one canonical URL
and every other reasonable spelling (case, spaces, display names, tag order,
trailing slashes, ``/page/1``) gets a permanent redirect to it. Paths that
name nothing are 404; a combination of too many tags is a 400 that says so.

Pure functions of a snapshot: the WSGI fast path uses :func:`resolve` for
canonical paths only; the Flask app uses it to produce redirects and errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from .feeds import (
    FORMAT_BY_FILENAME,
    FeedFormat,
    FeedSpec,
    combined_feed,
    main_feed,
    page_count,
    popular_feed,
    tag_feed,
)
from .store import Snapshot
from .text import tag_slug

_FEED_PATH = re.compile(
    r"^(?:/tags/(?P<tags>[^/]{1,1024})|(?P<popular>/popular))?"
    r"(?:/page/(?P<page>[0-9]{1,7}))?/(?P<file>[^/]{1,32})/*$"
)
_MAX_PATH = 4096


@dataclass(frozen=True, slots=True)
class Found:
    """A feed page in one format, at its canonical path."""

    spec: FeedSpec
    fmt: FeedFormat


@dataclass(frozen=True, slots=True)
class Redirect:
    """Another spelling of a feed URL: the canonical path to send the client to."""

    path: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Nothing to serve: HTTP status and a short message for the body."""

    status: int
    message: str


Resolution = Found | Redirect | Refused


def decode_path(wsgi_path: str) -> str | None:
    """PATH_INFO (UTF-8 bytes read as Latin-1) as text, or ``None`` if not UTF-8."""
    try:
        return wsgi_path.encode("latin-1").decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return None


def resolve(snapshot: Snapshot, path: str) -> Resolution:
    """What a decoded URL path names among the feeds of ``snapshot``."""
    if len(path) > _MAX_PATH:
        return Refused(404, "not found")
    match = _FEED_PATH.match(path)
    if match is None:
        return Refused(404, "not found")
    fmt = FORMAT_BY_FILENAME.get(match["file"].lower())
    if fmt is None:
        return Refused(404, "not found")
    page = int(match["page"]) if match["page"] else 1
    spec: FeedSpec | None
    if match["tags"] is not None:
        names = [part for part in match["tags"].split("+") if part.strip()]
        slugs = sorted({tag_slug(name) for name in names})
        limit = snapshot.site.tag_combine_limit
        if len(slugs) > limit:
            return Refused(400, f"at most {limit} tags can be combined in one feed")
        unknown = [slug for slug in slugs if slug not in snapshot.tags]
        if unknown or not slugs:
            return Refused(404, "unknown tag")
        spec = (
            tag_feed(snapshot, slugs[0])
            if len(slugs) == 1
            else combined_feed(snapshot, tuple(slugs))
        )
    elif match["popular"]:
        spec = popular_feed(snapshot)
        if match["page"]:
            return Refused(404, "the popular feed has one page")
    else:
        spec = main_feed(snapshot)
    assert spec is not None
    if page < 1 or page > page_count(snapshot, spec):
        return Refused(404, "no such page")
    spec = spec.at_page(page)
    canonical = spec.url_path(fmt)
    if path != _decoded(canonical):
        return Redirect(canonical)
    return Found(spec, fmt)


def _decoded(canonical: str) -> str:
    """The canonical path as it arrives in PATH_INFO (percent-decoded)."""
    return unquote(canonical)


def quote_path(path: str) -> str:
    """Percent-encode a decoded path for a Location header."""
    return quote(path, safe="/-._~+")
