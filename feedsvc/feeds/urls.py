"""The public URL space: every path feedsvc answers, spelled one canonical way.

Public URLs are forever (readers store them), so every path is built here and
nowhere else: feed files, tag paths, pages, the directory, OPML, health. Pure
functions of names and slugs; no content, no request, no Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from feedsvc.settings import SiteSettings


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


def slug_segment(slug: str) -> str:
    """A slug as one URL path segment: percent-encoded UTF-8, hyphens kept."""
    return quote(slug, safe="-")


def tag_path(slug: str) -> str:
    """URL path of a tag's feeds; non-ASCII slugs are percent-encoded (UTF-8)."""
    return "/tags/" + slug_segment(slug)


def combined_path(slugs: tuple[str, ...]) -> str:
    """URL path of a union of tags: canonical (sorted) slugs joined by ``+``."""
    return "/tags/" + "+".join(slug_segment(slug) for slug in slugs)


def article_url(site: SiteSettings, slug: str) -> str:
    """Absolute URL of an article on the news site, its slug percent-encoded."""
    return site.article_url(slug_segment(slug))


def decode_path(wsgi_path: str) -> str | None:
    """PATH_INFO (UTF-8 bytes read as Latin-1) as text, or ``None`` if not UTF-8."""
    try:
        return wsgi_path.encode("latin-1").decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return None


def wsgi_path(path: str) -> str:
    """A URL path as WSGI's PATH_INFO carries it (UTF-8 bytes read as Latin-1)."""
    return path.encode("utf-8").decode("latin-1")
