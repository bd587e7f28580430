"""The orders the snapshot indexes keep articles in, and removal by bisection.

Split from :mod:`feedsvc.content.index` so the sort keys, which define the
feeds' order, read in one place: newest first (ties by slug), and the order
of updates for articles updated after publication.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from feedsvc.content.model import Article


def newest_first_key(article: Article) -> tuple[float, str]:
    return (-article.published.timestamp(), article.slug)


def published_key(article: Article) -> float:
    # Sorted by ``newest_first_key`` means sorted by this too (ties aside),
    # so a date can be found by bisection. Timestamps keep the order of
    # microsecond datetimes exactly (a double resolves 0.25 µs at today's dates).
    return -article.published.timestamp()


def update_only_key(article: Article) -> float:
    updated = article.updated
    assert updated is not None  # only articles updated after publication are in that order
    return -updated.timestamp()


def update_key(article: Article) -> tuple[float, str]:
    return (update_only_key(article), article.slug)


def remove_from(items: list[Article], article: Article, key: Callable[[Article], Any]) -> None:
    """Remove ``article`` (by identity) from a list sorted by ``key``."""
    index = bisect_left(items, key(article), key=key)
    if index < len(items) and items[index] is article:
        del items[index]
        return
    for index, item in enumerate(items):  # not where its key says: the list was not kept sorted
        if item is article:
            del items[index]
            return
    raise ValueError(f"{article.slug} is not in the index")


def grouped_by_tag(ordered: list[Article]) -> dict[str, list[Article]]:
    """The articles of each tag (by slug), in the order of ``ordered``."""
    by_tag: dict[str, list[Article]] = {}
    find = by_tag.get
    for article in ordered:
        for tag in article.tags:
            items = find(tag.slug)
            if items is None:
                by_tag[tag.slug] = [article]
            else:
                items.append(article)
    return by_tag
