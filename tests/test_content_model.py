"""The compact parts of an Article (issue 14 item 4): they give back exactly what was read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedsvc.content.article import load_article_file
from feedsvc.content.model import Article, extras_of, pack_revision, source_parts


@pytest.mark.parametrize(
    ("source", "slug"),
    [
        ("content/articles/hello.yaml", "hello"),
        ("content/articles/Hello.yaml", "hello"),
        ("content/articles/hello.yml", "hello"),
        ("hello.yaml", "hello"),
        ("a\\b\\hello.yaml", "hello"),
        ("", ""),
        ("odd/", "x"),
    ],
)
def test_source_is_given_back_exactly(source: str, slug: str) -> None:
    folder, name = source_parts(source, slug)
    article = Article(slug, "T", datetime(2024, 1, 1, tzinfo=UTC), 0,
                      extras=extras_of(folder, name))  # fmt: skip
    assert article.source == source


def test_articles_of_one_folder_share_its_string() -> None:
    first, _ = source_parts("".join(["content/", "articles/a.yaml"]), "a")
    second, _ = source_parts("".join(["content/", "articles/b.yaml"]), "b")
    assert first is second


@pytest.mark.parametrize(
    "revision", ["eb2520a26004f191d54f5e90", "", "EB25", "abc", "ab:until-2024", "é"]
)
def test_revision_is_given_back_exactly(revision: str) -> None:
    article = Article("a", "T", datetime(2024, 1, 1, tzinfo=UTC), 0,
                      packed_revision=pack_revision(revision))  # fmt: skip
    assert article.revision == revision


def test_a_file_hash_is_kept_as_bytes(tmp_path: Path) -> None:
    path = tmp_path / "Post.yaml"
    path.write_text("title: T\npublished: 2024-01-01T00:00:00Z\nbody: x\n")
    article, _, _ = load_article_file(path, "articles/Post.yaml")
    assert article is not None
    assert isinstance(article.packed_revision, bytes) and len(article.revision) == 24
    assert article.source == "articles/Post.yaml" and article.file_name == "Post.yaml"
