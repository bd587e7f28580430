"""Access-log lines to hits: nginx combined and JSON, junk skipped (feedsvc.audience.accesslog)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from feedsvc.audience.accesslog import Hit, parse_line

WHEN = datetime(2026, 12, 4, 6, 0, 1, tzinfo=UTC)


def test_combined_line():
    line = (b'203.0.113.9 - - [04/Dec/2026:07:00:01 +0100] "GET /feeds/rss.xml?x=1 HTTP/1.1" '
            b'304 0 "-" "Feedbin feed-id:1234 - 56 subscribers"')  # fmt: skip
    assert parse_line(line, "combined") == Hit(
        WHEN, "203.0.113.9", "GET", "/feeds/rss.xml?x=1", 304,
        "Feedbin feed-id:1234 - 56 subscribers",
    )  # fmt: skip


def test_combined_with_escaped_quotes_and_extra_fields():
    line = (rb'::1 - bob [04/Dec/2026:06:00:01 +0000] "HEAD /atom.xml HTTP/2.0" 200 10 '
            rb'"https://x/\"q\"" "Reader \x22quoted\x22/1.0" rt=0.001 "extra"')  # fmt: skip
    hit = parse_line(line, "combined")
    assert hit is not None
    assert (hit.address, hit.method, hit.target, hit.agent) == (
        "::1",
        "HEAD",
        "/atom.xml",
        'Reader "quoted"/1.0',
    )


def test_json_line_with_nginx_field_names():
    line = json.dumps({
        "time_iso8601": "2026-12-04T07:00:01+01:00", "remote_addr": "198.51.100.7",
        "request": "GET /tags/north-korea/feed.json HTTP/1.1", "status": "200",
        "http_user_agent": "NetNewsWire (RSS Reader; https://netnewswire.com/)",
    }).encode()  # fmt: skip
    hit = parse_line(line, "json")
    assert hit == Hit(WHEN, "198.51.100.7", "GET", "/tags/north-korea/feed.json", 200,
                      "NetNewsWire (RSS Reader; https://netnewswire.com/)")  # fmt: skip


def test_json_line_with_separate_method_and_unix_time():
    line = json.dumps({"ts": WHEN.timestamp(), "client": "10.1.1.1", "request_method": "get",
                       "request_uri": "/rss.xml", "status": 304, "user_agent": "x"})  # fmt: skip
    assert parse_line(line.encode(), "json") == Hit(WHEN, "10.1.1.1", "GET", "/rss.xml", 304, "x")


JUNK = [
    b"", b"   ", b"\x00\xff\xfe garbage", b"not a log line at all",
    b'1.2.3.4 - - [99/Foo/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 0 "-" "-"',
    b'1.2.3.4 - - [04/Dec/2026:00:00:00 +0000] "\\x16\\x03\\x01" 400 0 "-" "-"',
    b'1.2.3.4 - - [04/Dec/2026:00:00:00 +0000] "GET /rss.xml HTTP/1.1" 200 0 "-" "cut',
    b"{", b"[1, 2]", b'{"time": "2026-12-04T00:00:00", "request": "GET / HTTP/1.1"}',
    b'{"time": "yesterday", "request": "GET /rss.xml HTTP/1.1", "status": 200}',
    b'{"time": "2026-12-04T00:00:00Z", "request": "GET /rss.xml HTTP/1.1", "status": "abc"}',
    b'{"time": 1e400, "request": "GET /rss.xml HTTP/1.1", "status": 200}',
    b"x" * 100_000,
]  # fmt: skip


@pytest.mark.parametrize("line", JUNK)
def test_junk_lines_are_skipped_in_either_format(line: bytes):
    assert parse_line(line, "combined") is None
    assert parse_line(line, "json") is None


def test_vhost_prefix_and_absolute_form_requests():
    line = (
        b"news.example.com:443 203.0.113.9 - - [04/Dec/2026:07:00:01 +0100] "
        b'"GET https://news.example.com/feeds/atom.xml HTTP/1.1" 200 5 "-" "Newsboat/2.36"'
    )
    hit = parse_line(line, "combined")
    assert hit is not None
    assert (hit.address, hit.target, hit.agent) == (
        "203.0.113.9",
        "/feeds/atom.xml",
        "Newsboat/2.36",
    )


def test_hostile_lines_parse_quickly():
    import time

    for line in (b'"' * 16000, b"a " * 8000, b'1 - - [x] "' + b"\\" * 7000 + b'"'):
        started = time.perf_counter()
        assert parse_line(line, "combined") is None
        assert time.perf_counter() - started < 0.5


def test_json_time_as_nginx_msec_string():
    line = json.dumps(
        {
            "msec": f"{WHEN.timestamp():.3f}",
            "remote_addr": "10.1.1.1",
            "request": "GET /rss.xml HTTP/1.1",
            "status": 200,
            "http_user_agent": "x",
        }
    )
    hit = parse_line(line.encode(), "json")
    assert hit is not None and hit.time == WHEN


def test_caddy_and_traefik_json_lines():
    caddy = {"ts": WHEN.timestamp(), "status": 304, "request": {
        "remote_ip": "10.2.2.2", "client_ip": "10.2.2.3", "method": "GET", "uri": "/atom.xml",
        "headers": {"User-Agent": ["Newsboat/2.36"]}}}  # fmt: skip
    traefik = {"StartUTC": "2026-12-04T06:00:01Z", "ClientHost": "10.3.3.3",
               "RequestMethod": "HEAD", "RequestPath": "/feed.json", "DownstreamStatus": 200,
               "request_User-Agent": "NetNewsWire"}  # fmt: skip
    assert parse_line(json.dumps(caddy).encode(), "json") == Hit(
        WHEN, "10.2.2.3", "GET", "/atom.xml", 304, "Newsboat/2.36"
    )
    assert parse_line(json.dumps(traefik).encode(), "json") == Hit(
        WHEN, "10.3.3.3", "HEAD", "/feed.json", 200, "NetNewsWire"
    )
