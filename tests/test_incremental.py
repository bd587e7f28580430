"""A reload patches the previous state; the result must be a fresh load's, exactly.

The loader patches its snapshot indexes, slug table, lint and problem list
per changed file, and the service patches its feed tables per changed tag.
Any sequence of valid edits (titles, dates, tags spelled several ways,
drafts, updates not due yet, duplicate titles, case-colliding file names,
renames, deletions, site.yaml and popularity.yaml) with reloads in between,
and a clock that moves so that articles fall due, must leave a service whose
feeds are byte-identical to those of a fresh service on the same files, and
whose snapshot, problems, feed list and routes are equal too. (File names
that collide on one slug are the exception by design: the file served
before stays served, which a fresh load cannot know; they are tested on
their own.) Both ways of
finding changes are covered: comparing every file (polling) and the names
real inotify events give (no watcher thread: reloads are called here, so each
step is deterministic).
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import SITE, Clock, write_yaml

from feedsvc.feeds.catalog import Catalog
from feedsvc.feeds.spec import feed_fingerprint
from feedsvc.feeds.urls import FORMATS
from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings

START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
BASE = "https://feeds.example.test"
NAMES = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta.yml", "theta"]
TAGS = ["North Korea", "north korea", "China", "Health", "Économie", "économie", "Tech"]
TITLES = ["Same headline", "same  HEADLINE", "Other", "Third", "Fourth"]
PROPERTY = settings(
    max_examples=int(os.environ.get("FEEDSVC_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux")


@contextmanager
def content_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="feedsvc-incremental-")) / "content"
    try:
        write_yaml(root / "site.yaml", {**SITE, "items_per_feed": 3, "popular": {"items": 3}})
        (root / "articles").mkdir()
        yield root
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


def article_data(seed: int) -> dict[str, Any]:
    """A valid article; the seed picks its date (some in the future), tags, title, views."""
    rng = random.Random(seed)
    published = START + timedelta(hours=rng.randrange(-200, 30))
    data: dict[str, Any] = {
        "title": rng.choice(TITLES) if rng.random() < 0.4 else f"Story {seed}",
        "published": published.isoformat(),
        "summary": f"Summary {seed}.",
        "body": f"Body **{seed}**.",
        "tags": rng.sample(TAGS, rng.randrange(0, 4)),
        "views": rng.choice([0, 5, 5, 50, 500]),
    }
    if rng.random() < 0.3:  # an update, sometimes not due yet
        data["updated"] = (published + timedelta(hours=rng.randrange(1, 40))).isoformat()
    if rng.random() < 0.1:
        data["draft"] = True
    return data


def apply(root: Path, op: tuple[str, int, int]) -> None:
    """One change to the folder, as an editor or a deploy makes it."""
    kind, index, value = op
    articles = root / "articles"
    name = NAMES[index % len(NAMES)]
    path = articles / (name if name.endswith(".yml") else f"{name}.yaml")
    if kind == "write":
        write_yaml(path, article_data(value))
    elif kind == "atomic":  # an editor's save: a temporary file renamed over the old one
        temporary = articles / f".{path.name}.swp"
        write_yaml(temporary, article_data(value))
        os.replace(temporary, path)
    elif kind == "delete":
        path.unlink(missing_ok=True)
    elif kind == "rename":
        target = NAMES[value % len(NAMES)]
        target_path = articles / (target if target.endswith(".yml") else f"{target}.yaml")
        if path.exists() and target_path != path:
            os.replace(path, target_path)
    elif kind == "site":
        window = value % 3 * 2  # 0 (no window), 2 or 4 days
        popular = {"items": 3, "window_days": window}
        write_yaml(
            root / "site.yaml",
            {**SITE, "items_per_feed": 2 + value % 3, "popular": popular, "title": f"S{value % 2}"},
        )
    elif kind == "popularity":
        views = root / "popularity.yaml"
        if value % 3 == 0:
            views.unlink(missing_ok=True)
        else:
            write_yaml(views, {n.split(".")[0].lower(): (value * (i + 1)) % 97 for i, n in
                               enumerate(NAMES)})  # fmt: skip


def shape(view: Catalog) -> dict[str, Any]:
    """Everything a snapshot and its view say, comparable across processes' text stores."""
    snapshot = view.snapshot

    def article(a: Any) -> tuple[Any, ...]:
        return (a.slug, a.title, a.published, a.tags, a.updated, a.author, a.views, a.image,
                a.draft, a.source, a.revision, a.summary, a.body)  # fmt: skip

    return {
        "site": snapshot.site,
        "articles": [article(a) for a in snapshot.articles],
        "tags": [(s, e.name, [a.slug for a in e.articles]) for s, e in snapshot.tags.items()],
        "tag_articles": [[article(a) for a in e.articles] for e in snapshot.tags.values()],
        "popular": [article(a) for a in snapshot.popular],  # popularity.yaml shows in its order
        "problems": snapshot.problems,
        "version": snapshot.version,
        "next_change_at": snapshot.next_change_at,
        "feeds": [(key, spec.key, spec.title, spec.path) for key, spec in view.feeds.items()],
        "routes": sorted((path, spec.key, fmt.name) for path, (spec, fmt) in view.routes.items()),
    }


def bodies(service: FeedService) -> dict[str, bytes]:
    view = service.catalog
    return {
        spec.url_path(fmt): service.variant(view, BASE, spec, fmt).body
        for spec in view.feeds.values()
        for fmt in FORMATS.values()
    }


def assert_fingerprints_current(view: Catalog) -> None:
    """Fingerprints carried over from the previous view are those of this one."""
    for key, fingerprint in list(view.fingerprints.items()):
        spec = view.feeds.get(key)
        if spec is not None:
            assert fingerprint == feed_fingerprint(view.snapshot, spec), key


def check_equal(live: FeedService, root: Path, clock: Clock, *, feeds: bool) -> None:
    # The tags ever served are part of what is served (kept as empty feeds): the
    # fresh load reads them from the live service's state, as a restart would.
    fresh = FeedService(ServiceSettings(content_dir=root, reload_interval=0), clock=clock,
                        prewarm=False, state=live.state)  # fmt: skip
    try:
        assert shape(live.catalog) == shape(fresh.catalog)
        assert_fingerprints_current(live.catalog)
        if feeds:
            assert bodies(live) == bodies(fresh)
    finally:
        fresh.stop()


def attach_events(service: FeedService) -> None:
    """Real inotify events for the loader, without a watcher thread (reloads are called here)."""
    from feedsvc.content.events import ContentEvents

    service.loader.events = ContentEvents(service.loader.content_dir, service.loader.articles_dir)


operation = st.one_of(
    st.tuples(st.sampled_from(["write", "atomic", "write", "delete", "rename"]),
              st.integers(0, 7), st.integers(0, 400)),
    st.tuples(st.sampled_from(["site", "popularity"]), st.just(0), st.integers(0, 50)),
    st.tuples(st.just("tick"), st.just(0), st.integers(1, 30)),
    st.tuples(st.just("reload"), st.just(0), st.just(0)),
)  # fmt: skip


def run_ops(start: list[tuple[int, int]], ops: list[tuple[str, int, int]], events: bool) -> None:
    with content_dir() as root:
        for index, seed in start:
            apply(root, ("write", index, seed))
        clock = Clock(START)
        live = FeedService(ServiceSettings(content_dir=root, reload_interval=0), clock=clock)
        try:
            if events:
                attach_events(live)
            for op in ops:
                if op[0] == "tick":  # time passes: scheduled articles and updates fall due
                    clock.now += timedelta(hours=op[2])
                elif op[0] == "reload":
                    live.reload()
                    check_equal(live, root, clock, feeds=False)
                else:
                    apply(root, op)
            live.reload()
            check_equal(live, root, clock, feeds=True)
        finally:
            if live.loader.events is not None:
                live.loader.events.close()
            live.stop()


@pytest.mark.slow
@PROPERTY
@given(
    start=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 400)), max_size=6),
    ops=st.lists(operation, min_size=1, max_size=14),
)
def test_reloads_by_comparing_every_file_equal_a_fresh_load(start, ops):
    run_ops(start, ops, events=False)


@pytest.mark.slow
@linux_only
@PROPERTY
@given(
    start=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 400)), max_size=6),
    ops=st.lists(operation, min_size=1, max_size=14),
)
def test_reloads_by_inotify_events_equal_a_fresh_load(start, ops):
    run_ops(start, ops, events=True)


@pytest.mark.slow
@pytest.mark.parametrize("events", [False, pytest.param(True, marks=linux_only)])
def test_hundreds_of_edits_to_a_larger_site_stay_equal_to_a_fresh_load(events):
    """More articles than the property uses, so the sorted indexes are deep;
    one batch touches most files (a checkout), which rebuilds instead of patching."""
    rng = random.Random(5)
    with content_dir() as root:
        articles = root / "articles"
        for n in range(400):
            write_yaml(articles / f"a{n:03d}.yaml", article_data(n))
        clock = Clock(START)
        live = FeedService(ServiceSettings(content_dir=root, reload_interval=0), clock=clock)
        try:
            if events:
                attach_events(live)
            for step in range(12):
                for _ in range(rng.choice([1, 1, 3, 10])):
                    n = rng.randrange(420)
                    path = articles / f"a{n:03d}.yaml"
                    if rng.random() < 0.15:
                        path.unlink(missing_ok=True)
                    else:
                        write_yaml(path, article_data(rng.randrange(10_000)))
                if step == 6:  # a checkout rewrites nearly everything
                    for n in range(380):
                        write_yaml(articles / f"a{n:03d}.yaml", article_data(20_000 + n))
                clock.now += timedelta(hours=rng.randrange(0, 6))
                live.reload()
                check_equal(live, root, clock, feeds=step % 4 == 3)
            check_equal(live, root, clock, feeds=True)
        finally:
            if live.loader.events is not None:
                live.loader.events.close()
            live.stop()


def test_a_slug_claimed_by_two_files_keeps_serving_the_first_until_it_goes():
    """The exception to equality: while two file names collide, the one served
    before stays served; once one goes, the state is a fresh load's again."""
    with content_dir() as root:
        articles = root / "articles"
        write_yaml(articles / "Alpha.yaml", {**article_data(1), "title": "Upper"})
        clock = Clock(START)
        live = FeedService(ServiceSettings(content_dir=root, reload_interval=0), clock=clock)
        try:
            write_yaml(articles / "alpha.yaml", {**article_data(1), "title": "Lower"})
            live.reload()
            served = {a.slug: a.title for a in live.catalog.snapshot.articles}
            assert served.get("alpha") == "Upper"  # a fresh load would prefer the lower-case name
            collisions = [p for p in live.catalog.snapshot.problems if p.field == "(file name)"]
            assert {p.path for p in collisions} == {
                "content/articles/Alpha.yaml",
                "content/articles/alpha.yaml",
            }
            (articles / "Alpha.yaml").unlink()
            live.reload()
            check_equal(live, root, clock, feeds=True)
            assert {a.slug: a.title for a in live.catalog.snapshot.articles}.get("alpha") == "Lower"
        finally:
            live.stop()


class FailingWall:
    """A wall clock that fails once, on a chosen call (the loader asks it per file read)."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail_at: int | None = None

    def __call__(self) -> float:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("clock failed")
        return time.time() + 10


def test_a_load_that_fails_half_way_is_repaired_by_the_next():
    """Patching state is only right if every patch lands: after a load that
    stopped half-way (one file applied, two not), the next one must still
    give a fresh load's snapshot."""
    from feedsvc.content.loader import ContentLoader

    with content_dir() as root:
        articles = root / "articles"
        for n in range(6):
            write_yaml(articles / f"a{n}.yaml", article_data(n))
        wall = FailingWall()
        loader = ContentLoader(root, wall_clock=wall)
        loader.load(START)
        for n in (1, 2, 3):
            write_yaml(articles / f"a{n}.yaml", {**article_data(50 + n), "title": f"New {n}"})
        wall.fail_at = wall.calls + 3  # the check, the first file's record, then the second's
        with pytest.raises(RuntimeError):
            loader.load(START)
        repaired = loader.load(START)
        fresh = ContentLoader(root).load(START)
        assert [(a.slug, a.title, a.revision) for a in repaired.articles] == [
            (a.slug, a.title, a.revision) for a in fresh.articles
        ]
        assert repaired.version == fresh.version and repaired.problems == fresh.problems
        assert {"New 1", "New 2", "New 3"} <= {a.title for a in loader.all_articles()}
