"""Pictures, enclosures and marks in RSS and Atom: a feedgen extension.

Readers take an item's thumbnail from Media RSS (``media:content``
medium="image" and ``media:thumbnail``: Feedly, Inoreader, Miniflux,
Flipboard) and podcast apps take its file from the enclosure, so both are
written, for both formats. feedgen's own enclosure support keeps the *last*
RSS enclosure and sets the Atom logo and the RSS image together, so this
module writes those elements itself, in the order decided here:

* RSS allows one ``<enclosure>``: the first attachment wins (podcast
  practice), else the image. RSS requires ``length`` and ``type``: an
  unknown length is sent as ``0`` (what the RSS Advisory Board's profile
  advises and validators accept); a type is taken from the URL's extension
  when not given, and without one no RSS enclosure is sent (Media RSS still
  carries the image).
* Atom carries every attachment, then the image, as ``link rel="enclosure"``
  (the image, too, only with a type: readers take an untyped link for HTML).
* The channel's marks: RSS ``<image>`` is the icon (else the logo) if it is a
  GIF, JPEG or PNG (all RSS allows), with its size only when both sides are
  known and within RSS's 144x400; Atom has ``<icon>`` and ``<logo>``.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from feedsvc.content.branding import Brand
from feedsvc.content.media import guess_type
from feedsvc.content.model import Attachment, Image

MEDIA_NS = "http://search.yahoo.com/mrss/"
RSS_IMAGE_MAX = (144, 400)  # RSS 2.0: <image> width and height at most
RSS_IMAGE_TYPES = ("image/gif", "image/jpeg", "image/png")  # RSS 2.0: <image> formats


def _media_type(url: str, given: str | None) -> str | None:
    return given or guess_type(url)


def rss_enclosure(image: Image | None, attachments: tuple[Attachment, ...]) -> dict[str, str]:
    """The one RSS ``<enclosure>``'s attributes (empty: none can be sent)."""
    if attachments:
        first = attachments[0]
        return {"url": first.url, "length": str(first.length or 0), "type": first.type}
    media_type = _media_type(image.url, image.type) if image else None
    if image is None or media_type is None:
        return {}
    return {"url": image.url, "length": "0", "type": media_type}


def atom_enclosures(
    image: Image | None, attachments: tuple[Attachment, ...]
) -> list[dict[str, str]]:
    """Atom ``link rel="enclosure"`` attributes: every attachment, then the image."""
    links = []
    for attachment in attachments:
        link = {"rel": "enclosure", "href": attachment.url, "type": attachment.type}
        if attachment.length:
            link["length"] = str(attachment.length)
        if attachment.title:
            link["title"] = attachment.title
        links.append(link)
    media_type = _media_type(image.url, image.type) if image else None
    if image is not None and media_type:  # readers take an untyped link for HTML
        links.append({"rel": "enclosure", "href": image.url, "type": media_type})
    return links


def _sized(attributes: dict[str, str], width: int | None, height: int | None) -> dict[str, str]:
    if width:
        attributes["width"] = str(width)
    if height:
        attributes["height"] = str(height)
    return attributes


def _media_elements(parent: Any, image: Image | None, attachments: tuple[Attachment, ...]) -> None:
    """``media:content`` for the image and each attachment, ``media:thumbnail`` for the image."""
    if image is not None:
        content = {"url": image.url, "medium": "image"}
        media_type = _media_type(image.url, image.type)
        if media_type:
            content["type"] = media_type
        element = etree.SubElement(
            parent, f"{{{MEDIA_NS}}}content", _sized(content, image.width, image.height)
        )
        if image.caption:
            description = etree.SubElement(element, f"{{{MEDIA_NS}}}description", type="plain")
            description.text = image.caption
        thumbnail = _sized({"url": image.url}, image.width, image.height)
        etree.SubElement(parent, f"{{{MEDIA_NS}}}thumbnail", thumbnail)
    for attachment in attachments:
        content = {"url": attachment.url, "type": attachment.type,
                   "medium": attachment.type.split("/")[0]}  # fmt: skip
        if attachment.length:
            content["fileSize"] = str(attachment.length)
        if attachment.duration:
            content["duration"] = str(attachment.duration)
        etree.SubElement(parent, f"{{{MEDIA_NS}}}content", content)


def _rss_image_format(url: str) -> bool:
    """Whether RSS's ``<image>`` may name ``url``: GIF, JPEG or PNG only (RSS 2.0).

    A URL without a telling extension is given the benefit of the doubt.
    """
    media_type = guess_type(url)
    return media_type is None or media_type in RSS_IMAGE_TYPES


def _head_element(parent: Any, tag: str, before: str) -> Any:
    """A new child of ``parent`` placed before its first ``before`` child (items
    and entries come last, where readers and validators expect them)."""
    first = next((i for i, child in enumerate(parent) if child.tag == before), None)
    element = etree.SubElement(parent, tag)  # made in place: it takes the parent's prefixes
    if first is not None:
        parent.insert(first, element)  # moved, not copied
    return element


class MediaEntry:
    """Entry half of the extension: an item's image and attachments.

    feedgen calls extensions by these method names (duck typing, as for
    :class:`~feedsvc.feeds.render.RssChannelExtras`).
    """

    def __init__(self) -> None:
        self.image: Image | None = None
        self.attachments: tuple[Attachment, ...] = ()

    def extend_rss(self, item: Any) -> Any:  # lxml element (lxml is untyped)
        enclosure = rss_enclosure(self.image, self.attachments)
        if enclosure:
            etree.SubElement(item, "enclosure", enclosure)
        _media_elements(item, self.image, self.attachments)
        return item

    def extend_atom(self, entry: Any) -> Any:
        # feedgen's Atom elements carry no lxml namespace (the root declares
        # xmlns as an attribute), so ours do not either, or they get an ns0: prefix.
        for link in atom_enclosures(self.image, self.attachments):
            etree.SubElement(entry, "link", link)
        _media_elements(entry, self.image, self.attachments)
        return entry


class MediaFeed:
    """Feed half: declares ``xmlns:media`` and writes the channel's icon and logo."""

    def __init__(self) -> None:
        self.icon: Brand | None = None
        self.logo: Brand | None = None
        self.title = ""
        self.link = ""

    def extend_ns(self) -> dict[str, str]:
        return {"media": MEDIA_NS}

    def extend_rss(self, rss_feed: Any) -> Any:
        mark = next((m for m in (self.icon, self.logo) if m and _rss_image_format(m.url)), None)
        if mark is None:
            return rss_feed
        image = _head_element(rss_feed[0], "image", before="item")
        parts = [("url", mark.url), ("title", self.title), ("link", self.link)]
        max_width, max_height = RSS_IMAGE_MAX
        if mark.width and mark.height and mark.width <= max_width and mark.height <= max_height:
            parts += [("width", str(mark.width)), ("height", str(mark.height))]
        for name, text in parts:
            etree.SubElement(image, name).text = text
        return rss_feed

    def extend_atom(self, atom_feed: Any) -> Any:
        for name, mark in (("icon", self.icon), ("logo", self.logo)):
            if mark is not None:
                element = _head_element(atom_feed, name, before="entry")
                element.text = mark.url
        return atom_feed
