"""Markdown to HTML for article bodies: cmark (C) where it agrees with markdown-it-py.

markdown-it-py (CommonMark 0.31.2) is the reference: it rendered every body
before, and ``tests/test_feeds_markdown.py`` holds this module's output, after
the same sanitiser, equal to it. cmark-gfm (cmarkgfm, CommonMark 0.29)
renders a 2 KB body in ~18 us against ~450 us, which made rendering ~85% of
a cold tag feed with nothing kept (issue 14). Where the two were found to
part, :func:`cmark_may_differ` (on the source) or the link check (on cmark's
output) sends the body to markdown-it-py instead: cheap tests that match
more than they must, so a body is never rendered unlike the reference but
for two differences no reader sees (the test module names them).
"""

from __future__ import annotations

import ctypes
import functools
import re
import unicodedata
from typing import TYPE_CHECKING

from cmarkgfm import _cmark

from feedsvc.text import clean_text, sanitise_body

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@functools.cache
def _markdown() -> MarkdownIt:
    """The reference renderer, made on the first body cmark may render unlike it:
    most servers never need it, and not importing it saves ~1 MB resident."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


# cmark (C) renders a body ~20x faster than markdown-it-py, the reference.
# Raw HTML passes through to nh3, as with markdown-it. The result is freed
# with libc's free(): cmarkgfm's own wrapper never frees it (a leak per call).
_CMARK_UNSAFE: int = _cmark.lib.CMARK_OPT_UNSAFE
_libc_free = ctypes.CDLL(None).free
_libc_free.argtypes, _libc_free.restype = [ctypes.c_void_p], None

# Where cmark-gfm (CommonMark 0.29) and markdown-it-py (0.31.2) part, found
# by running both over the spec's examples and fuzzed documents
# (tests/test_feeds_markdown.py). A body any of these match is rendered by
# markdown-it-py: they are cheap, and they over-match on purpose.
_UNICODE_SPACE = "\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_ASCII_MARK = r"\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f"  # space, controls, punctuation
# markdown-it strips Unicode spaces (str.strip) at paragraph, heading and link edges.
_EDGE_SPACE = re.compile(
    f"[{_UNICODE_SPACE}](?:(?![^{_ASCII_MARK}])|(?<![^{_ASCII_MARK}][{_UNICODE_SPACE}]))"
)
# What once was one alternation (``&#...|<!...|...|\]:``, ~12 us a 2 KB body:
# no literal prefix for the regex engine to skip by) is tried part by part,
# each only when ``str``'s own search (memchr, ~0.1 us) finds the characters
# every match of that part starts with. The same matches, in a fifth the time
# (tests/test_feeds_markdown.py holds the two equal).
_OUT_OF_RANGE = re.compile(r"&#(?:[0-9]{8}|[xX][0-9a-fA-F]{7})", re.I)  # 0.31 keeps it as text
# Declarations; HTML block names (0.30+).
_NEW_HTML = re.compile(r"<!(?!--)|</?(?:search|source|textarea)\b", re.I)
# A reference definition ("]:"), or a destination with a parenthesis cmark takes unbalanced.
_BRACKET_MARK = re.compile(r"\](?::|\(\s*<?[^\s)]*\()")
_HARD_BREAK = re.compile(r"\\[ \t]+\n")  # "\\  " hard breaks
_GOOD_COMMENT = re.compile(r"<!--(?!-?>)(?:[^-]|-[^-])*-->")  # one both read alike
_SYMBOL_BY_DELIMITER = re.compile(r"[*_](?=([^\x00-\x7f]))|([^\x00-\x7f])(?=[*_])")
_TAG_LINE_END = re.compile(r">[ \t]*\n")
_TAG_LINE = re.compile(r"^ {0,3}</?[A-Za-z][^\n]*>[ \t]*$", re.MULTILINE)
_CONTAINER = re.compile(r"^ {0,3}(?:>|[-+*][ \t]|[0-9]{1,9}[.)][ \t])", re.MULTILINE)
_QUOTE = re.compile(r"^ {0,3}>", re.MULTILINE)
# A link markdown-it refuses, a non-ASCII host (markdown-it: IDNA; cmark: %-escapes)
# or a "%" that escapes nothing (markdown-it: "%25"; cmark: kept).
_UNLIKE_LINK = re.compile(
    r'(?:href|src)="(?:javascript|vbscript|file|data):|="[a-z][a-z0-9+.-]*:(?://)?[^/"?#]*%'
    r'|="[^"]*%(?![0-9a-f]{2})',
    re.I,
)


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


def _may_differ_marks(source: str) -> bool:
    """Marks of a known difference: a tab (expanded unlike in containers), a
    reference definition (then a list cmark does not start), a character
    reference out of range, HTML cmark 0.29 does not know, a destination with
    a parenthesis or a backslash hard break.

    Each ``in`` of a single character is a ``memchr`` (~0.1 us a 2 KB body);
    one of two characters is ~2 us, so it waits for its first character.
    """
    if "\t" in source:
        return True
    if "]" in source and _BRACKET_MARK.search(source):
        return True
    return bool(
        ("&" in source and "&#" in source and _OUT_OF_RANGE.search(source))
        or ("<" in source and _NEW_HTML.search(source))
        or ("\\" in source and _HARD_BREAK.search(source))
    )


def cmark_may_differ(source: str) -> bool:
    """Whether cmark might render ``source`` unlike markdown-it-py (over-matches on purpose).

    Every test below is guarded by a character its matches must hold, found
    by a ``memchr``: most bodies hold no ``>``, ``<`` or backquote, and are
    decided without a regex over their whole text.
    """
    if _may_differ_marks(source) or _both_flanking_run(source):
        return True
    if not source.isascii() and (_EDGE_SPACE.search(source) or _symbol_by_delimiter(source)):
        return True
    if "`" in source and ("\n " in source or "\n\t" in source):
        return True  # a code span over an indented line keeps (markdown-it) or drops its indent
    comments = "<" in source and "<!--" in source
    if comments and source.count("<!--") != len(_GOOD_COMMENT.findall(source)):
        return True  # "<!-->", "--" inside: comments in 0.31, text in 0.29
    if ">" not in source:  # what is left needs a quote or a tag
        return False
    if "\n    " in source and _QUOTE.search(source):
        return True  # an indented line after a quote: a lazy line to cmark, code to markdown-it
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


def _scheme_mark(lowered: str) -> bool:
    return "script:" in lowered or "file:" in lowered or "data:" in lowered


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
        # lower() makes no "%" or ":" that was not there: both are looked for
        # first (memchr), and most bodies (links from the root) have neither.
        suspect = "%" in rendered or (":" in rendered and _scheme_mark(rendered.lower()))
        if not (suspect and _UNLIKE_LINK.search(rendered)):
            return rendered.replace("<blockquote>\n</blockquote>", "<blockquote></blockquote>")
    reference: str = _markdown().render(source)
    return reference


def render_body(source: str, base_url: str) -> str:
    """Markdown (with inline HTML) to sanitised HTML whose URLs are absolute.

    Not cached here: :func:`feedsvc.feeds.body.article_html` caches it by the
    article's text reference, so the cache does not hold every body's source.
    """
    return sanitise_body(markdown_html(source), base_url)
