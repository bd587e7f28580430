"""Every budget of feedsvc.content.budgets, each tested with a real hostile file.

Each file is written to disk and read by the real loader: the result is a
snapshot (the bad file reported as ``path:line: field: message``) or, for an
unusable ``site.yaml`` at start, a ContentError naming the file; never an
exception from inside the parser, a hang, or a message the size of the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import NOW, SITE, article, write_yaml

from feedsvc.content.budgets import ARTICLE, MAX_NUMBER_DIGITS, POPULARITY
from feedsvc.content.budgets import SITE as SITE_BUDGET
from feedsvc.content.loader import ContentLoader
from feedsvc.content.model import Snapshot
from feedsvc.problems import MAX_MESSAGE_CHARS, ContentError, Problem

HUGE_INT = "9" * 5000  # Python refuses to convert more than 4,300 digits
# 9 levels of 9 aliases each: 9**10 values once expanded, 1 KB on disk.
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
)


def indented(text: str) -> str:
    return "".join("  " + line + "\n" for line in text.splitlines())


def load(root: Path) -> Snapshot:
    return ContentLoader(root).load(NOW)


def errors_of(snapshot: Snapshot, name: str) -> list[Problem]:
    return [p for p in snapshot.errors if p.path.endswith(name)]


def write_article(root: Path, name: str, text: str) -> None:
    (root / "articles" / name).write_text(text, encoding="utf-8")


ARTICLE_HEAD = "title: Fine\npublished: 2025-01-01T00:00:00Z\nsummary: s\nbody: b\n"


@pytest.mark.parametrize(
    "field",
    ["title", "published", "updated", "author", "summary", "body", "views", "image", "draft",
     "tags", "unknown"],
)  # fmt: skip
@pytest.mark.parametrize("shape", ["{v}", "[{v}]", "{{k: {v}}}", "!!int {v}", "-{v}"])
def test_a_huge_integer_in_any_field_is_one_problem(
    small_content: Path, field: str, shape: str
) -> None:
    lines = [line for line in ARTICLE_HEAD.splitlines() if not line.startswith(field + ":")]
    text = "\n".join(lines) + f"\n{field}: {shape.format(v=HUGE_INT)}\n"
    write_article(small_content, "huge.yaml", text)
    snapshot = load(small_content)
    (problem,) = errors_of(snapshot, "huge.yaml")
    assert str(problem).startswith(f"content/articles/huge.yaml:{len(lines) + 1}: {field}: ")
    assert f"limit {MAX_NUMBER_DIGITS}" in problem.message
    assert len(snapshot.articles) == 3  # the others are served


def test_a_huge_integer_as_a_key_is_one_problem(small_content: Path) -> None:
    write_article(small_content, "huge.yaml", ARTICLE_HEAD + f"? {HUGE_INT}\n: x\n")
    (problem,) = errors_of(load(small_content), "huge.yaml")
    assert problem.line == 5 and "5000 characters" in problem.message


def test_a_huge_integer_in_site_yaml_at_start_names_the_file(small_content: Path) -> None:
    for key in ("items_per_feed", "title", "cache_max_age"):
        text = (small_content / "site.yaml").read_text() + f"{key}: {HUGE_INT}\n"
        (small_content / "site.yaml").write_text(text)
        with pytest.raises(ContentError) as raised:
            load(small_content)
        assert "content/site.yaml:" in str(raised.value) and "limit 30" in str(raised.value)
        write_yaml(small_content / "site.yaml", SITE)


def test_a_huge_integer_in_popularity_yaml_keeps_the_articles_counts(small_content: Path) -> None:
    (small_content / "popularity.yaml").write_text(f"alpha: {HUGE_INT}\n")
    snapshot = load(small_content)
    (problem,) = errors_of(snapshot, "popularity.yaml")
    assert str(problem).startswith("content/popularity.yaml:1: alpha: ")
    assert {a.slug: a.views for a in snapshot.articles}["alpha"] == 50


@pytest.mark.parametrize("where", ["article", "site.yaml", "popularity.yaml"])
def test_an_alias_bomb_is_refused_before_it_is_expanded(small_content: Path, where: str) -> None:
    bomb = f"bomb:\n{indented(BOMB)}"
    if where == "article":
        write_article(small_content, "bomb.yaml", ARTICLE_HEAD + bomb + "tags: *j\n")
        problems = errors_of(load(small_content), "bomb.yaml")
    elif where == "popularity.yaml":
        (small_content / "popularity.yaml").write_text(bomb + "alpha: *j\n")
        problems = errors_of(load(small_content), "popularity.yaml")
    else:
        text = "title: T\nsite_url: https://x.test\n" + bomb + "items_per_feed: *j\n"
        (small_content / "site.yaml").write_text(text)
        with pytest.raises(ContentError) as raised:
            load(small_content)
        problems = raised.value.problems
    (problem,) = [p for p in problems if p.severity == "error"]
    assert problem.field == "bomb"
    assert "once aliases are expanded" in problem.message or "nested deeper" in problem.message


def test_a_bomb_in_site_yaml_at_runtime_keeps_the_last_good_settings(small_content: Path) -> None:
    loader = ContentLoader(small_content)
    loader.load(NOW)
    site = small_content / "site.yaml"
    site.write_text("title: T\nsite_url: https://x.test\nx:\n" + indented(BOMB) + "y: *j\n")
    snapshot = loader.load(NOW)
    assert snapshot.site.title == SITE["title"]
    assert {p.message for p in errors_of(snapshot, "site.yaml")} == {
        f"holds more than {SITE_BUDGET.max_nodes} values once aliases are expanded "
        "(limit for site.yaml)",
        "still serving its last good settings",
    }


def test_a_recursive_alias_is_a_problem(small_content: Path) -> None:
    write_article(small_content, "loop.yaml", ARTICLE_HEAD + "tags: &t [a, *t]\n")
    (problem,) = errors_of(load(small_content), "loop.yaml")
    assert problem.field == "tags" and "refers to the value that contains it" in problem.message


def test_deep_nesting_is_a_problem(small_content: Path) -> None:
    depth = ARTICLE.max_depth + 1
    write_article(small_content, "deep.yaml", ARTICLE_HEAD + "tags: " + "[" * depth + "]" * depth)
    (problem,) = errors_of(load(small_content), "deep.yaml")
    assert problem.field == "tags" and "nested deeper than 16 levels" in problem.message
    write_article(small_content, "deep.yaml", ARTICLE_HEAD + "tags: " + "[" * 5000 + "]" * 5000)
    (problem,) = errors_of(load(small_content), "deep.yaml")
    assert problem.field == "(yaml)"  # libyaml's own limit, worded as a syntax error


def test_popularity_yaml_may_hold_many_articles(small_content: Path) -> None:
    assert POPULARITY.max_nodes >= 2 * 1_000_000
    many = "".join(f"slug-{i}: {i}\n" for i in range(30_000)) + "alpha: 70000\n"
    (small_content / "popularity.yaml").write_text(many)
    snapshot = load(small_content)
    assert snapshot.popular[0].slug == "alpha" and not snapshot.errors


def test_values_echoed_in_messages_are_cut_short(small_content: Path) -> None:
    long_text = "x" * 200_000
    long_article = ARTICLE_HEAD + f"{long_text}: 1\nimage: {long_text}\n"
    write_article(small_content, "long.yaml", long_article)
    write_article(small_content, "date.yaml", f"title: T\npublished: '{long_text}'\n")
    (small_content / "popularity.yaml").write_text(f"{long_text}: -1\n")
    site = {k: v for k, v in SITE.items() if k != "site_url"}
    write_yaml(small_content / "site.yaml", site)
    half = long_text[:100_000]
    text = (small_content / "site.yaml").read_text() + f"site_url: ftp://{half}\n"
    (small_content / "site.yaml").write_text(text + f"n: &n {half}\nnotes: [*n, *n]\n")
    with pytest.raises(ContentError) as raised:
        load(small_content)
    assert len(str(raised.value)) < 2 * (MAX_MESSAGE_CHARS + 200)
    write_yaml(small_content / "site.yaml", SITE)
    snapshot = load(small_content)
    assert snapshot.problems
    assert all(len(str(p)) < MAX_MESSAGE_CHARS + 200 for p in snapshot.problems)


@pytest.mark.parametrize(
    "value",
    ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00", "0001-01-01", "9999-12-31",
     "1899-12-31T23:00:00-02:00", "!!timestamp 0001-01-01", "!!timestamp 9999-12-31 23:00:00 -5",
     "1900-01-01T00:00:00+01:00"],
)  # fmt: skip
def test_dates_leaving_the_range_are_errors(small_content: Path, value: str) -> None:
    write_article(small_content, "when.yaml", f"title: T\npublished: {value}\n")
    (problem,) = errors_of(load(small_content), "when.yaml")
    assert problem.field == "published" and "out of range" in problem.message


WRONG = ["[a, b]", "{a: 1}", "true", "12", "null", "2025-01-01", "-1", "1.5", ".nan", "''",
         "!!binary aGVsbG8=", "!!set {a}", "!!omap [a: 1]", "{? [a]: 1}"]  # fmt: skip


@pytest.mark.parametrize("field", ["title", "published", "updated", "author", "summary", "body",
                                   "views", "image", "draft", "tags"])  # fmt: skip
@pytest.mark.parametrize("value", WRONG)
def test_wrong_types_in_articles_are_served_or_reported(
    small_content: Path, field: str, value: str
) -> None:
    lines = [line for line in ARTICLE_HEAD.splitlines() if not line.startswith(field + ":")]
    write_article(small_content, "odd.yaml", "\n".join(lines) + f"\n{field}: {value}\n")
    loader = ContentLoader(small_content)
    snapshot = loader.load(NOW)
    served = [a for a in loader.all_articles() if a.slug == "odd"]  # drafts too
    assert served or errors_of(snapshot, "odd.yaml")


@pytest.mark.parametrize(
    "line",
    [f"{key}: {value}" for key in ("title", "site_url", "items_per_feed", "cache_max_age",
                                   "popular", "language", "tag_combine_limit")
     for value in WRONG] + ["popular: {items: [1]}", "popular: {window_days: 100000000}",
                            "items_per_feed: 100000000", "popular: {items: true}"],
)  # fmt: skip
def test_wrong_types_in_site_yaml_are_reported(small_content: Path, line: str) -> None:
    key = line.split(":")[0]
    base = {k: v for k, v in SITE.items() if k != key}
    write_yaml(small_content / "site.yaml", base)
    text = (small_content / "site.yaml").read_text() + line + "\n"
    (small_content / "site.yaml").write_text(text)
    try:
        snapshot = load(small_content)
    except ContentError as exc:
        assert all(p.path == "content/site.yaml" for p in exc.problems)
        return
    assert snapshot.site.title  # served: the value was acceptable, or a warning


HOSTILE_PIECES = [HUGE_INT, "-" + HUGE_INT, "*a", "&a", "[", "{", "!!int x", "!!float x",
                  "!!str", "!!timestamp 0001-01-01", "'", '"\\x00"', "? ", "<<: *a",
                  "9999-12-31T23:59-23:59",
                  "\t", "- ", ": ", "|", "%YAML 1.1", "---", "...", "#", "!!binary ===", "~",
                  "!!python/object:os.system ls", "\ufeff", "\x00", "true", "1e999"]  # fmt: skip
KEYS = ["title", "published", "updated", "tags", "views", "draft", "image", "body", "a", "<<"]
piece = st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=8))
line_st = st.tuples(st.sampled_from(KEYS), st.lists(piece, max_size=4), st.integers(0, 4))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(line_st, max_size=8), st.booleans())
def test_hostile_documents_load_or_report_never_raise(
    tmp_path: Path, lines: list[tuple[str, list[str], int]], anchored: bool
) -> None:
    text = "a: &a [1, 2]\n" if anchored else ""
    for key, pieces, indent in lines:
        text += " " * indent + key + ": " + " ".join(pieces) + "\n"
    root = tmp_path / "content"
    write_yaml(root / "site.yaml", SITE)
    write_yaml(root / "articles" / "fine.yaml", article("Fine", "2025-01-01"))
    (root / "articles" / "hostile.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    (root / "popularity.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    snapshot = load(root)  # never raises
    assert any(a.slug == "fine" for a in snapshot.articles)
    served: Any = [a for a in snapshot.articles if a.slug == "hostile"]
    assert served or errors_of(snapshot, "hostile.yaml") or text.strip() == ""
