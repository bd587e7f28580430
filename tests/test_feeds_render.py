"""One decided document, three writers that agree on it.

:func:`feed_document` decides what a feed says; the RSS/Atom (feedgen) and
JSON Feed writers only spell it out. Real content on disk, real parsers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import yaml
from feedcheck import parse_feed
from hypothesis import given, settings
from hypothesis import strategies as st
from support import article, write_yaml

from feedsvc.content.loader import ContentLoader
from feedsvc.feeds.cache import fill_base
from feedsvc.feeds.document import BASE_TOKEN, feed_document
from feedsvc.feeds.jsonfeed import json_feed
from feedsvc.feeds.render import render_feed, rfc2822_date, rss_feed
from feedsvc.feeds.spec import main_feed, tag_feed
from feedsvc.feeds.urls import FORMATS

BASE = "https://feeds.example.test/mount"


def test_every_format_says_what_the_document_decided(small_content: Path):
    snapshot = ContentLoader(small_content).load()
    spec = main_feed(snapshot)
    doc = feed_document(snapshot, spec)
    rendered = render_feed(snapshot, spec)
    assert rendered.updated == doc.updated == max(a.modified for a in snapshot.articles)
    for fmt in FORMATS:
        parsed = parse_feed(fill_base(rendered.bodies[fmt], fmt, BASE), fmt)
        assert parsed.title == doc.title
        assert parsed.self_link == doc.self_urls[fmt].replace(BASE_TOKEN, BASE)
        assert [e.id for e in parsed.entries] == [item.id for item in doc.items]
        assert [e.link for e in parsed.entries] == [item.url for item in doc.items]
        assert [e.title for e in parsed.entries] == ["Gamma", "Beta", "Alpha"]


def test_the_writers_alone_give_the_rendered_bytes(small_content: Path):
    """What the benchmark's render-per-request peer serves is what feedsvc serves."""
    snapshot = ContentLoader(small_content).load()
    for spec in (main_feed(snapshot), tag_feed(snapshot, "north-korea")):
        assert spec is not None
        doc = feed_document(snapshot, spec)
        rendered = render_feed(snapshot, spec)
        assert rss_feed(doc) == rendered.bodies["rss"]
        assert json_feed(doc) == rendered.bodies["json"]


def test_paging_and_hub_links_are_decided_once_for_every_format(small_content: Path):
    site = yaml.safe_load((small_content / "site.yaml").read_text())
    site.update(items_per_feed=1, websub_hub="https://hub.example.test/")
    write_yaml(small_content / "site.yaml", site)
    write_yaml(small_content / "articles" / "delta.yaml", article("Delta", "2025-12-04"))
    snapshot = ContentLoader(small_content).load()
    doc = feed_document(snapshot, main_feed(snapshot).at_page(2))
    for fmt, links in doc.links.items():
        rels = [link["rel"] for link in links]
        assert rels == ["first", "previous", "next", "last", "hub"], fmt
        assert links[2]["href"] == BASE_TOKEN + f"/page/3/{FORMATS[fmt].filename}"
    assert [item.title for item in doc.items] == ["Gamma"]


def test_a_format_rendered_alone_is_byte_for_byte_the_one_rendered_with_the_others(
    small_content: Path,
):
    """A cold request renders its format alone (feeds/cache.py); its bytes, and so its
    ETag, must not depend on which formats were rendered before or with it. Paged,
    with a hub: every per-format link is in play."""
    site = yaml.safe_load((small_content / "site.yaml").read_text())
    site.update(items_per_feed=1, websub_hub="https://hub.example.test/")
    write_yaml(small_content / "site.yaml", site)
    snapshot = ContentLoader(small_content).load()
    specs = [main_feed(snapshot), main_feed(snapshot).at_page(2), tag_feed(snapshot, "china")]
    for spec in specs:
        assert spec is not None
        together = render_feed(snapshot, spec).bodies
        for formats in (("rss",), ("atom",), ("json",), ("atom", "rss"), ("json", "atom")):
            alone = render_feed(snapshot, spec, formats)
            assert set(alone.bodies) == set(formats)
            assert all(alone.bodies[fmt] == together[fmt] for fmt in formats)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-3, minutes=-30))]
        ),
    )
)
@settings(max_examples=1000, deadline=None)
def test_rss_dates_are_spelled_as_feedgen_spells_them(date: datetime):
    """rfc2822_date() replaces feedgen's formatRFC2822 (which sets the C locale
    around each date) in feedgen's modules; feedgen.util keeps the original."""
    import lxml.etree  # noqa: F401  feedgen.util needs it imported first
    from feedgen.util import formatRFC2822

    assert rfc2822_date(date) == formatRFC2822(date)


def test_items_keep_their_dc_creator_and_the_channel_its_namespaces(small_content: Path):
    """The one RSS extension writes what feedgen's dc extension and our atom links did."""
    site = yaml.safe_load((small_content / "site.yaml").read_text())
    site.update(items_per_feed=1, websub_hub="https://hub.example.test/")
    write_yaml(small_content / "site.yaml", site)
    snapshot = ContentLoader(small_content).load()
    body = render_feed(snapshot, main_feed(snapshot).at_page(2), ("rss",)).bodies["rss"]
    head = body.split(b">", 2)[1].lstrip()
    assert head.startswith(
        b'<rss xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom"'
        b' xmlns:media="http://search.yahoo.com/mrss/"'
        b' xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0"'
    )
    item = body.split(b"<item>", 1)[1]
    assert b"<dc:creator>" in item and b"</pubDate><dc:creator>" in item
    assert body.count(b"<atom:link ") == 6  # self, first, previous, next, last, hub
