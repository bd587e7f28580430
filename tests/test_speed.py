"""What the 100k-article speed work must not change: behaviour, not timings.

Timings live in ``bench/scale.py`` (see bench/README.md); these tests hold
the shortcuts taken for speed to the results of the slow way.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import SITE, Clock, article, write_yaml

from feedsvc.content.textstore import COMPACT_MIN_DEAD
from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings


def _touch_every_article(root: Path, seconds: int) -> None:
    """A checkout that rewrites every file with the same bytes: new times, same content."""
    for entry in os.scandir(root / "articles"):
        os.utime(entry.path, ns=(seconds * 10**9, seconds * 10**9))


@pytest.mark.slow
def test_a_compaction_during_a_reload_that_changes_nothing_leaves_every_feed_readable(
    tmp_path: Path,
):
    """Re-reading every file twice makes most of the text store dead, so a reload
    compacts it and closes the old file. The content is the same, so before the
    fix the service kept its previous catalog, whose tag feeds held the old
    articles: their text pointed into the closed file and a cold tag feed
    answered 500 (found by ``bench/scale.py`` at 100k articles)."""
    root = tmp_path / "content"
    write_yaml(root / "site.yaml", SITE)
    body = "A paragraph of the body, long enough to count.\n\n" * 2000  # ~100 KB
    count = max(8, COMPACT_MIN_DEAD // len(body) // 2 + 2)  # live bytes: over half the minimum
    for i in range(count):
        data = article(f"Story {i}", f"2025-01-{i % 28 + 1:02d}T10:00:00Z", body=body)
        write_yaml(root / "articles" / f"story-{i}.yaml", {**data, "tags": [f"Tag {i}"]})
    originals = {path: path.read_bytes() for path in (root / "articles").iterdir()}
    service = FeedService(ServiceSettings(content_dir=root, reload_interval=0), clock=Clock())
    try:
        for seconds in (1_000_000, 2_000_000, 3_000_000):
            # Broken, then the bytes they had back: read again (a touch alone is not
            # parsed any more, see test_a_touch_of_every_file_parses_none_of_them).
            for path in originals:
                path.write_bytes(b"title: [unclosed\n")
            service.reload()
            for path, data in originals.items():
                path.write_bytes(data)
            _touch_every_article(root, seconds)
            service.reload()
            gc.collect()
            catalog = service.catalog
            for spec in catalog.feeds.values():  # every article a feed can render reads its text
                for entry in spec.tags:
                    assert all(a.body == body for a in entry.articles)
        assert service.loader.text_compactions >= 1  # what this test is about happened
    finally:
        service.stop()


_TWO_LOADERS = """
import os, sys
from datetime import UTC, datetime
from feedsvc.content.loader import ContentLoader
big_root, small_root = sys.argv[1], sys.argv[2]
now = datetime(2026, 1, 1, tzinfo=UTC)
big, small = ContentLoader(big_root), ContentLoader(small_root)
body = big.load(now).articles[0].body
small.load(now)
for seconds in (1_000_000, 2_000_000):
    path = os.path.join(small_root, "articles", "small.yaml")
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))
    assert small.load(now).articles[0].body == "Body of **Small**."
assert big.load(now).articles[0].body == body
print(small.text_compactions)
"""


@pytest.mark.slow
def test_a_loader_does_not_take_another_loaders_texts_for_dead(tmp_path: Path):
    """Loaders of one process share its text store. One compared the file's size
    with its own live texts, so a small site next to a big one took the big
    one's texts for dead and compacted the store on its next reload (new
    article objects, a new catalog). Now each counts what it wrote. In a fresh
    process: the store holds nothing else."""
    big_root, small_root = tmp_path / "big", tmp_path / "small"
    for root in (big_root, small_root):
        write_yaml(root / "site.yaml", SITE)
    body = "Words of a long body. " * 30_000  # ~660 KB, under the 1 MB article limit
    for i in range(8):  # ~5.3 MB in all: over COMPACT_MIN_DEAD
        data = article(f"Big {i}", "2025-01-01", body=body)
        write_yaml(big_root / "articles" / f"big-{i}.yaml", data)
    write_yaml(small_root / "articles" / "small.yaml", article("Small", "2025-01-01"))
    run = subprocess.run(
        [sys.executable, "-c", _TWO_LOADERS, str(big_root), str(small_root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0"  # no compaction: nothing was dead


def test_a_file_read_again_with_the_same_bytes_keeps_its_article(tmp_path: Path):
    """A checkout that gives every file new times re-reads them all; an article
    whose bytes did not change stays the very same object, so nothing is
    re-indexed or re-rendered and feeds cut before hold no second copy."""
    from datetime import UTC, datetime

    from feedsvc.content.loader import ContentLoader

    root = tmp_path / "content"
    write_yaml(root / "site.yaml", SITE)
    for i in range(3):
        data = article(f"Story {i}", f"2025-01-0{i + 1}T10:00:00Z", tags=["News"])
        write_yaml(root / "articles" / f"story-{i}.yaml", data)
    loader = ContentLoader(root)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    first = loader.load(now)
    reads = loader.files_read
    _touch_every_article(root, 1_000_000)
    second = loader.load(now)
    assert loader.files_read - reads >= 3  # every article was read again (site.yaml maybe too)
    assert all(map(lambda a, b: a is b, first.articles, second.articles))
    assert second.version == first.version and second.tags["news"] is first.tags["news"]
    edited = article("Story 0, edited", "2025-01-01T10:00:00Z", tags=["News"])
    write_yaml(root / "articles" / "story-0.yaml", edited)
    _touch_every_article(root, 2_000_000)
    third = loader.load(now)
    changed = {a.slug for a in third.articles if all(a is not b for b in second.articles)}
    assert changed == {"story-0"} and third.version != second.version
