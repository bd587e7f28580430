"""The HTML views of feeds (browser page, embed) and the directory pages.

Real content files on disk, the real app through Flask's test client.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from feedcheck import parse_feed
from support import article, write_yaml

from bench.generate import write_content
from bench.servers import feedsvc_server
from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings
from feedsvc.web.app import create_app
from feedsvc.web.policy import STYLESHEET

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# What a browser sends when a person opens a feed URL (Chromium's headers).
NAVIGATION = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Mode": "navigate",
}
FEED_URLS = ("/rss.xml", "/atom.xml", "/feed.json", "/popular/rss.xml", "/tags/china/atom.xml")


def _style_and_hash(text: str) -> tuple[str, str]:
    found = re.findall(r"<style>(.*?)</style>", text, re.S)
    assert len(found) == 1, found
    digest = base64.b64encode(hashlib.sha256(found[0].encode("utf-8")).digest()).decode()
    return found[0], digest


@pytest.mark.parametrize("path", FEED_URLS)
def test_browser_view_of_a_feed_inlines_the_stylesheet_its_csp_allows(client, path: str):
    page = client.get(path, headers=NAVIGATION)
    assert page.status_code == 200 and page.mimetype == "text/html"
    style, digest = _style_and_hash(page.get_data(as_text=True))
    assert style == STYLESHEET
    assert f"style-src 'sha256-{digest}'" in page.headers["Content-Security-Policy"]


def test_directory_pages_inline_the_same_stylesheet(client):
    for path in ("/", "/tags/", "/tags/china/"):
        page = client.get(path)
        style, digest = _style_and_hash(page.get_data(as_text=True))
        assert style == STYLESHEET, path
        assert f"style-src 'sha256-{digest}'" in page.headers["Content-Security-Policy"], path


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value or "" for name, value in attrs if tag == "a" and name == "href"]


def _article_hrefs(text: str) -> list[str]:
    parser = _Links()
    parser.feed(text)
    return [href for href in parser.hrefs if "/articles/" in href]


# A slug that needs percent-encoding: non-ASCII, a space and reserved characters.
ODD_NAME = "Café au lait #1?"
ODD_SLUG = ODD_NAME.lower()


@pytest.fixture
def odd_client(make_app, small_content: Path):
    write_yaml(
        small_content / "articles" / f"{ODD_NAME}.yaml",
        article("Café au lait", "2025-12-05T08:00:00Z", tags=["Health"]),
    )
    return make_app(small_content).test_client()


def test_headline_urls_on_html_pages_are_percent_encoded_like_the_feeds(odd_client):
    expected = "https://news.test/articles/" + quote(ODD_SLUG, safe="-")
    assert expected == "https://news.test/articles/caf%C3%A9%20au%20lait%20%231%3F"
    feed = parse_feed(odd_client.get("/tags/health/rss.xml").data, "rss")
    assert expected in [entry.link for entry in feed.entries]
    pages = {
        "feed page": odd_client.get("/tags/health/rss.xml", headers=NAVIGATION),
        "main feed page": odd_client.get("/feed.json", headers=NAVIGATION),
        "embed": odd_client.get("/embed/tags/health/"),
        "tag page": odd_client.get("/tags/health/"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        hrefs = _article_hrefs(response.get_data(as_text=True))
        assert expected in hrefs, (name, hrefs)
        for href in hrefs:
            assert re.fullmatch(r"[A-Za-z0-9%:/._~-]+", href), (name, href)


def _png_rows(data: bytes, rows: int) -> tuple[int, list[bytes]]:
    """Channels per pixel and the first ``rows`` rows of an 8-bit RGB(A) PNG, unfiltered."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, channels = 8, b"", 0, 4
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            channels = 4 if color == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    stride = width * channels
    raw = zlib.decompressobj().decompress(idat, rows * (stride + 1))
    previous, out = bytes(stride), []
    for y in range(rows):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (
                    line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)
                ) & 255
        previous = bytes(line)
        out.append(previous)
    return channels, out


def _css_colour(name: str) -> tuple[int, int, int]:
    """A light-theme colour variable of the stylesheet, as RGB."""
    value = re.search(rf"{name}: #([0-9a-f]{{6}})", STYLESHEET).group(1)  # type: ignore[union-attr]
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_real_chromium_renders_the_feed_page_with_the_stylesheet(bundled_content: Path, tmp_path):
    """The page background and the subscribe card have the stylesheet's colours on screen."""
    server = feedsvc_server(bundled_content)
    port = server.port
    shot = tmp_path / "page.png"
    with server:  # started, and stopped by PID when the block ends
        subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             f"--screenshot={shot}", "--window-size=1200,900",
             f"http://127.0.0.1:{port}/tags/china/rss.xml"],
            capture_output=True, timeout=90, check=True,
        )  # fmt: skip
    channels, rows = _png_rows(shot.read_bytes(), 450)  # the subscribe card is near the top
    assert tuple(rows[0][:3]) == _css_colour("--bg")
    colours = {tuple(row[i : i + 3]) for row in rows for i in range(0, len(row), channels)}
    assert _css_colour("--card") in colours


# Run in the page (as a local copy: the served CSP rightly forbids scripts), it
# lists what sticks out past the viewport's right edge.
_MEASURE_OVERFLOW = """<script>
addEventListener("load", () => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > width + 1)
    .map((e) => e.tagName + ": " + e.textContent.trim().slice(0, 60));
  const out = document.createElement("pre");
  out.id = "overflow";
  out.textContent = JSON.stringify(wide);
  document.body.append(out);
});
</script></body>"""


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
@pytest.mark.parametrize(
    "path", ["/", "/tags/", "/tags/china/", "/tags/china/rss.xml", "/tags/?q=korea"]
)
@pytest.mark.parametrize("width", [360, 1100])
def test_pages_fit_the_window_without_sideways_scrolling(client, tmp_path, path, width):
    """Nothing on a page is wider than a phone's or a laptop's window (long URLs wrap)."""
    _assert_fits(client, tmp_path, path, width)


def _assert_fits(client, tmp_path: Path, path: str, width: int) -> None:
    html = client.get(path, headers={"Sec-Fetch-Dest": "document"}).get_data(as_text=True)
    page = tmp_path / "page.html"
    page.write_text(html.replace("</body>", _MEASURE_OVERFLOW), encoding="utf-8")
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},900",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=90, check=True,
    ).stdout  # fmt: skip
    found = re.search(r'<pre id="overflow">(.*?)</pre>', dom, re.S)
    assert found is not None, "the measurement did not run"
    assert found.group(1) == "[]", f"{path} at {width}px: {found.group(1)}"


@pytest.fixture(scope="module")
def big_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """A generated site of 10,000 articles and 3,000 tags (Zipf-sized), and its biggest tag."""
    content = write_content(tmp_path_factory.mktemp("big") / "content", 10_000, 3_000)
    settings = ServiceSettings(content_dir=content, reload_interval=0)
    service = FeedService(settings, prewarm=False)
    app = create_app(settings, service=service, watch=False)
    tags = service.catalog.snapshot.tags
    yield app, max(tags, key=lambda slug: len(tags[slug].articles))
    service.stop()


@pytest.mark.slow
def test_no_page_exceeds_100_kb_with_thousands_of_tags(big_site):
    """Pages stay small at scale: the biggest of each kind, uncompressed."""
    app, tag = big_site
    client = app.test_client()
    pages = client.get("/tags/").get_data(as_text=True).count('href="http://localhost/tags/page/')
    paths = ["/", "/tags/", *(f"/tags/page/{n}/" for n in range(2, pages + 2)),
             f"/tags/{quote(tag)}/", "/tags/?q=a", "/tags/?q=e", "/embed/?limit=20",
             f"/embed/tags/{quote(tag)}/?limit=20"]  # fmt: skip
    assert pages >= 25  # 3,000 tags, 100 a page (the generator may merge a few names)
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        assert len(response.data) < 100_000, (path, len(response.data))
    for path in ("/rss.xml", f"/tags/{quote(tag)}/feed.json"):  # the browser view of a feed
        response = client.get(path, headers=NAVIGATION)
        assert response.mimetype == "text/html" and len(response.data) < 100_000, path


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
@pytest.mark.parametrize("path", ["/", "/tags/", "/tags/page/2/", "<tag>", "/tags/?q=trade"])
@pytest.mark.parametrize("width", [360, 1100])
def test_pages_of_a_big_site_fit_the_window(big_site, tmp_path, path, width):
    """The tag lines, pager and search of thousands of tags fit a phone and a laptop too."""
    app, tag = big_site
    _assert_fits(
        app.test_client(), tmp_path, f"/tags/{quote(tag)}/" if path == "<tag>" else path, width
    )


ICON_PAGES = ("/", "/tags/", "/tags/china/", "/tags/china/rss.xml")


@pytest.mark.parametrize("path", ICON_PAGES)
def test_pages_link_the_site_icon(client, path: str):
    html = client.get(path, headers=NAVIGATION).get_data(as_text=True)
    assert html.count('<link rel="icon"') == 1
    assert (
        '<link rel="icon" href="https://news.example.com/images/sample-icon-512.png" '
        'sizes="512x512">' in html
    )


def test_pages_of_a_site_without_an_icon_link_none(make_app, small_content: Path):
    client = make_app(small_content).test_client()
    for path in ICON_PAGES[:2]:
        assert 'rel="icon"' not in client.get(path).get_data(as_text=True)


class _IconSite:
    """The news site's origin, serving only its icon, on 127.0.0.1 in a thread."""

    def __init__(self, icon_path: str) -> None:
        import http.server
        import threading

        self.requested: list[tuple[str, int]] = []
        requested = self.requested

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ok = self.path == icon_path
                body = _png(16) if ok else b"not found"
                requested.append((self.path, 200 if ok else 404))
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "image/png" if ok else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _IconSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def _png(side: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\xc0\x20\x20" * side for _ in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_real_chromium_loads_the_site_icon_the_csp_allows(bundled_content: Path, tmp_path):
    """The directory page's icon is fetched from the news site, with no CSP violation."""
    icon = "/images/sample-icon-512.png"
    with _IconSite(icon) as site:
        settings = bundled_content / "site.yaml"
        text = settings.read_text(encoding="utf-8")
        settings.write_text(
            re.sub(r"(?m)^site_url: .*$", f"site_url: http://127.0.0.1:{site.port}", text),
            encoding="utf-8",
        )
        server = feedsvc_server(bundled_content)
        with server:  # started, and stopped by PID when the block ends
            browser = subprocess.run(
                [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                 "--enable-logging=stderr", "--v=0", f"--screenshot={tmp_path / 'dir.png'}",
                 "--window-size=1100,900", f"http://127.0.0.1:{server.port}/"],
                capture_output=True, text=True, timeout=90, check=True,
            )  # fmt: skip
    assert "Content Security Policy" not in browser.stderr
    assert (icon, 200) in site.requested
