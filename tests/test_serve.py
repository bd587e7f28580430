"""``feedsvc serve`` as a real process on 127.0.0.1, fetched over a socket."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from feedcheck import parse_feed

from bench.servers import free_port


def start_server(content: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "FEEDSVC_RELOAD": "0", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(port),
         "--content-dir", str(content), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip


def wait_until_listening(port: int, process: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.stdout.read()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not start listening")


def test_serve_subprocess_serves_feeds_and_stops_on_sigterm(bundled_content: Path):
    port = free_port()
    process = start_server(bundled_content, port)
    try:
        wait_until_listening(port, process)
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
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert f"http://127.0.0.1:{port}/rss.xml" in output  # it printed the URLs it serves
    assert "feedsvc stopped" in output


def test_serve_exits_2_on_missing_site_yaml(tmp_path: Path):
    process = start_server(tmp_path, free_port())
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "site.yaml" in output
