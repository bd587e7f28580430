"""WebSub: hub links in every feed, and publish pings after a reload that changed feeds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from feedcheck import parse_feed
from support import Hub, write_yaml


@pytest.fixture
def hub():
    server = Hub(fail_first=1)
    yield server
    server.close()


@pytest.fixture
def hub_app(make_app, small_content: Path, hub: Hub):
    site = yaml.safe_load((small_content / "site.yaml").read_text())
    site["websub_hub"] = hub.url
    write_yaml(small_content / "site.yaml", site)
    app = make_app(small_content, public_url="https://feeds.test/f")
    yield app
    app.extensions["feedsvc.service.websub"].stop()


@pytest.mark.parametrize("path, fmt", [("/rss.xml", "rss"), ("/atom.xml", "atom")])
def test_xml_feeds_carry_hub_and_self_links(hub_app, hub, path, fmt):
    feed = parse_feed(hub_app.test_client().get(path).data, fmt)
    links = {link["rel"]: link["href"] for link in feed.raw.feed.links}
    assert links["hub"] == hub.url
    assert links["self"] == "https://feeds.test/f" + path


def test_json_feed_lists_the_hub(hub_app, hub):
    feed = parse_feed(hub_app.test_client().get("/feed.json").data, "json")
    assert feed.raw["hubs"] == [{"type": "WebSub", "url": hub.url}]


def test_edit_pings_the_hub_with_changed_feed_urls_after_retry(hub_app, hub, small_content):
    path = small_content / "articles" / "gamma.yaml"
    data = yaml.safe_load(path.read_text())
    data["title"] = "Gamma, updated"
    write_yaml(path, data)
    started = time.monotonic()
    assert hub_app.extensions["feedsvc"].reload() is True
    assert time.monotonic() - started < 2  # the reload did not wait for the hub
    hub.wait_for_pings(1)
    assert hub.attempts >= 2  # the first attempt got a 503 and was retried
    (ping,) = hub.pings
    assert ping["hub.mode"] == ["publish"]
    urls = set(ping["hub.url"])
    base = "https://feeds.test/f"
    assert {base + "/rss.xml", base + "/atom.xml", base + "/feed.json"} <= urls
    assert base + "/tags/health/rss.xml" in urls
    assert base + "/popular/rss.xml" in urls  # gamma is in the popular feed too
    assert not any("/tags/north-korea/" in url for url in urls)  # untouched tag feed


def test_no_ping_when_nothing_changed(hub_app, hub):
    assert hub_app.extensions["feedsvc"].reload(force=True) is False
    time.sleep(0.3)
    assert hub.attempts == 0
