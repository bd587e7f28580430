"""What each field of an article may hold: dates, text, tags (media: :mod:`.media`).

Every check reports to a :class:`FieldChecker`, which names the file, the
field and its line. Errors reject the article; warnings describe what was
repaired or ignored.

This is the per-file cost of a start-up (100k files on a big site), so the
common case is kept cheap: a tag spelling is checked once per process, not
once per article, and text fields skip re-cleaning when the file holds no
YAML escapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, tzinfo
from typing import Any, TypeVar

from feedsvc.content.model import Tag
from feedsvc.content.yamlfile import ParsedYaml, shown
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

_DATE_ONLY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SPACE_BEFORE_OFFSET = re.compile(r"\s+(?=(?:Z|[+-]\d{1,2}(?::?\d{2})?)$)")

_Value = TypeVar("_Value")
_SHARED: dict[Any, Any] = {}


def shared(value: _Value) -> _Value:
    """One instance per distinct tag or time zone across all articles.

    Without it every article holds its own copies: at 100k articles that is
    ~350k Tag objects and ~200k timezone objects (tens of MB) for a few
    thousand distinct values. Bounded by the distinct values in the content.
    """
    kept: _Value = _SHARED.setdefault(value, value)
    return kept


# Dates a feed may carry: far enough from datetime's ends (years 1 and 9999)
# that no offset, window or schedule arithmetic on them can leave its range.
YEAR_RANGE = (1900, 9998)


def parse_datetime(value: Any) -> datetime | str:
    """A timezone-aware datetime, or the reason why ``value`` is not one.

    Date-only values mean 00:00 UTC; a date-time without an offset is
    rejected because guessing the zone silently misorders feeds. Years
    outside :data:`YEAR_RANGE` (in the date's zone or in UTC) are rejected.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str):
        text = value.strip()
        day_only = _DATE_ONLY.match(text) if len(text) <= 10 else None  # it matches no more
        if day_only:
            try:
                day = date(*(int(part) for part in day_only.groups()))
            except ValueError:
                return f"is not a valid date: {shown(value)}"
            parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            if len(text) > 10 and text[10] in " t":
                text = text[:10] + "T" + text[11:]
            if len(text.split(maxsplit=1)) > 1:  # \s as split() sees it: the regex is rarely needed
                text = _SPACE_BEFORE_OFFSET.sub("", text)
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                return (
                    f"is not an ISO 8601 date-time: {shown(value)} (e.g. 2025-09-04T18:00:00+08:00)"
                )
    else:
        return f"must be a date-time, got {type(value).__name__}"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return "needs a timezone offset, e.g. 2025-09-04T18:00:00+08:00 or ...Z"
    low, high = YEAR_RANGE
    try:
        utc_year = parsed.astimezone(UTC).year
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00, or 0001-01-01T00:00+01:00
        utc_year = parsed.year
    for year in (parsed.year, utc_year):
        if not low <= year <= high:
            return f"year {year} is out of range ({low}-{high})"
    shared_zone: tzinfo = shared(parsed.tzinfo)
    return parsed if shared_zone is parsed.tzinfo else parsed.replace(tzinfo=shared_zone)


class FieldChecker:
    """Collects the problems of one article, each with the key's line."""

    def __init__(self, parsed: ParsedYaml, display: str) -> None:
        self.lines = parsed.lines
        self.escapes = parsed.escapes
        self.display = display
        self.problems: list[Problem] = []

    def __call__(self, key: str, message: str, severity: Severity = "error") -> None:
        self.problems.append(Problem(self.display, key, message, self.lines.get(key), severity))

    def at(self, key: str, field: str, message: str, severity: Severity = "warning") -> None:
        """A problem with a part of ``key``'s value (``image.width``), at ``key``'s line."""
        self.problems.append(Problem(self.display, field, message, self.lines.get(key), severity))

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

    def date(self, data: Mapping[Any, Any], key: str) -> datetime | None:
        """A date-time field (``None``: absent, or wrong and reported)."""
        if data.get(key) is None:
            return None
        parsed = parse_datetime(data[key])
        if isinstance(parsed, str):
            self(key, parsed)
            return None
        return parsed

    def whole_number(self, data: Mapping[Any, Any], key: str) -> int:
        """A count (``views``); absent means 0, a wrong one is reported and counts 0."""
        value = data.get(key, 0)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self(key, f"must be a whole number >= 0, got {shown(value)}")
            return 0
        return value

    def flag(self, data: Mapping[Any, Any], key: str) -> bool:
        """A true/false field (``draft``); absent means false."""
        value = data.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self(key, f"must be true or false, got {shown(value)}")
            return False
        return value

    def url(self, data: Mapping[Any, Any], key: str) -> str | None:
        """A link (``image``), normalised; one readers cannot resolve is warned about."""
        value = self.text(data, key)
        if value is None:
            return None
        value = normalise_url(value)
        if not is_absolute_http_url(value):
            self(key, f"is not an absolute http(s) URL: {shown(value)}", "warning")
        return value


_TAG_MEMO_LIMIT = 100_000  # distinct tag spellings remembered (a site has thousands)
_tag_memo: dict[str, tuple[Tag | None, tuple[tuple[str, Severity], ...]]] = {}


def tag_for(text: str) -> tuple[Tag | None, tuple[tuple[str, Severity], ...]]:
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
    tag = shared(Tag(name=name, slug=slug)) if slug else None
    if tag is None:
        notes.append((f"tag {shown(name)} has no letters or digits; ignored", "warning"))
    if len(_tag_memo) >= _TAG_MEMO_LIMIT:
        _tag_memo.clear()
    memo = _tag_memo[text] = (tag, tuple(notes))
    return memo


def tags_of(data: Mapping[Any, Any], check: FieldChecker) -> list[Tag]:
    """The article's tags, each once, in order; a bad tag is dropped with a warning.

    A bad tag must not take the article out of every feed, so tag problems
    are warnings. Two spellings of one slug are one tag (the first wins).
    """
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
        if isinstance(raw_tag, bool) or not isinstance(raw_tag, str | int | float):
            check("tags", f"each tag must be text, got {shown(raw_tag)}; ignored", "warning")
            continue
        tag, notes = tag_for(str(raw_tag))
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
