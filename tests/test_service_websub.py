"""WebSub: hub links in every feed, and publish pings after a reload that changed feeds."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import yaml
from feedcheck import parse_feed
from support import write_yaml


class Hub:
    """A tiny WebSub hub on 127.0.0.1 that records publish pings.

    It fails the first ``fail_first`` pings with a 503 so the publisher's
    retries are exercised.
    """

    def __init__(self, fail_first: int = 0) -> None:
        self.pings: list[dict[str, list[str]]] = []
        self.failures_left = fail_first
        self.attempts = 0
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                hub.attempts += 1
                if hub.failures_left > 0:
                    hub.failures_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                hub.pings.append(form)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hub"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for_pings(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.pings) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
