"""``feedsvc check`` as a linter: every problem with path, line, field and message.

Run as a user runs it (the CLI in a subprocess, from the folder above the
content), text and JSON; the same warnings show in ``/healthz``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import SITE, article, write_yaml

from feedsvc.content.loader import ContentLoader


def run_check(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    write_yaml(root / "site.yaml", SITE)
    articles = root / "articles"
    write_yaml(articles / "one.yaml", article("One", "2025-10-01T00:00:00Z", tags=["North Korea"]))
    write_yaml(articles / "two.yaml", article("Two", "2025-10-02T00:00:00Z", tags=["North Korea"]))
    return root


def warn_everything(root: Path) -> None:
    """One of each warning the linter knows (and no error)."""
    articles = root / "articles"
    write_yaml(
        articles / "three.yaml",
        article("Three", "2025-10-03T00:00:00Z", tags=["north  korea", "Health"]),
    )
    write_yaml(articles / "twin.yaml", article("ONE", "2025-10-04T00:00:00Z"))
    write_yaml(articles / "quiet.yaml", article("Quiet", "2025-10-05T00:00:00Z", summary=""))
    write_yaml(articles / "later.yaml", article("Later", "2999-01-01T00:00:00Z"))
    write_yaml(articles / "pic.yaml", article("Pic", "2025-10-06T00:00:00Z", image="img/p.jpg"))
    write_yaml(articles / "typo.yaml", article("Typo", "2025-10-07T00:00:00Z", tittle="x"))


def test_clean_content_exits_0_with_no_output(clean: Path):
    result = run_check(clean.parent, "content")
    assert result.returncode == 0, result.stdout
    assert result.stdout == ""
    assert "2 articles, 1 tags: 0 errors, 0 warnings" in result.stderr


def test_every_warning_names_path_line_and_field_and_exits_0(clean: Path):
    warn_everything(clean)
    result = run_check(clean.parent, "content")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = set(result.stdout.splitlines())
    expected = {
        "content/articles/three.yaml:5: tags: warning: tag 'north korea' is spelled "
        "'North Korea' in 2 other article(s); both are the tag 'north-korea'",
        "content/articles/one.yaml:1: title: warning: same title as content/articles/twin.yaml",
        "content/articles/twin.yaml:1: title: warning: same title as content/articles/one.yaml",
        "content/articles/quiet.yaml:3: summary: warning: is empty; "
        "a summary is derived from the body",
        "content/articles/later.yaml:2: published: warning: is in the future "
        "(2999-01-01T00:00:00+00:00); not in feeds until then",
        "content/articles/pic.yaml:5: image: warning: is not an absolute http(s) URL: 'img/p.jpg'",
        "content/articles/typo.yaml:5: tittle: warning: unknown field (typo?)",
    }
    assert expected <= lines, "\n".join(sorted(lines))
    assert len(lines) == len(expected), "\n".join(sorted(lines - expected))
    # "North Korea" is the majority spelling: the files using it are not blamed.
    assert not any(
        line.startswith(("content/articles/one.yaml:5", "content/articles/two")) for line in lines
    )


def test_errors_exit_1_and_json_report_has_every_field(clean: Path):
    warn_everything(clean)
    (clean / "articles" / "bad.yaml").write_text(
        "title: Bad\npublished: 2025-10-08 10:00\nviews: many\n", encoding="utf-8"
    )
    text = run_check(clean.parent, "content")
    assert text.returncode == 1
    assert "content/articles/bad.yaml:2: published: needs a timezone offset" in text.stdout
    assert (
        "content/articles/bad.yaml:3: views: must be a whole number >= 0, got 'many'" in text.stdout
    )

    result = run_check(clean.parent, "content", "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["exit_code"] == 1 and report["valid"] is False
    assert report["summary"] == {"errors": 2, "warnings": 8}  # + bad.yaml has no summary
    assert {(e["path"], e["line"], e["field"]) for e in report["errors"]} == {
        ("content/articles/bad.yaml", 2, "published"),
        ("content/articles/bad.yaml", 3, "views"),
    }
    for problem in report["errors"] + report["warnings"]:
        assert set(problem) == {"path", "line", "field", "message", "severity"}
    assert {w["field"] for w in report["warnings"]} == {
        "tags", "title", "summary", "published", "image", "tittle"
    }  # fmt: skip
    assert report["articles"] == 7  # in feeds: not the future one, not the bad one


def test_json_report_for_an_unusable_site_exits_2(tmp_path: Path):
    (tmp_path / "content" / "articles").mkdir(parents=True)
    result = run_check(tmp_path, "content", "--format", "json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["exit_code"] == 2 and report["errors"][0]["path"] == "content/site.yaml"


def test_paths_are_named_as_the_folder_was_given(clean: Path):
    warn_everything(clean)
    absolute = run_check(Path("/"), str(clean))
    assert f"{clean}/articles/twin.yaml:1: title:" in absolute.stdout
    inside = run_check(clean, ".")
    assert "articles/twin.yaml:1: title:" in inside.stdout.splitlines()[-1] or any(
        line.startswith("articles/twin.yaml:1: title:") for line in inside.stdout.splitlines()
    )


def test_healthz_shows_the_lint_warnings_too(make_app, clean: Path):
    warn_everything(clean)
    health = make_app(clean).test_client().get("/healthz").get_json()
    assert health["status"] == "ok"  # warnings alone do not degrade
    warned = {(w["path"], w["field"]) for w in health["warnings"]}
    assert ("content/articles/three.yaml", "tags") in warned
    assert ("content/articles/twin.yaml", "title") in warned


def test_duplicate_titles_ignore_case_and_spacing_and_name_the_others(clean: Path):
    for name in ("a", "b", "c", "d", "e"):
        write_yaml(clean / "articles" / f"dup-{name}.yaml", article(" one ", "2025-10-09"))
    snapshot = ContentLoader(clean).load()
    dup = [p for p in snapshot.problems if p.field == "title"]
    assert len(dup) == 6  # one.yaml and the five copies
    message = next(p.message for p in dup if p.path.endswith("dup-a.yaml"))
    assert message == (
        "same title as content/articles/dup-b.yaml, content/articles/dup-c.yaml, "
        "content/articles/dup-d.yaml and 2 more"
    )


def test_cross_article_checks_are_quiet_on_distinct_articles(clean: Path):
    # One tag spelled alike in both files, two titles: nothing to say.
    assert ContentLoader(clean).load().problems == ()
