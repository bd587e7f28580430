"""Reading feeds the way readers do, for assertions across all three formats.

RSS and Atom go through feedparser (a real feed-reader library) and must
parse without ``bozo``. Released feedparser versions do not read JSON Feed,
so JSON goes through ``jsonfeed-util`` (a JSON Feed reader) and a JSON Schema
of the JSON Feed 1.1 spec's required fields and types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.dom import minidom

import feedparser
import jsonfeed
import jsonschema

JSON_FEED_1_1_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "title", "items"],
    "properties": {
        "version": {"const": "https://jsonfeed.org/version/1.1"},
        "title": {"type": "string", "minLength": 1},
        "home_page_url": {"type": "string", "pattern": "^https?://"},
        "feed_url": {"type": "string", "pattern": "^https?://"},
        "next_url": {"type": "string", "pattern": "^https?://"},
        "description": {"type": "string"},
        "language": {"type": "string"},
        "authors": {"type": "array", "items": {"$ref": "#/$defs/author"}},
        "icon": {"type": "string", "pattern": "^https?://"},
        "favicon": {"type": "string", "pattern": "^https?://"},
        "hubs": {
            "type": "array",
            "items": {"type": "object", "required": ["type", "url"]},
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id"],
                "anyOf": [{"required": ["content_html"]}, {"required": ["content_text"]}],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "url": {"type": "string", "pattern": "^https?://"},
                    "title": {"type": "string"},
                    "content_html": {"type": "string"},
                    "summary": {"type": "string"},
                    "image": {"type": "string", "pattern": "^https?://"},
                    "banner_image": {"type": "string", "pattern": "^https?://"},
                    "attachments": {"type": "array", "items": {"$ref": "#/$defs/attachment"}},
                    "date_published": {"type": "string", "format": "date-time"},
                    "date_modified": {"type": "string", "format": "date-time"},
                    "authors": {"type": "array", "items": {"$ref": "#/$defs/author"}},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
    "$defs": {
        "attachment": {
            "type": "object",
            "required": ["url", "mime_type"],
            "properties": {
                "url": {"type": "string", "pattern": "^https?://"},
                "mime_type": {"type": "string", "pattern": "^[a-z]+/[^\\s/]+$"},
                "title": {"type": "string"},
                "size_in_bytes": {"type": "integer", "minimum": 1},
                "duration_in_seconds": {"type": "integer", "minimum": 1},
            },
        },
        "author": {
            "type": "object",
            "anyOf": [{"required": ["name"]}, {"required": ["url"]}, {"required": ["avatar"]}],
        },
    },
}


@dataclass(frozen=True)
class Entry:
    """What a reader sees of one item, whatever the format."""

    id: str
    title: str
    link: str
    published: datetime
    updated: datetime
    summary: str
    content: str
    author: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class ParsedFeed:
    """What a reader sees of a feed, whatever the format."""

    title: str
    self_link: str | None
    home_link: str | None
    updated: datetime | None
    language: str | None
    entries: list[Entry]
    raw: Any


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _from_struct(struct: Any) -> datetime:
    from calendar import timegm
    from datetime import UTC

    return datetime.fromtimestamp(timegm(struct), tz=UTC)


def parse_feed(body: bytes, fmt: str) -> ParsedFeed:
    """Parse a served feed as a reader would; fail loudly on any defect."""
    if fmt == "json":
        document = json.loads(body.decode("utf-8"))
        jsonschema.validate(
            document, JSON_FEED_1_1_SCHEMA, format_checker=jsonschema.FormatChecker()
        )
        feed = jsonfeed.Feed.parse(document)
        entries = [
            Entry(
                id=item.id,
                title=item.title,
                link=item.url,
                published=_dt(item.date_published),
                updated=_dt(item.date_modified),
                summary=item.summary,
                content=item.content_html,
                author=item.authors[0].name,
                tags=tuple(item.tags or ()),
            )
            for item in feed.items
        ]
        return ParsedFeed(
            feed.title, feed.feed_url, feed.home_page_url, None, feed.language, entries, document
        )
    minidom.parseString(body)  # well-formed XML, independently of feedparser
    parsed = feedparser.parse(body)
    assert not parsed.bozo, f"feedparser bozo: {parsed.get('bozo_exception')!r}"
    links = parsed.feed.get("links", [])
    self_link = next((lnk["href"] for lnk in links if lnk.get("rel") == "self"), None)
    home = next((lnk["href"] for lnk in links if lnk.get("rel") == "alternate"), None)
    entries = []
    for item in parsed.entries:
        published = _from_struct(item.published_parsed)
        # dict.keys(): feedparser's `in` would map updated to published (deprecated fallback).
        has_updated = "updated_parsed" in dict.keys(item)
        updated = _from_struct(item["updated_parsed"]) if has_updated else published
        content = item.content[0].value if item.get("content") else ""
        entries.append(
            Entry(
                id=item.id,
                title=item.title,
                link=item.link,
                published=published,
                updated=updated,
                summary=item.get("summary", ""),
                content=content,
                author=item.get("author", ""),
                tags=tuple(t.term for t in item.get("tags", [])),
            )
        )
    updated = parsed.feed.get("updated_parsed")
    return ParsedFeed(
        parsed.feed.title,
        self_link,
        home,
        _from_struct(updated) if updated else None,
        parsed.feed.get("language"),
        entries,
        parsed,
    )
