"""web/directory.py: the directory, the tag list in pages, the tag search, tag pages.

Real content on disk (the demo, and a generated site with hundreds of tags),
the real app through Flask's test client; the search form is submitted by
real Chromium under the served Content-Security-Policy.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable
from html import unescape
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from bench.generate import write_content
from feedsvc.web.pages import TAGS_PER_PAGE, TOP_TAGS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BASE = "http://localhost"
TAG_LINK = re.compile(r'<a class="tag" href="([^"]+)">([^<]*)</a>')


@pytest.fixture(scope="module")
def many_tags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 generated articles with 250 tags: three pages of the tag list."""
    return write_content(
        tmp_path_factory.mktemp("site") / "content", 400, 250, body_bytes=(200, 400)
    )


@pytest.fixture
def big(make_app: Any, many_tags: Path) -> Any:
    return make_app(many_tags)


def tag_links(html: str) -> list[str]:
    """The tag pages a page lists, in order (one per tag line)."""
    return [url for url, _ in TAG_LINK.findall(html)]


def test_the_tag_list_is_split_into_pages_listing_every_tag_once(big: Any):
    client, catalog = big.test_client(), big.extensions["feedsvc"].catalog
    tags = catalog.snapshot.tags
    pages = -(-len(tags) // TAGS_PER_PAGE)
    assert pages >= 2
    listed: list[str] = []
    for n in range(1, pages + 1):
        path = "/tags/" if n == 1 else f"/tags/page/{n}/"
        page = client.get(path)
        assert page.status_code == 200, path
        html = page.get_data(as_text=True)
        lines = tag_links(html)
        assert len(lines) == (TAGS_PER_PAGE if n < pages else len(tags) - TAGS_PER_PAGE * (n - 1))
        listed += lines
        pager = re.search(r'<nav class="pager".*?</nav>', html, re.S)
        assert pager is not None, path
        for other in range(1, pages + 1):  # the pager links every page but this one
            other_path = "/tags/" if other == 1 else f"/tags/page/{other}/"
            assert (f'href="{BASE}{other_path}"' in pager.group()) is (other != n), (path, other)
        # One compact line per tag: its page and its feed in each format.
        assert html.count("/rss.xml") == html.count("/atom.xml") == html.count("/feed.json")
    assert listed == [f"{BASE}/tags/{slug}/" for slug in sorted(tags)]
    for missing in (f"/tags/page/{pages + 1}/", "/tags/page/0/", "/tags/page/02/"):
        assert client.get(missing).status_code == 404, missing
    assert client.get("/tags/page/1/").status_code in (308, 404)  # never a second /tags/
    assert client.options("/tags/page/2/").status_code == 204  # a CORS preflight, like /tags/


def test_the_directory_shows_the_biggest_tags_and_links_the_full_list(big: Any):
    client, catalog = big.test_client(), big.extensions["feedsvc"].catalog
    html = client.get("/").get_data(as_text=True)
    counts = {slug: len(entry.articles) for slug, entry in catalog.snapshot.tags.items()}
    shown = [url.removeprefix(f"{BASE}/tags/").removesuffix("/") for url in tag_links(html)]
    assert len(shown) == TOP_TAGS
    assert [counts[s] for s in shown] == sorted(counts.values(), reverse=True)[:TOP_TAGS]
    assert f'href="{BASE}/tags/"' in html
    assert f'action="{BASE}/tags/"' in html and 'name="q"' in html


def test_a_tag_page_shows_its_own_feeds_not_every_tag(big: Any):
    client, catalog = big.test_client(), big.extensions["feedsvc"].catalog
    slug = next(iter(sorted(catalog.snapshot.tags)))
    html = client.get(f"/tags/{slug}/").get_data(as_text=True)
    feeds = set(re.findall(r'href="([^"]+/(?:rss\.xml|atom\.xml|feed\.json))"', html))
    assert feeds == {f"{BASE}/tags/{slug}/{name}" for name in ("rss.xml", "atom.xml", "feed.json")}


def test_the_tag_search_finds_tags_by_name_and_slug(client: Any):
    html = client.get("/tags/?q=KOREA").get_data(as_text=True)
    found = {unescape(name) for _, name in TAG_LINK.findall(html)}
    assert {"South Korea", "NorthKorea"} <= found and "China" not in found
    assert "Tags matching “korea”" in html
    assert 'value="korea"' in html  # the form shows what was searched
    assert {name for _, name in TAG_LINK.findall(client.get("/tags/?q=south-k").text)} == {
        "South Korea"
    }
    nothing = client.get("/tags/?q=%3Cscript%3E").get_data(as_text=True)
    assert "No tag matches." in nothing and "<script>" not in nothing


def test_a_search_shows_a_bounded_number_of_results(big: Any):
    html = big.test_client().get("/tags/?q=e").get_data(as_text=True)
    assert 0 < len(tag_links(html)) <= 100
    assert "refine the search" in html


# Run in the served page (its hash added to script-src, nothing else changed):
# type a search and submit the form as a person would.
_SUBMIT = (
    'addEventListener("load", () => { const form = document.querySelector("form.search");'
    ' form.q.value = "Korea"; form.submit(); });'
)
_SUBMIT_HASH = base64.b64encode(hashlib.sha256(_SUBMIT.encode()).digest()).decode()


def _with_submit_script(app: Any, form_action: str | None) -> Any:
    """The app, with the script injected into ``/`` and allowed by hash."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc: Any = None) -> Any:
            kept = []
            for name, value in headers:
                if name == "Content-Security-Policy":
                    value += f"; script-src 'sha256-{_SUBMIT_HASH}'"
                    if form_action is not None:
                        value = value.replace("form-action 'self'", f"form-action {form_action}")
                if name != "Content-Length":
                    kept.append((name, value))
            return start_response(status, kept, exc)

        environ.pop("HTTP_ACCEPT_ENCODING", None)  # plain bytes, to inject into
        body = b"".join(app(environ, start))
        if environ["PATH_INFO"] == "/" and not environ.get("QUERY_STRING"):
            body = body.replace(b"</body>", f"<script>{_SUBMIT}</script></body>".encode())
        return [body]

    return wrapped


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _submitted_heading(app: Any, tmp_path: Path, form_action: str | None) -> str:
    server = make_server(
        "127.0.0.1", 0, _with_submit_script(app, form_action), handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dom = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
             "--dump-dom", f"http://127.0.0.1:{server.server_port}/"],
            capture_output=True, text=True, timeout=90, check=True,
        ).stdout  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    found = re.search(r"<h1>(.*?)</h1>", dom, re.S)
    assert found is not None, dom[:500]
    return found.group(1)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_real_chromium_submits_the_tag_search_under_the_served_policy(demo_app: Any, tmp_path):
    """form-action 'self' lets the search through; the old 'none' would have blocked it."""
    assert _submitted_heading(demo_app.wsgi_app, tmp_path, None) == "Tags matching “korea”"
    blocked = _submitted_heading(demo_app.wsgi_app, tmp_path / "blocked", "'none'")
    assert blocked == "The Peninsula Report feeds"  # still the directory: nothing was sent
