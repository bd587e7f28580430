"""web/negotiate.py: what a request asks for, at a bounded cost; hosts validated and normalised.

Without FEEDSVC_PUBLIC_URL the Host header names every link in a feed, so a
made-up one must never be rendered, cached, redirected to, prewarmed or pinged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from feedcheck import parse_feed
from werkzeug.test import EnvironBuilder

from feedsvc.settings import ServiceSettings
from feedsvc.web.negotiate import (
    PARSE_LIMIT,
    accepts_gzip,
    from_loopback,
    gzip_quality,
    host_allowed,
    normalise_host,
    request_base_url,
)

VALID = {
    "example.org": "example.org",
    "Example.ORG": "example.org",
    "example.org.": "example.org",
    "example.org:8080": "example.org:8080",
    "EXAMPLE.org:08080": "example.org:8080",
    "example.org:80": "example.org",  # the default port of http is no other host
    "127.0.0.1:1": "127.0.0.1:1",
    "localhost:65535": "localhost:65535",
    "[::1]": "[::1]",
    "[::1]:8080": "[::1]:8080",
    "[2001:DB8::1]": "[2001:db8::1]",
    "my_host.internal": "my_host.internal",
}
INVALID = [
    "",
    ":80",
    "example.org:",
    "example.org:0",
    "example.org:99999",
    "example.org:65536",
    "example.org:8o",
    "example.org:+80",
    "example.org:１２",  # full-width digits are digits to str.isdigit
    "a..b",
    ".example.org",
    "-example.org",
    "example-.org",
    "a" * 64 + ".org",
    "[::::]",
    "[::1",
    "[::1]x",
    "[::1]:",
    "[fe80::1%eth0]",
    "::1",
    "a:1:2",
    "evil.test/<x>",
    "évil.test",
    "ex ample.org",
]


@pytest.mark.parametrize(("host", "normal"), VALID.items())
def test_valid_hosts_are_lower_cased_and_spelled_one_way(host: str, normal: str):
    assert normalise_host(host) == normal


@pytest.mark.parametrize("host", INVALID)
def test_invalid_hosts_are_refused(host: str):
    assert normalise_host(host) is None


def test_the_default_port_depends_on_the_scheme():
    assert normalise_host("example.org:443", "https") == "example.org"
    assert normalise_host("example.org:443", "http") == "example.org:443"


def test_allowed_hosts_follow_djangos_rules():
    allowed = ("feeds.example.org", ".example.net")
    assert host_allowed("feeds.example.org:8080", allowed)
    assert host_allowed("example.net", allowed) and host_allowed("a.b.example.net", allowed)
    assert not host_allowed("evil.test", allowed)
    assert not host_allowed("xexample.net", allowed)
    assert not host_allowed("[::1]", allowed)
    assert host_allowed("evil.test", ()) and host_allowed("evil.test", ("*",))


def test_base_url_and_peer():
    environ = {"HTTP_HOST": "Feeds.Example.ORG:80", "wsgi.url_scheme": "http"}
    assert request_base_url(environ) == "http://feeds.example.org"
    assert request_base_url(environ, ("other.example",)) is None
    assert request_base_url({**environ, "wsgi.url_scheme": "ftp"}) is None
    assert from_loopback({"REMOTE_ADDR": "127.0.0.1"}) and from_loopback({"REMOTE_ADDR": "::1"})
    assert not from_loopback({"REMOTE_ADDR": "203.0.113.9"})
    proxied = {"REMOTE_ADDR": "203.0.113.9", "werkzeug.proxy_fix.orig": {"REMOTE_ADDR": "::1"}}
    assert from_loopback(proxied)


def _status(app: Any, path: str, host: str) -> str:
    """Call the WSGI app directly: the test client itself chokes on ``[::::]``."""
    environ = EnvironBuilder(path).get_environ()
    environ["HTTP_HOST"] = host
    seen: list[str] = []
    b"".join(app(environ, lambda status, headers, *_: seen.append(status)))
    return seen[0]


def test_invalid_hosts_are_a_400_before_anything_is_rendered(demo_app: Any):
    service = demo_app.extensions["feedsvc"]
    for path in ["/rss.xml", "/tags/china+diplomacy/atom.xml", "/feeds.opml", "/", "/RSS.XML"]:
        for host in ["a..b", "x:0", "x:99999", "[::::]"]:
            renders, builds = service.cache.renders, service.cache.variant_builds
            assert _status(demo_app, path, host).startswith("400"), (path, host)
            assert (service.cache.renders, service.cache.variant_builds) == (renders, builds)
    assert all("x" not in base and "a..b" not in base for base in service.known_bases)


def test_case_variants_of_a_host_share_one_cache_entry(demo_app: Any):
    client, service = demo_app.test_client(), demo_app.extensions["feedsvc"]
    first = client.get("/atom.xml", headers={"Host": "feeds.example.org"})
    builds = service.cache.variant_builds
    for host in ["FEEDS.example.org", "Feeds.Example.Org.", "feeds.example.org:80"]:
        again = client.get("/atom.xml", headers={"Host": host})
        assert again.data == first.data
    assert service.cache.variant_builds == builds
    assert parse_feed(first.data, "atom").self_link == "http://feeds.example.org/atom.xml"


def test_redirects_never_carry_the_request_host(demo_app: Any):
    """A relative Location: a shared cache keeping the 308 cannot send readers elsewhere."""
    client = demo_app.test_client()
    for path in ["/RSS.XML", "/tags/China/feed.json", "/tags", "/embed/tags/China"]:
        moved = client.get(path, headers={"Host": "evil.example"})
        assert moved.status_code == 308
        location = moved.headers["Location"]
        assert location.startswith("/") and not location.startswith("//")
        assert "evil" not in location and b"evil" not in moved.data
    mounted = client.get("/RSS.XML", environ_overrides={"SCRIPT_NAME": "//evil.example"})
    assert mounted.headers["Location"] == "/evil.example/rss.xml"  # a path, never //host


def test_allowed_hosts_refuse_every_other_host(make_app: Callable[..., Any], bundled_content: Path):
    app = make_app(bundled_content, allowed_hosts=("feeds.example.org", ".example.net"))
    client, service = app.test_client(), app.extensions["feedsvc"]
    assert client.get("/rss.xml", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/rss.xml", headers={"Host": "FEEDS.example.org"}).status_code == 200
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    reply = client.get("/rss.xml", headers={"Host": "m.example.net"}, environ_base=remote)
    assert reply.status_code == 200
    assert service.known_bases == ["http://feeds.example.org", "http://m.example.net"]


def test_only_loopback_peers_name_the_bases_prewarmed_and_pinged(demo_app: Any):
    """No public URL, no allowlist: hosts from remote peers are served (each with its own
    links) but never pushed into the prewarm and WebSub list."""
    client, service = demo_app.test_client(), demo_app.extensions["feedsvc"]
    client.get("/rss.xml", headers={"Host": "feeds.example.org"})
    for n in range(20):
        remote = {"REMOTE_ADDR": f"203.0.113.{n}"}
        reply = client.get("/rss.xml", headers={"Host": f"evil{n}.example"}, environ_base=remote)
        assert reply.status_code == 200
    assert service.known_bases == ["http://feeds.example.org"]


def test_allowed_hosts_setting_is_read_from_the_environment():
    env = {"FEEDSVC_ALLOWED_HOSTS": "Feeds.Example.org, .example.net  localhost"}
    settings = ServiceSettings.from_env(env)
    assert settings.allowed_hosts == ("feeds.example.org", ".example.net", "localhost")
    assert ServiceSettings.from_env({}).allowed_hosts == ()


def test_an_accept_encoding_over_the_limit_is_not_parsed_and_gets_identity():
    """250 KB of codings cost ~100 ms of CPU to parse; over the limit the value
    is ignored (identity is always acceptable), at the limit it is read."""
    at_limit = ("identity, " * PARSE_LIMIT)[: PARSE_LIMIT - len("gzip")] + "gzip"
    assert len(at_limit) == PARSE_LIMIT
    assert gzip_quality(at_limit) == 1.0
    assert gzip_quality(at_limit + " ") == 0.0
    assert not accepts_gzip("gzip, " * 50_000)


def test_gzip_quality_reads_explicit_entries_over_the_wildcard():
    assert gzip_quality("gzip;q=0, *") == 0.0
    assert gzip_quality("*") == 1.0
    assert gzip_quality("br, x-gzip;q=0.5") == 0.5
