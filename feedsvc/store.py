"""The article store: articles and the immutable snapshot built from them.

A :class:`Snapshot` is everything the feeds need at one content version:
visible articles newest first, the tag index and the popularity ranking. It
is built whole, off to the side, and swapped in with one reference, so a
request never sees half a reload. This module knows nothing of HTTP or XML.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from .config import SiteSettings
from .problems import Problem
from .textstore import get_text


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag as written by an editor, with its URL slug."""

    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class Article:
    """One validated article file.

    The summary and the Markdown body are not held here but in the process's
    text store (:mod:`feedsvc.textstore`; ``text_ref`` from
    :func:`~feedsvc.textstore.put_text`) and read through :attr:`summary` and
    :attr:`body`: they are most of an archive's memory, and only the few
    articles a feed renders ever need them.
    """

    slug: str
    title: str
    published: datetime
    text_ref: int
    tags: tuple[Tag, ...] = ()
    updated: datetime | None = None
    author: str | None = None
    views: int = 0
    image: str | None = None
    draft: bool = False
    source: str = ""
    revision: str = ""

    @property
    def summary(self) -> str:
        """The plain-text summary (read from the text store on each access)."""
        return get_text(self.text_ref)[0]

    @property
    def body(self) -> str:
        """The Markdown body (read from the text store; renderers cache their HTML)."""
        return get_text(self.text_ref)[1]

    @property
    def modified(self) -> datetime:
        """When the article last changed: ``updated`` if given, else ``published``."""
        if self.updated is not None and self.updated > self.published:
            return self.updated
        return self.published


@dataclass(frozen=True, slots=True)
class TagEntry:
    """A tag's display name and its visible articles, newest first."""

    slug: str
    name: str
    articles: tuple[Article, ...]


def _newest_first_key(article: Article) -> tuple[float, str]:
    return (-article.published.timestamp(), article.slug)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Immutable view of the content at one version."""

    site: SiteSettings
    articles: tuple[Article, ...]
    tags: Mapping[str, TagEntry]
    popular: tuple[Article, ...]
    views: Mapping[str, int]
    problems: tuple[Problem, ...]
    version: str
    built_at: datetime
    next_change_at: datetime | None

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Problems of severity ``error`` (warnings excluded)."""
        return tuple(p for p in self.problems if p.severity == "error")


def build_snapshot(
    site: SiteSettings,
    articles: Iterable[Article],
    *,
    now: datetime,
    views_override: Mapping[str, int] | None = None,
    problems: Iterable[Problem] = (),
) -> Snapshot:
    """Build the snapshot visible at ``now`` from validated articles.

    Drafts are left out; articles dated after ``now`` are left out and their
    publication time becomes ``next_change_at`` so the service rebuilds then.
    Likewise an ``updated`` date in the future is not shown until it is due
    (nothing in a feed is dated in the future).
    Popularity comes from ``views_override`` (``popularity.yaml``) before the
    article's own ``views``; ties rank the newer article first.
    """
    overrides = views_override or {}
    all_articles = list(articles)
    visible = sorted(
        (a for a in all_articles if not a.draft and a.published <= now), key=_newest_first_key
    )
    upcoming = [a.published for a in all_articles if not a.draft and a.published > now]
    for index, article in enumerate(visible):
        if article.updated is not None and article.updated > now:
            upcoming.append(article.updated)
            # A different revision: the feed must re-render when the update becomes due.
            visible[index] = replace(
                article, updated=None, revision=f"{article.revision}:until-{article.updated}"
            )

    by_tag: dict[str, list[Article]] = {}
    names: dict[str, str] = {}
    for article in visible:  # newest first, so the newest spelling names the tag
        for tag in article.tags:
            by_tag.setdefault(tag.slug, []).append(article)
            names.setdefault(tag.slug, tag.name)
    tags = {
        slug: TagEntry(slug=slug, name=names[slug], articles=tuple(items))
        for slug, items in sorted(by_tag.items())
    }

    views = {a.slug: overrides.get(a.slug, a.views) for a in visible}
    ranked = visible
    if site.popular_window_days > 0:
        window = timedelta(days=site.popular_window_days)
        ranked = [a for a in visible if a.published > now - window]
        upcoming += [a.published + window for a in ranked]
    # ``ranked`` is already newest first and sorting is stable, so ties keep that
    # order without computing the date key again for every article.
    popular = sorted(ranked, key=lambda a: -views[a.slug])

    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(site).encode())
    for article in visible:
        digest.update(f"{article.slug}\0{article.revision}\0{views[article.slug]}\n".encode())
    digest.update(repr([a.slug for a in popular]).encode())

    return Snapshot(
        site=site,
        articles=tuple(visible),
        tags=MappingProxyType(tags),
        popular=tuple(popular),
        views=MappingProxyType(views),
        problems=tuple(sorted(set(problems))),
        version=digest.hexdigest(),
        built_at=now,
        next_change_at=min(upcoming) if upcoming else None,
    )
