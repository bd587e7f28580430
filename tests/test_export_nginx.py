"""The static export served by a real nginx with ``deploy/nginx-static.conf``.

Same bytes, Content-Types, Cache-Control and Last-Modified as the live
service; nginx's own ETags work for conditional requests; gzip siblings are
sent to gzip clients. Skipped (with the reason) where nginx is not installed;
``.ci/run`` installs it from Debian's packages.
"""

from __future__ import annotations

import gzip
import os
import signal
from pathlib import Path

import pytest
from support import REPO

from bench.nginx import nginx_path
from bench.servers import ServerError, ServerProcess, fetch, free_port
from feedsvc.export import build_site

pytestmark = pytest.mark.nginx

NGINX = nginx_path()
PUBLIC = "https://feeds.example.com"
WRAPPER = """\
{user}worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {work}/tmp; proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp; uwsgi_temp_path {work}/tmp; scgi_temp_path {work}/tmp;
    include {work}/site.conf;
}}
"""


@pytest.fixture
def static_nginx(tmp_path: Path, bundled_content: Path):
    """nginx on 127.0.0.1 serving a fresh export with the shipped config."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run does)")
    out = tmp_path / "public"
    build_site(bundled_content, out, PUBLIC)
    port = free_port()
    site = (REPO / "deploy" / "nginx-static.conf").read_text()
    for old, new in (("listen 80;", f"listen 127.0.0.1:{port};"),
                     ("root /srv/feedsvc/public;", f"root {out};")):  # fmt: skip
        assert old in site, old
        site = site.replace(old, new)
    (tmp_path / "tmp").mkdir()
    (tmp_path / "site.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(WRAPPER.format(user=user, work=tmp_path))
    for folder in (tmp_path, out):
        folder.chmod(0o755)
    nginx = ServerProcess(
        [NGINX, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c",
         str(tmp_path / "nginx.conf")],
        port=port, ready=None, timeout=10,
        stop_signal=signal.SIGQUIT,  # graceful stop of this master, by PID
    )  # fmt: skip
    try:
        nginx.start()
    except ServerError as exc:
        log = tmp_path / "error.log"
        pytest.fail(f"nginx did not start: {exc} {log.read_text() if log.exists() else ''}")
    with nginx:
        yield port


FEEDS = ["/rss.xml", "/atom.xml", "/feed.json", "/popular/rss.xml", "/tags/china/atom.xml",
         "/tags/%EB%B6%81%ED%95%9C/feed.json"]  # fmt: skip


def test_nginx_serves_the_live_bytes_and_headers(static_nginx: int, make_app, bundled_content):
    live = make_app(bundled_content, public_url=PUBLIC).test_client()
    for path in [*FEEDS, "/feeds.opml", "/", "/tags/"]:
        status, headers, body = fetch(static_nginx, path)
        expected = live.get(path)
        assert status == 200, path
        assert body == expected.data, path
        assert headers["content-type"] == expected.headers["Content-Type"], path
        assert headers["cache-control"] == expected.headers["Cache-Control"], path
        assert headers["access-control-allow-origin"] == "*"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["vary"] == "Accept-Encoding"
        if path in FEEDS:
            assert headers["last-modified"] == expected.headers["Last-Modified"], path
    page = fetch(static_nginx, "/")[1]
    assert page["content-security-policy"] == live.get("/").headers["Content-Security-Policy"]


def test_nginx_validators_and_gzip(static_nginx: int):
    for path in FEEDS:
        _, headers, body = fetch(static_nginx, path)
        etag = headers["etag"]
        assert etag.startswith('"') and not etag.startswith("W/"), etag  # strong
        assert fetch(static_nginx, path, {"If-None-Match": etag})[0] == 304
        since = {"If-Modified-Since": headers["last-modified"]}
        assert fetch(static_nginx, path, since)[0] == 304
        _, zipped_headers, zipped = fetch(static_nginx, path, {"Accept-Encoding": "gzip"})
        assert zipped_headers["content-encoding"] == "gzip"
        assert gzip.decompress(zipped) == body
        assert zipped_headers["etag"] != etag  # each encoding has its own validator
        assert zipped_headers["vary"] == "Accept-Encoding"
        refused = fetch(static_nginx, path, {"Accept-Encoding": "gzip;q=0"})[1]
        assert "content-encoding" not in refused


def test_nginx_hides_the_manifest_and_answers_unknown_paths_with_404(static_nginx: int):
    for path in ("/.feedsvc-build.json", "/nope", "/tags/no-such-tag/rss.xml",
                 "/static/feedsvc.css"):  # fmt: skip
        status, headers, body = fetch(static_nginx, path)
        assert status == 404, path
        assert headers["content-type"].startswith("text/plain") and len(body) < 100
    status, headers, body = fetch(static_nginx, "/healthz")
    assert status == 200 and b'"status": "ok"' in body and headers["cache-control"] == "no-store"
