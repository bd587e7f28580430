"""Content loading and validation, through real files and the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import SITE, article, write_yaml

from feedsvc.content.loader import ContentLoader
from feedsvc.problems import ContentError

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def broken_content(small_content: Path) -> Path:
    articles = small_content / "articles"
    write_yaml(articles / "no-title.yaml", {"published": "2025-01-01T00:00:00Z", "body": "x"})
    write_yaml(articles / "bad-date.yaml", article("Bad date", "2025-13-45T00:00:00Z"))
    (articles / "naive-date.yaml").write_text(
        "title: Naive\npublished: 2025-01-01 10:00:00\nsummary: s\n", encoding="utf-8"
    )
    (articles / "syntax.yaml").write_text(
        'title: "unclosed\npublished: 2025-01-01\n  - : [\n', encoding="utf-8"
    )
    return small_content


def test_check_reports_each_problem_with_file_and_field(broken_content: Path):
    result = run_check(str(broken_content))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(
        "articles/no-title.yaml" in line and ": title: is required" in line for line in lines
    )
    assert any(
        "articles/bad-date.yaml:2: published: is not an ISO 8601 date-time" in line
        for line in lines
    )
    assert any(
        "articles/naive-date.yaml:2: published: needs a timezone offset" in line for line in lines
    )
    assert any("articles/syntax.yaml:" in line and "YAML syntax error" in line for line in lines)
    assert "Traceback" not in result.stdout + result.stderr


def test_check_passes_on_the_bundled_content():
    result = run_check("content")
    assert result.returncode == 0, result.stdout
    assert "0 errors" in result.stderr


def test_check_json_output(broken_content: Path):
    result = run_check(str(broken_content), "--format", "json")
    report = json.loads(result.stdout)
    assert result.returncode == 1
    fields = {(Path(e["path"]).name, e["field"]) for e in report["errors"]}
    assert ("no-title.yaml", "title") in fields
    assert ("naive-date.yaml", "published") in fields
    assert report["articles"] == 3


def test_check_exit_2_without_site_yaml(tmp_path: Path):
    (tmp_path / "articles").mkdir()
    result = run_check(str(tmp_path))
    assert result.returncode == 2
    assert "site.yaml: (file): is missing" in result.stdout


def test_bad_articles_are_skipped_and_reported(broken_content: Path):
    snapshot = ContentLoader(broken_content).load(NOW)
    assert [a.slug for a in snapshot.articles] == ["gamma", "beta", "alpha"]
    assert {Path(p.path).name for p in snapshot.errors} == {
        "no-title.yaml",
        "bad-date.yaml",
        "naive-date.yaml",
        "syntax.yaml",
    }


def test_date_only_means_midnight_utc(small_content: Path):
    snapshot = ContentLoader(small_content).load(NOW)
    gamma = next(a for a in snapshot.articles if a.slug == "gamma")
    assert gamma.published == datetime(2025, 12, 3, tzinfo=UTC)


def test_field_types_are_checked(small_content: Path):
    write_yaml(
        small_content / "articles" / "types.yaml",
        {
            "title": ["not", "text"],
            "published": "2025-01-01T00:00:00Z",
            "tags": "single tag is fine",
            "views": -3,
            "draft": "yes please",
            "colour": "red",
        },
    )
    snapshot = ContentLoader(small_content).load(NOW)
    messages = {p.field: p.message for p in snapshot.problems if p.path.endswith("types.yaml")}
    assert messages["title"] == "must be text, got list"
    assert "views" in messages and "draft" in messages
    assert messages["colour"] == "unknown field (typo?)"
    assert "types" not in {a.slug for a in snapshot.articles}


def test_slug_collision_names_both_files_and_lowercase_wins(small_content: Path):
    write_yaml(small_content / "articles" / "Alpha.yaml", article("Upper Alpha", "2025-01-01"))
    snapshot = ContentLoader(small_content).load(NOW)
    alpha = next(a for a in snapshot.articles if a.slug == "alpha")
    assert alpha.title == "Alpha"
    collisions = [p for p in snapshot.errors if p.field == "(file name)"]
    assert len(collisions) == 2
    assert all("Alpha.yaml" in p.message and "alpha.yaml" in p.message for p in collisions)


def test_site_yaml_is_required_and_validated(tmp_path: Path):
    with pytest.raises(ContentError) as missing:
        ContentLoader(tmp_path).load(NOW)
    assert "site.yaml" in str(missing.value)
    write_yaml(tmp_path / "site.yaml", {**SITE, "site_url": "news.test", "items_per_feed": "x"})
    with pytest.raises(ContentError) as bad:
        ContentLoader(tmp_path).load(NOW)
    text = str(bad.value)
    assert "site.yaml:3: site_url: must be an absolute http(s) URL" in text
    assert "items_per_feed: must be a whole number" in text


def test_popularity_file_overrides_views(small_content: Path):
    write_yaml(small_content / "popularity.yaml", {"gamma": 10_000, "alpha": 1})
    snapshot = ContentLoader(small_content).load(NOW)
    assert [a.slug for a in snapshot.popular] == ["gamma", "beta", "alpha"]


def test_popularity_ties_rank_newest_first(small_content: Path):
    write_yaml(small_content / "popularity.yaml", {"gamma": 7, "alpha": 7, "beta": 7})
    snapshot = ContentLoader(small_content).load(NOW)
    assert [a.slug for a in snapshot.popular] == ["gamma", "beta", "alpha"]


def test_popular_window_in_days(small_content: Path):
    site = {**SITE, "popular": {"items": 5, "window_days": 30}}
    write_yaml(small_content / "site.yaml", site)
    write_yaml(
        small_content / "articles" / "ancient.yaml", article("Ancient", "2020-01-01", views=10**6)
    )
    snapshot = ContentLoader(small_content).load(datetime(2025, 12, 20, tzinfo=UTC))
    assert "ancient" not in [a.slug for a in snapshot.popular]
    assert "ancient" in [a.slug for a in snapshot.articles]
