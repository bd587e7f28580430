"""The well-formed article's fast path (``article._well_formed``) is the checked path.

A cold start validates 100k files, nearly all of them files about which the
field-by-field path says nothing; the fast path builds those with a few
checks and hands every other file to the checked path. Here the two are
held equal (article, problems, texts kept) on the bundled and generated
articles, on each field made wrong or odd one way at a time, and on random
edits of real articles; and the fast path is shown to be the one taken for
ordinary files (else it would be dead code that only costs).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from feedsvc.content import article as article_module
from feedsvc.content.article import validate_article
from feedsvc.content.model import Article
from feedsvc.content.yamlfile import parse_yaml
from feedsvc.problems import Problem

REPO = Path(__file__).resolve().parent.parent
REVISION = "0123456789abcdef01234567"

BASE = """title: "A headline"
published: 2025-09-04T18:00:00+08:00
tags: [North Korea, "China", 'Diplomacy']
summary: "Chinese President Xi Jinping gave special attention."
views: 120
draft: false
body: |
  First paragraph.

  Second paragraph.
"""

# One line of BASE replaced (or one added), each aimed at one check of the fast path.
VARIANTS = [
    ("title:", 'title: "<b>Bold</b> headline"'), ("title:", "title: 123"),
    ("title:", 'title: "   "'), ("title:", "title:"), ("title:", 'title: "  two   spaces "'),
    ("title:", 'title: "Caf\u00e9 \u00fcber"'), ("title:", "title: true"),
    ("published:", "published: 2025-09-04"), ("published:", "published: 2025-09-04T18:00:00"),
    ("published:", "published: yesterday"), ("published:", "published:"),
    ("published:", "published: 0001-01-01T00:00:00+01:00"),
    ("published:", "published: 2025-09-04 18:00:00 +08:00"),
    ("views:", "updated: 2025-09-05T09:00:00+08:00"), ("views:", "updated: 2025-09-01T09:00:00Z"),
    ("views:", "updated: nonsense"), ("views:", "updated:"),
    ("views:", "author: Jane Reporter"), ("views:", "author: ''"), ("views:", 'author: "  "'),
    ("views:", "author: 42"), ("views:", 'author: "Jane &amp; Joe"'),
    ("views:", "image: https://example.com/a.jpg"), ("views:", "attachments: []"),
    ("views:", "colour: blue"), ("views:", "views: -3"), ("views:", "views: 1.5"),
    ("views:", "views: true"), ("views:", "views:"), ("views:", "views: '12'"),
    ("draft:", "draft: yes"), ("draft:", "draft: true"), ("draft:", "draft:"),
    ("tags:", "tags: []"), ("tags:", "tags:"), ("tags:", "tags: North Korea, China"),
    ("tags:", "tags: [China, china]"), ("tags:", "tags: [China, CHINA]"),
    ("tags:", "tags: [China, 12]"), ("tags:", 'tags: ["<i>China</i>"]'),
    ("tags:", 'tags: ["!!!"]'), ("tags:", "tags: [a b, a-b]"), ("tags:", "tags: {a: b}"),
    ("summary:", "summary:"), ("summary:", 'summary: "   "'), ("summary:", "summary: 7"),
    ("summary:", 'summary: "a <br> b"'), ("summary:", 'summary: "tab\\there"'),
    ("body:", "body: 12\nx: |"), ("body:", "body: ''\nx: |"),
    ("draft:", "title: Again"),
]  # fmt: skip


def variant(old: str, new: str) -> str:
    lines = BASE.split("\n")
    index = next(i for i, line in enumerate(lines) if line.startswith(old))
    if old == "views:" and not new.startswith("views:"):
        lines.insert(index, new)  # a field BASE does not have
    else:
        lines[index] = new
    return "\n".join(lines)


Outcome = tuple[Article | None, list[Problem], list[tuple[str, str]]]


def both_paths(text: str, slug: str = "a-slug") -> tuple[Outcome, Outcome]:
    """What validate_article (fast path first) and the checked path alone make of ``text``."""
    parsed, problems = parse_yaml(text, f"articles/{slug}.yaml")
    assert parsed is not None, problems
    outcomes = []
    for validate in (validate_article, article_module._checked_article):
        texts: list[tuple[str, str]] = []

        def put(summary: str, body: str, texts: list[tuple[str, str]] = texts) -> int:
            texts.append((summary, body))
            return len(texts)

        made, found = validate(parsed, slug, f"articles/{slug}.yaml", REVISION, put)
        outcomes.append((made, found, texts))
    return outcomes[0], outcomes[1]


def test_base_takes_the_fast_path():
    parsed, _ = parse_yaml(BASE, "articles/a.yaml")
    assert parsed is not None
    made = article_module._well_formed(
        parsed.data, "a", "articles/a.yaml", REVISION, lambda s, b: 1
    )
    assert made is not None and [tag.slug for tag in made.tags] == [
        "north-korea", "china", "diplomacy",
    ]  # fmt: skip


@pytest.mark.parametrize(("old", "new"), VARIANTS)
def test_each_odd_field_gives_what_the_checked_path_gives(old: str, new: str):
    fast, checked = both_paths(variant(old, new))
    assert fast == checked


@pytest.mark.parametrize("slug", ["a-slug", "caf\u00e9", "two words", "a.b", "UPPER"])
def test_slugs(slug: str):
    fast, checked = both_paths(BASE, slug)
    assert fast == checked


def article_texts(tmp_path: Path) -> list[tuple[str, str]]:
    from bench.generate import write_content

    content = write_content(tmp_path / "content", 60, 12, seed=3)
    files = sorted((content / "articles").glob("*.yaml"))
    files += sorted((REPO / "content" / "articles").glob("*.yaml"))
    return [(path.stem.lower(), path.read_text(encoding="utf-8")) for path in files]


def test_real_articles_are_the_checked_paths_and_mostly_fast(tmp_path: Path):
    taken = 0
    for slug, text in article_texts(tmp_path):
        fast, checked = both_paths(text, slug)
        assert fast == checked, slug
        parsed, _ = parse_yaml(text, "x")
        assert parsed is not None
        if isinstance(parsed.data, dict) and not parsed.escapes and not parsed.duplicate_keys:
            taken += (
                article_module._well_formed(parsed.data, slug, "x", REVISION, lambda s, b: 0)
                is not None
            )
    assert taken >= 50  # the generated articles (bundled ones show off rarer fields)


def test_random_edits_of_real_articles(tmp_path: Path):
    rng = random.Random(11)
    texts = article_texts(tmp_path)
    pieces = [" ", "\n", "#", ":", "'", '"', "-", "[", "]", ",", "x", "<b>", "&amp;", "2020", "Z",
              "+25:00", "true", "null", "\n  ", "\nviews: 3", "\ntags: [a, A]"]  # fmt: skip
    compared = 0
    for _ in range(1500):
        slug, text = rng.choice(texts)
        for _ in range(rng.randint(1, 2)):
            at = rng.randrange(len(text) + 1)
            cut = rng.randint(0, 3) if rng.random() < 0.5 else 0
            text = text[:at] + rng.choice(pieces) + text[at + cut :]
        parsed, _ = parse_yaml(text, "x")
        if parsed is None:
            continue
        fast, checked = both_paths(text, slug)
        assert fast == checked, text[:200]
        compared += 1
    assert compared > 500
