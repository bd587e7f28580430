"""One article file to one :class:`~feedsvc.content.model.Article`: read, check, build.

Errors reject the article (required fields, dates, types that would change
its meaning); warnings describe what was repaired or ignored. Every message
names the file, the field and its line. What each field may hold is
:mod:`feedsvc.content.fields`; reading many files at once is
:mod:`feedsvc.content.parallel`.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from feedsvc.content.budgets import ARTICLE, Budget
from feedsvc.content.fields import FieldChecker, parse_datetime, tag_for, tags_of
from feedsvc.content.media import attachments_of, image_of
from feedsvc.content.model import Article, Tag, extras_of, pack_revision, pack_title, source_parts
from feedsvc.content.textstore import put_text
from feedsvc.content.yamlfile import ParsedYaml, read_yaml_file, shown, shown_key
from feedsvc.problems import Problem
from feedsvc.text import looks_like_html, plain_text

KNOWN_FIELDS = frozenset(
    {"title", "published", "updated", "author", "tags", "summary", "body", "views", "image",
     "attachments", "draft"}
)  # fmt: skip
PutText = Callable[[str, str], int]  # (summary, body) -> the article's text reference
_SLUG_OK = re.compile(r"^[\w-]+$")


def validate_article(
    parsed: ParsedYaml, slug: str, display: str, revision: str, put: PutText = put_text
) -> tuple[Article | None, list[Problem]]:
    """Turn a parsed article mapping into an :class:`Article`, or say why not.

    Errors reject the article (required fields, dates, types that would
    change its meaning such as ``draft``); warnings describe what was
    repaired or ignored (unknown fields, pasted HTML, a bad tag). Problems
    come in the order of the fields below, whatever the file's order.
    ``put`` keeps the summary and body (load workers collect them in a chunk).
    """
    data = parsed.data
    if type(data) is dict and not parsed.escapes and not parsed.duplicate_keys:
        article = _well_formed(data, slug, display, revision, put)
        if article is not None:
            return article, []
    return _checked_article(parsed, slug, display, revision, put)


def _checked_article(
    parsed: ParsedYaml, slug: str, display: str, revision: str, put: PutText
) -> tuple[Article | None, list[Problem]]:
    """:func:`validate_article`, field by field, every problem worded."""
    data = parsed.data
    if not isinstance(data, Mapping):
        if data is None:
            return None, [Problem(display, "(file)", "is empty (not parseable yet)")]
        kind = type(data).__name__
        return None, [Problem(display, "(file)", f"must be a mapping of fields, got {kind}")]
    check = FieldChecker(parsed, display)
    _check_keys(parsed, data, slug, check)
    title = _title(data, check)
    published, updated = _dates(data, check)
    author = check.text(data, "author")
    author = check.plain("author", author) if author else None
    tags = tags_of(data, check)
    summary = check.text(data, "summary")
    summary = check.plain("summary", summary) if summary else ""
    body = check.text(data, "body") or ""
    if not summary:
        check("summary", "is empty; a summary is derived from the body", "warning")
    views = check.whole_number(data, "views")
    image = image_of(data, check)
    attachments = attachments_of(data, check)
    draft = check.flag(data, "draft")

    problems = check.problems
    if any(p.severity == "error" for p in problems) or title is None or published is None:
        return None, problems
    folder, file_name = source_parts(display, slug)
    article = Article(
        slug=slug,
        packed_title=pack_title(title),
        published=published,
        updated=updated,
        tags=tuple(tags),
        text_ref=put(summary, body),
        views=views,
        packed_revision=pack_revision(revision),
        extras=extras_of(folder, file_name, author, image, attachments, draft),
    )
    return article, problems


# The fields the fast path reads (image and attachments: the field-by-field path).
_COMMON_FIELDS = frozenset(
    {"title", "published", "updated", "author", "tags", "summary", "body", "views", "draft"}
)


def _line_text(value: Any) -> str | None:
    """A one-line text field as the checked path makes it when that says nothing:
    text (not a number), no pasted HTML, whitespace collapsed; ``None`` otherwise."""
    if type(value) is not str or looks_like_html(value):
        return None
    return plain_text(value)


def _well_formed(
    data: dict[Any, Any], slug: str, display: str, revision: str, put: PutText
) -> Article | None:
    """The article of a file about which :func:`_checked_article` would say nothing,
    built with a few checks instead of a call per field and rule; ``None`` whenever
    any of those checks fails (that path then decides, and words each problem).

    Nearly every file of a big site is such a file, and this is a cold start's
    per-file cost (100k files): ~18 -> ~8 us. Called only for a ``dict`` without
    escapes or keys written twice, so every value is text as the file wrote it.
    ``tests/test_content_article_fast.py`` holds the two paths equal.
    """
    if not data.keys() <= _COMMON_FIELDS or not _SLUG_OK.match(slug):
        return None
    title = _line_text(data.get("title"))
    summary = _line_text(data.get("summary"))
    if not title or not summary:
        return None
    published = parse_datetime(data.get("published"))
    if not isinstance(published, datetime):
        return None
    updated = data.get("updated")
    if updated is not None:
        updated = parse_datetime(updated)
        if not isinstance(updated, datetime) or updated < published:
            return None
    author = data.get("author")
    if author is not None:
        author = _line_text(author) if author else None
        if author is None:
            return None
    body = data.get("body")
    if body is None:
        body = ""
    views = data.get("views")
    if views is None:
        views = 0
    draft = data.get("draft")
    if draft is None:
        draft = False
    tags = _well_formed_tags(data.get("tags"))
    if type(body) is not str or type(views) is not int or views < 0 or type(draft) is not bool:
        return None
    if tags is None:
        return None
    folder, file_name = source_parts(display, slug)
    return Article(
        slug=slug,
        packed_title=pack_title(title),
        published=published,
        updated=updated,
        tags=tags,
        text_ref=put(summary, body),
        views=views,
        packed_revision=pack_revision(revision),
        extras=extras_of(folder, file_name, author, None, (), draft),
    )


def _well_formed_tags(raw: Any) -> tuple[Tag, ...] | None:
    """:func:`~.fields.tags_of` for a list of tag names it would say nothing about."""
    if raw is None:
        return ()
    if type(raw) is not list:
        return None
    tags: list[Tag] = []
    seen: set[str] = set()
    for name in raw:
        if type(name) is not str:
            return None
        tag, notes = tag_for(name)
        if tag is None or notes or tag.slug in seen:
            return None  # a warning to word, or one tag twice: the checked path
        seen.add(tag.slug)
        tags.append(tag)
    return tuple(tags)


def _check_keys(
    parsed: ParsedYaml, data: Mapping[Any, Any], slug: str, check: FieldChecker
) -> None:
    """Keys written twice, keys no article has (typos), a slug URLs must escape."""
    for key, line in parsed.duplicate_keys:
        check.problems.append(
            Problem(check.display, key, "appears twice; the last one wins", line, "warning")
        )
    for key in data:
        if str(key) not in KNOWN_FIELDS:
            check(shown_key(key), "unknown field (typo?)", "warning")
    if not _SLUG_OK.match(slug):
        check.problems.append(
            Problem(
                check.display,
                "(file name)",
                f"slug {shown(slug)} needs percent-encoding in URLs; "
                "prefer letters, digits and hyphens",
                severity="warning",
            )
        )


def _title(data: Mapping[Any, Any], check: FieldChecker) -> str | None:
    """The headline: required, plain text, not empty."""
    title = check.text(data, "title", required=True)
    if title is not None:
        title = check.plain("title", title)
        if not title:
            check("title", "must not be empty")
    return title


def _dates(data: Mapping[Any, Any], check: FieldChecker) -> tuple[datetime | None, datetime | None]:
    """``published`` (required) and ``updated`` (optional; one before publication is
    warned about, and the feeds ignore it: see :attr:`Article.modified`)."""
    if data.get("published") is None:
        check("published", "is required")
        published = None
    else:
        published = check.date(data, "published")
    updated = check.date(data, "updated")
    if updated is not None and published is not None and updated < published:
        check("updated", "is earlier than published; ignored", "warning")
    return published, updated


def revision_of(raw: bytes) -> str:
    """An article's revision: a hash of its file's bytes (equal bytes, same article).

    The one spelling of it: a reload compares a file's bytes with its served
    article's revision without parsing (:mod:`feedsvc.content.parallel`).
    """
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def load_article_file(
    path: str | os.PathLike[str],
    display: str,
    budget: Budget = ARTICLE,
    roots: tuple[str, ...] | None = None,
    put: PutText = put_text,
) -> tuple[Article | None, list[Problem], Mapping[str, int]]:
    """Load and validate one article file (slug from the lower-cased file name).

    Returns the article (or ``None``), its problems and the line of each key.
    ``budget`` and ``roots`` (where symlinks may lead) are as for
    :func:`~feedsvc.content.yamlfile.read_yaml_file`; ``put`` as for
    :func:`validate_article`.
    """
    parsed, raw, problems = read_yaml_file(path, display, budget, roots)
    if parsed is None:
        return None, problems, {}
    revision = revision_of(raw)
    stem = os.path.splitext(os.path.basename(path))[0]
    article, more = validate_article(parsed, stem.lower(), display, revision, put)
    return article, problems + more, parsed.lines
