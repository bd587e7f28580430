"""Full history (RFC 5005 paging) and combined tag feeds, read as readers do."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from feedcheck import parse_feed
from support import article, write_yaml

from feedsvc.feeds.spec import combined_feed, page_count, page_exists
from feedsvc.feeds.urls import FORMATS


@pytest.fixture
def history(small_content: Path) -> Path:
    """23 more articles (26 in all), 5 per page: six pages of the main feed."""
    site = yaml.safe_load((small_content / "site.yaml").read_text())
    site["items_per_feed"] = 5
    write_yaml(small_content / "site.yaml", site)
    for n in range(23):
        tags = ["History"] + (["Even"] if n % 2 == 0 else [])
        write_yaml(
            small_content / "articles" / f"old-{n:02d}.yaml",
            article(f"Old {n:02d}", f"2024-{1 + n // 2:02d}-{1 + n % 2 * 14:02d}", tags=tags),
        )
    return small_content


def links_of(client, url: str, fmt: str) -> dict[str, str]:
    """rel -> href of a feed document's paging links."""
    body = client.get(url).data
    feed = parse_feed(body, fmt)
    if fmt == "json":
        return {"next": feed.raw["next_url"]} if "next_url" in feed.raw else {}
    return {link["rel"]: link["href"] for link in feed.raw.feed.links}


def walk(client, start: str, fmt: str) -> list[str]:
    """Follow rel=next from ``start`` to the end, collecting item ids."""
    ids: list[str] = []
    url: str | None = start
    for _ in range(100):  # bounded: a loop in the links must not hang the test
        if url is None:
            return ids
        response = client.get(url)
        assert response.status_code == 200, url
        feed = parse_feed(response.data, fmt)
        assert feed.self_link == url
        ids += [entry.id for entry in feed.entries]
        url = links_of(client, url, fmt).get("next")
    raise AssertionError("rel=next never ended")


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_walking_next_links_visits_every_article_once(make_app, history, fmt):
    app = make_app(history)
    client = app.test_client()
    snapshot = app.extensions["feedsvc"].catalog.snapshot
    ids = walk(client, f"http://localhost/{FORMATS[fmt].filename}", fmt)
    assert len(ids) == len(set(ids)) == len(snapshot.articles) == 26
    tag_ids = walk(client, f"http://localhost/tags/history/{FORMATS[fmt].filename}", fmt)
    assert len(tag_ids) == len(set(tag_ids)) == 23


def test_pages_link_first_last_previous(make_app, history):
    client = make_app(history).test_client()
    links = links_of(client, "http://localhost/page/3/atom.xml", "atom")
    assert links["first"] == "http://localhost/atom.xml"
    assert links["previous"] == "http://localhost/page/2/atom.xml"
    assert links["next"] == "http://localhost/page/4/atom.xml"
    assert links["last"] == "http://localhost/page/6/atom.xml"
    rss = links_of(client, "http://localhost/page/6/rss.xml", "rss")
    assert "next" not in rss and rss["previous"] == "http://localhost/page/5/rss.xml"


def test_pages_past_the_end_are_404(make_app, history):
    client = make_app(history).test_client()
    assert client.get("/page/6/rss.xml").status_code == 200
    for path in ("/page/7/rss.xml", "/page/0/rss.xml", "/page/99999999/rss.xml",
                 "/popular/page/2/rss.xml", "/tags/even/page/4/rss.xml"):  # fmt: skip
        assert client.get(path).status_code == 404, path


def test_page_urls_are_cacheable_like_feeds(make_app, history):
    client = make_app(history).test_client()
    first = client.get("/tags/history/page/2/feed.json")
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    again = client.get(
        "/tags/history/page/2/feed.json", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304


def test_single_page_feeds_have_no_paging_links(client):
    links = links_of(client, "http://localhost/atom.xml", "atom")
    assert not {"next", "previous", "first", "last"} & set(links)


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_combined_tags_are_the_deduplicated_union(make_app, history, fmt):
    client = make_app(history).test_client()
    url = f"http://localhost/tags/even+health/{FORMATS[fmt].filename}"
    combined = parse_feed(client.get(url).data, fmt)
    assert combined.self_link == url
    ids = [e.id for e in combined.entries]
    assert len(ids) == len(set(ids)) == 5  # one page of 12 Even + 1 Health
    dates = [e.published for e in combined.entries]
    assert dates == sorted(dates, reverse=True)
    assert combined.title == "Test Times: Even + Health"
    assert combined.entries[0].title == "Gamma"  # the Health article is newest
    everything = walk(client, url, fmt)
    assert len(everything) == len(set(everything)) == 13


def test_combined_tags_with_overlap_keep_each_article_once(make_app, small_content):
    client = make_app(small_content).test_client()
    feed = parse_feed(client.get("/tags/china+north-korea/atom.xml").data, "atom")
    assert [e.title for e in feed.entries] == ["Beta", "Alpha"]


def test_other_spellings_of_combined_and_paged_urls_redirect(make_app, history):
    client = make_app(history).test_client()
    for path, target in [
        ("/tags/health+even/rss.xml", "/tags/even+health/rss.xml"),
        ("/tags/Health+EVEN/atom.xml", "/tags/even+health/atom.xml"),
        ("/tags/even+health+even/feed.json", "/tags/even+health/feed.json"),
        ("/tags/even%2Bhealth/rss.xml/", "/tags/even+health/rss.xml"),
        ("/page/1/rss.xml", "/rss.xml"),
        ("/tags/History/page/2/atom.xml", "/tags/history/page/2/atom.xml"),
    ]:
        response = client.get(path)
        assert response.status_code == 308, path
        assert response.headers["Location"] == target, path
        assert client.get(target).status_code == 200, target


def test_too_many_combined_tags_is_a_clear_400(make_app, history):
    client = make_app(history).test_client()
    response = client.get("/tags/even+health+history+north-korea+china/rss.xml")
    assert response.status_code == 400
    assert b"at most 4 tags" in response.data
    assert client.get("/tags/china+even+health+history/rss.xml").status_code == 200
    assert client.get("/tags/even+nope/rss.xml").status_code == 404


def test_impossible_pages_and_unknown_tags_are_404_before_any_render(make_app, history):
    """Checked against the snapshot's counts first: a flood of impossible URLs
    costs no render (nor a merge of a combination's articles to count them)."""
    app = make_app(history)
    client, cache = app.test_client(), app.extensions["feedsvc"].cache
    renders, builds = cache.renders, cache.variant_builds
    impossible = [
        "/page/7/rss.xml",
        "/tags/even/page/4/atom.xml",
        "/popular/page/2/rss.xml",
        "/tags/even+history/page/7/rss.xml",
        "/tags/even+history/page/999/feed.json",
        "/tags/even+nosuchtag/rss.xml",
        "/tags/nosuchtag+other/page/2/rss.xml",
    ]
    for path in impossible:
        assert client.get(path).status_code == 404, path
    assert (cache.renders, cache.variant_builds) == (renders, builds)


def test_page_bounds_agree_with_counting_the_pages(make_app, history):
    catalog = make_app(history).extensions["feedsvc"].catalog
    snapshot = catalog.snapshot
    specs = [*catalog.feeds.values(), combined_feed(snapshot, tuple(sorted(snapshot.tags)[:2]))]
    for spec in specs:
        assert spec is not None
        pages = page_count(snapshot, spec)
        for page in range(-1, pages + 4):
            assert page_exists(snapshot, spec, page) == (1 <= page <= pages), (spec.key, page)
