"""Finding changes: what is found is returned and passed to the load, never stashed.

Real files on disk; a wall clock moved by hand where settling matters.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from support import NOW, article, write_yaml

from feedsvc.content.changes import SITE_KEY, VIEWS_KEY
from feedsvc.content.loader import ContentLoader
from feedsvc.content.problemset import ProblemSet
from feedsvc.content.scan import Findings
from feedsvc.content.signatures import RACY_SECONDS, changed_at, recorded, stat_signature
from feedsvc.problems import Problem


def titles(loader: ContentLoader, found: Findings | None = None) -> dict[str, str]:
    return {a.slug: a.title for a in loader.load(NOW, found).articles}


def test_findings_are_a_value_the_load_applies_and_nothing_more(small_content: Path):
    loader = ContentLoader(small_content, wall_clock=lambda: time.time() + 60)
    loader.load(NOW)
    articles = small_content / "articles"
    write_yaml(articles / "beta.yaml", article("Beta, edited", "2025-12-02T10:00:00Z"))
    found = loader.find_changes()
    assert found and found.article_names() == ["beta.yaml"]
    assert loader.find_changes() == found  # asking again finds the same: nothing was taken

    write_yaml(articles / "delta.yaml", article("Delta", "2025-12-04T00:00:00Z"))
    applied = titles(loader, found)  # exactly what was found, not what is on disk now
    assert applied["beta"] == "Beta, edited" and "delta" not in applied
    assert titles(loader)["delta"] == "Delta"  # a load without findings looks for itself
    assert not loader.find_changes()


def test_findings_name_the_special_files_and_deletions(small_content: Path):
    loader = ContentLoader(small_content, wall_clock=lambda: time.time() + 60)
    loader.load(NOW)
    write_yaml(small_content / "popularity.yaml", {"gamma": 10_000})
    (small_content / "articles" / "alpha.yaml").unlink()
    found = loader.find_changes()
    assert found.ready.keys() == {VIEWS_KEY, "alpha.yaml"}
    assert found.ready["alpha.yaml"] is None and found.article_names() == ["alpha.yaml"]
    assert SITE_KEY not in found.ready
    snapshot = loader.load(NOW, found)
    assert snapshot.popular[0].slug == "gamma"  # the file's count wins over the article's
    assert "alpha" not in {a.slug for a in snapshot.articles}


def test_a_change_still_settling_is_not_found_until_it_has(small_content: Path):
    wall = [time.time()]
    loader = ContentLoader(small_content, settle=1.0, wall_clock=lambda: wall[0])
    loader.load(NOW)
    path = small_content / "articles" / "gamma.yaml"
    write_yaml(path, article("Gamma, edited", "2025-12-03"))
    wall[0] = max(wall[0], changed_at(stat_signature(str(path)) or 0))
    assert not loader.find_changes()
    assert loader.next_settle_at() is not None
    wall[0] += 1.1
    found = loader.find_changes()
    assert found.verify  # settling is on: a file is checked again after it is read
    assert titles(loader, found)["gamma"] == "Gamma, edited"
    assert loader.next_settle_at() is None


def test_signatures_change_with_the_file_and_mark_fresh_reads(tmp_path: Path):
    path = tmp_path / "a.yaml"
    path.write_text("title: A\n", encoding="utf-8")
    first = stat_signature(str(path))
    assert first is not None and stat_signature(str(tmp_path)) is None  # folders have none
    assert abs(changed_at(first) - os.stat(path).st_mtime) < 1
    assert recorded(first, changed_at(first) + 1) == first
    fresh = recorded(first, changed_at(first) + RACY_SECONDS / 2)
    assert fresh != first and stat_signature(str(path)) != fresh  # read once more later
    path.write_text("title: AB\n", encoding="utf-8")
    assert stat_signature(str(path)) != first


def test_problem_set_counts_each_problem_and_reports_births_once():
    one = Problem("a.yaml", "title", "is required")
    two = Problem("b.yaml", "tags", "odd", 3, "warning")
    problems = ProblemSet()
    problems.add([two, one, one])  # the same problem from two places
    assert problems.snapshot() == (one, two)
    assert problems.take_born() == [one, two]
    problems.remove([one])
    assert problems.snapshot() == (one, two)  # still counted once
    problems.replace([one], [])
    assert problems.snapshot() == (two,)
    problems.add([one])
    assert problems.take_born() == []  # gone and back between two takes: not new
