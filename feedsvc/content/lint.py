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
import zlib
from array import array
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import chain
from operator import attrgetter

from feedsvc.content.model import Article
from feedsvc.problems import Problem

LineOf = Callable[[Article, str], int | None]  # the line of a field in an article's file

# The index as :meth:`CrossArticleIndex.kept` gives it: sorted title hashes, the
# articles of each shared hash, tag spelling counts, the users of each spelling
# of tags spelled several ways.
LintState = tuple[
    "array[int]", dict[int, list[Article]], dict[str, dict[str, int]],
    dict[str, dict[str, list[Article]]],
]  # fmt: skip
_MAX_NAMED = 3  # name at most this many other files in one message


def _title_key(title: str) -> str:
    """Titles that readers would take for the same headline compare equal."""
    if not title.isascii():  # NFKC leaves ASCII as it is
        title = unicodedata.normalize("NFKC", title)
    return " ".join(title.casefold().split())


def _title_hash(title: str) -> int:
    """A title key's hash, the same in every process (str hashes are salted per
    process), so the index can be kept with the parse cache (:mod:`.indexcache`).
    CRC-32 and Adler-32 in C: two titles sharing it only cost a regrouping by
    their keys (:func:`duplicate_titles`), never a false warning."""
    key = _title_key(title).encode("utf-8", "surrogatepass")
    return zlib.crc32(key) << 31 ^ zlib.adler32(key)


def _repeated(hashes: list[int]) -> set[int]:
    """The values found more than once (counted in C: this runs for every article at start)."""
    if len(set(hashes)) == len(hashes):
        return set()
    return {value for value, count in Counter(hashes).items() if count > 1}


def _spelling_counts(articles: list[Article]) -> dict[str, dict[str, int]]:
    """How many articles use each spelling of each tag (slug -> name -> count).

    Counted by tag object in C (tags are shared instances, and a Tag hashes in
    Python), then folded by spelling: ~2x faster than a loop over every use.
    """
    uses = list(chain.from_iterable(map(attrgetter("tags"), articles)))
    by_object = dict(zip(map(id, uses), uses, strict=True))
    spellings: dict[str, dict[str, int]] = {}
    for key, count in Counter(map(id, uses)).items():
        tag = by_object[key]
        names = spellings.setdefault(tag.slug, {})
        names[tag.name] = names.get(tag.name, 0) + count
    return spellings


def _others(sources: list[str], own: str) -> str:
    others = sorted(s for s in sources if s != own)
    named = ", ".join(others[:_MAX_NAMED])
    more = len(others) - _MAX_NAMED
    return named + (f" and {more} more" if more > 0 else "")


def duplicate_titles(articles: Iterable[Article], line_of: LineOf) -> list[Problem]:
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
                    line_of(article, "title"),
                    "warning",
                )
            )
    return problems


def _spelling_problem(
    article: Article, slug: str, name: str, preferred: str, count: int, line_of: LineOf
) -> Problem:
    return Problem(
        article.source,
        "tags",
        f"tag {name!r} is spelled {preferred!r} in {count} other "
        f"article(s); both are the tag {slug!r}",
        line_of(article, "tags"),
        "warning",
    )


def _remove_same(items: list[Article], article: Article) -> None:
    for index, item in enumerate(items):
        if item is article:
            del items[index]
            return


class CrossArticleIndex:
    """The checks that span articles (duplicate titles, tag spellings), kept up to date.

    Checking every title and tag of 10k articles took a sixth of a reload
    after a one-file edit. This index keeps what the checks need between
    reloads and reports only the problems that changed:

    * titles: a sorted array of the hash of each article's title key (8 bytes
      an article, where a dict of keys was 10 MB at 100k articles); only
      hashes seen twice or more get a group of their articles, gathered by
      one pass over the articles when a hash becomes shared (rare: a title
      filed twice);
    * tags: how many articles use each spelling of each tag (a few thousand
      small dicts), and for the few tags spelled several ways, which
      articles use which spelling.

    ``articles`` lists every article (for gathering groups); ``line_of`` finds
    a field's line in an article's file. Not thread-safe (the loader's lock).
    """

    def __init__(self, articles: Callable[[], Iterable[Article]], line_of: LineOf) -> None:
        self._articles = articles
        self._line_of = line_of
        self._hashes = array("q")
        self._groups: dict[int, list[Article]] = {}
        self._spellings: dict[str, dict[str, int]] = {}
        self._users: dict[str, dict[str, list[Article]]] = {}
        self._dirty_titles: set[int] = set()
        self._dirty_tags: set[str] = set()
        self._title_problems: dict[int, list[Problem]] = {}
        self._tag_problems: dict[str, list[Problem]] = {}

    def reset(self, articles: Iterable[Article]) -> None:
        """Index ``articles`` from scratch; :meth:`changes` then reports the difference."""
        articles = list(articles)
        hashes = [_title_hash(a.title) for a in articles]
        ordered = array("q", sorted(hashes))
        shared = _repeated(hashes)
        groups: dict[int, list[Article]] = {h: [] for h in shared}
        if groups:
            for article, title_hash in zip(articles, hashes, strict=True):
                if title_hash in groups:
                    groups[title_hash].append(article)
        spellings = _spelling_counts(articles)
        several = {slug for slug, names in spellings.items() if len(names) > 1}
        self._dirty_titles |= set(self._title_problems) | shared
        self._dirty_tags |= set(self._tag_problems) | several
        self._hashes, self._groups, self._spellings = ordered, groups, spellings
        self._users = self._gather_users(several, articles)

    def kept(self) -> LintState:
        """What :meth:`reset` computed (for :meth:`restore` in a later process)."""
        return self._hashes, self._groups, self._spellings, self._users

    def restore(self, kept: LintState) -> None:
        """:meth:`reset` from what :meth:`kept` gave for the same articles (trusted:
        :mod:`.indexcache` checks that they are)."""
        self._hashes, self._groups, self._spellings, self._users = kept
        self._dirty_titles |= set(self._title_problems) | set(self._groups)
        self._dirty_tags |= set(self._tag_problems) | set(self._users)

    def replace(self, old: Article | None, new: Article | None) -> None:
        """One article changed (``None``: it was added, or removed)."""
        if old is not None:
            self._remove(old)
        if new is not None:
            self._add(new)

    def _add(self, article: Article) -> None:
        title_hash = _title_hash(article.title)
        insort(self._hashes, title_hash)
        group = self._groups.get(title_hash)
        if group is not None:
            group.append(article)
        self._dirty_titles.add(title_hash)
        for tag in article.tags:
            names = self._spellings.setdefault(tag.slug, {})
            names[tag.name] = names.get(tag.name, 0) + 1
            users = self._users.get(tag.slug)
            if users is not None:
                users.setdefault(tag.name, []).append(article)
            self._dirty_tags.add(tag.slug)

    def _remove(self, article: Article) -> None:
        title_hash = _title_hash(article.title)
        index = bisect_left(self._hashes, title_hash)
        if index < len(self._hashes) and self._hashes[index] == title_hash:
            del self._hashes[index]
        group = self._groups.get(title_hash)
        if group is not None:
            _remove_same(group, article)
        self._dirty_titles.add(title_hash)
        for tag in article.tags:
            names = self._spellings.get(tag.slug)
            if names is None or tag.name not in names:
                continue
            names[tag.name] -= 1
            if not names[tag.name]:
                del names[tag.name]
                if not names:
                    del self._spellings[tag.slug]
            users = self._users.get(tag.slug)
            if users is not None and tag.name in users:
                _remove_same(users[tag.name], article)
                if not users[tag.name]:
                    del users[tag.name]
            self._dirty_tags.add(tag.slug)

    def _count(self, title_hash: int) -> int:
        return bisect_right(self._hashes, title_hash) - bisect_left(self._hashes, title_hash)

    def _gather_users(
        self, slugs: set[str], articles: Iterable[Article]
    ) -> dict[str, dict[str, list[Article]]]:
        users: dict[str, dict[str, list[Article]]] = {slug: {} for slug in slugs}
        if slugs:
            for article in articles:
                for tag in article.tags:
                    if tag.slug in users:
                        users[tag.slug].setdefault(tag.name, []).append(article)
        return users

    def changes(self) -> tuple[list[Problem], list[Problem]]:
        """Problems gone and problems new since the last call."""
        new_titles = {h for h in self._dirty_titles if h not in self._groups and self._count(h) > 1}
        new_tags = {
            slug
            for slug in self._dirty_tags
            if slug not in self._users and len(self._spellings.get(slug, ())) > 1
        }
        if new_titles or new_tags:  # a title or tag just became shared: find who shares it
            articles = list(self._articles())
            for title_hash in new_titles:
                self._groups[title_hash] = []
            if new_titles:
                for article in articles:
                    title_hash = _title_hash(article.title)
                    if title_hash in new_titles:
                        self._groups[title_hash].append(article)
            self._users.update(self._gather_users(new_tags, articles))
        gone: list[Problem] = []
        new: list[Problem] = []
        for title_hash in self._dirty_titles:
            group = self._groups.get(title_hash)
            if group is not None and len(group) < 2:
                del self._groups[title_hash]
                group = None
            gone += self._title_problems.pop(title_hash, ())
            found = duplicate_titles(group, self._line_of) if group else []
            if found:
                self._title_problems[title_hash] = found
                new += found
        for slug in self._dirty_tags:
            names = self._spellings.get(slug, {})
            if len(names) < 2:
                self._users.pop(slug, None)
            gone += self._tag_problems.pop(slug, ())
            found = self._spelling_problems(slug) if len(names) > 1 else []
            if found:
                self._tag_problems[slug] = found
                new += found
        self._dirty_titles.clear()
        self._dirty_tags.clear()
        return gone, new

    def _spelling_problems(self, slug: str) -> list[Problem]:
        """A warning in each file that spells the tag ``slug`` differently from most others.

        All spellings of one slug are one tag; the most used spelling (ties: the
        alphabetically first) is taken as intended, and every file using another
        spelling is named, so an editor can fix exactly those.
        """
        counts = self._spellings[slug]
        users = self._users[slug]
        preferred = min(counts, key=lambda name: (-counts[name], name))
        return [
            _spelling_problem(article, slug, name, preferred, counts[preferred], self._line_of)
            for name in sorted(counts)
            if name != preferred
            for article in users.get(name, ())
        ]


def future_problems(articles: Iterable[Article], now: datetime, line_of: LineOf) -> list[Problem]:
    """A warning for each non-draft article dated after ``now`` (scheduled or a typo)."""
    return [
        Problem(
            article.source,
            "published",
            f"is in the future ({article.published.isoformat()}); not in feeds until then",
            line_of(article, "published"),
            "warning",
        )
        for article in articles
        if not article.draft and article.published > now
    ]
