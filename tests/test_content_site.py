"""site.yaml settings: checked field by field, environment overrides winning."""

from __future__ import annotations

import pytest
from support import SITE

from feedsvc.content.site import POPULAR_FIELDS, SITE_FIELDS, SiteSettings, parse_site_settings
from feedsvc.problems import Problem
from feedsvc.settings import SITE_OVERRIDES


def messages(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


def test_a_good_site_file_gives_settings_and_no_problems():
    site, problems = parse_site_settings(
        {**SITE, "site_url": "https://news.test/"}, "site.yaml", {}
    )
    assert problems == []
    assert site == SiteSettings(
        title="Test Times", site_url="https://news.test", description="A test site.",
        author="Test Desk", id_authority="news.test,2025", popular_items=5, cache_max_age=120,
    )  # fmt: skip


def test_every_overridable_setting_is_a_site_setting():
    for setting in SITE_OVERRIDES:
        group, _, key = setting.rpartition(".")
        assert key in (POPULAR_FIELDS if group == "popular" else SITE_FIELDS), setting


def test_environment_overrides_win_and_are_checked_like_the_file():
    env = {
        "FEEDSVC_TITLE": "Evening Times",
        "FEEDSVC_ITEMS_PER_FEED": "7",
        "FEEDSVC_POPULAR_WINDOW_DAYS": "3",
        "FEEDSVC_SITE_URL": "https://other.test/",
    }
    site, problems = parse_site_settings(SITE, "site.yaml", env)
    assert problems == [] and site is not None
    assert (site.title, site.items_per_feed, site.popular_window_days, site.site_url) == (
        "Evening Times", 7, 3, "https://other.test",
    )  # fmt: skip


def test_bad_overrides_and_bad_fields_are_reported_in_order():
    data = {**SITE, "items_per_feed": -1, "popular": {"items": 2, "colour": "red"}, "extra": 1}
    env = {"FEEDSVC_CACHE_MAX_AGE": "soon", "FEEDSVC_POPULAR_ITEMS": "many"}
    site, problems = parse_site_settings(data, "site.yaml", env)
    assert site is None
    assert messages(problems) == [
        "site.yaml: items_per_feed: must be a whole number >= 0, got -1",
        "site.yaml: popular.colour: warning: unknown setting",
        "site.yaml: extra: warning: unknown setting",
        "$FEEDSVC_CACHE_MAX_AGE: cache_max_age: must be a number",
        "$FEEDSVC_POPULAR_ITEMS: items: must be a number",
    ]


def test_settings_that_must_hold_together():
    data = {"title": "", "article_path": "/a", "websub_hub": "ftp://hub", "popular": []}
    site, problems = parse_site_settings(data, "site.yaml", {"FEEDSVC_ITEMS_PER_FEED": "0"})
    assert site is None
    assert messages(problems) == [
        "site.yaml: popular: must be a mapping (items, window_days, min_views)",
        "site.yaml: title: is required",
        "site.yaml: site_url: is required",
        "site.yaml: websub_hub: must be an absolute http(s) URL: 'ftp://hub'",
        "site.yaml: items_per_feed: must be at least 1",
        "site.yaml: article_path: must contain {slug}",
    ]
    assert parse_site_settings(["not", "a", "mapping"], "site.yaml", {}) == (
        None, [Problem("site.yaml", "(file)", "must be a mapping of settings")],
    )  # fmt: skip


@pytest.mark.parametrize("article_path", ["/a/{slug}/{0}", "/{slug:>999999999}", "/{slug.upper}",
                                          "/{slug}}", "/{{slug}}"])  # fmt: skip
def test_article_path_may_hold_no_other_format_field(article_path: str) -> None:
    data = {"title": "T", "site_url": "https://t.test", "article_path": article_path}
    site, problems = parse_site_settings(data, "site.yaml", env={})
    assert site is None and [p.field for p in problems] == ["article_path"]
