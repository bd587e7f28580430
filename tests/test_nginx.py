"""feedsvc behind a real nginx running the shipped ``deploy/nginx.conf``.

nginx (from Debian's packages; ``.ci/run`` installs it) listens on a free
port of 127.0.0.1 in front of ``feedsvc serve --proxy-hops 1`` on another.
The deploy file is used as shipped except for ports, the server name and
the cache directory; a minimal main config around it keeps everything
(pid, logs, temp files, cache) inside a temporary directory. Both
processes are stopped by PID.

Shown here: feed self links are the public https URL under ``/feeds``;
a second request is a cache HIT; once max-age (1 s in this content) has
passed, nginx revalidates with the stored validators and the app answers
304 (its own counter and nginx's ``$upstream_status`` agree); gzip passes
through byte for byte; forged X-Forwarded-* headers change nothing; the
hostile corpus yields no 5xx through nginx either.
"""

from __future__ import annotations

import gzip
import http.client
import json
import math
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin

import pytest
import yaml
from edgekit import copy_bundled_content
from feedcheck import parse_feed
from hostile_corpus import CORPUS
from servers import HOST, http_request, raw_request

from bench.nginx import nginx_path
from bench.servers import ServerProcess, free_port

REPO = Path(__file__).resolve().parent.parent
DEPLOY_CONF = REPO / "deploy" / "nginx.conf"
DEPLOY_UNIT = REPO / "deploy" / "feedsvc.service"
PREFIX = "/feeds"
FORMATS = {"rss.xml": "rss", "atom.xml": "atom", "feed.json": "json"}


NGINX = nginx_path()  # on PATH, or where Debian puts it (/usr/sbin is not on every PATH)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.nginx,
    pytest.mark.skipif(
        NGINX is None,
        reason="nginx not found on PATH or in /usr/sbin: install Debian's nginx-light "
        "(.ci/run does this before `make test`)",
    ),
]


def unit_environment(unit: str) -> dict[str, str]:
    """The uncommented ``Environment=NAME=value`` settings of a systemd unit."""
    return dict(
        line.removeprefix("Environment=").split("=", 1)
        for line in unit.splitlines()
        if line.startswith("Environment=")
    )


def fill_deploy_conf(text: str, *, port: int, app_port: int, cache_dir: Path) -> str:
    """The shipped config with test ports and paths; fails if its shape changed."""
    replacements = {
        "listen 80;": f"listen {HOST}:{port};",
        "server_name news.example.com;": f"server_name {HOST};",
        "server 127.0.0.1:8080;": f"server {HOST}:{app_port};",
        "/var/cache/nginx/feedsvc": str(cache_dir),
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"deploy/nginx.conf no longer contains {old!r} once"
        text = text.replace(old, new)
    return text


def main_conf(root: Path, site_conf: Path) -> str:
    """nginx.conf around the site config: everything under ``root``, in the foreground."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the temp dir
    temp = "\n".join(
        f"    {kind}_temp_path {root / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}daemon off;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    sendfile on;     # as in Debian's stock nginx.conf, which includes the site
    tcp_nopush on;
    log_format edge '$request_uri $status $upstream_cache_status up=$upstream_status';
    access_log {root / "access.log"} edge;
{temp}
    include {site_conf};
}}
"""


class Edge:
    """nginx in front of ``feedsvc serve``: ports, processes and request helpers."""

    def __init__(
        self, root: Path, nginx: ServerProcess, app: ServerProcess, admin_port: int
    ) -> None:
        self.admin_port = admin_port
        self.root = root
        self.nginx = nginx
        self.app = app
        self.content = root / "content"
        self.public = f"https://{HOST}:{nginx.port}{PREFIX}"

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET"):
        """A request to nginx, under the /feeds prefix."""
        return http_request(self.nginx.port, PREFIX + path, method=method, headers=headers)

    def app_counters(self) -> dict[str, int]:
        """The app's own feed response counters, from its private admin listener."""
        status, _, body = http_request(self.admin_port, "/healthz")
        assert status == 200
        return json.loads(body)["http"]

    def access_log(self) -> str:
        return (self.root / "access.log").read_text("utf-8", errors="replace")

    def error_log(self) -> str:
        return (self.root / "error.log").read_text("utf-8", errors="replace")


@contextmanager
def running_edge(root: Path, reload_interval: str) -> Iterator[Edge]:
    """The app on a copy of the bundled content (max-age 1 s), nginx in front."""
    content = copy_bundled_content(root / "content")
    site = yaml.safe_load((content / "site.yaml").read_text("utf-8"))
    site["cache_max_age"] = 1  # expire quickly so revalidation shows within the test
    (content / "site.yaml").write_text(yaml.safe_dump(site, allow_unicode=True), "utf-8")

    app_port, port, admin_port = free_port(), free_port(), free_port()
    # The app runs as deploy/feedsvc.service runs it: `feedsvc serve` with the
    # unit's environment (port and content directory swapped for the test's).
    env = {
        **unit_environment(DEPLOY_UNIT.read_text("utf-8")),
        "FEEDSVC_PORT": str(app_port),
        "FEEDSVC_CONTENT_DIR": str(content),
        "FEEDSVC_RELOAD": reload_interval,
        "FEEDSVC_ADMIN_ADDR": f"{HOST}:{admin_port}",
        "FEEDSVC_STATE_DIR": str(root / "state"),
    }
    assert env["FEEDSVC_PROXY_HOPS"] == "1" and env["FEEDSVC_HOST"] == HOST
    app = ServerProcess(
        [sys.executable, "-m", "feedsvc.cli", "serve"],
        port=app_port, log_path=root / "feedsvc.log", env=env,
    )  # fmt: skip
    site_conf = root / "feedsvc.conf"
    site_conf.write_text(
        fill_deploy_conf(
            DEPLOY_CONF.read_text("utf-8"), port=port, app_port=app_port, cache_dir=root / "cache"
        ),
        "utf-8",
    )
    conf = root / "nginx.conf"
    conf.write_text(main_conf(root, site_conf), "utf-8")
    nginx = ServerProcess(
        [NGINX, "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")],
        port=port, log_path=root / "nginx.out", ready=None,
    )  # fmt: skip
    with app, nginx:
        edge = Edge(root, nginx, app, admin_port)
        yield edge
        assert "[emerg]" not in edge.error_log() and "[crit]" not in edge.error_log()
    assert app.returncode == 0, app.log()


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    with running_edge(tmp_path_factory.mktemp("nginx"), reload_interval="0") as running:
        yield running


def test_deploy_config_passes_nginx_syntax_check(edge):
    conf = edge.root / "nginx.conf"
    result = subprocess.run(
        [NGINX, "-t", "-p", str(edge.root), "-c", str(conf), "-e", str(edge.root / "t.log")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def all_feed_paths(edge: Edge) -> list[str]:
    status, _, body = edge.get("/feeds.opml")
    assert status == 200
    rss = re.findall(r'xmlUrl="([^"]*)"', body.decode())
    return [
        url[len(edge.public) :].rsplit("/", 1)[0] + "/" + name for url in rss for name in FORMATS
    ]


def test_every_feed_self_link_is_the_public_https_url_it_was_fetched_from(edge):
    paths = all_feed_paths(edge)
    assert len(paths) == 33 and "/tags/%EB%B6%81%ED%95%9C/feed.json" in paths
    for path in paths:
        status, headers, body = edge.get(path)
        assert status == 200, path
        assert headers["X-Cache-Status"] in ("MISS", "HIT", "EXPIRED", "REVALIDATED")
        feed = parse_feed(body, FORMATS[path.rsplit("/", 1)[1]])
        assert feed.self_link == edge.public + path  # https, nginx's host:port, /feeds prefix
        assert feed.entries


def test_pages_opml_and_redirects_carry_the_public_url(edge):
    status, headers, body = edge.get("/")
    assert status == 200
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["X-Content-Type-Options"] == "nosniff"
    page = body.decode()
    assert '<link rel="alternate" type="application/rss+xml"' in page
    hrefs = [u for u in re.findall(r'href="([^"]*)"', page) if "news.example.com" not in u]
    assert hrefs and all(u.startswith(edge.public + "/") for u in hrefs), hrefs
    opml = edge.get("/feeds.opml")[2].decode()
    assert all(u.startswith(edge.public + "/") for u in re.findall(r'xmlUrl="([^"]*)"', opml))

    for path, canonical in {
        "/tags/NorthKorea/rss.xml": "/tags/northkorea/rss.xml",
        "/tags/%EB%B6%81%ED%95%9C/RSS.XML": "/tags/%EB%B6%81%ED%95%9C/rss.xml",
        "/tags/%EB%B6%81%ED%95%9C": "/tags/%EB%B6%81%ED%95%9C/",
        "/tags": "/tags/",
    }.items():
        status, headers, _ = edge.get(path)
        # relative (no FEEDSVC_PUBLIC_URL here): the mount prefix, never a host
        assert (status, headers["Location"]) == (308, PREFIX + canonical), path
        assert urljoin(edge.public + "/", headers["Location"]) == edge.public + canonical
        assert edge.get(canonical)[0] == 200
    korean = edge.get("/tags/%EB%B6%81%ED%95%9C/")[2].decode()
    assert "북한" in korean
    assert f'href="{edge.public}/tags/%EB%B6%81%ED%95%9C/atom.xml"' in korean
    # The bare mount point goes to the directory, over https.
    status, headers, _ = http_request(edge.nginx.port, PREFIX)
    assert (status, headers["Location"]) == (308, edge.public + "/")
    assert edge.get("/healthz")[1]["Access-Control-Allow-Origin"] == "*"


def _wait_until_expired(filled_at: float, max_age: int = 1) -> None:
    """Sleep until nginx (1-second clock) treats an entry filled at ``filled_at`` as stale."""
    stale_from = math.floor(filled_at) + max_age + 1.05
    time.sleep(max(0.0, stale_from - time.time()))


def test_cache_hit_then_revalidation_answered_304_by_the_app_for_both_encodings(edge):
    # A fresh cache key (the app ignores query strings) so earlier tests cannot interfere.
    path = f"/atom.xml?cache-test={uuid.uuid4().hex}"
    gz = {"Accept-Encoding": "gzip"}

    status, plain_headers, plain = edge.get(path)
    assert (status, plain_headers["X-Cache-Status"]) == (200, "MISS")
    status, headers, body = edge.get(path)
    assert (status, headers["X-Cache-Status"], body) == (200, "HIT", plain)
    assert headers["ETag"] == plain_headers["ETag"]

    # gzip is its own variant (Vary: Accept-Encoding): a MISS first, then a HIT.
    status, gz_headers, zipped = edge.get(path, gz)
    filled_at = time.time()
    assert (status, gz_headers["X-Cache-Status"]) == (200, "MISS")
    assert gz_headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped) == plain  # passed through byte for byte
    assert gz_headers["ETag"] != plain_headers["ETag"] and gz_headers["ETag"].endswith('-gz"')
    assert int(gz_headers["Content-Length"]) == len(zipped)
    status, headers, body = edge.get(path, gz)
    assert (status, headers["X-Cache-Status"], body) == (200, "HIT", zipped)

    # Readers' own conditional requests are answered by nginx from the cache.
    status, headers, _ = edge.get(path, {"If-None-Match": plain_headers["ETag"]})
    assert (status, headers["X-Cache-Status"]) == (304, "HIT")

    before = edge.app_counters()
    _wait_until_expired(filled_at)
    status, headers, body = edge.get(path)
    assert (status, headers["X-Cache-Status"], body) == (200, "REVALIDATED", plain)
    status, headers, body = edge.get(path, gz)
    assert (status, headers["X-Cache-Status"], body) == (200, "REVALIDATED", zipped)
    assert headers["Content-Encoding"] == "gzip"
    after = edge.app_counters()
    # The app answered both revalidations with 304 (validators matched, no body sent).
    assert after["not_modified"] - before["not_modified"] == 2
    assert after["feed_responses"] - before["feed_responses"] == 2
    # And nginx saw 304s from upstream for exactly those two requests.
    log_lines = [line for line in edge.access_log().splitlines() if path in line]
    assert [line.split()[-2:] for line in log_lines][-2:] == [
        ["REVALIDATED", "up=304"],
        ["REVALIDATED", "up=304"],
    ]
    # Revalidation refreshed the entry: fresh again.
    assert edge.get(path)[1]["X-Cache-Status"] == "HIT"


def test_a_changed_feed_replaces_its_cache_file_and_later_hits_serve_the_new_bytes(
    tmp_path_factory,
):
    """Hits reuse open cache files (open_file_cache); a replaced entry must not serve old bytes.

    After an edit the app's ETag changes, so the expired entry's revalidation
    gets a 200 with the new feed and nginx writes a new cache file; every hit
    after that must send the new bytes, not the file kept open before.
    """
    with running_edge(tmp_path_factory.mktemp("nginx-reload"), reload_interval="0.2") as edge:
        path = "/rss.xml"
        status, headers, old = edge.get(path)
        filled_at = time.time()
        assert (status, headers["X-Cache-Status"]) == (200, "MISS")
        for _ in range(3):
            status, headers, body = edge.get(path)
            assert (status, headers["X-Cache-Status"], body) == (200, "HIT", old)

        article = edge.content / "articles" / "dysphagia-everyday-struggle.yaml"
        text = article.read_text("utf-8")
        assert "Choking on Everyday Life" in text
        article.write_text(text.replace("Choking on", "Swallowing hard in"), "utf-8")
        deadline = time.monotonic() + 15
        while b"Swallowing hard in" not in http_request(edge.app.port, path)[2]:
            assert time.monotonic() < deadline, "the app did not pick up the edit"
            time.sleep(0.1)

        _wait_until_expired(max(filled_at, time.time()))
        status, headers, new = edge.get(path)
        assert (status, headers["X-Cache-Status"]) == (200, "EXPIRED")
        assert b"Swallowing hard in" in new and b"Choking on Everyday Life" not in new
        assert parse_feed(new, "rss").entries
        for _ in range(3):
            status, headers, body = edge.get(path)
            assert (status, headers["X-Cache-Status"], body) == (200, "HIT", new)


def test_head_and_gzip_through_nginx(edge):
    path = f"/feed.json?head-test={uuid.uuid4().hex}"
    status, headers, body = edge.get(path, {"Accept-Encoding": "gzip"}, method="HEAD")
    assert status == 200 and body == b""
    assert headers["Content-Encoding"] == "gzip"
    _, _, zipped = edge.get(path, {"Accept-Encoding": "gzip"})
    document = json.loads(gzip.decompress(zipped))
    assert document["feed_url"] == edge.public + "/feed.json"


def test_forged_forwarded_headers_through_nginx_change_nothing(edge):
    forged = {
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Prefix": "/evil",
        "X-Forwarded-Port": "666",
        "Forwarded": "host=evil.example;proto=http",
    }
    path = f"/rss.xml?forged={uuid.uuid4().hex}"  # a fresh key: the app must build this one
    status, headers, body = edge.get(path, forged)
    assert (status, headers["X-Cache-Status"]) == (200, "MISS")
    assert parse_feed(body, "rss").self_link == edge.public + "/rss.xml"
    assert b"evil" not in body


def test_no_cache_key_length_makes_nginx_answer_5xx(edge):
    """The cache key (Host + URI) and the app's response header share one buffer.

    nginx reads a response to be cached into ``proxy_buffer_size`` after the
    key; a key just short of that size left no room for the header and nginx
    answered 502. Every length up to nginx's own 8k request-line limit, for a
    feed (the app ignores the query) and for a redirect (whose Location
    repeats the path), with normal and overlong Host headers, must not.
    """
    long_host = "h" * 240 + ".example"  # near the longest the app accepts (253)
    seen = set()
    for length in range(1000, 8100, 89):
        filler = "q" * length
        for path, headers in (
            (f"/rss.xml?{filler}", {}),
            (f"/tags/NorthKorea/rss.xml?{filler}", {}),  # 308 to the lower-case tag
            (f"/atom.xml?{filler}", {"Host": long_host}),
            (f"/feed.json?{filler}", {"Host": "x" * 4000}),  # refused by the app or nginx
        ):
            status, _, body = edge.get(path, headers)
            assert status < 500, (length, path[:30], headers.keys(), status, body[:200])
            seen.add(status)
    assert {200, 308} <= seen  # the feed and the redirect were really served
    assert "too big header" not in edge.error_log()


# Protocol-level refusals nginx makes itself, before any location or upstream:
# RFC 9110 §15.6.6 asks for 505 when the HTTP major version is not supported.
NGINX_REFUSES = {"unknown-version": 505}


def test_hostile_corpus_through_nginx_yields_no_5xx(edge):
    """nginx answers some itself (400, 404, 414, 494); the rest reach the app."""
    host = f"{HOST}:{edge.nginx.port}".encode()
    for request in CORPUS:
        own_host = host if request.host == b"localhost" else None
        status, head, body = raw_request(edge.nginx.port, request.wire(PREFIX.encode(), own_host))
        assert b"Traceback" not in body and b'File "' not in body, request.name
        if request.name in NGINX_REFUSES:
            assert status == NGINX_REFUSES[request.name] and b"Server: nginx" in head
            continue
        assert 0 < status < 500, (request.name, status, body[:200])
    # The app behind survived it all.
    assert edge.get("/rss.xml")[0] == 200
    assert "upstream prematurely closed" not in edge.error_log()


def _from(source: str, port: int, path: str) -> int:
    """Status of a GET to nginx from the local address ``source`` (another 127/8 address
    on the loopback interface stands in for a client from the internet)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


MONITORING = ["/healthz", "/metrics", "//healthz", "/HEALTHZ", "/%68ealthz", "/Metrics?x=1",
              "/healthz/", "/./metrics"]  # fmt: skip


def test_healthz_and_metrics_answer_loopback_only(edge):
    """The README promises the nginx example keeps /healthz and /metrics off the
    public internet: from 127.0.0.2 (not an allowed address) every spelling is a
    403, the feeds are not; from 127.0.0.1 both answer, live (never cached). The app
    itself says only its status on this port and keeps /metrics to the admin one."""
    port = edge.nginx.port
    for path in MONITORING:
        assert _from("127.0.0.2", port, PREFIX + path) == 403, path
    assert _from("127.0.0.2", port, PREFIX + "/rss.xml") == 200
    for path, expected in (("/healthz", 200), ("/metrics", 404)):
        status, headers, _ = edge.get(path)
        assert status == expected and headers.get("X-Cache-Status") is None, path
    assert json.loads(edge.get("/healthz")[2]) == {"status": "ok"}
    assert b"feedsvc_feed_requests_total" in http_request(edge.admin_port, "/metrics")[2]
