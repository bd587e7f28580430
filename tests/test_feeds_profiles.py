"""``feedsvc check --profile``: platform rules, reported like every other warning.

The CLI is run as a user runs it, on real files; the rules themselves are
checked against content made to fall short of each one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import SITE, article, write_yaml

from feedsvc.content.loader import ContentLoader
from feedsvc.feeds.profiles import PROFILES, profile_problems

LONG = "A summary long enough for an excerpt. " * 10  # 380 characters
GOOD_IMAGE = {"url": "https://img.test/big.jpg", "width": 1600, "height": 900}


def run_check(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "check", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd,
    )  # fmt: skip


def write_site(root: Path, site: dict[str, Any] | None = None, **articles: dict[str, Any]) -> Path:
    write_yaml(root / "site.yaml", {**SITE, **(site or {})})
    for slug, fields in articles.items():
        fields = {"summary": LONG, "author": "Ann Writer", "image": GOOD_IMAGE, **fields}
        fields = {key: value for key, value in fields.items() if value is not None}
        write_yaml(
            root / "articles" / f"{slug}.yaml", article(slug.title(), "2025-10-01", **fields)
        )
    return root


def test_flipboard_warnings_name_file_line_and_field_and_exit_0(tmp_path: Path):
    write_site(
        tmp_path / "content",
        good={},
        small={"image": {"url": "https://img.test/s.jpg", "width": 600, "height": 300}},
        unsized={"image": "https://img.test/u.jpg", "summary": "Short."},
        bare={"image": None, "author": None},
    )
    result = run_check(tmp_path, "content", "--profile", "flipboard")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.splitlines()) == {
        "content/articles/small.yaml:10: image: warning: Flipboard: 600x300 px; "
        "at least 400 px on the smallest side is asked for",
        "content/articles/unsized.yaml:6: image: warning: Flipboard: size not declared; "
        "give width and height (at least 400 px on the smallest side)",
        "content/articles/unsized.yaml:3: summary: warning: Flipboard: 6 characters; "
        "an excerpt of at least 300 is asked for",
        "content/articles/bare.yaml: image: warning: Flipboard: no image; "
        "one of at least 400 px is asked for",
        "content/articles/bare.yaml: author: warning: Flipboard: no byline; "
        "items go out as by 'Test Desk'",
        "content/site.yaml:7: items_per_feed: warning: Flipboard: the main feed carries "
        "4 items; at least 30 are asked for",
        "content/site.yaml: websub_hub: warning: Flipboard: not set; "
        "updates are asked to be pushed to a WebSub hub",
    }
    # Without --profile, the same content is clean.
    plain = run_check(tmp_path, "content")
    assert plain.returncode == 0 and plain.stdout == ""


def test_google_news_profile_in_json_and_with_another(tmp_path: Path):
    square = {"url": "https://img.test/s.jpg", "width": 600, "height": 600}
    write_site(tmp_path / "content", {"items_per_feed": 100}, small={"image": square})
    result = run_check(
        tmp_path,
        "content",
        "--profile",
        "google-news",
        "--profile",
        "flipboard",
        "--format",
        "json",
    )
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["valid"] and report["summary"]["errors"] == 0
    messages = {(w["field"], w["message"]) for w in report["warnings"]}
    assert (
        "image",
        "Google News: 600x600 px; at least 800 px on the smallest side is asked for",
    ) in messages
    assert (
        "items_per_feed",
        "Google News: 100 items per feed; at most 60 new articles are read per fetch",
    ) in messages
    assert any(m.startswith("Flipboard: ") for _, m in messages)  # both profiles ran


def test_an_unknown_profile_is_refused_by_the_command_line(tmp_path: Path):
    write_site(tmp_path / "content", good={})
    result = run_check(tmp_path, "content", "--profile", "myspace")
    assert result.returncode == 2 and "invalid choice: 'myspace'" in result.stderr


@pytest.mark.slow
def test_article_byte_limits_and_shortened_items(tmp_path: Path):
    paragraph = "Words of a very long story, one after another. " * 40 + "\n\n"
    content = write_site(
        tmp_path / "content",
        huge={"body": "**x** " * 100_000},  # 600 KB of Markdown, 1.9 MB of HTML
        long={"body": paragraph * 80},  # ~160 KB: sent shortened, within 1 MB
    )
    snapshot = ContentLoader(content).load()
    found = profile_problems(snapshot, PROFILES["google-news"], str(content / "site.yaml"))
    google = {(Path(p.path).stem, p.field): p.message for p in found}
    assert google[("huge", "body")].endswith("bytes of HTML; an article may be at most 1,000,000")
    assert "over the 131,072 an item carries in full" in google[("long", "body")]
