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
import threading
import unicodedata
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import nh3

# XML 1.0 ``Char`` production, inverted: C0 controls except TAB/LF/CR, lone
# surrogates and the non-characters U+FFFE/U+FFFF. DEL and the C1 controls
# (U+007F-U+009F) are legal XML but never meaningful text (they are what is
# left of mis-decoded Windows-1252), XML 1.1 forbids them raw, and YAML
# refuses them, so they go too.
_XML_INVALID = re.compile("[^\t\n\r\u0020-\u007e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# The ASCII characters _XML_INVALID leaves alone (TAB, LF, CR, space to "~").
_XML_ASCII_CHARS = b"\t\n\r" + bytes(range(0x20, 0x7F))
_TAG_SLUG_DROP = re.compile(r"[^\w-]+")
_TAG_SLUG_SEPARATORS = re.compile(r"[\s_]+")
_HYPHEN_RUNS = re.compile(r"-{2,}")
_HTML_TAG = re.compile(r"<[^>]*>")
# What makes a plain-text field "HTML an editor pasted": a closing tag, a void
# element, a comment, a script-like opener or a character reference. A bare
# "<" or "a<b and b>c" is left alone, because that is how text is written.
_LOOKS_LIKE_HTML = re.compile(
    r"</[A-Za-z][A-Za-z0-9]*\s*>"
    r"|<(?:br|hr|img|wbr)\b[^<>]*>"
    r"|<!--"
    r"|<(?:script|style|iframe|object|embed|svg|math)\b"
    r"|&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});",
    re.IGNORECASE,
)
# Tags whose boundaries separate words; inline ones (b, em, a) do not.
_BLOCK_TAGS: frozenset[str] = frozenset(
    {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
     "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
     "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul"}
)  # fmt: skip
_URL_UNSAFE_SAFE = ":/?#[]@!$&'()*+,;=%~"

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
    if value.isascii():  # most text: no regex over every character (~7 us for 2 KB)
        if not value.encode("ascii").translate(None, _XML_ASCII_CHARS):
            return value  # ~1 us: nothing left once every allowed character is deleted
    elif _XML_INVALID.search(value) is None:
        return value
    return _XML_INVALID.sub("", value)


def plain_text(value: str) -> str:
    """Collapse whitespace of a single-line plain-text field (title, author).

    ``str.split()`` splits on exactly what ``\\s`` matches (``str.isspace``),
    at a fraction of a regex substitution's cost.
    """
    return " ".join(clean_text(value).split())


def looks_like_html(value: str) -> bool:
    """Whether a plain-text field holds HTML markup (tags or character references).

    Deliberately narrow: ``AT&T <3``, ``a < b`` and ``x<y and y>z`` are text
    and stay as written; ``<b>Bold</b>``, ``<br>`` or ``&amp;`` are markup
    pasted from a web page.
    """
    if "<" not in value and "&" not in value:  # every pattern starts with one of them
        return False
    return _LOOKS_LIKE_HTML.search(value) is not None


def markup_to_text(value: str) -> str:
    """Plain text of an HTML fragment: tags dropped, script/style contents
    dropped, character references decoded, whitespace collapsed.

    The HTML5 parser (nh3/ammonia) decides what is a tag, so text such as
    ``a < b`` inside the fragment survives.
    """
    cleaned = nh3.clean(clean_text(value), tags=set(_BLOCK_TAGS), attributes={})
    return plain_text(html.unescape(_HTML_TAG.sub(" ", cleaned)))


def normalise_url(value: str) -> str:
    """Percent-encode what may not appear raw in a URL (spaces, quotes, non-ASCII).

    Existing escapes and reserved characters are kept, so a valid URL is
    returned unchanged.
    """
    value = value.strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        return quote(value, safe=_URL_UNSAFE_SAFE)
    netloc = parts.netloc
    if not netloc.isascii():  # an international host name: IDNA, not percent-encoding
        try:
            netloc = netloc.encode("idna").decode("ascii")
        except UnicodeError:
            netloc = quote(netloc, safe=_URL_UNSAFE_SAFE)
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            quote(parts.path, safe=_URL_UNSAFE_SAFE),
            quote(parts.query, safe=_URL_UNSAFE_SAFE),
            quote(parts.fragment, safe=_URL_UNSAFE_SAFE),
        )
    )


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


# What the one cleaner's filter makes URLs absolute against: (base URL, its
# origin); and the last origin found (see _base_origin).
_base_url = threading.local()


# A path from the site's root that urljoin() would only put after the base's
# origin: no "//" (urljoin drops empty segments), no "/." (dot segments), no
# ";", "?", "#" or "\\" (parts urljoin splits off and joins again).
_PATH_CHAR = r"[A-Za-z0-9\-._~!$&'()*+,=:@%]"
_PLAIN_ROOT_PATH = re.compile(f"/(?:{_PATH_CHAR}+/)*{_PATH_CHAR}*")


@functools.lru_cache(maxsize=64)
def _origin(base_url: str) -> str | None:
    """``scheme://host`` of an http(s) base URL, as urljoin() spells it; else ``None``."""
    try:
        parts = urlsplit(base_url)
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else None


def _base_origin(base_url: str) -> str | None:
    """:func:`_origin` of ``base_url``, most often without a look-up or a split.

    Each body has its own base (its article's page), so the cache by base URL
    alone missed on every body and split it anew. Consecutive bases share
    their origin: a base that is the last origin, "/" and more has that
    origin (urlsplit's netloc ends at that "/", its scheme is already lower).
    """
    last: str | None = getattr(_base_url, "origin", None)
    if last is not None and base_url.startswith(last + "/"):
        return last
    origin = _origin(base_url)
    _base_url.origin = origin
    return origin


def _absolute_url(tag: str, attribute: str, value: str) -> str | None:
    """nh3 attribute filter making URL attributes absolute against this thread's base URL."""
    if attribute not in _URL_ATTRIBUTES:
        return value
    value = value.strip()
    if value.startswith("mailto:"):
        return value
    base: str
    origin: str | None
    base, origin = _base_url.value
    # Links between articles ("/articles/x") are most of a body's URLs: joined
    # here in ~1 us instead of urljoin's ~8 (a cold feed joins ~90 of them).
    if origin is not None and _PLAIN_ROOT_PATH.fullmatch(value) and "/." not in value:
        return origin + value
    # Fragments too: a reader shows the article away from its page, so
    # "#notes" must point at the article, not at the reader's own page.
    try:
        absolute = urljoin(base, value)
    except ValueError:
        return None
    scheme = urlsplit(absolute).scheme
    return absolute if scheme in ("http", "https") else None


# One cleaner for every body: nh3.clean() builds its allowlists anew on each
# call, ~half of the ~65 us a 2 KB body took (a first start renders ~20 per
# cold tag feed). The base URL is the one thing that varies: a thread-local,
# set by sanitise_body() in the thread that then calls the filter.
_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes=set(ALLOWED_URL_SCHEMES),
    attribute_filter=_absolute_url,
    link_rel="noopener noreferrer",
    strip_comments=True,
)


def sanitise_body(rendered: str, base_url: str) -> str:
    """Rendered body HTML reduced to the allowlist, its URLs absolute against ``base_url``."""
    _base_url.value = (base_url, _base_origin(base_url))
    cleaned: str = _cleaner.clean(rendered)
    return cleaned


def html_to_text(fragment: str) -> str:
    """Readable plain text of an HTML fragment (for derived summaries)."""
    return plain_text(html.unescape(_HTML_TAG.sub(" ", fragment)))


def shorten(text: str, limit: int = 280) -> str:
    """Cut ``text`` at a word boundary, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"
