"""Every feed of the demo content, in every format, read as a feed reader would."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from feedcheck import parse_feed
from support import NOW, article, fmt_of, write_yaml

from feedsvc.feeds.urls import FORMATS

DEMO_TAGS = {
    "northkorea": 4,
    "diplomacy": 3,
    "china": 2,
    "south-korea": 2,
    "health": 2,
    "united-nations": 1,
    "security": 1,
    "dysphagia": 1,
    "북한": 1,
}


def _demo_feed_paths() -> list[str]:
    from urllib.parse import quote

    paths = ["", "/popular"] + [f"/tags/{quote(slug)}" for slug in DEMO_TAGS]
    return [f"{p}/{fmt.filename}" for p in paths for fmt in FORMATS.values()]


@pytest.mark.parametrize("path", _demo_feed_paths())
def test_every_demo_feed_parses_with_absolute_links_and_unique_ids(client, path):
    response = client.get(path)
    assert response.status_code == 200
    feed = parse_feed(response.data, fmt_of(path))
    assert feed.entries, "every demo feed has items"
    assert feed.self_link == "http://localhost" + path
    assert feed.home_link == "https://news.example.com/"
    ids = [e.id for e in feed.entries]
    assert len(set(ids)) == len(ids)
    for entry in feed.entries:
        assert entry.id.startswith("tag:news.example.com,2025:articles/")
        assert urlsplit(entry.link).scheme == "https" and urlsplit(entry.link).netloc
        assert entry.published.tzinfo is not None and entry.published <= NOW
        assert entry.updated >= entry.published
        assert entry.title and entry.summary and entry.content
        assert entry.author
        assert entry.tags


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_main_feed_is_newest_first_without_drafts(client, fmt):
    feed = parse_feed(client.get(f"/{FORMATS[fmt].filename}").data, fmt)
    titles = [e.title for e in feed.entries]
    assert len(titles) == 7
    assert all("draft" not in t.lower() for t in titles)
    published = [e.published for e in feed.entries]
    assert published == sorted(published, reverse=True)
    assert titles[-1].startswith("Xi Jinping Rolls Out the Red Carpet")


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_tag_feeds_hold_exactly_their_tag(client, fmt):
    for slug, count in DEMO_TAGS.items():
        from urllib.parse import quote

        feed = parse_feed(client.get(f"/tags/{quote(slug)}/{FORMATS[fmt].filename}").data, fmt)
        assert len(feed.entries) == count, slug
        assert "The Peninsula Report: " in feed.title


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_popular_feed_ranks_by_views_with_popularity_file_winning(client, fmt):
    feed = parse_feed(client.get(f"/popular/{FORMATS[fmt].filename}").data, fmt)
    slugs = [e.link.rsplit("/", 1)[1] for e in feed.entries]
    # popularity.yaml gives xi 18234 (article says 12000) and kim 9120 (article says 7400).
    assert slugs[:3] == [
        "xi-jinping-red-carpet-kim-jong-un",
        "kim-jong-un-eyes-un-diplomacy",
        "seoul-denies-hostile-intent",
    ]
    assert "Most popular" in feed.title


def test_full_article_body_is_in_the_feed_as_html(client):
    feed = parse_feed(client.get("/feed.json").data, "json")
    xi = next(e for e in feed.entries if e.title.startswith("Xi Jinping"))
    assert xi.content.count("<p>") >= 10
    assert "9th Workers’ Party Congress" in xi.content
    atom = parse_feed(client.get("/atom.xml").data, "atom")
    assert "9th Workers’ Party Congress" in next(e for e in atom.entries if e.id == xi.id).content


def test_feed_dates_come_from_content_not_the_clock(client):
    rss = client.get("/rss.xml")
    feed = parse_feed(rss.data, "rss")
    newest = max(e.updated for e in feed.entries)
    build_date = re.search(rb"<lastBuildDate>([^<]+)</lastBuildDate>", rss.data).group(1)
    assert parsedate_to_datetime(build_date.decode()) == newest
    assert newest == datetime(2025, 12, 6, 2, 0, tzinfo=UTC)
    assert rss.headers["Last-Modified"] == "Sat, 06 Dec 2025 02:00:00 GMT"


def test_markdown_is_rendered_and_relative_urls_made_absolute(client):
    feed = parse_feed(client.get("/tags/%EB%B6%81%ED%95%9C/feed.json").data, "json")
    (entry,) = feed.entries
    assert '<img src="https://news.example.com/images/peninsula-map.png"' in entry.content
    assert "<em>" in entry.content


def test_item_ids_survive_title_and_body_edits(make_app, small_content: Path):
    app = make_app(small_content)
    before = {
        e.link: e.id for e in parse_feed(app.test_client().get("/atom.xml").data, "atom").entries
    }
    path = small_content / "articles" / "alpha.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(title="Alpha, retitled", body="Completely new body.")
    write_yaml(path, data)
    app.extensions["feedsvc"].reload(force=True)
    after = parse_feed(app.test_client().get("/atom.xml").data, "atom")
    assert {e.link: e.id for e in after.entries} == before
    assert any(e.title == "Alpha, retitled" for e in after.entries)


def test_ids_do_not_depend_on_host_or_scheme(make_app, small_content: Path):
    app = make_app(small_content)
    client = app.test_client()
    plain = parse_feed(client.get("/rss.xml").data, "rss")
    https = parse_feed(
        client.get("/rss.xml", base_url="https://feeds.other.test/mount").data, "rss"
    )
    assert [e.id for e in plain.entries] == [e.id for e in https.entries]
    assert https.self_link == "https://feeds.other.test/mount/rss.xml"


def test_drafts_and_future_articles_appear_only_when_due(make_app, small_content: Path, clock):
    write_yaml(
        small_content / "articles" / "later.yaml",
        article("Later", "2026-02-01T00:00:00Z", tags=["Health"]),
    )
    write_yaml(
        small_content / "articles" / "draft.yaml",
        article("Drafty", "2025-01-01T00:00:00Z", draft=True),
    )
    app = make_app(small_content)
    client = app.test_client()
    titles = [e.title for e in parse_feed(client.get("/rss.xml").data, "rss").entries]
    assert titles == ["Gamma", "Beta", "Alpha"]
    clock.now = datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC)
    app.extensions["feedsvc"].reload()  # what the watcher does when the article falls due
    titles = [e.title for e in parse_feed(client.get("/rss.xml").data, "rss").entries]
    assert titles == ["Later", "Gamma", "Beta", "Alpha"]


def test_tags_fold_case_and_spacing_into_one_slug(make_app, small_content: Path):
    client = make_app(small_content).test_client()
    feed = parse_feed(client.get("/tags/north-korea/feed.json").data, "json")
    assert [e.title for e in feed.entries] == ["Beta", "Alpha"]
    assert feed.title == "Test Times: north korea"  # newest article's spelling names the tag


def test_items_per_feed_limits_every_feed(make_app, small_content: Path):
    site = yaml.safe_load((small_content / "site.yaml").read_text())
    site["items_per_feed"] = 2
    site["popular"]["items"] = 1
    write_yaml(small_content / "site.yaml", site)
    client = make_app(small_content).test_client()
    assert len(parse_feed(client.get("/rss.xml").data, "rss").entries) == 2
    popular = parse_feed(client.get("/popular/rss.xml").data, "rss").entries
    assert [e.title for e in popular] == ["Beta"]
