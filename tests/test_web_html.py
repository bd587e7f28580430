"""One Jinja environment renders every page, the Flask views' and the fast path's."""

from __future__ import annotations

import pytest

from feedsvc.content.site import SiteSettings
from feedsvc.feeds.spec import FeedSpec
from feedsvc.feeds.urls import FORMATS
from feedsvc.web import html
from feedsvc.web.policy import STYLESHEET

NAVIGATION = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
SITE = SiteSettings(title="Site", site_url="https://news.test")


def test_flask_never_builds_its_own_template_environment(demo_app):
    client = demo_app.test_client()
    for path in ("/", "/tags/", "/tags/china/", "/embed/?limit=2"):
        assert client.get(path).status_code == 200, path
    assert client.get("/rss.xml", headers=NAVIGATION).mimetype == "text/html"
    # Flask.jinja_env is created lazily on first use: nothing used it.
    assert "jinja_env" not in vars(demo_app)


def test_every_template_gets_the_stylesheet_version_and_page_paths():
    rendered = html.render("base.html", site=SITE, base="https://feeds.test/x")
    assert f"<style>{STYLESHEET}</style>" in rendered
    for href in ("/", "/tags/", "/feeds.opml", "/healthz"):
        assert f'href="https://feeds.test/x{href}"' in rendered, href
    assert "Served by feedsvc " in rendered


def test_autoescaping_is_on_and_breakable_urls_keep_their_text():
    spec = FeedSpec("main", "main", "<b>", "<b>", "")
    text = html.render("embed.html", site=SITE, spec=spec, theme="auto", items=[])
    assert "<b>" not in text and text.count("&lt;b&gt;") == 2
    broken = html.breakable_url("https://feeds.test/tags/<x>/rss.xml")
    assert str(broken) == "https://feeds.test/tags/<wbr>&lt;x&gt;/<wbr>rss.xml"
    assert str(html.breakable_url("not a url <>")) == "not a url &lt;&gt;"


@pytest.mark.parametrize("template", ["feed_page.html", "embed.html"])
def test_empty_feeds_render_their_placeholder(template):
    spec = FeedSpec("main", "main", "T", "T", "")
    text = html.render(template, site=SITE, spec=spec, fmt=FORMATS["rss"], base="", feed_url="",
                       other_formats=[], items=[], theme="auto")  # fmt: skip
    assert "No items yet." in text or "No headlines yet." in text
