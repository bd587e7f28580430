"""feeds/urls.py: the one spelling of every public path, and nobody else's."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from support import REPO

from feedsvc.content.site import SiteSettings
from feedsvc.feeds import urls
from feedsvc.feeds.routing import Target, resolve
from feedsvc.feeds.urls import FORMATS

# Modules that answer, link to or write public paths: they must ask urls.py.
PATH_USERS = [
    *sorted((REPO / "feedsvc" / "web").glob("*.py")),
    REPO / "feedsvc" / "export.py",
    REPO / "feedsvc" / "cli.py",
    REPO / "feedsvc" / "feeds" / "routing.py",
    REPO / "feedsvc" / "feeds" / "spec.py",
]
PATH_LITERAL = re.compile(r"^/[A-Za-z#<]")


def test_paths_are_spelled_canonically():
    assert urls.tag_path("북한") == "/tags/%EB%B6%81%ED%95%9C"
    assert urls.tag_path("a b/c") == "/tags/a%20b%2Fc"
    assert urls.combined_path(("china", "north-korea")) == "/tags/china+north-korea"
    assert urls.feed_path(urls.MAIN, FORMATS["rss"]) == "/rss.xml"
    assert urls.feed_path(urls.POPULAR, FORMATS["atom"], 3) == "/popular/page/3/atom.xml"
    assert urls.feed_path(urls.tag_path("x"), FORMATS["json"], 1) == "/tags/x/feed.json"
    assert urls.html_page(urls.tag_path("x")) == "/tags/x/"
    assert urls.embed_path(urls.MAIN) == "/embed/"
    assert urls.embed_path(urls.tag_path("x")) == "/embed/tags/x/"
    assert [urls.embed_feed(f) for f in ("", "/", "tags/x/", "popular")] == [
        "", "", "/tags/x", "/popular"
    ]  # fmt: skip
    assert urls.parent("/tags/x/rss.xml") == "/tags/x"
    assert urls.segments("//tags///x/") == ["tags", "x"]
    assert urls.is_paged_or_combined("/page/2/rss.xml")
    assert urls.is_paged_or_combined("/tags/a+b/rss.xml")
    assert not urls.is_paged_or_combined("/tags/a/rss.xml")


def test_pages_and_files_of_the_static_export():
    assert (urls.DIRECTORY, urls.TAG_INDEX, urls.OPML) == urls.EXPORTED_PAGES
    assert [urls.export_file(p) for p in urls.EXPORTED_PAGES] == [
        "index.html", "tags/index.html", "feeds.opml"
    ]  # fmt: skip
    assert urls.export_file("/tags/%EB%B6%81%ED%95%9C/rss.xml") == "tags/북한/rss.xml"


def test_article_urls_encode_the_slug_as_one_segment():
    site = SiteSettings(title="T", site_url="https://news.test", article_path="/a/{slug}.html")
    assert urls.article_url(site, "café #1?") == "https://news.test/a/caf%C3%A9%20%231%3F.html"
    assert urls.site_home(site) == "https://news.test/"


def test_mount_prefix_and_wsgi_spelling():
    assert urls.mount_prefix(urls.wsgi_path("/news feeds/")) == "/news%20feeds"
    assert urls.decode_path(urls.wsgi_path("/tags/북한/")) == "/tags/북한/"
    assert urls.decode_path("/\xff") is None


def test_every_built_path_resolves_to_itself(demo_app):
    view = demo_app.extensions["feedsvc"].catalog
    for spec in view.feeds.values():
        for fmt in FORMATS.values():
            path = spec.url_path(fmt)
            target = resolve(view, unquote(path))
            assert isinstance(target, Target) and target.kind == "feed", path
            assert target.path == path and target.spec == spec
        if spec.kind == "tag":
            target = resolve(view, unquote(urls.html_page(spec.path)))
            assert isinstance(target, Target) and target.path == urls.html_page(spec.path)
    assert resolve(view, urls.DIRECTORY) == Target("directory", urls.DIRECTORY)
    assert resolve(view, urls.TAG_INDEX) == Target("tags", urls.TAG_INDEX)
    for alias, page in urls.PAGE_ALIASES.items():
        assert resolve(view, "/" + alias.upper()) == Target("page", page)


def test_the_routes_of_the_app_are_the_paths_of_urls(demo_app):
    rules = {rule.rule for rule in demo_app.url_map.iter_rules()}
    for path in (urls.DIRECTORY, urls.OPML, urls.HEALTHZ, urls.METRICS, urls.embed_path("")):
        assert path in rules, path


@pytest.mark.parametrize("path", PATH_USERS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_module_but_urls_spells_a_public_path(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr)
    }  # fmt: skip
    literals = [
        f"{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings and PATH_LITERAL.match(node.value)
    ]  # fmt: skip
    assert not literals, literals


def test_templates_link_only_to_paths_they_are_given():
    for template in sorted((REPO / "feedsvc" / "web" / "templates").glob("*.html")):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"\{\{ base \}\}/", text), template.name
        assert not re.search(r"<code>/", text), template.name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1), ("007", 7), ("0", None), ("50", 50), ("51", None), ("0" * 5000 + "9", 9),
        ("", None), ("²", None), ("٢", None), ("２", None), ("-1", None), ("+1", None),
        (" 1", None), ("1 ", None), ("1_0", None), ("9" * 5000, None), ("1e3", None),
    ],
)  # fmt: skip
def test_whole_number_reads_ascii_digits_in_range_only(text: str, expected: int | None):
    """Unicode digits, signs, spaces, underscores and huge numbers name no number;
    int() is never handed more digits than the upper bound has."""
    assert urls.whole_number(text, 1, 50) == expected
