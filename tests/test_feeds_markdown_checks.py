"""The cheap checks that choose cmark decide exactly as the checks they replaced.

``markdown.cmark_may_differ`` and ``markdown_html``'s link check were made
cheaper (single-character ``in`` tests before each regex, the one long
alternation split by its first characters). They may over-match as before,
but they must never let through a body the old ones sent to markdown-it-py:
held equal here to the old code, kept below as the reference, over the demo
content, a sample of the generated 100k site and hypothesis' Markdown.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.feeds import markdown
from feedsvc.feeds.markdown import cmark_html, cmark_may_differ
from feedsvc.text import clean_text

REPO = Path(__file__).resolve().parent.parent
SITE_100K = Path("/tmp/pc-site100k/articles")

# The reference: cmark_may_differ and the link check as they were (main 6c5961a).
_OLD_MAY_DIFFER = re.compile(
    r"&#(?:[0-9]{8}|[xX][0-9a-fA-F]{7})"
    r"|<!(?!--)|</?(?:search|source|textarea)\b"
    r"|\]\(\s*<?[^\s)]*\("
    r"|\\[ \t]+\n|\t"
    r"|\]:",
    re.IGNORECASE,
)


def old_cmark_may_differ(source: str) -> bool:
    if _OLD_MAY_DIFFER.search(source) or markdown._both_flanking_run(source):
        return True
    if not source.isascii() and (
        markdown._EDGE_SPACE.search(source) or markdown._symbol_by_delimiter(source)
    ):
        return True
    if "`" in source and ("\n " in source or "\n\t" in source):
        return True
    if "\n    " in source and markdown._QUOTE.search(source):
        return True
    if "<!--" in source and source.count("<!--") != len(markdown._GOOD_COMMENT.findall(source)):
        return True
    tag_line = markdown._TAG_LINE_END.search(source) and markdown._TAG_LINE.search(source)
    return bool(tag_line and markdown._CONTAINER.search(source))


def old_link_suspect(rendered: str) -> bool:
    lowered = rendered.lower()
    return "%" in lowered or "script:" in lowered or "file:" in lowered or "data:" in lowered


def new_link_suspect(rendered: str) -> bool:
    """The test markdown_html makes now (kept in step with it by hand: two lines)."""
    return "%" in rendered or (":" in rendered and markdown._scheme_mark(rendered.lower()))


def prepared(source: str) -> str:
    """The source as markdown_html checks it."""
    source = clean_text(source)
    return source if source.endswith("\n") else source + "\n"


def assert_decided_alike(body: str) -> None:
    source = prepared(body)
    assert cmark_may_differ(source) == old_cmark_may_differ(source), source
    html = cmark_html(source)
    assert new_link_suspect(html) == old_link_suspect(html), html


def _bodies(paths: list[Path]) -> list[str]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")).get("body") or "" for p in paths]


def test_the_demo_content_is_decided_as_before():
    bodies = _bodies(sorted((REPO / "content" / "articles").glob("*.yaml")))
    assert bodies
    for body in bodies:
        assert_decided_alike(body)


@pytest.mark.slow  # ~3 s: reading 2,000 YAML files
@pytest.mark.skipif(not SITE_100K.is_dir(), reason="no generated 100k site at /tmp/pc-site100k")
def test_the_generated_100k_sources_are_decided_as_before():
    paths = sorted(SITE_100K.glob("*.yaml"))[:2000]
    for body in _bodies(paths):
        assert_decided_alike(body)


# Pieces of Markdown around every mark the checks look for (and near misses).
PIECES = (
    "word", " ", "\n", "\n\n", "\t", "\\", "\\ \n", "\\\t\n", "*", "**", "_", "__", "a*b",
    "*a*", "£", "€", "é", "\u00a0", "\u3000", "\u2028", "&", "&#", "&#12345678;", "&#x1234567;",
    "&#X41;", "&#1;", "<", ">", "<!", "<!--", "-->", "<!-->", "<!-- a -- b -->", "<!DOCTYPE>",
    "<search>", "</SOURCE>", "<textareas>", "<ſearch>", "]", "[", "](", "](x(y)", "](<a(b>)",
    "]: /u", "[r]:", "`", "``", "\n ", "\n    ", "\n> ", "> ", "\n- ", "- ", "1. ", "2) ",
    "<div>", "</div> ", "<b>", "x>", ">\n", "(", ")", "%", "%4", "%zz", "javascript:",
    "DATA:x", "file:", "[l](http://a.b/%41)", "[l](javascript:x)", "[l](http://bücher.de/)",
    "[l](/a%)", "<http://a.b/c>",
)  # fmt: skip


@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
@settings(max_examples=2000, deadline=None)
def test_markdown_of_the_marks_is_decided_as_before(body: str):
    assert_decided_alike(body)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
@settings(max_examples=1500, deadline=None)
def test_any_text_is_decided_as_before(body: str):
    assert_decided_alike(body)


# One body for each reason the old checks sent a body to markdown-it-py (some of them
# over-matches, as before), and near misses.
MAY_DIFFER = (
    "a\tb", "[r]: /u", "&#12345678;", "&#X1234567;", "<!DOCTYPE html>", "</Source>",
    "[l](x(y))", "a\\  \nb", "a**b**c", "x\u00a0", "£*a*", "`a\n b`", "> q\n    code",
    "> q\n\n    code", "<!-- a -- b -->", "<!-->", "- a\n<div>", "> a\n</div>", "<div>\n\n- a",
)  # fmt: skip
ALIKE = (
    "plain", "&#1234567;", "<!-- fine -->", "[l](/x)", "a \\\nb", "**a** b", "`a`",
    "*(*a*)*", "- a\n  <b>x</b> y", "<b>x</b>",
)  # fmt: skip


@pytest.mark.parametrize("body", MAY_DIFFER + ALIKE)
def test_each_reason_is_decided_as_before(body: str):
    assert_decided_alike(body)
    assert cmark_may_differ(prepared(body)) == (body in MAY_DIFFER)
