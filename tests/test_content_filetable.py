"""The loader's compact per-file table (issue 14 item 4): what goes in comes back exactly.

Rows of files named after their slug are keyed by the slug, every other file
by its name; a file moves between the two as it gains an article. Real
article files on disk are read for the loader-level checks.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from support import NOW, SITE, article, write_yaml

from feedsvc.content.filetable import FileEntry, FileTable
from feedsvc.content.loader import ContentLoader
from feedsvc.content.model import Article, extras_of
from feedsvc.content.signatures import recorded, signature_of
from feedsvc.problems import Problem

WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def _article(slug: str, name: str | None = None) -> Article:
    return Article(slug, slug.title(), WHEN, 0, extras=extras_of("", name))


def test_signatures_and_entries_come_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("x")
    os.utime(path, ns=(0, -1_500_000_000))  # before 1970: a negative time, kept exactly
    table = FileTable()
    stat_sig = signature_of(path.stat())
    racy = recorded(stat_sig, 1e12)  # read long after its change: unmarked
    marked = stat_sig | 1  # the racy mark no stat gives
    problems = (Problem("articles/b.yml", "title", "is missing"),)
    table.put("a.yaml", FileEntry(stat_sig, _article("a"), (), (1, 2, 3)))
    table.put("b.yml", FileEntry(marked, None, problems, ()))
    assert racy == stat_sig
    assert table.signature("a.yaml") == stat_sig and table.signature("b.yml") == marked
    assert table.get("a.yaml") == FileEntry(stat_sig, _article("a"), (), (1, 2, 3))
    assert table.get("b.yml") == FileEntry(marked, None, problems, ())
    assert table.signature("a.yml") is None and table.get("A.yaml") is None
    assert sorted(table) == ["a.yaml", "b.yml"] and len(table) == 2


def test_a_file_moves_between_slug_and_name_keys_and_rows_are_reused() -> None:
    table = FileTable()
    table.put("c.yaml", FileEntry(2, None, (Problem("c", "title", "bad"),)))  # no article yet
    assert table.get("c.yaml") is not None and "c.yaml" in table
    table.put("c.yaml", FileEntry(4, _article("c"), ()))  # fixed: keyed by its slug now
    table.put("C.yaml", FileEntry(6, _article("c", "C.yaml"), ()))  # odd name, same slug
    assert table.signature("c.yaml") == 4 and table.signature("C.yaml") == 6
    assert table.name_at(table.row("C.yaml") or 0) == "C.yaml"
    assert [a.slug for a in table.named_after_slugs()] == ["c"]
    table.remove("c.yaml")
    assert table.get("c.yaml") is None and len(table) == 1
    table.put("d.yaml", FileEntry(8, _article("d"), ()))
    assert table.row("d.yaml") == 0  # the forgotten row, reused
    assert sorted(table) == ["C.yaml", "d.yaml"]
    assert {a.slug for a in table.articles()} == {"c", "d"}


def test_odd_names_and_collisions_load_as_before(tmp_path: Path) -> None:
    """A .yml file, a case collision and a broken file: served and reported as a
    fresh load always did, then after the lower-case file is deleted."""
    articles = tmp_path / "articles"
    write_yaml(tmp_path / "site.yaml", SITE)
    write_yaml(articles / "one.yml", article("One", "2025-01-01T00:00:00Z"))
    write_yaml(articles / "two.yaml", article("Two, lower", "2025-01-01T00:00:00Z"))
    write_yaml(articles / "Two.yaml", article("Two, upper", "2025-01-01T00:00:00Z"))
    (articles / "bad.yaml").write_text("title: [\n")
    loader = ContentLoader(tmp_path)
    snapshot = loader.load(NOW)
    assert {a.slug: a.title for a in snapshot.articles} == {"one": "One", "two": "Two, lower"}
    collisions = [p for p in snapshot.problems if p.field == "(file name)"]
    assert len(collisions) == 2 and all("serving " in p.message for p in collisions)
    assert any(p.path.endswith("bad.yaml") for p in snapshot.problems)
    (articles / "two.yaml").unlink()
    snapshot = loader.load(NOW)
    assert {a.slug: a.title for a in snapshot.articles} == {"one": "One", "two": "Two, upper"}
    assert not [p for p in snapshot.problems if p.field == "(file name)"]
