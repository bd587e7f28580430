"""``feedsvc serve`` as a real process on 127.0.0.1, fetched over a socket."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from feedcheck import parse_feed

from bench.servers import feedsvc_server


def test_serve_subprocess_serves_feeds_and_stops_on_sigterm(bundled_content: Path):
    with feedsvc_server(bundled_content) as server:
        port = server.port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/atom.xml")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200
        assert response.getheader("Server") == "feedsvc"
        feed = parse_feed(body, "atom")
        assert feed.self_link == f"http://127.0.0.1:{port}/atom.xml"
        assert len(feed.entries) == 7
        conn.request("GET", "/atom.xml", headers={"If-None-Match": response.getheader("ETag")})
        again = conn.getresponse()
        again.read()
        assert again.status == 304
        conn.close()
    output = server.log()  # stopped by PID (SIGTERM) when the block ended
    assert server.returncode == 0
    assert f"http://127.0.0.1:{port}/rss.xml" in output  # it printed the URLs it serves
    assert "feedsvc stopped" in output


def test_serve_exits_2_on_missing_site_yaml(tmp_path: Path):
    with feedsvc_server(tmp_path).launch() as server:
        returncode = server.wait(timeout=30)
    assert returncode == 2
    assert "site.yaml" in server.log()


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
)


@pytest.mark.slow
def test_serve_exits_2_naming_site_yaml_when_it_is_an_alias_bomb(bundled_content: Path):
    site = bundled_content / "site.yaml"
    site.write_text(BOMB + site.read_text().replace("items_per_feed: 20", "items_per_feed: *j"))
    with feedsvc_server(bundled_content).launch() as server:
        returncode = server.wait(timeout=30)
    assert returncode == 2
    log = server.log()
    assert "content/site.yaml:" in log and "once aliases are expanded" in log
    assert f"cannot start without a usable site.yaml ({bundled_content / 'site.yaml'})" in log


@pytest.mark.slow
def test_serve_starts_with_an_article_holding_a_huge_integer(bundled_content: Path):
    (bundled_content / "articles" / "huge.yaml").write_text(
        "title: Huge\npublished: 2025-01-01T00:00:00Z\nviews: " + "9" * 5000 + "\n"
    )
    with feedsvc_server(bundled_content) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/healthz")
        health = json.loads(conn.getresponse().read())
        conn.close()
    assert health["status"] == "degraded" and health["articles"] == 7
    (error,) = health["errors"]
    assert error["path"] == "content/articles/huge.yaml" and error["field"] == "views"
