"""Other spellings of public URLs, and the one canonical URL each stands for.

People type feed URLs by hand and readers copy them from odd places:
``/tags/North Korea/rss.xml``, ``/tags/NorthKorea/``, ``/RSS.XML``, a trailing
slash, the tag's display name in Korean. Each such spelling names exactly one
resource. The web layer answers the canonical spelling and redirects every
other one permanently, so that readers store (and caches hold) one URL per
feed.

A tag ``site.yaml`` redirects (``tag_redirects``) names the new tag's
resource (so every URL of the old tag redirects to the same URL of the new
one: feeds in each format, older pages, combinations, the tag page), and a
retired one (``retired_tags``) is refused with 410 Gone.

Pure functions over a :class:`~feedsvc.feeds.catalog.Catalog`: no Flask, no request.
Paths come in percent-decoded, as ``PATH_INFO`` carries them; canonical paths
go out percent-encoded, ready for a ``Location`` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from feedsvc.feeds import urls
from feedsvc.feeds.catalog import MAX_DYNAMIC_ROUTES, Catalog
from feedsvc.feeds.spec import FeedSpec, combined_feed, page_exists
from feedsvc.feeds.urls import FORMAT_BY_FILENAME, FeedFormat, decode_path
from feedsvc.text import tag_slug

TargetKind = Literal["directory", "tags", "tag", "feed", "page"]

# Longer paths name nothing here; refusing them early keeps hostile requests cheap.
MAX_ALIAS_PATH = 2048
RETIRED = "this tag was retired: its feeds are gone for good"


@dataclass(frozen=True, slots=True)
class Target:
    """The resource a path names, and its canonical (percent-encoded) path."""

    kind: TargetKind
    path: str
    spec: FeedSpec | None = None
    fmt: FeedFormat | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A path that names something impossible: status and a short reason."""

    status: int
    message: str


def resolve(catalog: Catalog, path: str) -> Target | Refusal | None:
    """The resource ``path`` names, a refusal, or ``None`` when it names nothing.

    Empty segments (``//``, trailing ``/``) are ignored, names are matched
    case-insensitively and tags by slug, so any spelling of a tag's display
    name finds it (a name containing ``/`` too). ``a+b`` combines tags (in
    any order and spelling; more than ``tag_combine_limit`` is refused) and
    ``/page/N`` names an older page (``/page/1`` is the feed itself).
    """
    if len(path) > MAX_ALIAS_PATH:
        return None
    segments = urls.segments(path)
    if not segments:
        return Target("directory", urls.DIRECTORY)
    fmt = FORMAT_BY_FILENAME.get(segments[-1].lower())
    if fmt is not None:
        spec = _feed(catalog, segments[:-1])
        if spec is None or isinstance(spec, Refusal):
            return spec
        return Target("feed", spec.url_path(fmt), spec, fmt)
    first = segments[0].lower()
    if first != urls.TAGS_SEGMENT:
        page = urls.PAGE_ALIASES.get(first) if len(segments) == 1 else None
        return None if page is None else Target("page", page)
    if len(segments) == 1:
        return Target("tags", urls.TAG_INDEX)
    spec = _tag(catalog, segments[1:])
    if spec is None or isinstance(spec, Refusal):
        return spec
    return Target("tag", urls.html_page(spec.path), spec)


def _feed(catalog: Catalog, parts: list[str]) -> FeedSpec | Refusal | None:
    """The feed page named by the segments before the file name."""
    page = 1
    if len(parts) >= 2 and parts[-2].lower() == urls.PAGE_SEGMENT:
        number = urls.whole_number(parts[-1], 0, 9_999_999)  # no feed has 10 million pages
        if number is None:
            return None
        page, parts = number, parts[:-2]
    spec: FeedSpec | Refusal | None = None
    if not parts:
        spec = catalog.feeds["main"]
    elif parts[0].lower() == urls.POPULAR_SEGMENT and len(parts) == 1:
        spec = catalog.feeds["popular"]
    elif parts[0].lower() == urls.TAGS_SEGMENT and len(parts) >= 2:
        spec = _tags(catalog, parts[1:])
    if spec is None or isinstance(spec, Refusal):
        return spec
    if not page_exists(catalog.snapshot, spec, page) and not _moved(catalog, parts):
        return Refusal(404, "no such page of this feed")
    return spec.at_page(page)  # a moved tag's page redirects even if the new tag lacks it


def _moved(catalog: Catalog, parts: list[str]) -> bool:
    """Whether the tag segments name a tag ``site.yaml`` redirects (``tag_redirects``)."""
    moves = catalog.snapshot.site.redirects
    if not moves or len(parts) < 2 or parts[0].lower() != urls.TAGS_SEGMENT:
        return False
    return any(tag_slug(name) in moves for name in urls.join(parts[1:]).split(urls.TAG_JOIN))


def _tags(catalog: Catalog, parts: list[str]) -> FeedSpec | Refusal | None:
    """One tag, or the union of several joined by ``+``."""
    names = [name for name in urls.join(parts).split(urls.TAG_JOIN) if name.strip()]
    if len(names) <= 1:
        return _tag(catalog, parts)
    site = catalog.snapshot.site
    moves = site.redirects
    slugs = sorted({moves.get(slug, slug) for slug in map(tag_slug, names)} - {""})
    if any(slug in site.retired_tags for slug in slugs):
        return Refusal(410, RETIRED)
    limit = site.tag_combine_limit
    if len(slugs) > limit:
        return Refusal(400, f"at most {limit} tags can be combined in one feed")
    if len(slugs) == 1:
        return catalog.feeds.get(f"tag:{slugs[0]}")
    return combined_feed(catalog.snapshot, tuple(slugs))


def _tag(catalog: Catalog, parts: list[str]) -> FeedSpec | Refusal | None:
    """A tag's feed, named by its slug or any spelling of its display name.

    A redirected tag names its new tag's feed; a retired one is refused (410).
    """
    slug = tag_slug(urls.join(parts))
    if not slug:
        return None
    site = catalog.snapshot.site
    if slug in site.retired_tags:
        return Refusal(410, RETIRED)
    return catalog.feeds.get(f"tag:{site.redirects.get(slug, slug)}")


def lookup(catalog: Catalog, path: str) -> tuple[FeedSpec, FeedFormat] | None:
    """The feed a canonical PATH_INFO names, or ``None`` (Flask decides then).

    Feed first pages are in the prebuilt table; older pages and combined
    tags are resolved on demand and memoised (bounded).
    """
    route = catalog.routes.get(path) or catalog.dynamic_routes.get(path)
    if route is not None or not urls.is_paged_or_combined(path):
        return route
    decoded = decode_path(path)
    target = resolve(catalog, decoded) if decoded is not None else None
    if not isinstance(target, Target) or target.kind != "feed" or target.fmt is None:
        return None
    if unquote(target.path) != decoded:  # another spelling: Flask redirects it
        return None
    if len(catalog.dynamic_routes) >= MAX_DYNAMIC_ROUTES:
        catalog.dynamic_routes.clear()
    route = catalog.dynamic_routes[path] = (target.spec, target.fmt)  # type: ignore[assignment]
    return route
