"""A feed URL opened in a real browser reads as a page; readers still get the feed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest
from feedcheck import parse_feed

from bench.servers import feedsvc_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NAVIGATION = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}


def test_navigation_gets_a_page_and_readers_get_the_feed(client):
    page = client.get("/tags/china/atom.xml", headers=NAVIGATION)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert page.headers["Cache-Control"] == "private, no-cache"
    assert "Sec-Fetch-Dest" in page.headers["Vary"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    text = page.get_data(as_text=True)
    assert "This is a web feed" in text
    assert "<code>http://localhost/tags/china/atom.xml</code>" in text
    assert "Sample: What to Watch at the APEC Summit in Gyeongju" in text

    feed = client.get("/tags/china/atom.xml")
    assert feed.mimetype == "application/atom+xml"
    assert "Sec-Fetch-Dest" in feed.headers["Vary"]
    assert len(parse_feed(feed.data, "atom").entries) == 2
    raw = client.get("/tags/china/atom.xml?raw", headers=NAVIGATION)
    assert raw.data == feed.data


def test_other_fetch_destinations_get_the_feed(client):
    for dest in ("empty", "iframe", "script"):
        response = client.get("/rss.xml", headers={"Sec-Fetch-Dest": dest})
        assert response.mimetype == "application/rss+xml", dest


def test_page_escapes_content(make_app, small_content):
    from support import article, write_yaml

    write_yaml(
        small_content / "articles" / "evil.yaml",
        article(
            "<script>alert(1)</script> & co", "2025-12-10", summary="<img src=x onerror=alert(1)>"
        ),
    )
    page = make_app(small_content).test_client().get("/rss.xml", headers=NAVIGATION)
    text = page.get_data(as_text=True)
    # The loader turns markup in titles into plain text; the page escapes the rest.
    assert "<script>" not in text and "&amp; co" in text
    assert "<img src=x" not in text


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_real_chromium_shows_a_page_while_feedparser_reads_the_feed(bundled_content: Path):
    server = feedsvc_server(bundled_content)
    url = f"http://127.0.0.1:{server.port}/rss.xml"
    with server:  # started, and stopped by PID when the block ends
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run(
                [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--dump-dom", url],
                capture_output=True, text=True, timeout=90,
            ).stdout  # fmt: skip
        assert "<h1>The Peninsula Report</h1>" in dom
        assert "This is a web feed" in dom
        assert "Kim Jong Un Eyes UN Diplomacy: Is North Korea Shifting Its Strategy?" in dom
        assert "Choking on Everyday Life: The Growing Struggle with Dysphagia" in dom
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
            assert response.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
        feed = parse_feed(body, "rss")
        assert feed.self_link == url
        assert len(feed.entries) == 7


def test_embed_fragment_is_frameable_and_themable(client):
    response = client.get("/embed/?theme=dark&limit=3")
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors" not in response.headers["Content-Security-Policy"]
    text = response.get_data(as_text=True)
    assert 'class="theme-dark"' in text
    assert text.count("<li>") == 3
    assert 'target="_blank" rel="noopener"' in text
    tag = client.get("/embed/tags/health/")
    assert tag.status_code == 200 and "Sample: Five Questions" in tag.get_data(as_text=True)
    assert client.get("/").headers["X-Frame-Options"] == "DENY"


def test_embed_redirects_and_refuses_clearly(client):
    moved = client.get("/embed/tags/Health?theme=light")
    assert moved.status_code == 308
    assert moved.headers["Location"] == "/embed/tags/health/?theme=light"  # relative: no Host in it
    assert client.get("/embed/tags/nope/").status_code == 404
    for query in ("theme=neon", "limit=0", "limit=21", "limit=x"):
        response = client.get(f"/embed/?{query}")
        assert response.status_code == 400, query
        assert response.mimetype == "text/plain"
    assert "/embed/?theme=light" in client.get("/").get_data(as_text=True)
