"""The private admin listener: /stats, /metrics and the detailed /healthz, and only there.

Real ``feedsvc serve`` processes on 127.0.0.1 (public and admin ports), real
feed fetches with readers' User-Agents, a real stop and restart; the admin
app's pages through Flask's test client for what they show.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from audiencekit import combined, ingest, state
from edgekit import feedsvc_app
from servers import HOST, http_request

from bench.servers import feedsvc_server, free_port
from feedsvc.feeds import urls
from feedsvc.settings import AdminSettings
from feedsvc.web import policy
from feedsvc.web.admin import create_admin_app, share_with_public
from feedsvc.web.health import PUBLIC_ONLY

READERS = {
    "Feedbin feed-id:77 - 1,204 subscribers": "/rss.xml",
    "Mozilla/5.0 (compatible; inoreader.com; 114 subscribers)": "/atom.xml",
    "Newsboat/2.36 (Linux x86_64)": "/rss.xml",
    "NetNewsWire (RSS Reader; https://netnewswire.com/)": "/tags/northkorea/feed.json",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0": "/rss.xml",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": "/rss.xml",
    "Feedly 99999 subscribers": "/rss.xml",
}


PRIVATE_SPELLINGS = [
    urls.METRICS, urls.STATS, "/METRICS", "/stats/", "//metrics", "/%73tats",
    "/metrics?format=prometheus", "/Stats", "/admin/stats", "/healthz/",
]  # fmt: skip


def serve(content: Path, state_dir: Path, admin: str):
    """``feedsvc serve`` with its state in ``state_dir`` and the admin listener at ``admin``."""
    env = {"FEEDSVC_STATE_DIR": str(state_dir), "FEEDSVC_ADMIN_ADDR": admin}
    return feedsvc_server(content, env=env)


@pytest.mark.slow
def test_nothing_private_on_the_public_port_everything_on_the_admin_one(
    bundled_content: Path, tmp_path: Path
):
    admin_port = free_port()
    with serve(bundled_content, tmp_path / "state", f"{HOST}:{admin_port}") as server:
        status, _, body = server.get(urls.HEALTHZ)
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        for path in PRIVATE_SPELLINGS:
            status, _, body = server.get(path)
            assert status in (404, 308), path  # 308: another spelling of /healthz
            assert b"feedsvc_" not in body and b"articles" not in body, path
        for method in ("HEAD", "OPTIONS"):
            conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
            conn.request(method, urls.METRICS)
            answer = conn.getresponse()
            assert answer.status in (404, 204) and b"feedsvc_" not in answer.read(), method
            conn.close()
        for agent, path in READERS.items():
            assert server.get(path, {"User-Agent": agent})[0] == 200

        status, headers, body = http_request(admin_port, urls.HEALTHZ)
        detail = json.loads(body)
        assert status == 200 and detail["articles"] == 7 and "errors" in detail
        assert detail["audience"]["state"] == "ok" and detail["audience"]["live"]["dropped"] == 0
        status, _, body = http_request(admin_port, urls.METRICS)
        assert status == 200 and b"feedsvc_feed_requests_total" in body
        status, headers, body = http_request(admin_port, urls.STATS)
        assert status == 200 and headers["content-security-policy"] == policy.HTML_CSP
    assert server.returncode == 0
    # The live recorder flushed at the stop: the same estimates come back after a restart.
    with serve(bundled_content, tmp_path / "state", f"{HOST}:{admin_port}"):
        _, _, body = http_request(admin_port, urls.METRICS)
        text = body.decode()
        assert 'feedsvc_audience_subscribers{feed="/"} 1319' in text  # Feedbin, Inoreader, newsboat
        assert 'feedsvc_audience_subscribers{feed="/tags/northkorea"} 1' in text
        page = http_request(admin_port, urls.STATS)[2].decode()
        assert "Feedbin" in page and "Inoreader" in page and "<svg" in page


@pytest.mark.slow
def test_a_non_loopback_admin_address_is_refused_without_opt_in(bundled_content: Path):
    env = {"FEEDSVC_ADMIN_ADDR": "0.0.0.0:9"}
    with feedsvc_server(bundled_content, env=env).launch() as server:
        assert server.wait(timeout=30) == 2
    assert "FEEDSVC_ADMIN_ALLOW_REMOTE" in server.log()


def test_admin_address_setting():
    assert AdminSettings.from_env({}) == AdminSettings("127.0.0.1", 8081, explicit=False)
    assert AdminSettings.from_env({"FEEDSVC_ADMIN_ADDR": "off"}).host is None
    shared = AdminSettings.from_env({"FEEDSVC_ADMIN_ADDR": "public"})
    assert shared.host is None and shared.shared
    assert AdminSettings.from_env({"FEEDSVC_ADMIN_ADDR": "[::1]:9000"}).host == "::1"
    remote = {"FEEDSVC_ADMIN_ADDR": "10.0.0.5:9000", "FEEDSVC_ADMIN_ALLOW_REMOTE": "1"}
    assert AdminSettings.from_env(remote).host == "10.0.0.5"
    for bad in ("10.0.0.5:9000", "8081", "localhost:", "localhost:99999", "host:port"):
        with pytest.raises(ValueError, match="FEEDSVC_ADMIN_ADDR"):
            AdminSettings.from_env({"FEEDSVC_ADMIN_ADDR": bad})


def test_off_means_no_admin_listener_and_still_nothing_private(
    bundled_content: Path, tmp_path: Path
):
    with feedsvc_app(bundled_content) as app:
        app.extensions[PUBLIC_ONLY] = True
        client = app.test_client()
        assert client.get(urls.HEALTHZ).get_json() == {"status": "ok"}
        assert client.get(urls.METRICS).status_code == 404
        assert client.get(urls.STATS).status_code == 404


HOSTILE = "<script>alert(1)</script> 5 subscribers"


def test_stats_page_draws_svg_within_the_csp_and_escapes_every_label(
    bundled_content: Path, tmp_path: Path
):
    log = tmp_path / "access.log"
    log.write_text(
        combined("1.1.1.1", "/rss.xml", "Feedbin feed-id:1 - 56 subscribers")
        + combined("1.1.1.2", "/tags/north-korea/rss.xml", HOSTILE)
        + combined("1.1.1.3", "/rss.xml", '"><svg onload=alert(1)>/1.0')
    )
    conn = state(tmp_path / "state")
    ingest(conn, log)
    with feedsvc_app(bundled_content) as public:
        admin = create_admin_app(public, tmp_path / "state").test_client()
        response = admin.get(urls.STATS)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == policy.HTML_CSP
    assert response.headers["Cache-Control"] == policy.NO_STORE
    assert page.count("<svg") == 4 and "<script" not in page and "onload=" not in page.lower()
    assert not re.search(r"\sstyle=", page), "the CSP blocks inline style attributes"
    assert "56" in page and "Feedbin" in page


def test_stats_page_without_any_count_says_how_to_get_one(bundled_content: Path, tmp_path: Path):
    with feedsvc_app(bundled_content) as public:
        page = create_admin_app(public, tmp_path / "state").test_client().get(urls.STATS)
    assert page.status_code == 200
    assert "feedsvc audience ingest" in page.get_data(as_text=True)


def test_audience_report_command_on_an_empty_state(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "audience", "report", "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "No audience counted yet" in done.stdout


def test_admin_addr_public_shares_the_private_pages_with_the_public_app(
    bundled_content: Path, tmp_path: Path
):
    """``FEEDSVC_ADMIN_ADDR=public`` (benchmarks, a proxy that keeps them private)."""
    with feedsvc_app(bundled_content) as app:
        share_with_public(app, tmp_path / "state")
        client = app.test_client()
        assert client.get(urls.STATS).status_code == 200
        assert "articles" in client.get(urls.HEALTHZ).get_json()
        assert b"feedsvc_audience_subscribers" in client.get(urls.METRICS).data


def test_a_corrupt_state_is_reported_not_a_500(bundled_content: Path, tmp_path: Path):
    folder = tmp_path / "state"
    folder.mkdir()
    (folder / "state.db").write_bytes(b"this is not a database" * 100)
    with feedsvc_app(bundled_content) as public:
        admin = create_admin_app(public, folder).test_client()
        page = admin.get(urls.STATS)
        assert page.status_code == 200 and "cannot be read" in page.get_data(as_text=True)
        metrics = admin.get(urls.METRICS)
        assert metrics.status_code == 200 and b"feedsvc_renders_total" in metrics.data
        health = admin.get(urls.HEALTHZ).get_json()
        assert health["audience"]["state"] == "unreadable" and health["articles"] == 7
