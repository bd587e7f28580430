"""Text hygiene shared by the loader and the renderers.

Feeds end up in XML 1.0, JSON and HTML at once, read by software we do not
control. Everything that comes from content passes through here so that every
format gets the same, safe text: no characters XML cannot carry, no markup in
plain-text fields, and body HTML reduced to an allowlist with absolute URLs
(readers ignore ``xml:base``, so relative image sources break).
"""

from __future__ import annotations

import ctypes
import functools
import html
import re
import unicodedata
from collections.abc import Callable
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import nh3
from cmarkgfm import _cmark
from markdown_it import MarkdownIt

# XML 1.0 ``Char`` production, inverted: C0 controls except TAB/LF/CR, lone
# surrogates and the non-characters U+FFFE/U+FFFF. DEL and the C1 controls
# (U+007F-U+009F) are legal XML but never meaningful text (they are what is
# left of mis-decoded Windows-1252), XML 1.1 forbids them raw, and YAML
# refuses them, so they go too.
_XML_INVALID = re.compile("[^\t\n\r\u0020-\u007e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
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

_markdown = MarkdownIt("commonmark")
# cmark (C) renders a body ~20x faster than markdown-it-py, the reference.
# Raw HTML passes through to nh3, as with markdown-it. The result is freed
# with libc's free(): cmarkgfm's own wrapper never frees it (a leak per call).
_CMARK_UNSAFE: int = _cmark.lib.CMARK_OPT_UNSAFE
_libc_free = ctypes.CDLL(None).free
_libc_free.argtypes, _libc_free.restype = [ctypes.c_void_p], None

# Where cmark-gfm (CommonMark 0.29) and markdown-it-py (0.31.2) part, found
# by running both over the spec's examples and fuzzed documents
# (tests/test_text_markdown.py). A body any of these match is rendered by
# markdown-it-py: they are cheap, and they over-match on purpose.
_UNICODE_SPACE = "\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_ASCII_MARK = r"\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f"  # space, controls, punctuation
# markdown-it strips Unicode spaces (str.strip) at paragraph, heading and link edges.
_EDGE_SPACE = re.compile(
    f"[{_UNICODE_SPACE}](?:(?![^{_ASCII_MARK}])|(?<![^{_ASCII_MARK}][{_UNICODE_SPACE}]))"
)
_MAY_DIFFER = re.compile(
    r"&#(?:[0-9]{8}|[xX][0-9a-fA-F]{7})"  # out of range: 0.31 keeps it as text
    r"|<!(?!--)|</?(?:search|source|textarea)\b"  # declarations, HTML block names (0.30+)
    r"|\]\(\s*<?[^\s)]*\("  # a link destination with a parenthesis cmark takes unbalanced
    r"|\\[ \t]+\n|\t"  # "\\  " hard breaks; tabs (expanded unlike in containers)
    r"|\]:",  # a reference definition: then a list cmark does not start
    re.IGNORECASE,
)
_GOOD_COMMENT = re.compile(r"<!--(?!-?>)(?:[^-]|-[^-])*-->")  # one both read alike
_SYMBOL_BY_DELIMITER = re.compile(r"[*_](?=([^\x00-\x7f]))|([^\x00-\x7f])(?=[*_])")
_TAG_LINE_END = re.compile(r">[ \t]*\n")
_TAG_LINE = re.compile(r"^ {0,3}</?[A-Za-z][^\n]*>[ \t]*$", re.MULTILINE)
_CONTAINER = re.compile(r"^ {0,3}(?:>|[-+*][ \t]|[0-9]{1,9}[.)][ \t])", re.MULTILINE)
# A link markdown-it refuses, a non-ASCII host (markdown-it: IDNA; cmark: %-escapes)
# or a "%" that escapes nothing (markdown-it: "%25"; cmark: kept).
_UNLIKE_LINK = re.compile(
    r'(?:href|src)="(?:javascript|vbscript|file|data):|="[a-z][a-z0-9+.-]*:(?://)?[^/"?#]*%'
    r'|="[^"]*%(?![0-9a-f]{2})',
    re.I,
)

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


def _absolutizer(base_url: str) -> Callable[[str, str, str], str | None]:
    """nh3 attribute filter making URL attributes absolute against ``base_url``."""

    def rewrite(tag: str, attribute: str, value: str) -> str | None:
        if attribute not in _URL_ATTRIBUTES:
            return value
        value = value.strip()
        if value.startswith("mailto:"):
            return value
        # Fragments too: a reader shows the article away from its page, so
        # "#notes" must point at the article, not at the reader's own page.
        try:
            absolute = urljoin(base_url, value)
        except ValueError:
            return None
        scheme = urlsplit(absolute).scheme
        return absolute if scheme in ("http", "https") else None

    return rewrite


def _punctuation(char: str) -> bool:
    if char.isascii():
        return not char.isalnum() and not char.isspace()
    return unicodedata.category(char)[0] in "PS"


def _both_flanking_run(source: str) -> bool:
    """Whether a ``*`` or ``_`` run may both open and close emphasis.

    Only such a run brings in the "rule of 3", where cmark 0.29 gives up on
    openers it should still try (``**_*_*``). Runs found with ``str.find``:
    a regex scanning every character took 50 us a body.
    """
    for char in "*_":
        start = source.find(char)
        while start >= 0:
            end = start + 1
            while end < len(source) and source[end] == char:
                end += 1
            before = source[start - 1] if start else "\n"
            after = source[end] if end < len(source) else "\n"
            if not (before.isspace() or after.isspace()):
                punctuated = _punctuation(before)
                if punctuated == _punctuation(after) and (punctuated or char == "*"):
                    return True  # between two letters (for "*") or two marks (either)
            start = source.find(char, end)
    return False


def _symbol_by_delimiter(source: str) -> bool:
    """A Unicode symbol (``£``, ``€``) beside ``*``/``_``: punctuation in 0.31, not in 0.29."""
    for match in _SYMBOL_BY_DELIMITER.finditer(source):
        if unicodedata.category(match.group(1) or match.group(2))[0] == "S":
            return True
    return False


def cmark_may_differ(source: str) -> bool:
    """Whether cmark might render ``source`` unlike markdown-it-py (over-matches on purpose)."""
    if _MAY_DIFFER.search(source) or _both_flanking_run(source):
        return True
    if not source.isascii() and (_EDGE_SPACE.search(source) or _symbol_by_delimiter(source)):
        return True
    if "`" in source and ("\n " in source or "\n\t" in source):
        return True  # a code span over an indented line keeps (markdown-it) or drops its indent
    if "<!--" in source and source.count("<!--") != len(_GOOD_COMMENT.findall(source)):
        return True  # "<!-->", "--" inside: comments in 0.31, text in 0.29
    # A line holding only a tag, in a list or quote: a lazy continuation line
    # to markdown-it (as the spec says), a new HTML block to cmark.
    tag_line = _TAG_LINE_END.search(source) and _TAG_LINE.search(source)
    return bool(tag_line and _CONTAINER.search(source))


def cmark_html(source: str) -> str:
    """cmark's HTML of ``source`` (raw HTML kept), with no check against markdown-it-py."""
    data = source.encode("utf-8")
    rendered = _cmark.lib.cmark_markdown_to_html(data, len(data), _CMARK_UNSAFE)
    try:
        text: str = _cmark.ffi.string(rendered).decode("utf-8")
        return text
    finally:
        _libc_free(int(_cmark.ffi.cast("uintptr_t", rendered)))


def markdown_html(source: str) -> str:
    """CommonMark to HTML (not yet sanitised) as markdown-it-py renders it, mostly by cmark.

    cmark renders unless :func:`cmark_may_differ` says it might part from
    markdown-it-py, or it made a link markdown-it refuses (``javascript:``;
    nh3 would drop the URL, but markdown-it leaves the text as written) or
    one to a non-ASCII host.
    The last line gets its newline first, so that both read it alike.
    """
    source = clean_text(source)
    if not source.endswith("\n"):
        source += "\n"
    if not cmark_may_differ(source):
        rendered = cmark_html(source)
        lowered = rendered.lower()
        suspect = "%" in lowered or "script:" in lowered or "file:" in lowered or "data:" in lowered
        if not (suspect and _UNLIKE_LINK.search(rendered)):
            return rendered.replace("<blockquote>\n</blockquote>", "<blockquote></blockquote>")
    reference: str = _markdown.render(source)
    return reference


def render_body(source: str, base_url: str) -> str:
    """Markdown (with inline HTML) to sanitised HTML whose URLs are absolute.

    Not cached here: :func:`feedsvc.feeds.body.article_html` caches it by the
    article's text reference, so the cache does not hold every body's source.
    """
    return sanitise_body(markdown_html(source), base_url)


def sanitise_body(rendered: str, base_url: str) -> str:
    """Rendered body HTML reduced to the allowlist, its URLs absolute against ``base_url``."""
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
