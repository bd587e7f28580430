"""An article's ``image`` and ``attachments``, and site.yaml's ``icon`` and ``logo``.

Real files on disk through the real loader: what each field may hold, and
that a wrong value is a clear ``path:line: field: message`` warning that
leaves the article served (and the site usable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import SITE, article, write_yaml

from feedsvc.content.branding import Brand
from feedsvc.content.loader import ContentLoader
from feedsvc.content.model import Attachment, Image, Snapshot

AUDIO = {"url": "https://cdn.test/a.mp3", "type": "audio/mpeg", "length": 1234, "duration": 61}


def load(tmp_path: Path, site: dict[str, Any] | None = None, **articles: Any) -> Snapshot:
    root = tmp_path / "content"
    write_yaml(root / "site.yaml", {**SITE, **(site or {})})
    for slug, fields in articles.items():
        write_yaml(
            root / "articles" / f"{slug}.yaml", article(slug.title(), "2025-10-01", **fields)
        )
    return ContentLoader(root, display_prefix="content").load()


def warnings(snapshot: Snapshot) -> set[str]:
    return {str(p) for p in snapshot.problems if p.severity == "warning"}


def test_an_image_url_stays_a_url(tmp_path: Path):
    snapshot = load(tmp_path, story={"image": "https://img.test/a b.jpg"})
    (story,) = snapshot.articles
    assert story.image == Image(url="https://img.test/a%20b.jpg")
    assert not snapshot.problems


def test_an_image_mapping_keeps_every_value(tmp_path: Path):
    image = {"url": "https://img.test/p.jpg", "alt": "A <b>pier</b>", "width": 1600,
             "height": 900, "type": "Image/JPEG", "caption": "The pier at dawn."}  # fmt: skip
    snapshot = load(tmp_path, story={"image": image})
    (story,) = snapshot.articles
    assert story.image == Image(
        "https://img.test/p.jpg", "A pier", 1600, 900, "image/jpeg", "The pier at dawn."
    )
    assert warnings(snapshot) == {
        "content/articles/story.yaml:5: image.alt: warning: HTML markup removed; "
        "this field is plain text"
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("width", -3, "must be between 1 and 20000 pixels, got -3; ignored"),
        ("width", 0, "must be between 1 and 20000 pixels, got 0; ignored"),
        ("height", 40_000, "must be between 1 and 20000 pixels, got 40000; ignored"),
        ("width", "wide", "must be a whole number of pixels, got 'wide'; ignored"),
        ("height", 1.5, "must be a whole number of pixels, got 1.5; ignored"),
        ("width", True, "must be a whole number of pixels, got True; ignored"),
        ("type", "audio/mpeg", "must be a media type image/..., got 'audio/mpeg'; ignored"),
        ("type", "jpeg", "must be a media type image/..., got 'jpeg'; ignored"),
        ("colour", "red", "unknown field (typo?); ignored"),
    ],
)
def test_a_bad_image_value_is_dropped_with_a_warning_and_the_article_served(
    tmp_path: Path, field: str, value: Any, message: str
):
    image = {"url": "https://img.test/p.jpg", "width": 800, "height": 600, field: value}
    snapshot = load(tmp_path, story={"image": image})
    (story,) = snapshot.articles
    assert story.image is not None and story.image.url == "https://img.test/p.jpg"
    if field in ("width", "height", "type"):
        assert getattr(story.image, field) is None
    assert warnings(snapshot) == {
        f"content/articles/story.yaml:5: image.{field}: warning: {message}"
    }
    assert not snapshot.errors


@pytest.mark.parametrize(
    ("image", "field", "message"),
    [
        ({"alt": "no url"}, "image.url", "is required; ignored without it"),
        ({"url": 7}, "image.url", "must be a URL, got 7; ignored"),
    ],
)
def test_an_image_without_a_url_is_no_image(
    tmp_path: Path, image: dict[str, Any], field: str, message: str
):
    snapshot = load(tmp_path, story={"image": image})
    (story,) = snapshot.articles
    assert story.image is None
    assert warnings(snapshot) == {f"content/articles/story.yaml:5: {field}: warning: {message}"}


def test_attachments_are_checked_and_their_types_guessed(tmp_path: Path):
    files = [
        {**AUDIO, "title": "Episode 1", "duration": "1:02:03"},
        {"url": "https://cdn.test/v.webm"},  # type from the extension
    ]
    snapshot = load(tmp_path, story={"attachments": files})
    (story,) = snapshot.articles
    assert story.attachments == (
        Attachment("https://cdn.test/a.mp3", "audio/mpeg", 1234, 3723, "Episode 1"),
        Attachment("https://cdn.test/v.webm", "video/webm"),
    )
    assert not snapshot.problems


@pytest.mark.parametrize(
    ("attachment", "field", "message"),
    [
        ({"url": "https://cdn.test/r.pdf", "type": "application/pdf"}, "attachments[2].type",
         "must be a media type audio/... or video/..., got 'application/pdf'; ignored"),
        ({"url": "https://cdn.test/file"}, "attachments[2].type",
         "an audio/... or video/... type is required (e.g. audio/mpeg); attachment ignored"),
        ({"type": "audio/mpeg"}, "attachments[2].url", "is required; ignored without it"),
        ("https://cdn.test/a.mp3", "attachments[2]",
         "must be a mapping (url, type, length, duration, title), got 'https://cdn.test/a.mp3'"),
    ],
)  # fmt: skip
def test_a_bad_attachment_is_left_out_and_the_others_kept(
    tmp_path: Path, attachment: Any, field: str, message: str
):
    snapshot = load(tmp_path, story={"attachments": [AUDIO, attachment]})
    (story,) = snapshot.articles
    assert [a.url for a in story.attachments] == ["https://cdn.test/a.mp3"]
    assert warnings(snapshot) == {f"content/articles/story.yaml:5: {field}: warning: {message}"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("length", -1, "must be between 1 and 53687091200 bytes, got -1; ignored"),
        ("duration", "an hour", "must be seconds or H:MM:SS, got 'an hour'; ignored"),
        ("duration", 10**9, "must be between 1 and 604800 seconds, got 1000000000; ignored"),
    ],
)
def test_a_bad_length_or_duration_is_dropped(tmp_path: Path, field: str, value: Any, message: str):
    snapshot = load(tmp_path, story={"attachments": [{**AUDIO, field: value}]})
    (attachment,) = snapshot.articles[0].attachments
    assert getattr(attachment, field) is None
    assert warnings(snapshot) == {
        f"content/articles/story.yaml:5: attachments[1].{field}: warning: {message}"
    }


def test_attachments_that_are_no_list_are_reported(tmp_path: Path):
    snapshot = load(tmp_path, story={"attachments": "https://cdn.test/a.mp3"})
    assert snapshot.articles[0].attachments == ()
    assert warnings(snapshot) == {
        "content/articles/story.yaml:5: attachments: warning: "
        "must be a list of files, got 'https://cdn.test/a.mp3'"
    }


def test_too_many_attachments_keep_the_first_ten(tmp_path: Path):
    files = [{**AUDIO, "url": f"https://cdn.test/{n}.mp3"} for n in range(12)]
    snapshot = load(tmp_path, story={"attachments": files})
    assert len(snapshot.articles[0].attachments) == 10
    assert any("12 files; only the first 10 are sent" in w for w in warnings(snapshot))


def test_icon_and_logo_resolve_against_the_site_url(tmp_path: Path):
    site = {"icon": "/img/icon.png", "logo": {"url": "https://cdn.test/logo.png", "width": 600,
                                              "height": 120}}  # fmt: skip
    snapshot = load(tmp_path, site=site, story={})
    assert snapshot.site.icon == Brand("https://news.test/img/icon.png")
    assert snapshot.site.logo == Brand("https://cdn.test/logo.png", 600, 120)
    assert not snapshot.problems


@pytest.mark.parametrize(
    ("site", "field", "message", "icon"),
    [
        ({"icon": "javascript:alert(1)"}, "icon",
         "is not an http(s) URL: 'javascript:alert(1)'; no icon is sent", None),
        ({"icon": ["a.png"]}, "icon", "must be a URL, got ['a.png']; no icon is sent", None),
        ({"logo": {"width": 5}}, "logo.url", "must be a URL, got None; no logo is sent", None),
        ({"icon": {"url": "/i.png", "width": "big"}}, "icon.width",
         "must be a whole number of pixels (1-20000), got 'big'; ignored",
         Brand("https://news.test/i.png")),
        ({"icon": {"url": "/i.png", "colour": 1}}, "icon.colour", "unknown setting; ignored",
         Brand("https://news.test/i.png")),
    ],
)  # fmt: skip
def test_a_bad_icon_or_logo_is_a_warning_and_the_site_still_served(
    tmp_path: Path, site: dict[str, Any], field: str, message: str, icon: Brand | None
):
    snapshot = load(tmp_path, site=site, story={})
    assert snapshot.site.icon == icon and snapshot.site.logo is None
    assert [(p.path, p.field, p.message, p.severity) for p in snapshot.problems] == [
        ("content/site.yaml", field, message, "warning")
    ]
    assert len(snapshot.articles) == 1
