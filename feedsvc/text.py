"""Text hygiene shared by the loader and the renderers.

Feeds end up in XML 1.0, JSON and HTML at once, read by software we do not
control. Everything that comes from content passes through here so that every
format gets the same, safe text: no characters XML cannot carry, no markup in
plain-text fields, and body HTML reduced to an allowlist with absolute URLs
(readers ignore ``xml:base``, so relative image sources break).
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from urllib.parse import urljoin, urlsplit

import nh3
from markdown_it import MarkdownIt

# XML 1.0 ``Char`` production, inverted: C0 controls except TAB/LF/CR, lone
# surrogates and the non-characters U+FFFE/U+FFFF.
_XML_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TAG_SLUG_DROP = re.compile(r"[^\w-]+")
_TAG_SLUG_SEPARATORS = re.compile(r"[\s_]+")
_HYPHEN_RUNS = re.compile(r"-{2,}")
_WHITESPACE = re.compile(r"\s+")
_HTML_TAG = re.compile(r"<[^>]*>")

_markdown = MarkdownIt("commonmark")

# Allowlist for body HTML: structure, emphasis, links, images, tables, code.
# No script/style/iframe/form, no event handlers, no style attributes.
ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del",
        "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2",
        "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p",
        "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup",
        "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
    "ol": {"start"},
    "q": {"cite"},
    "blockquote": {"cite"},
}
_URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
ALLOWED_URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})


def clean_text(value: str) -> str:
    """Remove characters that XML 1.0 cannot carry (controls, lone surrogates).

    Why here and not in the renderer: one cleaned string then feeds RSS, Atom,
    JSON and HTML identically, and the store's version hash sees clean text.
    """
    if _XML_INVALID.search(value) is None:
        return value
    return _XML_INVALID.sub("", value)


def plain_text(value: str) -> str:
    """Collapse whitespace of a single-line plain-text field (title, author)."""
    return _WHITESPACE.sub(" ", clean_text(value)).strip()


@functools.lru_cache(maxsize=16384)  # a few thousand tags, each on many articles
def tag_slug(name: str) -> str:
    """URL slug of a tag: case-folded, hyphenated, non-ASCII letters kept.

    "North Korea" and "north  korea" share the slug ``north-korea``; "북한" stays
    "북한" (percent-encoded only when placed in a URL).
    """
    text = unicodedata.normalize("NFKC", clean_text(name)).lower().strip()
    text = _TAG_SLUG_SEPARATORS.sub("-", text)
    text = _TAG_SLUG_DROP.sub("", text)
    return _HYPHEN_RUNS.sub("-", text).strip("-")


def is_absolute_http_url(value: str) -> bool:
    """True for ``http(s)://host/...`` URLs, the only kind readers resolve alike."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _absolutizer(base_url: str):
    """nh3 attribute filter making URL attributes absolute against ``base_url``."""

    def rewrite(tag: str, attribute: str, value: str) -> str | None:
        if attribute not in _URL_ATTRIBUTES:
            return value
        value = value.strip()
        if value.startswith("#") or value.startswith("mailto:"):
            return value
        try:
            absolute = urljoin(base_url, value)
        except ValueError:
            return None
        scheme = urlsplit(absolute).scheme
        return absolute if scheme in ("http", "https") else None

    return rewrite


@functools.lru_cache(maxsize=4096)
def render_body(source: str, base_url: str) -> str:
    """Markdown (with inline HTML) to sanitised HTML whose URLs are absolute.

    Cached because feeds overlap: one article appears in the main feed, its
    tag feeds and the popular feed, in three formats each.
    """
    rendered = _markdown.render(clean_text(source))
    return nh3.clean(
        rendered,
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(ALLOWED_URL_SCHEMES),
        attribute_filter=_absolutizer(base_url),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def html_to_text(fragment: str) -> str:
    """Readable plain text of an HTML fragment (for derived summaries)."""
    return plain_text(html.unescape(_HTML_TAG.sub(" ", fragment)))


def shorten(text: str, limit: int = 280) -> str:
    """Cut ``text`` at a word boundary, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"
