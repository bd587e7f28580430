"""site.yaml and popularity.yaml through the loader: checked, last good kept."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support import NOW, SITE, write_yaml

from feedsvc.content.loader import ContentLoader
from feedsvc.content.model import Snapshot
from feedsvc.problems import ContentError


def loader_on(root: Path) -> ContentLoader:
    return ContentLoader(root, {}, wall_clock=lambda: time.time() + 60)


def about(snapshot: Snapshot, name: str) -> list[str]:
    """The snapshot's problems in ``name`` (the fixture's articles have their own)."""
    return [str(p) for p in snapshot.problems if p.path.endswith(name)]


def test_bad_view_counts_are_reported_with_their_line_and_the_rest_apply(small_content: Path):
    (small_content / "popularity.yaml").write_text(
        "gamma: 900\nalpha: -3\nBeta: 1\n", encoding="utf-8"
    )
    snapshot = loader_on(small_content).load(NOW)
    assert about(snapshot, "popularity.yaml") == [
        "content/popularity.yaml:2: alpha: views must be >= 0, got -3"
    ]
    assert [a.slug for a in snapshot.popular] == ["gamma", "alpha", "beta"]  # Beta: 1


def test_popularity_that_is_not_a_mapping_keeps_the_last_good_counts(small_content: Path):
    views = small_content / "popularity.yaml"
    write_yaml(views, {"gamma": 900})
    loader = loader_on(small_content)
    assert loader.load(NOW).popular[0].slug == "gamma"
    views.write_text("- gamma\n", encoding="utf-8")
    snapshot = loader.load(NOW)
    assert snapshot.popular[0].slug == "gamma"
    assert about(snapshot, "popularity.yaml") == [
        "content/popularity.yaml: (file): must map article slugs to views",
        "content/popularity.yaml: (file): still serving its last good view counts",
    ]
    views.unlink()  # gone: the articles' own counts apply, nothing to report
    snapshot = loader.load(NOW)
    assert snapshot.popular[0].slug == "beta" and about(snapshot, "popularity.yaml") == []


def test_site_yaml_unusable_at_start_is_an_error_later_a_kept_version(small_content: Path):
    site = small_content / "site.yaml"
    loader = loader_on(small_content)
    assert loader.load(NOW).site.title == "Test Times"
    write_yaml(site, {**SITE, "site_url": "not a url"})
    snapshot = loader.load(NOW)
    assert snapshot.site.title == "Test Times"
    assert about(snapshot, "site.yaml") == [
        "content/site.yaml: (file): still serving its last good settings",
        "content/site.yaml:3: site_url: must be an absolute http(s) URL: 'not a url'",  # its line
    ]
    with pytest.raises(ContentError, match="site_url: must be an absolute"):
        loader_on(small_content).load(NOW)
    site.unlink()
    assert about(loader.load(NOW), "site.yaml") == [
        "content/site.yaml: (file): is missing; it names the site and its URL",
        "content/site.yaml: (file): still serving its last good settings",
    ]
