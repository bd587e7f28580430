"""Public URL and proxy headers: FEEDSVC_PUBLIC_URL, trusted hops, forged headers.

Each test runs through Flask's test client and a real waitress server (as
``feedsvc serve`` configures it: waitress leaves X-Forwarded-* alone, so
ProxyFix alone decides which of them count). The real nginx in front is in
``test_nginx.py``.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser

import pytest
from edgekit import copy_bundled_content, feedsvc_app
from feedcheck import parse_feed
from flask import request
from servers import fetcher_for
from support import feed_paths, fmt_of

PUBLIC = "https://pub.example/news/feeds"
FORGED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Port": "666",
    "X-Forwarded-Prefix": "/evil",
    "X-Forwarded-For": "203.0.113.66",
    "Forwarded": "for=203.0.113.66;host=evil.example;proto=https",
    "X-Forwarded-Server": "evil.example",
}
PAGES = ["/", "/tags/", "/tags/northkorea/", "/tags/%EB%B6%81%ED%95%9C/", "/feeds.opml"]
REDIRECTS = {
    "/tags/NorthKorea/rss.xml": "/tags/northkorea/rss.xml",
    "/tags/north%20korea": "/tags/northkorea/",  # the demo site.yaml's tag_redirects
    "/tags/no%20such%20tag": None,  # unknown: 404, no Location
    "/tags/NORTHKOREA": "/tags/northkorea/",
    "/Atom.XML/": "/atom.xml",
}


class _Links(HTMLParser):
    """Every href/src of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("href", "src") and v is not None]


def page_urls(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def service_urls(reply_text: str, content_type: str) -> list[str]:
    """Absolute URLs the service wrote (pages: links; OPML: xmlUrl), not the news site's."""
    if content_type.startswith("text/html"):
        urls = page_urls(reply_text)
    else:
        urls = re.findall(r'xmlUrl="([^"]*)"', reply_text)
    return [u for u in urls if not u.startswith("https://news.example.com")]


def with_remote_addr_probe(app):
    """Expose REMOTE_ADDR as the app sees it (after ProxyFix) on a test-only URL."""
    app.add_url_rule("/_test/remote-addr", "remote_addr", lambda: request.remote_addr or "")
    return app


@pytest.fixture(scope="module")
def content(tmp_path_factory):
    return copy_bundled_content(tmp_path_factory.mktemp("proxy") / "content")


def _app(content, **settings):
    return feedsvc_app(content, **settings)


@pytest.fixture(scope="module", params=["flask", "waitress"])
def transport(request):
    return request.param


@pytest.fixture(scope="module")
def public_fetch(content, transport):
    with _app(content, public_url=PUBLIC, proxy_hops=1) as app, fetcher_for(app, transport) as f:
        f.app = app
        yield f


@pytest.fixture(scope="module")
def direct_fetch(content, transport):
    with _app(content) as app, fetcher_for(with_remote_addr_probe(app), transport) as f:
        f.app = app
        yield f


@pytest.fixture(scope="module", params=[1, 2])
def proxied_fetch(request, content, transport):
    hops = request.param
    with (
        _app(content, proxy_hops=hops) as app,
        fetcher_for(with_remote_addr_probe(app), transport) as f,
    ):
        f.hops = hops
        f.app = app
        yield f


def test_public_url_fixes_every_absolute_url_whatever_the_request_says(public_fetch):
    """Feeds, OPML, pages and redirects use FEEDSVC_PUBLIC_URL, whatever Host and X-Forwarded-*."""
    headers = {**FORGED, "Host": "internal.lan:8080"}
    for path in feed_paths(public_fetch.app):
        reply = public_fetch(path, headers=headers)
        assert reply.status == 200, path
        assert parse_feed(reply.body, fmt_of(path)).self_link == PUBLIC + path
    for path in PAGES:
        reply = public_fetch(path, headers=headers)
        assert reply.status == 200, path
        urls = service_urls(reply.text, reply.headers["Content-Type"])
        assert urls, path
        assert all(u.startswith(PUBLIC + "/") for u in urls), (path, urls)
    opml = public_fetch("/feeds.opml", headers=headers).text
    assert set(re.findall(r'xmlUrl="([^"]*)"', opml)) == {
        PUBLIC + p for p in feed_paths(public_fetch.app) if p.endswith("/rss.xml")
    }
    for path, target in REDIRECTS.items():
        reply = public_fetch(path, headers=headers)
        if target is None:
            assert reply.status == 404
        else:
            assert (reply.status, reply.headers["Location"]) == (308, PUBLIC + target)


def test_forged_forwarded_headers_change_nothing_without_trusted_hops(direct_fetch):
    base = direct_fetch.base_url
    for path in [*feed_paths(direct_fetch.app)[:9], *PAGES, *REDIRECTS, "/healthz"]:
        honest = direct_fetch(path)
        forged = direct_fetch(path, headers=FORGED)
        assert forged.status == honest.status, path
        assert forged.headers.get("Location") == honest.headers.get("Location"), path
        if path != "/healthz":  # its counters move between the two requests
            assert forged.body == honest.body, path
            assert forged.headers.get("ETag") == honest.headers.get("ETag"), path
        assert b"evil" not in forged.body and "evil" not in forged.headers.get("Location", "")
    feed = parse_feed(direct_fetch("/atom.xml", headers=FORGED).body, "atom")
    assert feed.self_link == base + "/atom.xml"
    assert direct_fetch("/_test/remote-addr", headers=FORGED).text == "127.0.0.1"


# Three proxies' worth of values: the leftmost was sent by the client, so it is
# never believed with one or two trusted hops.
CHAIN = {
    "X-Forwarded-Proto": "https, http, https",
    "X-Forwarded-Host": "evil.example, feeds.example.org, cdn.example.net",
    "X-Forwarded-Prefix": "/evil, /feeds, /cdn",
    "X-Forwarded-For": "203.0.113.66, 198.51.100.7, 192.0.2.1",
}
# hops -> (base URL the app must write, client address it must see)
BELIEVED = {
    1: ("https://cdn.example.net/cdn", "192.0.2.1"),
    2: ("http://feeds.example.org/feeds", "198.51.100.7"),
}


def test_trusted_hops_apply_forwarded_scheme_host_prefix_and_client(proxied_fetch):
    """With N trusted hops, the Nth value from the right of each header counts."""
    base, client_addr = BELIEVED[proxied_fetch.hops]
    for path in ["/rss.xml", "/feed.json", "/tags/%EB%B6%81%ED%95%9C/atom.xml"]:
        reply = proxied_fetch(path, headers=CHAIN)
        assert parse_feed(reply.body, fmt_of(path)).self_link == base + path
    page = proxied_fetch("/", headers=CHAIN).text
    assert f'href="{base}/rss.xml"' in page
    assert all(u.startswith(base + "/") for u in service_urls(page, "text/html"))
    opml = proxied_fetch("/feeds.opml", headers=CHAIN).text
    assert all(u.startswith(base + "/") for u in service_urls(opml, "text/x-opml"))
    reply = proxied_fetch("/tags/NorthKorea/rss.xml", headers=CHAIN)
    prefix = base.split("/", 3)[3]  # relative Location: the forwarded prefix, no host
    assert reply.headers["Location"] == f"/{prefix}/tags/northkorea/rss.xml"
    assert proxied_fetch("/_test/remote-addr", headers=CHAIN).text == client_addr


def test_fewer_forwarded_values_than_trusted_hops_are_ignored(proxied_fetch):
    """A client talking to the app directly cannot pass for the whole proxy chain."""
    own = proxied_fetch.base_url
    headers = {name: value.split(", ")[0] for name, value in CHAIN.items()}
    expected = own if proxied_fetch.hops == 2 else "https://evil.example/evil"
    assert parse_feed(proxied_fetch("/rss.xml", headers=headers).body, "rss").self_link == (
        expected + "/rss.xml"
    )
    # Without any forwarded header, a trusting app answers for its own address.
    assert parse_feed(proxied_fetch("/rss.xml").body, "rss").self_link == own + "/rss.xml"


def test_bogus_forwarded_values_from_a_trusted_proxy_are_refused_not_served(content, transport):
    """A misconfigured proxy sending garbage gets a 400, never a link to garbage."""
    with _app(content, proxy_hops=1) as app, fetcher_for(app, transport) as fetch:
        for headers in (
            {"X-Forwarded-Host": "evil.example/<script>"},
            {"X-Forwarded-Host": "a b"},
            {"X-Forwarded-Proto": "javascript"},
        ):
            for path in ("/rss.xml", "/", "/feeds.opml", "/tags/NorthKorea/rss.xml"):
                reply = fetch(path, headers=headers)
                assert reply.status == 400, (headers, path)
                assert b"<script>" not in reply.body


def test_many_host_headers_cannot_grow_memory(content, transport):
    """Without a public URL each Host gets its own self link, in a bounded cache."""
    bound = 512 * 1024
    with _app(content) as app, fetcher_for(app, transport) as fetch:
        variants = app.extensions["feedsvc"].cache.variants
        variants.max_bytes = bound  # FEEDSVC_CACHE_MB is whole megabytes; tighter here
        for n in range(60):
            host = f"host-{n}.example"
            reply = fetch("/rss.xml", headers={"Host": host})
            assert f'href="http://{host}/rss.xml" rel="self"'.encode() in reply.body
        assert variants.evictions > 0
        assert variants.size_bytes <= bound


def test_deploy_unit_configures_what_feedsvc_reads(monkeypatch):
    """deploy/feedsvc.service's settings are real ones, read as the unit means them."""
    from pathlib import Path

    from feedsvc.cli import build_parser
    from feedsvc.settings import ConnectionSettings, ServiceSettings, normalise_public_url

    unit = (Path(__file__).resolve().parent.parent / "deploy" / "feedsvc.service").read_text()
    settings = re.findall(r"^#?Environment=(FEEDSVC_\w+)=(\S+)$", unit, flags=re.M)
    active = re.findall(r"^Environment=(FEEDSVC_\w+)=(\S+)$", unit, flags=re.M)
    assert {name for name, _ in settings} == {
        "FEEDSVC_HOST", "FEEDSVC_PORT", "FEEDSVC_CONTENT_DIR", "FEEDSVC_THREADS",
        "FEEDSVC_PROXY_HOPS", "FEEDSVC_PUBLIC_URL", "FEEDSVC_CONNECTION_LIMIT",
        "FEEDSVC_IDLE_TIMEOUT", "FEEDSVC_STATE_DIR",
    }  # fmt: skip
    for name in [n for n in os.environ if n.startswith("FEEDSVC_")]:
        monkeypatch.delenv(name)
    for name, value in active:
        monkeypatch.setenv(name, value)
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.threads) == ("127.0.0.1", 8080, 8)
    assert args.content_dir == "/srv/feedsvc/content"
    service = ServiceSettings.from_env()
    assert service.proxy_hops == 1 and service.public_url is None
    # State in the folder systemd creates and keeps writable (StateDirectory=).
    assert service.state_dir == "/var/lib/feedsvc"
    assert re.findall(r"^StateDirectory=(\S+)$", unit, flags=re.M) == ["feedsvc"]
    assert "ExecStart=/srv/feedsvc/.venv/bin/feedsvc serve" in unit
    public = dict(settings)["FEEDSVC_PUBLIC_URL"]
    assert normalise_public_url(public) == "https://news.example.com/feeds"
    # The connection settings are shown commented out, at their defaults.
    defaults = ConnectionSettings()
    assert int(dict(settings)["FEEDSVC_CONNECTION_LIMIT"]) == defaults.connection_limit
    assert int(dict(settings)["FEEDSVC_IDLE_TIMEOUT"]) == defaults.idle_timeout
    limit = int(re.findall(r"^LimitNOFILE=(\d+)$", unit, flags=re.M)[0])
    assert limit > defaults.connection_limit + 64
