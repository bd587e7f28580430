"""The sorted indexes a :class:`~feedsvc.content.model.Snapshot` is cut from.

Kept up to date one article at a time by the loader, so that a one-file edit
costs a few bisections rather than re-sorting every article.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from operator import is_
from types import MappingProxyType

from feedsvc.content.model import Article, Snapshot, TagEntry
from feedsvc.content.orders import (
    grouped_by_tag,
    newest_first_key,
    published_key,
    remove_from,
    update_key,
    update_only_key,
)
from feedsvc.content.site import SiteSettings
from feedsvc.problems import Problem


def _token(article: Article, views: int) -> int:
    """One article's share of a snapshot's version (see :meth:`SnapshotBuilder.build`)."""
    digest = hashlib.blake2b(
        f"{article.slug}\0{article.revision}\0{views}".encode(), digest_size=16
    ).digest()
    return int.from_bytes(digest, "big")


def ranked_by_views(
    ordered: list[Article], overrides: Mapping[str, int]
) -> tuple[list[Article], int]:
    """What depends on the view counts: the non-drafts ``ordered`` (newest first) by
    views, and the version's token sum (kept apart by :mod:`.indexcache`)."""
    # Stable: ties stay newest first, i.e. the order ``_views_key`` describes.
    by_views = sorted(ordered, key=lambda a: -overrides.get(a.slug, a.views))
    return by_views, sum(_token(a, overrides.get(a.slug, a.views)) for a in ordered)


# Non-drafts newest first, by tag, by views, updated ones by update; the version's token sum.
Orders = tuple[list[Article], dict[str, list[Article]], list[Article], list[Article], int]
# id of an article -> (the article, the version shown now: without its update if not due)
_Shown = dict[int, tuple[Article, Article]]


def _same_entry(old: TagEntry, new: TagEntry) -> bool:
    return (
        old.name == new.name
        and len(old.articles) == len(new.articles)
        and all(map(is_, old.articles, new.articles))
    )


class SnapshotBuilder:
    """The sorted indexes snapshots are cut from, patched one article at a time.

    A fresh build sorts every article by date and by views and regroups them
    by tag: at 10k articles that was most of the work after a one-file edit.
    The builder keeps those orders instead (every non-draft article, newest
    first; per tag; by views) and an edit moves one article in each, by
    bisection. :meth:`build` then cuts the snapshot for a moment: articles
    not yet due are a prefix of the date order, so everything time-dependent
    is found by bisection too, and only tags whose articles changed (or fell
    due) get a new :class:`TagEntry`; the others keep the previous snapshot's
    objects, which lets the service keep their feeds without looking.

    A fresh build is :meth:`reset` then :meth:`build`; patching gives exactly
    that result (``tests/test_incremental.py``). Not thread-safe: the loader
    uses it under its lock.
    """

    def __init__(
        self,
        site: SiteSettings,
        views_override: Mapping[str, int] | None = None,
        *,
        text_epoch: int = 0,
    ) -> None:
        self._site = site
        # How many times the text store was compacted before these articles were
        # indexed: part of the version (see :meth:`_version`).
        self._text_epoch = text_epoch
        self._overrides: dict[str, int] = dict(views_override or {})
        self._ordered: list[Article] = []  # non-drafts, newest first
        self._by_tag: dict[str, list[Article]] = {}  # slug -> non-drafts with it, newest first
        self._by_views: list[Article] = []  # non-drafts, most viewed first, ties newest first
        self._by_update: list[Article] = []  # non-drafts updated after publication, latest first
        self._token_sum = 0
        self._touched: set[str] = set()  # tags whose entry must be cut again
        self._tags: dict[str, TagEntry] | None = None  # the last build's, None: cut all
        self._future: dict[int, Article] = {}  # id -> article not yet due at the last build
        self._shown: dict[int, tuple[Article, Article]] = {}  # id -> (article, version shown)

    def __len__(self) -> int:
        return len(self._ordered)

    def _views_key(self, article: Article) -> tuple[int, float, str]:
        views = self._overrides.get(article.slug, article.views)
        return (-views, -article.published.timestamp(), article.slug)

    def _views_of(self, article: Article) -> int:
        return self._overrides.get(article.slug, article.views)

    @staticmethod
    def _has_update(article: Article) -> bool:
        # Only an update after publication can be due later than the article itself.
        return article.updated is not None and article.updated > article.published

    # -- changing the content -------------------------------------------------

    def reset(self, articles: Iterable[Article]) -> None:
        """Index ``articles`` from scratch (a first load, or many files changed)."""
        ordered = sorted((a for a in articles if not a.draft), key=newest_first_key)
        by_views, tokens = ranked_by_views(ordered, self._overrides)
        by_update = sorted(filter(self._has_update, ordered), key=update_key)
        self.restore((ordered, grouped_by_tag(ordered), by_views, by_update, tokens))

    @property
    def orders(self) -> Orders:
        """What :meth:`reset` sorted and summed (kept across restarts: :mod:`.indexcache`)."""
        return self._ordered, self._by_tag, self._by_views, self._by_update, self._token_sum

    def restore(self, orders: Orders) -> None:
        """:meth:`reset` from its :attr:`orders` for the same articles and views
        (trusted: :mod:`.indexcache` checks that they are)."""
        self._ordered, self._by_tag, self._by_views, self._by_update, self._token_sum = orders
        self._tags, self._touched = None, set()

    def add(self, article: Article) -> None:
        """Index one article (drafts are in no feed and are ignored)."""
        if article.draft:
            return
        insort(self._ordered, article, key=newest_first_key)
        for tag in article.tags:
            insort(self._by_tag.setdefault(tag.slug, []), article, key=newest_first_key)
            self._touched.add(tag.slug)
        insort(self._by_views, article, key=self._views_key)
        if self._has_update(article):
            insort(self._by_update, article, key=update_key)
        self._token_sum += _token(article, self._views_of(article))

    def remove(self, article: Article) -> None:
        """Forget one article added before (the very object)."""
        if article.draft:
            return
        remove_from(self._ordered, article, newest_first_key)
        for tag in article.tags:
            items = self._by_tag[tag.slug]
            remove_from(items, article, newest_first_key)
            if not items:
                del self._by_tag[tag.slug]
            self._touched.add(tag.slug)
        remove_from(self._by_views, article, self._views_key)
        if self._has_update(article):
            remove_from(self._by_update, article, update_key)
        self._token_sum -= _token(article, self._views_of(article))

    def set_site(self, site: SiteSettings) -> None:
        """New site settings (titles, feed sizes, the popularity window)."""
        self._site = site

    def set_views_override(self, views_override: Mapping[str, int]) -> None:
        """New ``popularity.yaml`` counts: the popularity order is sorted again."""
        overrides = dict(views_override)
        if overrides == self._overrides:
            return
        self._overrides = overrides
        self._by_views, self._token_sum = ranked_by_views(self._ordered, overrides)

    def future(self, now: datetime) -> list[Article]:
        """Non-draft articles dated after ``now``, newest first."""
        return self._ordered[: bisect_left(self._ordered, -now.timestamp(), key=published_key)]

    # -- cutting a snapshot ---------------------------------------------------

    def _tag_entry(self, slug: str, now_key: float, shown: _Shown) -> TagEntry | None:
        items = self._by_tag.get(slug)
        if not items:
            return None
        start = bisect_left(items, now_key, key=published_key)
        if start == len(items):
            return None
        visible = items[start:]
        for article, version in shown.values():
            if any(tag.slug == slug for tag in article.tags):
                index = bisect_left(visible, newest_first_key(article), key=newest_first_key)
                visible[index] = version
        # The newest article's spelling names the tag.
        name = next(tag.name for tag in visible[0].tags if tag.slug == slug)
        return TagEntry(slug=slug, name=name, articles=tuple(visible))

    def build(self, now: datetime, problems: tuple[Problem, ...] = ()) -> Snapshot:
        """The snapshot visible at ``now``; ``problems`` sorted and unique already."""
        site = self._site
        now_key = -now.timestamp()
        due_from = bisect_left(self._ordered, now_key, key=published_key)
        future, visible = self._ordered[:due_from], self._ordered[due_from:]
        shown = self._updates_not_due(now, now_key)
        for article, until in shown.values():
            index = bisect_left(visible, newest_first_key(article), key=newest_first_key)
            visible[index] = until
        future_ids = {id(a): a for a in future}
        tags = self._cut_tags(self._tags_to_cut(future_ids, shown), now_key, shown)
        popular, ranked, window_moves_at = self._popular(now, visible, future)
        popular = self._with_enough_views(popular)
        for article, until in shown.values():
            index = bisect_left(popular, self._views_key(article), key=self._views_key)
            if index < len(popular) and popular[index] is article:
                popular[index] = until
        upcoming = [a.published for a in future[-1:]]
        upcoming += [a.updated for a, _ in shown.values() if a.updated is not None]
        if window_moves_at is not None:
            upcoming.append(window_moves_at)
        version = self._version(len(visible), ranked, future, shown)
        self._tags, self._future, self._shown = tags, future_ids, shown
        return Snapshot(
            site=site,
            articles=tuple(visible),
            tags=MappingProxyType(tags),
            popular=tuple(popular),
            problems=problems,
            version=version,
            built_at=now,
            next_change_at=min(upcoming) if upcoming else None,
        )

    def _updates_not_due(self, now: datetime, now_key: float) -> _Shown:
        """Visible articles whose update is not due yet, each with the version shown
        until it is (without the update).

        The version is the previous build's object while the article is the
        same, so that unchanged tags keep entries that compare equal.
        """
        shown: _Shown = {}
        not_due = self._by_update[: bisect_left(self._by_update, now_key, key=update_only_key)]
        for article in not_due:
            if article.published > now:
                continue
            known = self._shown.get(id(article))
            if known is not None and known[0] is article:
                shown[id(article)] = known
                continue
            until = replace(
                article,
                updated=None,
                packed_revision=f"{article.revision}:until-{article.updated}",
            )
            shown[id(article)] = (article, until)
        return shown

    def _tags_to_cut(self, future_ids: dict[int, Article], shown: _Shown) -> set[str]:
        """Edited tags, and those of articles that fell due (or whose update did)
        since the last build."""
        touched, self._touched = self._touched, set()
        moved = [a for key, a in future_ids.items() if key not in self._future]
        moved += [a for key, a in self._future.items() if key not in future_ids]
        moved += [pair[0] for key, pair in shown.items() if key not in self._shown]
        moved += [pair[0] for key, pair in self._shown.items() if key not in shown]
        for article in moved:
            touched.update(tag.slug for tag in article.tags)
        return touched

    def _cut_tags(self, touched: set[str], now_key: float, shown: _Shown) -> dict[str, TagEntry]:
        """Every visible tag's entry, in slug order: the last build's, cut again where touched."""
        if self._tags is None:
            tags: dict[str, TagEntry] = {}
            for slug in sorted(self._by_tag):
                entry = self._tag_entry(slug, now_key, shown)
                if entry is not None:
                    tags[slug] = entry
            return tags
        tags = self._tags.copy()
        reorder = False
        for slug in touched:
            entry = self._tag_entry(slug, now_key, shown)
            old = tags.get(slug)
            if entry is None:
                if old is not None:
                    del tags[slug]
            elif old is None:
                tags[slug] = entry
                reorder = True
            elif not _same_entry(old, entry):
                tags[slug] = entry
        if reorder:
            tags = {slug: tags[slug] for slug in sorted(tags)}
        return tags

    def _popular(
        self, now: datetime, visible: list[Article], future: list[Article]
    ) -> tuple[list[Article], int, datetime | None]:
        """The popularity ranking at ``now``, how many visible articles it ranks,
        and when the popularity window next drops an article (``None``: no window)."""
        window_days = self._site.popular_window_days
        if window_days > 0:
            window = timedelta(days=window_days)
            cutoff = now - window
            ranked = bisect_left(visible, -cutoff.timestamp(), key=published_key)
            moves_at = visible[ranked - 1].published + window if ranked else None
            return [a for a in self._by_views if cutoff < a.published <= now], ranked, moves_at
        popular = list(self._by_views)
        if len(future) > 64:
            popular = [a for a in popular if a.published <= now]
        else:
            for article in future:
                remove_from(popular, article, self._views_key)
        return popular, len(visible), None

    def _with_enough_views(self, popular: list[Article]) -> list[Article]:
        """The ranking cut where views fall below ``popular.min_views`` (most viewed first)."""
        least = self._site.popular_min_views
        end = bisect_right(popular, -least, key=lambda a: -self._views_of(a))
        return popular if end == len(popular) else popular[:end]

    def _version(self, visible: int, ranked: int, future: list[Article], shown: _Shown) -> str:
        """The snapshot's version: a digest of the site settings, how many articles are
        visible and ranked for popularity, and the sum (mod 2**128) of a 128-bit hash of
        each visible article's slug, revision and views.

        A sum can be kept up to date one article at a time (see :meth:`add`), and the
        visible set with those fields determines every feed's items and order.

        After a text store compaction (``text_epoch``) every article is a new
        object reading another file, with the same fields: the version changes
        too, or the service would keep serving the previous catalog's feed
        specs, whose articles read a file the compaction has closed.
        """
        total = self._token_sum - sum(_token(a, self._views_of(a)) for a in future)
        for article, version in shown.values():
            views = self._views_of(article)
            total += _token(version, views) - _token(article, views)
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr(self._site).encode())
        digest.update(f"{visible}\0{ranked}\0{total % (1 << 128)}".encode())
        if self._text_epoch:  # absent before any compaction: versions stay as they were
            digest.update(f"\0text epoch {self._text_epoch}".encode())
        return digest.hexdigest()
