"""The public URL space: every path feedsvc answers, spelled one canonical way.

Public URLs are forever (readers store them), so every path is built here and
nowhere else: feed files, tag paths, older pages, the directory, OPML, health,
metrics, embeds, and the files of the static export. Pure functions of names
and slugs; no content, no request, no Flask.

Paths come in two spellings. *Canonical* paths are percent-encoded (UTF-8),
ready for a link or a ``Location`` header. WSGI's ``PATH_INFO`` carries the
*decoded* path as UTF-8 bytes read as Latin-1 (:func:`wsgi_path`,
:func:`decode_path`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from feedsvc.content.site import SiteSettings

SEP = "/"

# -- pages ---------------------------------------------------------------------
DIRECTORY = "/"  # the HTML directory of every feed
TAG_INDEX = "/tags/"  # the HTML list of tags
OPML = "/feeds.opml"
HEALTHZ = "/healthz"
METRICS = "/metrics"
STATS = "/stats"  # the audience page; like /metrics, only on the private admin listener
EMBED = "/embed"  # prefix of the embeddable headline fragments: /embed/, /embed/popular/
POPULAR_SECTION = "/#popular"  # the popular feeds' section of the directory

# -- feeds (paths before the file name) ------------------------------------------
MAIN = ""  # the main feed lives at the root: /rss.xml
POPULAR_SEGMENT = "popular"
POPULAR = SEP + POPULAR_SEGMENT
TAGS_SEGMENT = "tags"  # first segment of tag paths: /tags/<slug>
PAGE_SEGMENT = "page"  # /page/N before the file name: an older page of a feed
TAG_JOIN = "+"  # /tags/a+b/: the union of several tags

# Single-segment spellings of pages other than feeds and tags (matched case-insensitively).
PAGE_ALIASES = {OPML[1:]: OPML, HEALTHZ[1:]: HEALTHZ, POPULAR_SEGMENT: POPULAR_SECTION}
# The pages a static export writes as files (see :func:`export_file`).
EXPORTED_PAGES = (DIRECTORY, TAG_INDEX, OPML)
INDEX_FILE = "index.html"


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
    return f"{SEP}{TAGS_SEGMENT}{SEP}{slug_segment(slug)}"


def combined_path(slugs: tuple[str, ...]) -> str:
    """URL path of a union of tags: canonical (sorted) slugs joined by ``+``."""
    return f"{SEP}{TAGS_SEGMENT}{SEP}" + TAG_JOIN.join(slug_segment(slug) for slug in slugs)


def page_suffix(page: int) -> str:
    """What an older page inserts before the file name: ``/page/N`` (nothing for page 1)."""
    return f"{SEP}{PAGE_SEGMENT}{SEP}{page}" if page > 1 else ""


def whole_number(text: str, low: int, high: int) -> int | None:
    """``text`` as a whole number from ``low`` to ``high``, or ``None``: page numbers, limits.

    ASCII digits only: ``str.isdigit`` alone also accepts ``²`` (which
    ``int`` rejects: a 500) and ``٢`` or ``２`` (which ``int`` reads as 2).
    At most as many digits as ``high`` has, bar leading zeros, so ``int``
    never reads a 5,000-digit number.
    """
    digits = text.lstrip("0") or text[-1:]
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(high)):
        return None
    value = int(digits)
    return value if low <= value <= high else None


def feed_path(path: str, fmt: FeedFormat, page: int = 1) -> str:
    """A feed's URL in one format: ``path`` (e.g. ``/tags/x``), the page, the file name."""
    return f"{path}{page_suffix(page)}{SEP}{fmt.filename}"


def is_paged_or_combined(wsgi_path: str) -> bool:
    """Whether a PATH_INFO may name an older page or a union of tags (not prebuilt)."""
    return f"{SEP}{PAGE_SEGMENT}{SEP}" in wsgi_path or TAG_JOIN in wsgi_path


def html_page(path: str) -> str:
    """The HTML page about the feeds at ``path`` (a tag's: ``/tags/x/``)."""
    return path + SEP


def tag_index_path(page: int) -> str:
    """A page of the tag list: ``/tags/`` first, then ``/tags/page/N/``."""
    return TAG_INDEX if page <= 1 else f"{TAG_INDEX}{PAGE_SEGMENT}{SEP}{page}{SEP}"


def tag_index_number(path: str) -> int | None:
    """N when ``path`` is exactly ``/tags/page/N/`` (N a plain number from 2), else ``None``."""
    prefix = f"{TAG_INDEX}{PAGE_SEGMENT}{SEP}"
    if not path.startswith(prefix) or not path.endswith(SEP):
        return None
    number = path[len(prefix) : -1]
    if not number.isascii() or not number.isdigit() or len(number) > 6 or number[0] == "0":
        return None
    return int(number) if int(number) >= 2 else None


def embed_path(path: str) -> str:
    """The embeddable headlines of the feed at ``path``: ``/embed/``, ``/embed/tags/x/``."""
    return f"{EMBED}{path}{SEP}"


def embed_feed(feed: str) -> str:
    """The feed path an embed's ``<path:feed>`` part names (``tags/x/`` -> ``/tags/x``)."""
    trimmed = feed.strip(SEP)
    return SEP + trimmed if trimmed else MAIN


def segments(path: str) -> list[str]:
    """The non-empty segments of a path (``//`` and a trailing ``/`` name nothing)."""
    return [segment for segment in path.split(SEP) if segment]


def join(parts: list[str]) -> str:
    """Segments joined back (a tag name may itself contain ``/``)."""
    return SEP.join(parts)


def parent(path: str) -> str:
    """The path without its last segment: the feed path of a feed file's URL."""
    return path.rsplit(SEP, 1)[0]


def article_url(site: SiteSettings, slug: str) -> str:
    """Absolute URL of an article on the news site, its slug percent-encoded."""
    return site.article_url(slug_segment(slug))


def site_home(site: SiteSettings) -> str:
    """The news site's home page (feeds' and pages' link back to the site)."""
    return site.site_url + SEP


def export_file(path: str) -> str:
    """The file of a static export that answers a canonical URL path.

    Percent-decoded (tags are UTF-8 on disk); a folder's page is its index file.
    """
    relative = unquote(path.lstrip(SEP))
    return relative + INDEX_FILE if relative.endswith(SEP) or not relative else relative


def mount_prefix(script_name: str) -> str:
    """``SCRIPT_NAME`` (a proxy's mount prefix, WSGI Latin-1) as a canonical URL prefix."""
    return quote(script_name.encode("latin-1").rstrip(b"/"), safe="/-._~!$&'()*+,;=:@")


def decode_path(wsgi_path: str) -> str | None:
    """PATH_INFO (UTF-8 bytes read as Latin-1) as text, or ``None`` if not UTF-8."""
    try:
        return wsgi_path.encode("latin-1").decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return None


def wsgi_path(path: str) -> str:
    """A URL path as WSGI's PATH_INFO carries it (UTF-8 bytes read as Latin-1)."""
    return path.encode("utf-8").decode("latin-1")
