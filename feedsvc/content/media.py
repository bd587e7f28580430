"""An article's ``image`` and ``attachments``: what each may hold, checked.

Feed readers take thumbnails and podcast enclosures from these values, so a
value that is wrong is dropped with a warning rather than sent: a wrong width
makes readers lay a picture out badly, a wrong type makes podcast apps refuse
the file. The article itself is still served: a picture is not worth taking
a story out of every feed (as with a bad tag, see :func:`~.fields.tags_of`).

Problems name the sub-field (``image.width``, ``attachments[2].type``,
counting attachments from 1 as an editor does) at the line of the top-level
key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from feedsvc.content.fields import FieldChecker
from feedsvc.content.model import Attachment, Image
from feedsvc.content.yamlfile import shown, shown_key
from feedsvc.text import (
    clean_text,
    is_absolute_http_url,
    looks_like_html,
    markup_to_text,
    normalise_url,
    plain_text,
)

# Bounds that catch typos (40000 for 4000) without refusing any real file.
MAX_PIXELS = 20_000  # the widest photos news sites publish are ~8000 px
MAX_BYTES = 50 * 1024**3  # 50 GiB: hours of 4K video
MAX_DURATION = 7 * 24 * 3600  # a week, in seconds
MAX_ATTACHMENTS = 10  # more is a folder, not a story's enclosures

IMAGE_KEYS = frozenset({"url", "alt", "width", "height", "type", "caption"})
ATTACHMENT_KEYS = frozenset({"url", "type", "length", "duration", "title"})
# An attachment is listened to or watched; documents (PDF) are linked from
# the body instead: podcast apps take the first enclosure and fail on a PDF.
ATTACHMENT_KINDS = ("audio", "video")

_MIME = re.compile(r"^([a-z]+)/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_CLOCK = re.compile(r"^(?:(\d{1,3}):)?([0-5]?\d):([0-5]\d)$")  # [H:]MM:SS

# The file types feeds name when the editor gave none, by URL extension. A
# table of our own (not :mod:`mimetypes`, which reads the machine's files),
# so every instance sends the same bytes.
GUESSED_TYPES: dict[str, str] = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
    ".webp": "image/webp", ".avif": "image/avif", ".svg": "image/svg+xml",
    ".ico": "image/vnd.microsoft.icon",
    ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".ogg": "audio/ogg",
    ".oga": "audio/ogg", ".opus": "audio/ogg", ".wav": "audio/wav", ".flac": "audio/flac",
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime",
    ".ogv": "video/ogg",
}  # fmt: skip


def guess_type(url: str) -> str | None:
    """The media type a URL's extension stands for (``None`` when it says nothing)."""
    try:
        path = urlsplit(url).path.lower()
    except ValueError:
        return None
    dot = path.rfind(".")
    return GUESSED_TYPES.get(path[dot:]) if dot > path.rfind("/") else None


class _Sub:
    """Reports about one mapping's sub-fields, at the line of its top-level key."""

    def __init__(self, check: FieldChecker, key: str, name: str) -> None:
        self.check, self.key, self.name = check, key, name

    def warn(self, sub: str, message: str) -> None:
        field = f"{self.name}.{sub}" if sub else self.name
        self.check.at(self.key, field, message)

    def unknown_keys(self, data: Mapping[Any, Any], known: frozenset[str]) -> None:
        for key in data:
            if str(key) not in known:
                self.warn(shown_key(key), "unknown field (typo?); ignored")

    def text(self, data: Mapping[Any, Any], sub: str) -> str:
        """Plain one-line text; pasted HTML becomes its text, controls go."""
        value = data.get(sub)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.warn(sub, f"must be text, got {type(value).__name__}; ignored")
            return ""
        text = clean_text(str(value))
        if looks_like_html(text):
            self.warn(sub, "HTML markup removed; this field is plain text")
            return markup_to_text(text)
        return plain_text(text)

    def url(self, data: Mapping[Any, Any], sub: str = "url") -> str | None:
        """A link, normalised; relative ones are resolved against the article's URL."""
        value = data.get(sub)
        if value is None or value == "":
            self.warn(sub, "is required; ignored without it")
            return None
        if isinstance(value, bool) or not isinstance(value, str):
            self.warn(sub, f"must be a URL, got {shown(value)}; ignored")
            return None
        url = normalise_url(clean_text(value))
        if not is_absolute_http_url(url):
            self.warn(sub, f"is not an absolute http(s) URL: {shown(url)}")
        return url

    def number(self, data: Mapping[Any, Any], sub: str, unit: str, limit: int) -> int | None:
        """A positive whole number up to ``limit`` (``None``: absent or dropped)."""
        value = data.get(sub)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.warn(sub, f"must be a whole number of {unit}, got {shown(value)}; ignored")
            return None
        if not 1 <= value <= limit:
            self.warn(sub, f"must be between 1 and {limit} {unit}, got {value}; ignored")
            return None
        return value

    def media_type(self, data: Mapping[Any, Any], kinds: tuple[str, ...]) -> str | None:
        """A media type of one of ``kinds`` (``image/jpeg``), lower-cased."""
        value = data.get("type")
        if value is None:
            return None
        text = str(value).strip().lower() if isinstance(value, str) else ""
        match = _MIME.match(text)
        if match is None or match.group(1) not in kinds:
            wanted = " or ".join(f"{kind}/..." for kind in kinds)
            self.warn("type", f"must be a media type {wanted}, got {shown(value)}; ignored")
            return None
        return text


def image_of(data: Mapping[Any, Any], check: FieldChecker) -> Image | None:
    """``image:``, a URL or a mapping (url, alt, width, height, type, caption)."""
    raw = data.get("image")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        url = check.url(data, "image")
        return Image(url=url) if url else None
    sub = _Sub(check, "image", "image")
    sub.unknown_keys(raw, IMAGE_KEYS)
    url = sub.url(raw)
    if url is None:
        return None
    return Image(
        url=url,
        alt=sub.text(raw, "alt"),
        width=sub.number(raw, "width", "pixels", MAX_PIXELS),
        height=sub.number(raw, "height", "pixels", MAX_PIXELS),
        type=sub.media_type(raw, ("image",)),
        caption=sub.text(raw, "caption"),
    )


def attachments_of(data: Mapping[Any, Any], check: FieldChecker) -> tuple[Attachment, ...]:
    """``attachments:``, a list of mappings (url, type, length, duration, title)."""
    raw = data.get("attachments")
    if raw is None:
        return ()
    if isinstance(raw, Mapping):  # one attachment written without the list
        raw = [raw]
    if not isinstance(raw, list):
        check.at("attachments", "attachments", f"must be a list of files, got {shown(raw)}")
        return ()
    if len(raw) > MAX_ATTACHMENTS:
        check.at("attachments", "attachments",
                 f"{len(raw)} files; only the first {MAX_ATTACHMENTS} are sent")  # fmt: skip
    found = (_attachment(item, _Sub(check, "attachments", f"attachments[{number}]"))
             for number, item in enumerate(raw[:MAX_ATTACHMENTS], start=1))  # fmt: skip
    return tuple(attachment for attachment in found if attachment is not None)


def _attachment(raw: Any, sub: _Sub) -> Attachment | None:
    if not isinstance(raw, Mapping):
        sub.warn("", f"must be a mapping (url, type, length, duration, title), got {shown(raw)}")
        return None
    sub.unknown_keys(raw, ATTACHMENT_KEYS)
    url = sub.url(raw)
    if url is None:
        return None
    media_type = sub.media_type(raw, ATTACHMENT_KINDS)
    if media_type is None:
        if raw.get("type") is not None:
            return None  # a wrong type, said above: a guess would hide the mistake
        guessed = guess_type(url)
        if guessed is None or guessed.split("/")[0] not in ATTACHMENT_KINDS:
            sub.warn("type", "an audio/... or video/... type is required (e.g. audio/mpeg); "
                     "attachment ignored")  # fmt: skip
            return None
        media_type = guessed
    return Attachment(
        url=url,
        type=media_type,
        length=sub.number(raw, "length", "bytes", MAX_BYTES),
        duration=_duration(raw, sub),
        title=sub.text(raw, "title"),
    )


def _duration(raw: Mapping[Any, Any], sub: _Sub) -> int | None:
    """Seconds, as a number or as ``[H:]MM:SS`` (how editors read it off a player)."""
    value = raw.get("duration")
    if isinstance(value, str):
        clock = _CLOCK.match(value.strip())
        if clock is None:
            sub.warn("duration", f"must be seconds or H:MM:SS, got {shown(value)}; ignored")
            return None
        hours, minutes, seconds = (int(part or 0) for part in clock.groups())
        value = hours * 3600 + minutes * 60 + seconds
        return sub.number({"duration": value}, "duration", "seconds", MAX_DURATION)
    return sub.number(raw, "duration", "seconds", MAX_DURATION)
