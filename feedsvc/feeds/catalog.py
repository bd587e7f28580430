"""Every feed of one content version, by key and by URL path.

A :class:`Catalog` is built once per snapshot (patched from the previous one
after a small edit) and never changes afterwards, except for two bounded memos:
fingerprints and routes of pages and tag combinations resolved on demand.

Its snapshot's tags are the content's plus every tag ever served that has
no article now (an empty entry: its feeds stay valid and empty, see
:mod:`.served_tags`), minus the tags ``site.yaml`` redirects or retires
(their URLs answer 308 or 410, see :mod:`.routing`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType

from feedsvc.content.model import Snapshot, TagEntry
from feedsvc.feeds.spec import FeedSpec, all_feeds, feed_by_key, feed_fingerprint, tag_feed
from feedsvc.feeds.urls import FORMATS, FeedFormat, wsgi_path

MAX_DYNAMIC_ROUTES = 4096  # memoised page / combined-tag URLs per catalog
MAX_FINGERPRINTS = 65536


@dataclass(slots=True)
class Catalog:
    """One content version as served: snapshot, feeds and their URL table."""

    seq: int
    snapshot: Snapshot
    feeds: dict[str, FeedSpec]
    routes: dict[str, tuple[FeedSpec, FeedFormat]]
    loaded_at: datetime
    fingerprints: dict[str, str] = field(default_factory=dict)
    dynamic_routes: dict[str, tuple[FeedSpec, FeedFormat]] = field(default_factory=dict)
    # The loader's own snapshot (``snapshot`` may be a copy with other tags): holding
    # it keeps the text store's files its articles read from open.
    loaded: Snapshot | None = None

    def fingerprint(self, spec: FeedSpec) -> str:
        """Memoised :func:`feed_fingerprint` (the snapshot never changes)."""
        found = self.fingerprints.get(spec.key)
        if found is None:
            if len(self.fingerprints) >= MAX_FINGERPRINTS:
                self.fingerprints.clear()  # pages and tag combinations are unbounded
            found = self.fingerprints[spec.key] = feed_fingerprint(self.snapshot, spec)
        return found


def _add_routes(routes: dict[str, tuple[FeedSpec, FeedFormat]], spec: FeedSpec) -> None:
    # PATH_INFO arrives percent-decoded, so tags are keyed by their raw slug.
    decoded = f"/tags/{spec.tag.slug}" if spec.tag is not None else spec.path
    for fmt in FORMATS.values():
        routes[wsgi_path(f"{decoded}/{fmt.filename}")] = (spec, fmt)


def _drop_routes(routes: dict[str, tuple[FeedSpec, FeedFormat]], slug: str) -> None:
    for fmt in FORMATS.values():
        routes.pop(wsgi_path(f"/tags/{slug}/{fmt.filename}"), None)


def served_snapshot(
    snapshot: Snapshot, served: Mapping[str, str], previous: Catalog | None = None
) -> Snapshot:
    """``snapshot`` with the tags its catalog serves (see the module's docstring).

    An empty entry of the previous catalog is reused while its name is the
    same, so an unchanged empty tag keeps its feed and fingerprint.
    """
    site = snapshot.site
    gone = {*site.retired_tags, *site.redirects}
    missing = sorted(slug for slug in served if slug not in snapshot.tags and slug not in gone)
    if not missing and not gone.intersection(snapshot.tags):
        return snapshot
    old = previous.snapshot.tags if previous is not None else {}
    tags = {slug: entry for slug, entry in snapshot.tags.items() if slug not in gone}
    for slug in missing:
        kept = old.get(slug)
        same = kept is not None and not kept.articles and kept.name == served[slug]
        tags[slug] = kept if same and kept is not None else TagEntry(slug, served[slug], ())
    # Two sorted runs (the content's tags, then the kept ones): Timsort merges them in
    # linear time, so a site with many tags pays no full sort per reload.
    return replace(snapshot, tags=MappingProxyType(dict(sorted(tags.items()))))


def refreshed_catalog(old: Catalog, snapshot: Snapshot) -> Catalog:
    """``old`` with a snapshot of the same version (new problems, the same feeds)."""
    served = replace(snapshot, tags=old.snapshot.tags)
    return replace(old, snapshot=served, loaded=snapshot)


def make_catalog(
    seq: int,
    snapshot: Snapshot,
    now: datetime,
    previous: Catalog | None = None,
    served: Mapping[str, str] | None = None,
) -> Catalog:
    """Index every feed of ``snapshot`` by its URL path.

    With ``previous`` (a reload under the same site settings), its tables are
    copied and only tags whose entry changed are indexed again: a snapshot
    keeps the very :class:`~feedsvc.content.model.TagEntry` of an unchanged tag, so
    its feed, routes and fingerprint carry over as they are. ``served``: every
    tag ever served (slug -> name), kept with an empty feed when it has no article.
    """
    loaded, snapshot = snapshot, served_snapshot(snapshot, served or {}, previous)
    if previous is None or previous.snapshot.site != snapshot.site:
        feeds: dict[str, FeedSpec] = {}
        routes: dict[str, tuple[FeedSpec, FeedFormat]] = {}
        for spec in all_feeds(snapshot):
            feeds[spec.key] = spec
            _add_routes(routes, spec)
        return Catalog(seq, snapshot, feeds, routes, now, loaded=loaded)
    catalog = _patched_catalog(seq, snapshot, now, previous)
    catalog.loaded = loaded
    return catalog


def _patched_catalog(seq: int, snapshot: Snapshot, now: datetime, previous: Catalog) -> Catalog:
    """:func:`make_catalog` from ``previous``: only changed, new and gone tags are touched."""
    old_tags = previous.snapshot.tags
    old_prints = previous.fingerprints
    feeds, routes = previous.feeds.copy(), previous.routes.copy()
    fingerprints: dict[str, str] = {}
    added = 0
    for slug, entry in snapshot.tags.items():
        key = f"tag:{slug}"
        old = old_tags.get(slug)
        if old is entry:
            if key in old_prints:
                fingerprints[key] = old_prints[key]
            continue
        spec = tag_feed(snapshot, slug)
        assert spec is not None
        feeds[key] = spec
        _add_routes(routes, spec)
        added += old is None
    if len(old_tags) + added != len(snapshot.tags):  # some tags are gone
        for slug in old_tags:
            if slug not in snapshot.tags:
                del feeds[f"tag:{slug}"]
                _drop_routes(routes, slug)
    if added:  # pages list feeds in order: main, popular, tags by slug
        feeds = {
            "main": feeds["main"],
            "popular": feeds["popular"],
            **{f"tag:{slug}": feeds[f"tag:{slug}"] for slug in snapshot.tags},
        }
    return Catalog(seq, snapshot, feeds, routes, now, fingerprints)


def changed_feeds(
    old: Catalog, new: Catalog, cached: Callable[[str], bool] | None = None
) -> list[FeedSpec]:
    """First pages (and tag combinations read lately) whose bytes differ between views.

    Combinations are unbounded (any client can invent one), so only those read
    under ``old`` (their fingerprint memoised) are candidates, and with
    ``cached`` only those whose old bytes are still cached (``cached(fingerprint)``):
    the work at a reload follows what readers actually read, not what a
    flood once asked for.
    """
    changed = []
    same_site = old.snapshot.site == new.snapshot.site
    candidates = list(new.feeds.values())
    for catalog in (new, old):
        for spec, _ in catalog.dynamic_routes.values():
            fingerprint = old.fingerprints.get(spec.key)
            if spec.page != 1 or fingerprint is None:
                continue
            if cached is None or cached(fingerprint):
                candidates.append(spec)
    seen: set[str] = set()
    for spec in candidates:
        if spec.key in seen:
            continue
        seen.add(spec.key)
        if same_site and spec.kind == "tag" and spec.page == 1:
            kept = old.feeds.get(spec.key)
            if kept is not None and kept.tag is new.snapshot.tags.get(spec.tags[0].slug):
                continue  # the very same entry: same items, same bytes
        old_spec = feed_by_key(old.snapshot, spec.key)
        new_spec = feed_by_key(new.snapshot, spec.key)
        if new_spec is None:
            continue
        if old_spec is None or old.fingerprint(old_spec) != new.fingerprint(new_spec):
            changed.append(new_spec)
    return changed
