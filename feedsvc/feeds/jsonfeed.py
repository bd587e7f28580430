"""JSON Feed 1.1 (https://jsonfeed.org/version/1.1) from a decided feed document.

feedgen writes no JSON Feed, so this is the one hand-written writer: a
mapping per the spec, dumped with a stable key order and indentation so the
bytes (and their validators) are the same on every instance.
"""

from __future__ import annotations

import json

from feedsvc.content.model import Attachment, Image
from feedsvc.feeds.document import FeedDocument, FeedItem, Link

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


def json_feed(doc: FeedDocument) -> bytes:
    """The document as JSON Feed bytes (a template: self and paging URLs hold the base token)."""
    document = {
        "version": JSON_FEED_VERSION,
        "title": doc.title,
        "home_page_url": doc.home_url,
        "feed_url": doc.self_urls["json"],
        **_paging_and_hubs(doc.links["json"]),
        "description": doc.description,
        "language": doc.language,
        "authors": [{"name": doc.author}],
        **_marks(doc),
        "items": [_item(item) for item in doc.items],
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


def _item(item: FeedItem) -> dict[str, object]:
    return {
        "id": item.id,
        "url": item.url,
        "title": item.title,
        "summary": item.summary,
        "content_html": item.content_html,
        "date_published": item.published.isoformat(),
        "date_modified": item.modified.isoformat(),
        "authors": [{"name": item.author}],
        "tags": list(item.tags),
        **_pictures(item.image),
        **_attachments(item.attachments),
    }


def _marks(doc: FeedDocument) -> dict[str, object]:
    """``icon`` (large, square) and ``favicon`` (small, square): both the site's icon."""
    return {"icon": doc.icon.url, "favicon": doc.icon.url} if doc.icon else {}


def _pictures(image: Image | None) -> dict[str, object]:
    """``image``, and ``banner_image`` too unless the image is known not to be wide."""
    if image is None:
        return {}
    upright = image.width and image.height and image.height >= image.width
    return {"image": image.url} if upright else {"image": image.url, "banner_image": image.url}


def _attachments(attachments: tuple[Attachment, ...]) -> dict[str, object]:
    """JSON Feed ``attachments``, each with what is known of it."""
    if not attachments:
        return {}
    listed = []
    for attachment in attachments:
        entry: dict[str, object] = {"url": attachment.url, "mime_type": attachment.type}
        if attachment.title:
            entry["title"] = attachment.title
        if attachment.length:
            entry["size_in_bytes"] = attachment.length
        if attachment.duration:
            entry["duration_in_seconds"] = attachment.duration
        listed.append(entry)
    return {"attachments": listed}


def _paging_and_hubs(links: list[Link]) -> dict[str, object]:
    """JSON Feed's ``next_url`` (older page) and ``hubs`` (WebSub)."""
    extra: dict[str, object] = {}
    for link in links:
        if link["rel"] == "next":
            extra["next_url"] = link["href"]
        elif link["rel"] == "hub":
            extra["hubs"] = [{"type": "WebSub", "url": link["href"]}]
    return extra
