"""Audience estimates from a real nginx access log, with rotation mid-ingest.

The shipped ``deploy/nginx.conf`` runs in front of a real ``feedsvc serve``
(as tests/test_nginx.py runs it), writing a ``combined`` log and a JSON log.
Aggregators, feed readers (each from its own 127.0.0.x address), browsers,
crawlers, tools and spoofers fetch the feeds; ``feedsvc audience ingest``
reads the logs between rounds while they are rotated both ways (rename +
reopen, and copytruncate). The estimates must be exactly what the clients are.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from edgekit import copy_bundled_content
from servers import HOST
from test_nginx import DEPLOY_CONF, DEPLOY_UNIT, NGINX, fill_deploy_conf, unit_environment

from bench.servers import ServerProcess, fetch, free_port
from feedsvc.audience import estimate
from feedsvc.audience.db import connect_state

pytestmark = [
    pytest.mark.slow,
    pytest.mark.nginx,
    pytest.mark.skipif(NGINX is None, reason="nginx not found on PATH or in /usr/sbin"),
]
PREFIX = "/feeds"
JSON_FORMAT = (
    'log_format feedjson escape=json \'{"time_iso8601":"$time_iso8601",'
    '"remote_addr":"$remote_addr","request":"$request","status":$status,'
    '"http_user_agent":"$http_user_agent"}\';'
)


def main_conf(root: Path, site_conf: Path) -> str:
    """nginx.conf around the shipped site config, logging ``combined`` and JSON."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {root / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    return f"""{user}daemon off;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    {JSON_FORMAT}
    access_log {root / "access.log"} combined;
    access_log {root / "access.json"} feedjson;
{temp}
    include {site_conf};
}}
"""


class Edge:
    """nginx (port, PID) in front of feedsvc, and where its logs are."""

    def __init__(self, root: Path, nginx: ServerProcess) -> None:
        self.root, self.nginx = root, nginx

    def get(self, path: str, agent: str, source: str = HOST) -> int:
        """One GET through nginx from ``source`` with ``agent``; its status."""
        return fetch(self.nginx.port, PREFIX + path, {"User-Agent": agent}, source=source)[0]

    def reopen_logs(self) -> None:
        """What logrotate's postrotate does: USR1 to the master, then wait for the new file."""
        os.kill(self.nginx.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not (self.root / "access.log").exists():
            assert time.monotonic() < deadline, "nginx did not reopen its log"
            time.sleep(0.05)


@contextmanager
def running_edge(root: Path) -> Iterator[Edge]:
    content = copy_bundled_content(root / "content")
    app_port, port = free_port(), free_port()
    env = {
        **unit_environment(DEPLOY_UNIT.read_text("utf-8")),
        "FEEDSVC_PORT": str(app_port), "FEEDSVC_CONTENT_DIR": str(content), "FEEDSVC_RELOAD": "0",
        "FEEDSVC_STATE_DIR": str(root / "app-state"), "FEEDSVC_ADMIN_ADDR": "off",
    }  # fmt: skip
    app = ServerProcess([sys.executable, "-m", "feedsvc.cli", "serve"], port=app_port,
                        log_path=root / "feedsvc.log", env=env)  # fmt: skip
    site_conf = root / "feedsvc.conf"
    site_conf.write_text(fill_deploy_conf(DEPLOY_CONF.read_text("utf-8"), port=port,
                                          app_port=app_port, cache_dir=root / "cache"))  # fmt: skip
    conf = root / "nginx.conf"
    conf.write_text(main_conf(root, site_conf))
    nginx = ServerProcess([NGINX, "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")],
                          port=port, log_path=root / "nginx.out", ready=None)  # fmt: skip
    with app, nginx:
        yield Edge(root, nginx)


def ingest(root: Path, log: str, fmt: str) -> str:
    """``feedsvc audience ingest`` as an operator's cron job runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "audience", "ingest", "--access-log",
         str(root / log), "--format", fmt, "--state-dir", str(root / f"state-{fmt}")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


FEEDBIN = "Feedbin feed-id:{} - {} subscribers"
ROUND_ONE = [
    ("/rss.xml", FEEDBIN.format(41, 56), HOST),
    ("/rss.xml", "Mozilla/5.0 (compatible; inoreader.com; 1,114 subscribers)", HOST),
    ("/atom.xml", "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )", HOST),
    ("/tags/northkorea/rss.xml", "NewsBlur Feed Fetcher - 1 subscriber - "
     "https://www.newsblur.com/site/99/x (Mozilla/5.0 (Macintosh) Safari/605.1.15)", HOST),
    ("/rss.xml", "Newsboat/2.36 (Linux x86_64)", "127.0.0.11"),
    ("/atom.xml", "Newsboat/2.36 (Linux x86_64)", "127.0.0.11"),  # same reader, other format
    ("/rss.xml", "Newsboat/2.36 (Linux x86_64)", "127.0.0.12"),
    ("/feed.json", "NetNewsWire (RSS Reader; https://netnewswire.com/)", "127.0.0.13"),
    ("/tags/northkorea/atom.xml", "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 "
     "Thunderbird/115.3.1", "127.0.0.14"),
    # Nobody's subscription:
    ("/rss.xml", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
     "127.0.0.20"),
    ("/rss.xml", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     "127.0.0.21"),
    ("/rss.xml", "curl/8.5.0", "127.0.0.22"),
    ("/rss.xml", "Feedly 90000 subscribers", "127.0.0.23"),  # a spoofer
    ("/tags/no-such-tag/rss.xml", FEEDBIN.format(7, 999), HOST),  # 404: no feed
]  # fmt: skip
ROUND_TWO = [
    ("/rss.xml", FEEDBIN.format(41, 58), HOST),  # the day's highest report wins
    ("/rss.xml", FEEDBIN.format(41, 57), HOST),
    ("/popular/rss.xml", "Mozilla/5.0 (compatible; theoldreader.com; 3 subscribers; "
     "feed-id=ab12)", HOST),
    ("/popular/rss.xml", "Mozilla/5.0 (compatible; BazQux/2.4; +https://bazqux.com/fetcher; "
     "1 subscribers)", HOST),
    ("/rss.xml", "Newsboat/2.36 (Linux x86_64)", "127.0.0.11"),  # counted already
    ("/rss.xml", "python-reader/3.12 (+https://github.com/lemon24/reader)", "127.0.0.15"),
    ("/rss.xml", "UniversalFeedParser/6.0.11 +https://github.com/kurtmckee/feedparser/",
     "127.0.0.16"),
]  # fmt: skip
# Exactly what those clients are, per feed: (aggregator subscribers, direct readers).
EXPECTED = {
    "main": (58 + 1114 + 462, 2 + 1 + 2),  # newsboat x2, NetNewsWire, reader, feedparser
    "northkorea": (1, 1),
    "popular": (3 + 1, 0),
}


def fetch_round(edge: Edge, requests: list[tuple[str, str, str]]) -> None:
    for path, agent, source in requests:
        status = edge.get(path, agent, source)
        assert status == (404 if "no-such-tag" in path else 200), (path, agent)


def test_estimates_from_nginx_logs_match_the_clients_across_both_rotations(tmp_path: Path):
    with running_edge(tmp_path) as edge:
        fetch_round(edge, ROUND_ONE[:7])
        ingest(tmp_path, "access.log", "combined")
        ingest(tmp_path, "access.json", "json")
        fetch_round(edge, ROUND_ONE[7:])
        # combined: logrotate's default (rename, nginx reopens); json: copytruncate.
        (tmp_path / "access.log").rename(tmp_path / "access.log.1")
        shutil.copyfile(tmp_path / "access.json", tmp_path / "access.json.1")
        os.truncate(tmp_path / "access.json", 0)
        edge.reopen_logs()
        fetch_round(edge, ROUND_TWO)
        first = ingest(tmp_path, "access.log", "combined")
        ingest(tmp_path, "access.json", "json")
        assert "0 lines not in combined format" in first
        assert "0 new lines" in ingest(tmp_path, "access.log", "combined")  # nothing twice
    for fmt in ("combined", "json"):
        conn = connect_state(tmp_path / f"state-{fmt}")
        got = {e.label: (e.aggregated, e.readers) for e in estimate.latest(conn)}
        assert got == EXPECTED, fmt
        day = estimate.last_day(conn)
        assert day is not None
        left_out = {(kind, client) for kind, client, _ in estimate.excluded(conn, day)}
        assert left_out == {("browser", "Firefox"), ("bot", "Googlebot"), ("tool", "curl"),
                            ("spoofer", "Feedly")}  # fmt: skip
        conn.close()
