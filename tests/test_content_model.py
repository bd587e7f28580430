"""The compact parts of an Article (issue 14 item 4): they give back exactly what was read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedsvc.content.article import load_article_file
from feedsvc.content.chunks import pack, unpack
from feedsvc.content.model import Article, extras_of, pack_revision, pack_title, source_parts


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


@pytest.mark.parametrize("title", ["Plain headline", "", "Café au lait", "북한", "tab\tin"])
def test_title_is_given_back_exactly(title: str) -> None:
    article = Article("a", pack_title(title), datetime(2024, 1, 1, tzinfo=UTC), 0)
    assert article.title == title and type(article.title) is str


def test_plain_articles_of_a_folder_share_one_extras(tmp_path: Path) -> None:
    """Every article without author, picture, attachment, draft flag or odd file
    name shares its folder's Extras; the others keep theirs exactly."""
    for name, extra in (("a.yaml", ""), ("b.yaml", ""), ("C.yaml", ""),
                        ("d.yaml", "author: Ann\n"), ("e.yaml", "draft: true\n")):  # fmt: skip
        (tmp_path / name).write_text(f"title: T\npublished: 2024-01-01T00:00:00Z\n{extra}")
    loaded = {}
    for name in ("a.yaml", "b.yaml", "C.yaml", "d.yaml", "e.yaml"):
        article, problems, _ = load_article_file(tmp_path / name, f"articles/{name}")
        assert article is not None, problems
        loaded[name] = article
    assert loaded["a.yaml"].extras is loaded["b.yaml"].extras
    assert loaded["C.yaml"].file_name == "C.yaml" and loaded["C.yaml"].source == "articles/C.yaml"
    assert loaded["d.yaml"].author == "Ann" and loaded["a.yaml"].author is None
    assert loaded["e.yaml"].draft and not loaded["a.yaml"].draft
    assert loaded["a.yaml"].image is None and loaded["a.yaml"].attachments == ()


def test_extras_survive_the_parse_cache_shared(tmp_path: Path) -> None:
    """Packed into a parse cache chunk and back: equal fields, plain Extras shared again."""
    (tmp_path / "a.yaml").write_text("title: Ünï\npublished: 2024-01-01T00:00:00Z\nbody: x\n")
    (tmp_path / "b.yaml").write_text("title: T\npublished: 2024-01-01T00:00:00Z\nauthor: Ann\n")
    results = [load_article_file(tmp_path / n, f"articles/{n}") for n in ("a.yaml", "b.yaml")]
    again = unpack(pack(results))
    for (before, _, _), (after, _, _) in zip(results, again, strict=True):
        assert before is not None and after is not None
        assert replace(after, text_ref=before.text_ref) == before
        assert (after.title, after.body, after.author) == (before.title, before.body, before.author)
    assert again[0][0] is not None and again[0][0].extras is extras_of("articles/")
