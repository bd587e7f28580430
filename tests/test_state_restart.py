"""State across real restarts: ``feedsvc serve`` processes on 127.0.0.1 with a real state folder.

Each server is started as a process (bench.servers.feedsvc_server) and
stopped by its PID; between runs the content and the state folder are
changed on disk, as an editor or a broken disk would.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import yaml
from feedcheck import parse_feed
from support import Hub, wait_for, write_yaml

from bench.servers import feedsvc_server

PUBLIC = "https://feeds.test"
FORMATS = {"rss.xml": "rss", "atom.xml": "atom", "feed.json": "json"}
pytestmark = pytest.mark.slow


def get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    conn.close()
    return response


def serve(content: Path, state: Path, **kwargs):
    return feedsvc_server(content, "--public-url", PUBLIC,
                          env={"FEEDSVC_STATE_DIR": str(state)}, **kwargs)  # fmt: skip


def test_restart_after_deleting_the_newest_article_and_a_tags_only_article(
    small_content: Path, tmp_path: Path
):
    state = tmp_path / "state"
    with serve(small_content, state) as server:
        before = get(server.port, "/atom.xml")
        page_before = get(server.port, "/")
        tag_before = get(server.port, "/tags/health/rss.xml")
        assert tag_before.status == 200
    last_modified = parsedate_to_datetime(before.getheader("Last-Modified"))
    # gamma is the newest article and the only one tagged Health.
    (small_content / "articles" / "gamma.yaml").unlink()
    with serve(small_content, state) as server:
        after = get(server.port, "/atom.xml")
        assert parsedate_to_datetime(after.getheader("Last-Modified")) > last_modified
        page_after = get(server.port, "/")
        assert page_after.body != page_before.body
        assert parsedate_to_datetime(page_after.getheader("Last-Modified")) > parsedate_to_datetime(
            page_before.getheader("Last-Modified")
        )
        stale = get(
            server.port, "/atom.xml", {"If-Modified-Since": before.getheader("Last-Modified")}
        )
        assert stale.status == 200  # a reader holding the old date gets the new bytes
        for filename, fmt in FORMATS.items():
            response = get(server.port, f"/tags/health/{filename}")
            assert response.status == 200, filename
            assert parse_feed(response.body, fmt).entries == []
        tag_after = get(server.port, "/tags/health/rss.xml")
        assert parsedate_to_datetime(tag_after.getheader("Last-Modified")) > parsedate_to_datetime(
            tag_before.getheader("Last-Modified")
        )  # an empty feed's content date is 1970: the ledger moves it forward instead
        assert b"/tags/health/rss.xml" in get(server.port, "/feeds.opml").body
        health = json.loads(get(server.port, "/healthz").body)
        assert health["state"] == "ok" and health["status"] == "ok"
    assert (state / "state.db").is_file()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "directory"])
def test_a_broken_state_file_never_stops_the_service(
    small_content: Path, tmp_path: Path, damage: str
):
    state = tmp_path / "state"
    with serve(small_content, state) as server:
        assert get(server.port, "/rss.xml").status == 200
    db = state / "state.db"
    good = db.read_bytes()
    for leftover in state.iterdir():
        leftover.unlink()
    if damage == "garbage":
        db.write_bytes(b"this is not SQLite\n" * 500)
    elif damage == "truncated":
        db.write_bytes(good[: max(200, len(good) // 3)])
    else:
        db.mkdir()
    with serve(small_content, state) as server:
        assert get(server.port, "/rss.xml").status == 200
        health = json.loads(get(server.port, "/healthz").body)
        assert health["state"].startswith("fresh: state.db was unreadable"), health["state"]
        assert health["status"] == "ok"
    assert "started a fresh state" in server.log()
    assert list(state.glob("state.db.corrupt-*"))


def test_pending_websub_pings_are_sent_after_a_restart(small_content: Path, tmp_path: Path):
    hub = Hub(fail_first=10**6)  # down: every ping fails until it comes back
    try:
        site = yaml.safe_load((small_content / "site.yaml").read_text())
        write_yaml(small_content / "site.yaml", {**site, "websub_hub": hub.url})
        state = tmp_path / "state"
        with serve(small_content, state, reload=0.2):
            gamma = small_content / "articles" / "gamma.yaml"
            gamma.write_text(gamma.read_text().replace("Gamma", "Gamma, edited"))
            assert wait_for(lambda: hub.attempts >= 1, timeout=20)
        assert hub.pings == []
        hub.failures_left = 0  # the hub is back
        with serve(small_content, state):
            hub.wait_for_pings(1, timeout=20)
        assert hub.pings, "the pending ping was not sent after the restart"
        assert f"{PUBLIC}/tags/health/rss.xml" in hub.pings[0]["hub.url"]
    finally:
        hub.close()


def test_instances_with_the_same_content_and_a_copy_of_the_state_serve_identical_bytes(
    small_content: Path, tmp_path: Path
):
    first = tmp_path / "state-a"
    with serve(small_content, first) as server:
        assert get(server.port, "/tags/health/atom.xml").status == 200
    (small_content / "articles" / "gamma.yaml").unlink()
    second = tmp_path / "state-b"
    shutil.copytree(first, second)
    feeds = ("/", "/tags/health/", "/tags/china/")
    paths = ["/", "/tags/", "/tags/health/", "/feeds.opml", "/popular/rss.xml",
             *(f"{feed}{name}" for feed in feeds for name in FORMATS)]  # fmt: skip
    with serve(small_content, first) as one, serve(small_content, second) as two:
        for path in paths:
            a, b = get(one.port, path), get(two.port, path)
            assert a.status == b.status == 200, path
            assert a.body == b.body, path
            assert a.getheader("ETag") == b.getheader("ETag"), path
            if path.endswith(tuple(FORMATS)):
                assert a.getheader("Last-Modified") == b.getheader("Last-Modified"), path


def test_check_reports_vanished_tags_and_build_keeps_them(small_content: Path, tmp_path: Path):
    state = tmp_path / "state"
    env = {"FEEDSVC_STATE_DIR": str(state), "PATH": "/usr/bin:/bin"}

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "feedsvc.cli", "check", str(small_content)],
                              capture_output=True, text=True, env=env, timeout=60)  # fmt: skip

    assert "no article now" not in check().stdout
    gamma = small_content / "articles" / "gamma.yaml"
    gamma.write_text(gamma.read_text().replace("Health", "Healthcare"))
    done = check()
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "tags.health: warning: tag 'Health' was served before and has no article now" in done.stdout
    )
    assert "tag_redirects: {health: healthcare}" in done.stdout
    out = tmp_path / "out"
    build = subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "build", "--out", str(out),
         "--content-dir", str(small_content), "--public-url", PUBLIC],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    assert parse_feed((out / "tags/health/atom.xml").read_bytes(), "atom").entries == []
    assert (out / "tags/healthcare/rss.xml").is_file()
