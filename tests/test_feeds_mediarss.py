"""Images, attachments and the site's marks as feed readers see them.

Served by the real app (Flask test client), read by feedparser for RSS and
Atom (enclosures, ``media_thumbnail``, ``media_content``, the channel image)
and by the JSON Feed reader and schema of :mod:`feedcheck` for JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import feedparser
import jsonfeed
import pytest
from feedcheck import parse_feed
from support import SITE, article, write_yaml

PIC = {"url": "https://img.test/pier.jpg", "alt": 'A pier "at dawn"', "width": 1600,
       "height": 900, "type": "image/jpeg", "caption": "The pier & the sea."}  # fmt: skip
AUDIO = {"url": "https://cdn.test/ep1.mp3", "type": "audio/mpeg", "length": 4096,
         "duration": "2:05", "title": "Episode 1"}  # fmt: skip
VIDEO = {"url": "/media/ep1.mp4"}  # relative: resolved against the article's URL


@pytest.fixture
def media_content(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    site = {**SITE, "icon": {"url": "/icon.png", "width": 64, "height": 64},
            "logo": "https://cdn.test/logo.png"}  # fmt: skip
    write_yaml(root / "site.yaml", site)
    articles = root / "articles"
    write_yaml(articles / "pic.yaml", article("Pic", "2025-10-04", image=PIC))
    write_yaml(articles / "pod.yaml", article("Pod", "2025-10-03", image="https://img.test/c.png",
                                              attachments=[AUDIO, VIDEO]))  # fmt: skip
    write_yaml(
        articles / "bare.yaml", article("Bare", "2025-10-02", image="https://img.test/p?id=3")
    )
    write_yaml(articles / "plain.yaml", article("Plain", "2025-10-01"))
    return root


@pytest.fixture
def served(make_app: Any, media_content: Path) -> dict[str, bytes]:
    client = make_app(media_content, public_url="https://feeds.test").test_client()
    return {fmt: client.get(path).data for fmt, path in
            (("rss", "/rss.xml"), ("atom", "/atom.xml"), ("json", "/feed.json"))}  # fmt: skip


def entries(body: bytes, fmt: str) -> dict[str, Any]:
    parse_feed(body, fmt)  # well-formed, no bozo, schema-valid
    return {entry.title: entry for entry in feedparser.parse(body).entries}


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_the_image_is_media_content_a_thumbnail_and_an_enclosure(served: dict[str, bytes], fmt):
    pic = entries(served[fmt], fmt)["Pic"]
    assert pic.media_content == [{"url": PIC["url"], "medium": "image", "type": "image/jpeg",
                                  "width": "1600", "height": "900"}]  # fmt: skip
    assert pic.media_thumbnail == [{"url": PIC["url"], "width": "1600", "height": "900"}]
    (enclosure,) = pic.enclosures
    assert (enclosure.href, enclosure.type) == (PIC["url"], "image/jpeg")
    if fmt == "rss":  # RSS requires a length: an unknown one is sent as 0
        assert enclosure.length == "0"
    content = pic.content[0].value
    assert 'src="https://img.test/pier.jpg"' in content
    assert 'alt="A pier &quot;at dawn&quot;"' in content
    assert "<figcaption>The pier &amp; the sea.</figcaption></figure>" in content


def test_rss_carries_one_enclosure_and_the_first_attachment_wins(served: dict[str, bytes]):
    pod = entries(served["rss"], "rss")["Pod"]
    assert [(e.href, e.type, e.length) for e in pod.enclosures] == [
        ("https://cdn.test/ep1.mp3", "audio/mpeg", "4096")
    ]
    # The image still goes out as Media RSS; every attachment as media:content.
    assert pod.media_thumbnail == [{"url": "https://img.test/c.png"}]
    assert [(m["url"], m["medium"]) for m in pod.media_content] == [
        ("https://img.test/c.png", "image"),
        ("https://cdn.test/ep1.mp3", "audio"),
        ("https://news.test/media/ep1.mp4", "video"),
    ]
    assert pod.media_content[1]["duration"] == "125" and pod.media_content[1]["filesize"] == "4096"


def test_atom_carries_every_attachment_then_the_image(served: dict[str, bytes]):
    pod = entries(served["atom"], "atom")["Pod"]
    assert [dict(e) for e in pod.enclosures] == [
        {"href": "https://cdn.test/ep1.mp3", "type": "audio/mpeg", "length": "4096",
         "title": "Episode 1"},
        {"href": "https://news.test/media/ep1.mp4", "type": "video/mp4"},
        {"href": "https://img.test/c.png", "type": "image/png"},
    ]  # fmt: skip


def test_an_image_of_unknown_type_has_no_enclosure_but_stays_media(served: dict[str, bytes]):
    rss, atom = entries(served["rss"], "rss")["Bare"], entries(served["atom"], "atom")["Bare"]
    # RSS requires a type, and readers take an untyped Atom link for HTML: none is known.
    assert rss.enclosures == atom.enclosures == []
    for entry in (rss, atom):
        assert entry.media_thumbnail == [{"url": "https://img.test/p?id=3"}]
        assert entry.media_content == [{"url": "https://img.test/p?id=3", "medium": "image"}]
    plain = entries(served["rss"], "rss")["Plain"]
    assert plain.enclosures == [] and "media_content" not in plain


def test_json_feed_items_carry_image_banner_and_attachments(served: dict[str, bytes]):
    parse_feed(served["json"], "json")
    items = {item["title"]: item for item in json.loads(served["json"])["items"]}
    assert items["Pic"]["image"] == items["Pic"]["banner_image"] == PIC["url"]
    assert items["Pod"]["attachments"] == [
        {"url": "https://cdn.test/ep1.mp3", "mime_type": "audio/mpeg", "title": "Episode 1",
         "size_in_bytes": 4096, "duration_in_seconds": 125},
        {"url": "https://news.test/media/ep1.mp4", "mime_type": "video/mp4"},
    ]  # fmt: skip
    assert "attachments" not in items["Pic"] and "image" not in items["Plain"]
    # And as a JSON Feed reader library reads them:
    read = {item.title: item for item in jsonfeed.Feed.parse(json.loads(served["json"])).items}
    assert (read["Pic"].image, read["Pic"].banner_image) == (PIC["url"], PIC["url"])
    assert [
        (a.url, a.mime_type, a.duration_in_seconds, a.title) for a in read["Pod"].attachments
    ] == [
        ("https://cdn.test/ep1.mp3", "audio/mpeg", 125, "Episode 1"),
        ("https://news.test/media/ep1.mp4", "video/mp4", None, None),
    ]


def test_the_site_marks_are_rss_image_atom_icon_and_logo_and_json_icons(served: dict[str, bytes]):
    rss = feedparser.parse(served["rss"]).feed
    assert rss.image.href == "https://news.test/icon.png"  # the icon wins: readers show it square
    assert (rss.image.title, rss.image.link) == ("Test Times", "https://news.test/")
    assert (rss.image.width, rss.image.height) == (64, 64)
    atom = feedparser.parse(served["atom"]).feed
    assert (atom.icon, atom.logo) == ("https://news.test/icon.png", "https://cdn.test/logo.png")
    document = json.loads(served["json"])
    assert document["icon"] == document["favicon"] == "https://news.test/icon.png"


@pytest.mark.parametrize(
    ("site", "url", "size"),
    [
        ({"icon": {"url": "/i.png", "width": 512, "height": 512}}, "https://news.test/i.png", None),
        ({"logo": {"url": "/l.png", "width": 144, "height": 40}}, "https://news.test/l.png",
         (144, 40)),
        ({"logo": {"url": "/l.png", "width": 88}}, "https://news.test/l.png", None),
    ],
)  # fmt: skip
def test_rss_image_size_is_sent_only_within_rss_limits(
    tmp_path: Path, make_app: Any, site: dict[str, Any], url: str, size: tuple[int, int] | None
):
    root = tmp_path / "content"
    write_yaml(root / "site.yaml", {**SITE, **site})
    write_yaml(root / "articles" / "a.yaml", article("A", "2025-10-01"))
    body = make_app(root).test_client().get("/rss.xml").data
    parse_feed(body, "rss")
    image = feedparser.parse(body).feed.image
    assert image.href == url
    assert (image.get("width"), image.get("height")) == (size or (None, None))
    assert b"<width>" in body if size else b"<width>" not in body


def test_without_marks_or_media_the_feeds_say_nothing_of_them(make_app: Any, small_content: Path):
    client = make_app(small_content).test_client()
    rss, atom = client.get("/rss.xml").data, client.get("/atom.xml").data
    assert b"<image>" not in rss and b"<enclosure" not in rss and b"<media:" not in rss
    assert b"<icon>" not in atom and b"<logo>" not in atom and b'rel="enclosure"' not in atom
    assert "icon" not in json.loads(client.get("/feed.json").data)


@pytest.mark.parametrize(
    ("site", "url"),
    [
        ({"icon": "/i.svg", "logo": "/l.png"}, "https://news.test/l.png"),
        ({"icon": "/favicon.ico", "logo": "/l.webp"}, None),
        ({"icon": "/i?size=64"}, "https://news.test/i?size=64"),  # no telling extension
    ],
)
def test_rss_image_is_only_ever_gif_jpeg_or_png(
    tmp_path: Path, make_app: Any, site: dict[str, Any], url: str | None
):
    root = tmp_path / "content"
    write_yaml(root / "site.yaml", {**SITE, **site})
    write_yaml(root / "articles" / "a.yaml", article("A", "2025-10-01"))
    client = make_app(root).test_client()
    body = client.get("/rss.xml").data
    parse_feed(body, "rss")
    assert feedparser.parse(body).feed.get("image", {}).get("href") == url
    atom = feedparser.parse(client.get("/atom.xml").data).feed
    assert atom.icon == "https://news.test" + site["icon"]  # Atom takes any format


def test_hostile_media_values_never_break_a_feed(tmp_path: Path, make_app: Any):
    """Quotes, markup, CDATA ends, controls (YAML escapes) and odd schemes in every field."""
    root = tmp_path / "content"
    write_yaml(root / "site.yaml", {**SITE, "icon": 'https://img.test/i "x" <y>.png'})
    nasty = 'a "quoted" <b>bold</b> ]]> \x01\x7f end \u202e 한국'
    image = {"url": "https://img.test/a b\"<c>\x02.jpg", "alt": nasty, "caption": nasty,
             "width": 640, "height": 480}  # fmt: skip
    files = [{"url": "javascript:alert(1)", "type": "audio/mpeg"},
             {"url": "https://cdn.test/ä ö.mp3", "type": "audio/mpeg", "title": nasty}]  # fmt: skip
    write_yaml(
        root / "articles" / "x.yaml", article("X", "2025-10-01", image=image, attachments=files)
    )
    client = make_app(root).test_client()
    for path, fmt in (("/rss.xml", "rss"), ("/atom.xml", "atom"), ("/feed.json", "json")):
        response = client.get(path)
        assert response.status_code == 200, path
        parse_feed(response.data, fmt)
        assert b"javascript:" not in response.data and b"\x01" not in response.data
    item = json.loads(client.get("/feed.json").data)["items"][0]
    assert item["image"] == "https://img.test/a%20b%22%3Cc%3E.jpg"
    assert item["attachments"] == [
        {"url": "https://cdn.test/%C3%A4%20%C3%B6.mp3", "mime_type": "audio/mpeg",
         "title": 'a "quoted" bold ]]> end \u202e 한국'}
    ]  # fmt: skip
    assert client.get("/", headers={"Sec-Fetch-Dest": "document"}).status_code == 200
