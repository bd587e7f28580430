"""``feedsvc serve``'s waitress keeps connections alive after a 304 (real server, real socket)."""

from __future__ import annotations

import http.client
import logging
from pathlib import Path

from bench.servers import feedsvc_server
from feedsvc.web.server import RateLimit


def test_304_keeps_the_connection_open_and_the_next_request_is_framed_right(
    bundled_content: Path,
):
    with feedsvc_server(bundled_content) as server:
        port = server.port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/rss.xml")
        first = conn.getresponse()
        body = first.read()
        sock = conn.sock
        assert first.status == 200 and not first.will_close

        conn.request("GET", "/rss.xml", headers={"If-None-Match": first.getheader("ETag")})
        not_modified = conn.getresponse()
        assert not_modified.read() == b""
        assert not_modified.status == 304
        assert not_modified.getheader("Connection") is None
        assert not not_modified.will_close
        assert not_modified.getheader("ETag") == first.getheader("ETag")

        # Same socket, and the 304 left nothing behind that could corrupt the next answer.
        conn.request("GET", "/rss.xml", headers={"Accept-Encoding": "gzip"})
        again = conn.getresponse()
        assert again.status == 200 and again.getheader("Content-Encoding") == "gzip"
        assert len(again.read()) == int(again.getheader("Content-Length"))
        conn.request("GET", "/rss.xml")
        third = conn.getresponse()
        assert third.read() == body
        assert conn.sock is sock

        # A client that asks for close still gets it after a 304.
        conn.request(
            "GET",
            "/rss.xml",
            headers={"If-None-Match": first.getheader("ETag"), "Connection": "close"},
        )
        closing = conn.getresponse()
        closing.read()
        assert closing.status == 304 and closing.will_close
        conn.close()
    assert server.returncode == 0  # stopped by SIGTERM when the block ended


def test_rate_limit_lets_one_record_through_per_interval():
    limit = RateLimit(interval=3600)
    records = [
        logging.LogRecord("waitress.queue", logging.WARNING, __file__, 1, "Task queue depth is %d",
                          (n,), None)
        for n in range(5)
    ]  # fmt: skip
    assert [limit.filter(r) for r in records] == [True, False, False, False, False]
    assert limit.dropped == 4
    limit._next = 0  # the interval has passed
    later = logging.LogRecord("waitress.queue", logging.WARNING, "f", 1, "depth %d", (9,), None)
    assert limit.filter(later)
    assert later.getMessage() == "depth 9 (and 4 similar messages)"
