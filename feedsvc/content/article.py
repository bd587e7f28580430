"""One article file to one :class:`~feedsvc.content.model.Article`: read, check, build.

Errors reject the article (required fields, dates, types that would change
its meaning); warnings describe what was repaired or ignored. Every message
names the file, the field and its line.

This is the per-file cost of a start-up (100k files on a big site), so the
common case is kept cheap: a tag spelling is checked once per process, not
once per article, text fields skip re-cleaning when the file holds no YAML
escapes, and a first load of many files is spread over forked workers.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime, timezone
from multiprocessing.reduction import ForkingPickler
from typing import Any

from feedsvc.content.model import Article, Tag
from feedsvc.content.textstore import MemoryTextStore, TextStore, ensure_store, put_text
from feedsvc.content.yamlfile import ParsedYaml, read_yaml_file, shown
from feedsvc.memory import paused_gc
from feedsvc.problems import Problem, Severity
from feedsvc.text import (
    clean_text,
    is_absolute_http_url,
    looks_like_html,
    markup_to_text,
    normalise_url,
    plain_text,
    tag_slug,
)

KNOWN_FIELDS = frozenset(
    {"title", "published", "updated", "author", "tags", "summary", "body", "views", "image",
     "draft"}
)  # fmt: skip
_DATE_ONLY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SPACE_BEFORE_OFFSET = re.compile(r"\s+(?=(?:Z|[+-]\d{1,2}(?::?\d{2})?)$)")
_SLUG_OK = re.compile(r"^[\w-]+$")


def parse_datetime(value: Any) -> datetime | str:
    """A timezone-aware datetime, or the reason why ``value`` is not one.

    Date-only values mean 00:00 UTC; a date-time without an offset is
    rejected because guessing the zone silently misorders feeds.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str):
        text = value.strip()
        day_only = _DATE_ONLY.match(text)
        if day_only:
            try:
                day = date(*(int(part) for part in day_only.groups()))
            except ValueError:
                return f"is not a valid date: {shown(value)}"
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        if len(text) > 10 and text[10] in " tT":
            text = text[:10] + "T" + text[11:]
        text = _SPACE_BEFORE_OFFSET.sub("", text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return f"is not an ISO 8601 date-time: {shown(value)} (e.g. 2025-09-04T18:00:00+08:00)"
    else:
        return f"must be a date-time, got {type(value).__name__}"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return "needs a timezone offset, e.g. 2025-09-04T18:00:00+08:00 or ...Z"
    if not 1900 <= parsed.year <= 9998:
        return f"year {parsed.year} is out of range"
    shared_zone = _shared(parsed.tzinfo)
    return parsed if shared_zone is parsed.tzinfo else parsed.replace(tzinfo=shared_zone)


_SHARED: dict[Any, Any] = {}


def _shared(value: Any) -> Any:
    """One instance per distinct tag or time zone across all articles.

    Without it every article holds its own copies: at 100k articles that is
    ~350k Tag objects and ~200k timezone objects (tens of MB) for a few
    thousand distinct values. Bounded by the distinct values in the content.
    """
    return _SHARED.setdefault(value, value)


class _Checker:
    """Collects the problems of one article, each with the key's line."""

    def __init__(self, parsed: ParsedYaml, display: str) -> None:
        self.lines = parsed.lines
        self.escapes = parsed.escapes
        self.display = display
        self.problems: list[Problem] = []

    def __call__(self, key: str, message: str, severity: Severity = "error") -> None:
        self.problems.append(Problem(self.display, key, message, self.lines.get(key), severity))

    def text(self, data: Mapping[Any, Any], key: str, *, required: bool = False) -> str | None:
        """A text field; numbers are accepted as text. Controls removed, with a word."""
        value = data.get(key)
        if value is None:
            if required:
                self(key, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self(key, f"must be text, got {type(value).__name__}")
            return None
        raw = str(value)
        if not self.escapes:  # nothing but the (already clean) file text: no need to look
            return raw
        cleaned = clean_text(raw)
        if cleaned != raw:
            self(
                key,
                f"{len(raw) - len(cleaned)} control character(s) removed (feeds cannot carry them)",
                "warning",
            )
        return cleaned

    def plain(self, key: str, value: str) -> str:
        """Plain text of a one-line field; pasted HTML becomes its text (with a warning)."""
        if looks_like_html(value):
            self(key, "HTML markup removed; this field is plain text", "warning")
            return markup_to_text(value)
        return plain_text(value)


_TAG_MEMO_LIMIT = 100_000  # distinct tag spellings remembered (a site has thousands)
_tag_memo: dict[str, tuple[Tag | None, tuple[tuple[str, Severity], ...]]] = {}


def _tag_for(text: str) -> tuple[Tag | None, tuple[tuple[str, Severity], ...]]:
    """The tag a spelling stands for, and what was wrong with it; memoised.

    A site has thousands of tags spread over 100k articles, so checking each
    spelling once (slug, pasted HTML, controls) instead of once per use takes
    most of the tag work out of a start-up.
    """
    memo = _tag_memo.get(text)
    if memo is not None:
        return memo
    notes: list[tuple[str, Severity]] = []
    cleaned = clean_text(text)
    if cleaned != text:
        notes.append(("control character(s) removed (feeds cannot carry them)", "warning"))
    if looks_like_html(cleaned):
        notes.append(("HTML markup removed; this field is plain text", "warning"))
        name = markup_to_text(cleaned)
    else:
        name = plain_text(cleaned)
    slug = tag_slug(name)
    tag = _shared(Tag(name=name, slug=slug)) if slug else None
    if tag is None:
        notes.append((f"tag {shown(name)} has no letters or digits; ignored", "warning"))
    if len(_tag_memo) >= _TAG_MEMO_LIMIT:
        _tag_memo.clear()
    memo = _tag_memo[text] = (tag, tuple(notes))
    return memo


def _tags(data: Mapping[Any, Any], check: _Checker) -> list[Tag]:
    raw_tags = data.get("tags")
    if raw_tags is None:
        return []
    if isinstance(raw_tags, str):  # "tags: North Korea, China" reads as two tags
        raw_tags = [part for part in raw_tags.split(",") if part.strip()]
    if not isinstance(raw_tags, list):
        check("tags", f"must be a list of tag names, got {type(raw_tags).__name__}")
        return []
    tags: list[Tag] = []
    seen: dict[str, str] = {}
    for raw_tag in raw_tags:
        # A bad tag is dropped with a warning: it must not take the article out of every feed.
        if isinstance(raw_tag, bool) or not isinstance(raw_tag, str | int | float):
            check("tags", f"each tag must be text, got {shown(raw_tag)}; ignored", "warning")
            continue
        tag, notes = _tag_for(str(raw_tag))
        for message, severity in notes:
            check("tags", message, severity)
        if tag is None:
            continue
        if tag.slug in seen:
            if seen[tag.slug] != tag.name:
                check(
                    "tags",
                    f"{shown(tag.name)} and {shown(seen[tag.slug])} are one tag ({tag.slug}); "
                    "the first spelling is used",
                    "warning",
                )
            continue
        seen[tag.slug] = tag.name
        tags.append(tag)
    return tags


def validate_article(
    parsed: ParsedYaml, slug: str, display: str, revision: str
) -> tuple[Article | None, list[Problem]]:
    """Turn a parsed article mapping into an :class:`Article`, or say why not.

    Errors reject the article (required fields, dates, types that would
    change its meaning such as ``draft``); warnings describe what was
    repaired or ignored (unknown fields, pasted HTML, a bad tag).
    """
    data = parsed.data
    if not isinstance(data, Mapping):
        if data is None:
            return None, [Problem(display, "(file)", "is empty (not parseable yet)")]
        kind = type(data).__name__
        return None, [Problem(display, "(file)", f"must be a mapping of fields, got {kind}")]
    check = _Checker(parsed, display)
    for key, line in parsed.duplicate_keys:
        check.problems.append(
            Problem(display, key, "appears twice; the last one wins", line, "warning")
        )
    for key in data:
        if str(key) not in KNOWN_FIELDS:
            check(str(key), "unknown field (typo?)", "warning")
    if not _SLUG_OK.match(slug):
        check.problems.append(
            Problem(
                display,
                "(file name)",
                f"slug {shown(slug)} needs percent-encoding in URLs; "
                "prefer letters, digits and hyphens",
                severity="warning",
            )
        )

    title = check.text(data, "title", required=True)
    if title is not None:
        title = check.plain("title", title)
        if not title:
            check("title", "must not be empty")

    published = parse_datetime(data["published"]) if data.get("published") is not None else None
    if published is None:
        check("published", "is required")
    elif isinstance(published, str):
        check("published", published)
        published = None

    updated = None
    if data.get("updated") is not None:
        parsed_updated = parse_datetime(data["updated"])
        if isinstance(parsed_updated, str):
            check("updated", parsed_updated)
        else:
            updated = parsed_updated
            if published is not None and updated < published:
                check("updated", "is earlier than published; ignored", "warning")

    author = check.text(data, "author")
    author = check.plain("author", author) if author else None

    tags = _tags(data, check)

    summary = check.text(data, "summary")
    summary = check.plain("summary", summary) if summary else ""
    body = check.text(data, "body") or ""
    if not summary:
        check("summary", "is empty; a summary is derived from the body", "warning")

    views = data.get("views", 0)
    if views is None:
        views = 0
    if isinstance(views, bool) or not isinstance(views, int) or views < 0:
        check("views", f"must be a whole number >= 0, got {shown(views)}")
        views = 0

    image = check.text(data, "image")
    if image is not None:
        image = normalise_url(image)
        if not is_absolute_http_url(image):
            check("image", f"is not an absolute http(s) URL: {shown(image)}", "warning")

    draft = data.get("draft", False)
    if draft is None:
        draft = False
    if not isinstance(draft, bool):
        check("draft", f"must be true or false, got {shown(draft)}")
        draft = False

    problems = check.problems
    if any(p.severity == "error" for p in problems) or title is None or published is None:
        return None, problems
    article = Article(
        slug=slug,
        title=title,
        published=published,
        updated=updated,
        author=author,
        tags=tuple(tags),
        text_ref=put_text(summary, body),
        views=views,
        image=image or None,
        draft=draft,
        source=display,
        revision=revision,
    )
    return article, problems


def load_article_file(
    path: str | os.PathLike[str], display: str
) -> tuple[Article | None, list[Problem], Mapping[str, int]]:
    """Load and validate one article file (slug from the lower-cased file name).

    Returns the article (or ``None``), its problems and the line of each key.
    """
    parsed, raw, problems = read_yaml_file(path, display)
    if parsed is None:
        return None, problems, {}
    revision = hashlib.blake2b(raw, digest_size=12).hexdigest()
    stem = os.path.splitext(os.path.basename(path))[0]
    article, more = validate_article(parsed, stem.lower(), display, revision)
    return article, problems + more, parsed.lines


# -- reading many files at once (first load) -------------------------------

# Below this many files to read, worker processes cost more than they save.
PARALLEL_MIN_FILES = 2000
LOAD_CHUNK = 500  # files per task sent to a worker
# (article or None, its problems, the lines of the requested fields)
LoadResult = tuple[Article | None, tuple[Problem, ...], tuple[int | None, ...]]
# What a worker is sent: the folder, how it is named in messages, the fields
# whose lines to report, and the file names of one chunk.
_Batch = tuple[str, str, tuple[str, ...], list[str]]


def _load_batch(batch: _Batch) -> list[LoadResult]:
    """Worker side of :func:`load_article_files`: one chunk, in order.

    Results are packed here (problems as a tuple, the usual empty one shared;
    lines as a tuple of the requested fields): the parent keeps the articles
    for good, and every short-lived object unpickled between them would leave
    a hole in its heap (tens of MB at 100k articles).
    """
    folder, display_folder, fields, names = batch
    results: list[LoadResult] = []
    for name in names:
        path, display = os.path.join(folder, name), os.path.join(display_folder, name)
        article, problems, lines = load_article_file(path, display)
        results.append((article, tuple(problems), tuple(lines.get(key) for key in fields)))
    return results


def _shared_tag(name: str, slug: str) -> Tag:
    return _shared(Tag(name=name, slug=slug))


def _shared_zone(*args: Any) -> timezone:
    return _shared(timezone(*args))


def _reduce_tag(tag: Tag) -> tuple[Any, tuple[str, str]]:
    return _shared_tag, (tag.name, tag.slug)


def _reduce_zone(zone: timezone) -> tuple[Any, tuple[Any, ...]]:
    return _shared_zone, zone.__getinitargs__()  # type: ignore[attr-defined]


def load_article_files(
    folder: str, display_folder: str, names: list[str], line_fields: tuple[str, ...]
) -> list[LoadResult]:
    """:func:`load_article_file` for the files ``names`` in ``folder``, in order.

    ``display_folder`` is how messages name the folder; each result carries
    the lines of ``line_fields`` (for later messages) instead of every key's.

    Reading 100k articles is YAML parsing bound (~0.1 ms a file), so a first
    load of many files is spread over one forked worker per CPU; articles
    come back pickled, which costs a fraction of parsing them. Forking is
    only safe while the process has a single thread, i.e. at start-up: later
    (watcher and server threads running) and for small batches, files are
    read here.
    """
    store = ensure_store()  # created before any fork, so workers append to the same file
    workers = min(os.cpu_count() or 1, 8)
    chunks: list[_Batch] = [
        (folder, display_folder, line_fields, names[i : i + LOAD_CHUNK])
        for i in range(0, len(names), LOAD_CHUNK)
    ]
    with paused_gc():
        return _load_files(chunks, len(names), store, workers)


def _load_files(
    chunks: list[_Batch], count: int, store: TextStore | MemoryTextStore, workers: int
) -> list[LoadResult]:
    def here() -> list[LoadResult]:
        return [result for chunk in chunks for result in _load_batch(chunk)]

    try:
        if (
            count < PARALLEL_MIN_FILES
            or workers < 2
            or not store.forkable
            or threading.active_count() > 1
            or "fork" not in multiprocessing.get_all_start_methods()
        ):
            return here()
        # Tags and time zones come back as the parent's shared instances.
        ForkingPickler.register(Tag, _reduce_tag)
        ForkingPickler.register(timezone, _reduce_zone)
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                parts = pool.map(_load_batch, chunks, chunksize=1)
        except OSError:  # no processes to be had (limits, sandbox): read them here
            return here()
        return [result for part in parts for result in part]
    finally:
        store.seal()  # no more forks: the file's name goes, the kernel frees it at exit
