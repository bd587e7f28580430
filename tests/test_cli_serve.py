"""``feedsvc serve`` as a real process on 127.0.0.1, fetched over a socket."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from feedcheck import parse_feed

from bench.servers import feedsvc_server, free_port


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


def test_serve_flags_set_the_connection_limits_over_the_environment(
    bundled_content: Path, monkeypatch
):
    """--connection-limit and friends win over $FEEDSVC_*; a bad value exits 2."""
    from feedsvc.cli import build_parser
    from feedsvc.settings import ConnectionSettings

    monkeypatch.setenv("FEEDSVC_IDLE_TIMEOUT", "9")
    args = build_parser().parse_args(["serve", "--connection-limit", "5", "--max-body-bytes", "7"])
    read = ConnectionSettings.from_env(
        connection_limit=args.connection_limit, idle_timeout=args.idle_timeout,
        max_header_bytes=args.max_header_bytes, max_body_bytes=args.max_body_bytes,
    )  # fmt: skip
    assert read == ConnectionSettings(connection_limit=5, idle_timeout=9, max_body_bytes=7)
    env = {"FEEDSVC_CONNECTION_LIMIT": "lots"}
    with feedsvc_server(bundled_content, env=env).launch() as server:
        assert server.wait(timeout=30) == 2
    assert "FEEDSVC_CONNECTION_LIMIT must be a whole number" in server.log()


def test_serve_warns_when_reachable_without_a_public_url():
    from feedsvc.cli import exposure_warning
    from feedsvc.settings import ServiceSettings

    bare = ServiceSettings()
    for host in ["0.0.0.0", "::", "192.0.2.10", "feeds.internal"]:
        warning = exposure_warning(host, bare)
        assert warning is not None and "FEEDSVC_PUBLIC_URL" in warning, host
    for host in ["127.0.0.1", "127.0.1.1", "::1", "localhost"]:
        assert exposure_warning(host, bare) is None, host
    assert exposure_warning("0.0.0.0", ServiceSettings(public_url="https://x.example")) is None
    assert exposure_warning("0.0.0.0", ServiceSettings(allowed_hosts=("x.example",))) is None


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
def test_serve_starts_with_an_article_holding_a_huge_integer(bundled_content: Path, tmp_path: Path):
    (bundled_content / "articles" / "huge.yaml").write_text(
        "title: Huge\npublished: 2025-01-01T00:00:00Z\nviews: " + "9" * 5000 + "\n"
    )
    admin = free_port()  # the detailed /healthz is on the private admin listener
    env = {"FEEDSVC_ADMIN_ADDR": f"127.0.0.1:{admin}", "FEEDSVC_STATE_DIR": str(tmp_path)}
    with feedsvc_server(bundled_content, env=env) as server:
        conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
        conn.request("GET", "/healthz")
        health = json.loads(conn.getresponse().read())
        conn.close()
        assert json.loads(server.get("/healthz")[2]) == {"status": "degraded"}
    assert health["status"] == "degraded" and health["articles"] == 7
    (error,) = health["errors"]
    assert error["path"] == "content/articles/huge.yaml" and error["field"] == "views"
