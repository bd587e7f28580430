"""feeds/catalog.py: which feeds changed between two catalogs, at a cost that follows reads.

Real snapshots loaded from real files; the second is the first with one article edited.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from support import NOW, write_yaml

from feedsvc.content.loader import ContentLoader
from feedsvc.feeds.catalog import Catalog, changed_feeds, make_catalog
from feedsvc.feeds.routing import lookup

COMBOS = ["/tags/china+health/rss.xml", "/tags/china+north-korea/rss.xml",
          "/tags/health+north-korea/rss.xml"]  # fmt: skip


def _catalogs(content: Path, read: list[str]) -> tuple[Catalog, Catalog]:
    """The catalog before and after an edit of gamma (tag Health); ``read`` served before."""
    old = make_catalog(1, ContentLoader(content).load(), NOW)
    for path in COMBOS:
        route = lookup(old, path)  # remembered (memoised route) ...
        assert route is not None
        if path in read:
            old.fingerprint(route[0])  # ... and served (fingerprint computed)
    gamma = content / "articles" / "gamma.yaml"
    data = yaml.safe_load(gamma.read_text())
    data["title"] = "Gamma, edited"
    write_yaml(gamma, data)
    return old, make_catalog(2, ContentLoader(content).load(), NOW, previous=old)


def test_combinations_count_only_when_read_and_still_cached(small_content: Path):
    old, new = _catalogs(small_content, read=COMBOS[:2])
    everything = {spec.key for spec in changed_feeds(old, new)}
    assert {"main", "popular", "tag:health", "tags:china+health"} <= everything
    assert "tags:health+north-korea" not in everything  # remembered, never served
    assert "tags:china+north-korea" not in everything  # served, unchanged
    assert "tag:china" not in everything
    nothing_cached = {spec.key for spec in changed_feeds(old, new, cached=lambda fp: False)}
    assert nothing_cached == everything - {"tags:china+health"}
    cached = old.fingerprints["tags:china+health"]
    only = {spec.key for spec in changed_feeds(old, new, cached={cached}.__contains__)}
    assert only == everything
