"""Checks that look at several articles at once, or at the clock.

A single file can be valid and still be a mistake next to the others: two
articles with one headline (a story filed twice), or one tag spelled two
ways ("North Korea" here, "north korea" there) that readers see as one tag
named after whichever article is newest. These are warnings: the feeds stay
correct, but an editor should look.

The loader adds these problems to every snapshot, so ``feedsvc check``,
the server log and ``/healthz`` report them alike.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from .problems import Problem
from .store import Article

Lines = Mapping[str, Mapping[str, int]]  # article.source -> field -> line

_MAX_NAMED = 3  # name at most this many other files in one message


def _title_key(title: str) -> str:
    """Titles that readers would take for the same headline compare equal."""
    return " ".join(unicodedata.normalize("NFKC", title).casefold().split())


def _others(sources: list[str], own: str) -> str:
    others = sorted(s for s in sources if s != own)
    named = ", ".join(others[:_MAX_NAMED])
    more = len(others) - _MAX_NAMED
    return named + (f" and {more} more" if more > 0 else "")


def duplicate_titles(articles: Iterable[Article], lines: Lines) -> list[Problem]:
    """A warning in each file whose title another article also has."""
    by_title: dict[str, list[Article]] = {}
    for article in articles:
        by_title.setdefault(_title_key(article.title), []).append(article)
    problems = []
    for group in by_title.values():
        if len(group) < 2:
            continue
        sources = [a.source for a in group]
        for article in group:
            problems.append(
                Problem(
                    article.source,
                    "title",
                    f"same title as {_others(sources, article.source)}",
                    lines.get(article.source, {}).get("title"),
                    "warning",
                )
            )
    return problems


def tag_spellings(articles: Iterable[Article], lines: Lines) -> list[Problem]:
    """A warning in each file that spells a tag differently from most others.

    All spellings of one slug are one tag; the most used spelling (ties: the
    alphabetically first) is taken as intended, and every file using another
    spelling is named, so an editor can fix exactly those.
    """
    articles = list(articles)
    # Most tags have one spelling: find the few that have several first, and
    # count only those (a Counter per tag costs a tenth of a 10k-article reload).
    first: dict[str, str] = {}
    several: set[str] = set()
    for article in articles:
        for tag in article.tags:
            if first.setdefault(tag.slug, tag.name) != tag.name:
                several.add(tag.slug)
    if not several:
        return []
    spellings: dict[str, Counter[str]] = {}
    users: dict[tuple[str, str], list[Article]] = {}
    for article in articles:
        for tag in article.tags:
            if tag.slug in several:
                spellings.setdefault(tag.slug, Counter())[tag.name] += 1
                users.setdefault((tag.slug, tag.name), []).append(article)
    problems = []
    for slug, counts in spellings.items():
        if len(counts) < 2:
            continue
        preferred = min(counts, key=lambda name: (-counts[name], name))
        for name in sorted(counts):
            if name == preferred:
                continue
            for article in users[(slug, name)]:
                problems.append(
                    Problem(
                        article.source,
                        "tags",
                        f"tag {name!r} is spelled {preferred!r} in {counts[preferred]} other "
                        f"article(s); both are the tag {slug!r}",
                        lines.get(article.source, {}).get("tags"),
                        "warning",
                    )
                )
    return problems


def cross_article_problems(articles: Iterable[Article], lines: Lines) -> list[Problem]:
    """Every check that spans articles (duplicate titles, tag spellings)."""
    articles = list(articles)
    return [*duplicate_titles(articles, lines), *tag_spellings(articles, lines)]


def future_problems(articles: Iterable[Article], now: datetime, lines: Lines) -> list[Problem]:
    """A warning for each non-draft article dated after ``now`` (scheduled or a typo)."""
    return [
        Problem(
            article.source,
            "published",
            f"is in the future ({article.published.isoformat()}); not in feeds until then",
            lines.get(article.source, {}).get("published"),
            "warning",
        )
        for article in articles
        if not article.draft and article.published > now
    ]
