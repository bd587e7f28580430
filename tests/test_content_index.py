"""content/index.py (SnapshotBuilder) and content/model.py: the snapshot every feed is cut from.

The snapshot decides what each feed lists, in what order, and when the
content counts as changed: articles newest first (ties by slug, whatever the
order files were read or added in), scheduled articles and updates held back
until due (with the moment they fall due, so the watcher can wake then),
tags with their articles and display name, the popularity ranking, and a
version that changes exactly when a feed would. The builder is patched one
article at a time after an edit; that must give what a fresh load of the
same files gives, or feeds drift from the files on disk.

Articles come from real YAML files read by the real loader.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import NOW, SITE, article, write_yaml

from feedsvc.content.index import SnapshotBuilder
from feedsvc.content.loader import ContentLoader
from feedsvc.content.model import Article, Snapshot
from feedsvc.content.signatures import RACY_SECONDS
from feedsvc.content.site import SiteSettings

HOUR = timedelta(hours=1)


def make_content(root: Path, articles: dict[str, dict[str, Any]], **site: Any) -> Path:
    write_yaml(root / "site.yaml", {**SITE, **site})
    for name, data in articles.items():
        write_yaml(root / "articles" / f"{name}.yaml", data)
    return root


def load(root: Path, now: datetime = NOW) -> Snapshot:
    return ContentLoader(root).load(now)


def slugs(articles: tuple[Article, ...] | list[Article]) -> list[str]:
    return [a.slug for a in articles]


def fields(a: Article) -> tuple[Any, ...]:
    """An article's content; not its text reference, which each read of the file renews."""
    return (a.slug, a.title, a.published, a.updated, a.tags, a.author, a.views, a.image,
            a.draft, a.source, a.revision, a.summary, a.body)  # fmt: skip


def shape(snapshot: Snapshot) -> dict[str, Any]:
    """Everything a snapshot says, comparable between loaders."""
    return {
        "site": snapshot.site,
        "articles": [fields(a) for a in snapshot.articles],
        "tags": [
            (s, e.slug, e.name, [fields(a) for a in e.articles]) for s, e in snapshot.tags.items()
        ],
        "popular": [fields(a) for a in snapshot.popular],
        "problems": snapshot.problems,
        "version": snapshot.version,
        "next_change_at": snapshot.next_change_at,
    }


# -- order -------------------------------------------------------------------------


def test_articles_are_newest_first_and_ties_go_by_slug(tmp_path: Path):
    """One instant in three time zones is a tie, broken by slug so that every
    replica and every reload lists the same order (feeds page by position)."""
    root = make_content(
        tmp_path / "content",
        {
            "zulu": article("Zulu", "2025-12-10T12:00:00Z", tags=["Tie"]),
            "mike": article("Mike", "2025-12-10T07:00:00-05:00", tags=["Tie"]),
            "alpha": article("Alpha", "2025-12-10T21:00:00+09:00", tags=["Tie"]),
            "newer": article("Newer", "2025-12-10T12:00:01Z", tags=["Tie"]),
            "older": article("Older", "2025-12-01"),
        },
    )
    snapshot = load(root)
    expected = ["newer", "alpha", "mike", "zulu", "older"]
    assert slugs(snapshot.articles) == expected
    assert slugs(snapshot.tags["tie"].articles) == expected[:4]


def test_the_order_does_not_depend_on_the_order_articles_are_added(tmp_path: Path):
    """A fresh build sorts; an edit inserts one article by bisection. Whatever
    order articles arrive in (one by one, removed and added back), the snapshot
    is the one a sort gives: same order, same tags, same ranking, same version."""
    names = ["a", "b", "c", "d", "e", "f", "g"]
    root = make_content(
        tmp_path / "content",
        {
            name: article(
                name.upper(),
                f"2025-12-0{1 + n // 2}T00:00:00Z",  # pairs share a date: ties
                tags=["Even" if n % 2 == 0 else "Odd", "All"],
                views=[5, 50, 5, 500, 50, 5, 0][n],
            )
            for n, name in enumerate(names)
        },
    )
    loader = ContentLoader(root)
    site = loader.load(NOW).site
    articles = loader.all_articles()
    sorted_once = SnapshotBuilder(site, {"g": 50})
    sorted_once.reset(articles)
    expected = shape(sorted_once.build(NOW))
    for seed in range(5):
        shuffled = random.Random(seed).sample(articles, len(articles))
        builder = SnapshotBuilder(site, {"g": 50})
        builder.reset([])
        for item in shuffled:
            builder.add(item)
        assert shape(builder.build(NOW)) == expected, seed
        for item in shuffled[:3]:  # out and back in again
            builder.remove(item)
        for item in reversed(shuffled[:3]):
            builder.add(item)
        assert shape(builder.build(NOW)) == expected, seed
    assert slugs(sorted_once.build(NOW).articles) == ["g", "e", "f", "c", "d", "a", "b"]

    # A reset (a checkout changed most files) forgets every earlier build.
    fresh = SnapshotBuilder(site, {"g": 50})
    fresh.reset(articles[:3])
    sorted_once.reset(articles[:3])
    assert shape(sorted_once.build(NOW)) == shape(fresh.build(NOW))
    assert sorted(sorted_once.build(NOW).tags) == ["all", "even", "odd"]


# -- scheduling ----------------------------------------------------------------------


def test_scheduled_articles_are_held_back_until_due(tmp_path: Path):
    """An article dated in the future is in no feed, no tag and no ranking until
    its moment, and the snapshot says when that is (the watcher sleeps until then)."""
    root = make_content(
        tmp_path / "content",
        {
            "now": article("Now", "2026-01-15T11:00:00Z", tags=["Health"], views=1),
            "soon": article("Soon", (NOW + HOUR).isoformat(), tags=["Health", "Embargo"], views=9),
            "later": article("Later", (NOW + 48 * HOUR).isoformat(), tags=["Embargo"], views=99),
        },
    )
    loader = ContentLoader(root)
    before = loader.load(NOW)
    assert slugs(before.articles) == slugs(before.popular) == ["now"]
    assert sorted(before.tags) == ["health"] and slugs(before.tags["health"].articles) == ["now"]
    assert before.next_change_at == NOW + HOUR
    warned = {p.path.rsplit("/", 1)[1] for p in before.problems if p.field == "published"}
    assert warned == {"soon.yaml", "later.yaml"}  # scheduled, or a typo: said either way
    assert before.errors == ()

    just_before = loader.load(NOW + HOUR - timedelta(microseconds=1))
    assert slugs(just_before.articles) == ["now"]
    assert just_before.version == before.version

    due = loader.load(NOW + HOUR)  # due at its very moment
    assert slugs(due.articles) == ["soon", "now"]
    assert slugs(due.popular) == ["soon", "now"]
    assert slugs(due.tags["embargo"].articles) == ["soon"]
    assert slugs(due.tags["health"].articles) == ["soon", "now"]
    assert due.next_change_at == NOW + 48 * HOUR
    assert due.version != before.version

    everything = loader.load(NOW + 48 * HOUR)
    assert slugs(everything.articles) == ["later", "soon", "now"]
    assert slugs(everything.popular) == ["later", "soon", "now"]
    assert everything.next_change_at is None
    assert [p for p in everything.problems if p.field == "published"] == []


def test_an_update_not_due_yet_is_shown_without_it(tmp_path: Path):
    """An article may be corrected on a schedule (``updated`` in the future): until
    then feeds show it as it was, so readers are not told of a change that has
    not happened; the update's moment is when the snapshot next changes."""
    update_at = NOW + 3 * HOUR
    root = make_content(
        tmp_path / "content",
        {
            "fixed": article(
                "Fixed", "2026-01-10T00:00:00Z", updated=update_at.isoformat(), tags=["X"]
            ),
            "plain": article("Plain", "2026-01-11T00:00:00Z", tags=["X"]),
        },
    )
    loader = ContentLoader(root)
    before = loader.load(NOW)
    shown = next(a for a in before.articles if a.slug == "fixed")
    assert shown.updated is None and shown.modified == shown.published
    assert before.tags["x"].articles[1] == shown
    assert before.next_change_at == update_at

    after = loader.load(update_at)
    fixed = next(a for a in after.articles if a.slug == "fixed")
    assert fixed.updated == update_at and fixed.modified == update_at
    assert after.tags["x"].articles[1] is fixed
    assert after.next_change_at is None
    assert after.version != before.version  # the feeds change: the version must too


def test_a_scheduled_article_with_a_later_update_comes_out_in_two_steps(tmp_path: Path):
    """Published tomorrow and corrected the day after: first nothing, then the
    article as first published, then the correction; the other articles are
    never touched on the way."""
    published, updated = NOW + 24 * HOUR, NOW + 48 * HOUR
    root = make_content(
        tmp_path / "content",
        {
            "other": article("Other", "2026-01-14T00:00:00Z", tags=["X"]),
            "story": article(
                "Story", published.isoformat(), updated=updated.isoformat(), tags=["X"]
            ),
        },
    )
    loader = ContentLoader(root)
    steps = [loader.load(now) for now in (NOW, published, updated)]
    assert [slugs(s.articles) for s in steps] == [["other"], ["story", "other"], ["story", "other"]]
    assert [s.next_change_at for s in steps] == [published, updated, None]
    assert [s.articles[0].updated for s in steps[1:]] == [None, updated]
    other = fields(next(a for a in loader.all_articles() if a.slug == "other"))
    for snapshot in steps:
        assert fields(snapshot.articles[-1]) == fields(snapshot.tags["x"].articles[-1]) == other
    assert len({s.version for s in steps}) == 3


def test_the_popular_window_drops_old_articles_at_a_known_moment(tmp_path: Path):
    """With a window, the ranking changes with time alone; the snapshot says when
    the oldest ranked article leaves it, and its version moves then."""
    root = make_content(
        tmp_path / "content",
        {
            "old": article("Old", "2026-01-10T12:00:00Z", views=1000),
            "new": article("New", "2026-01-14T12:00:00Z", views=1),
        },
        popular={"items": 5, "window_days": 7},
    )
    loader = ContentLoader(root)
    before = loader.load(NOW)
    assert slugs(before.popular) == ["old", "new"]
    leaves = datetime(2026, 1, 17, 12, 0, tzinfo=UTC)
    assert before.next_change_at == leaves
    after = loader.load(leaves)
    assert slugs(after.popular) == ["new"] and slugs(after.articles) == ["new", "old"]
    assert after.version != before.version


# -- tags ------------------------------------------------------------------------------


def test_tag_entries_list_their_articles_newest_first_under_the_newest_spelling(tmp_path: Path):
    """A tag is named as its newest article spells it; drafts and future articles
    count for no tag; entries come in slug order (the order pages list them)."""
    root = make_content(
        tmp_path / "content",
        {
            "a": article("A", "2025-12-01", tags=["north korea", "Health"]),
            "b": article("B", "2025-12-02", tags=["North Korea", "북한"]),
            "c": article("C", "2025-12-03", tags=["NORTH  KOREA"]),
            "d": article("D", "2025-12-04", tags=["Health", "Drafted"], draft=True),
            "e": article("E", (NOW + HOUR).isoformat(), tags=["Health", "Tomorrow"]),
        },
    )
    snapshot = load(root)
    assert list(snapshot.tags) == ["health", "north-korea", "북한"]
    counts = {slug: len(entry.articles) for slug, entry in snapshot.tags.items()}
    assert counts == {"health": 1, "north-korea": 3, "북한": 1}
    entry = snapshot.tags["north-korea"]
    assert (entry.slug, entry.name) == ("north-korea", "NORTH KOREA")  # whitespace collapsed
    assert slugs(entry.articles) == ["c", "b", "a"]
    assert all(a in snapshot.articles for e in snapshot.tags.values() for a in e.articles)

    (root / "articles" / "c.yaml").unlink()  # the spelling goes with its article
    assert load(root).tags["north-korea"].name == "North Korea"


# -- popularity ----------------------------------------------------------------------


def test_popularity_yaml_ranks_articles_and_the_articles_own_views_fill_in(tmp_path: Path):
    """popularity.yaml (an analytics export) wins over an article's ``views``; an
    article it does not name keeps its own; equal views rank newest first; an
    article without views (below ``popular.min_views``, 1 by default) is left out."""
    root = make_content(
        tmp_path / "content",
        {
            "a": article("A", "2025-12-01", views=900),
            "b": article("B", "2025-12-02", views=10),
            "c": article("C", "2025-12-03", views=10),
            "d": article("D", "2025-12-04", views=0),
            "draft": article("Draft", "2025-12-05", views=10**6, draft=True),
        },
    )
    assert slugs(load(root).popular) == ["a", "c", "b"]
    write_yaml(root / "popularity.yaml", {"D": 5000, "a": 1, "draft": 10**7, "gone": 10**8})
    assert slugs(load(root).popular) == ["d", "c", "b", "a"]  # keys are slugs, any case


# -- version -------------------------------------------------------------------------


def test_the_version_changes_exactly_when_a_feed_would(tmp_path: Path):
    """The service swaps catalogs (and caches drop their bytes) on a new version,
    so it must change with any visible change and with nothing else: not with
    time, not with a re-read of the same bytes, not with a draft or a scheduled
    article, and it must be a function of the content, not of its history."""
    root = make_content(
        tmp_path / "content",
        {
            "a": article("A", "2025-12-01", tags=["X"], views=3),
            "b": article("B", "2025-12-02", tags=["Y"], views=4),
        },
    )
    settle = RACY_SECONDS * 1.5  # apart enough for the loader's stat to tell writes apart
    time.sleep(settle)
    loader = ContentLoader(root)
    base = loader.load(NOW).version
    assert loader.load(NOW + 1000 * HOUR).version == base  # nothing falls due
    path = root / "articles" / "a.yaml"
    time.sleep(settle)
    path.write_bytes(path.read_bytes())
    files_read = loader.files_read
    assert loader.load(NOW).version == base  # the same bytes, read again
    assert loader.files_read == files_read + 1

    unchanged: list[Callable[[], object]] = [
        lambda: write_yaml(
            root / "articles" / "draft.yaml", article("D", "2025-12-09", draft=True)
        ),
        lambda: write_yaml(root / "articles" / "soon.yaml", article("S", (NOW + HOUR).isoformat())),
    ]
    for change in unchanged:
        change()
        assert load(root).version == base
    assert load(root).next_change_at == NOW + HOUR

    changed: dict[str, Callable[[], object]] = {
        "a title": lambda: write_yaml(path, article("A2", "2025-12-01", tags=["X"], views=3)),
        "a tag": lambda: write_yaml(path, article("A", "2025-12-01", tags=["Z"], views=3)),
        "a date": lambda: write_yaml(path, article("A", "2025-12-03", tags=["X"], views=3)),
        "views in the file": lambda: write_yaml(
            path, article("A", "2025-12-01", tags=["X"], views=5)
        ),
        "popularity.yaml": lambda: write_yaml(root / "popularity.yaml", {"a": 7}),
        "the site": lambda: write_yaml(root / "site.yaml", {**SITE, "title": "Renamed"}),
        "a new article": lambda: write_yaml(
            root / "articles" / "c.yaml", article("C", "2025-12-05")
        ),
        "an article gone": lambda: (root / "articles" / "b.yaml").unlink(),
    }
    seen = {base}
    for what, change in changed.items():
        snapshot_files = {p: p.read_bytes() for p in root.rglob("*.yaml")}
        change()
        version = load(root).version
        assert version not in seen, what
        seen.add(version)
        for p in root.rglob("*.yaml"):  # back as it was: the version it had
            if p not in snapshot_files:
                p.unlink()
        for p, data in snapshot_files.items():
            p.write_bytes(data)
        assert load(root).version == base, what


# -- incremental = fresh ---------------------------------------------------------------


def start_articles() -> dict[str, dict[str, Any]]:
    return {
        "alpha": article("Alpha", "2025-12-01T09:00:00Z", tags=["China", "Diplomacy"], views=50),
        "beta": article("Beta", "2025-12-02T09:00:00Z", tags=["north korea"], views=500),
        "gamma": article("Gamma", "2025-12-03T09:00:00Z", tags=["North Korea", "China"], views=5),
        "delta": article("Delta", "2025-12-03T09:00:00Z", tags=["Health"], views=5),  # ties gamma
        "eps": article("Eps", "2025-12-04T09:00:00Z", tags=["Solo"]),
        "zeta": article(
            "Zeta", "2025-12-05T09:00:00Z", tags=["Health"], updated="2026-01-16T00:00:00Z"
        ),
    }


def edit(root: Path, name: str, **changes: Any) -> None:
    path = root / "articles" / f"{name}.yaml"
    write_yaml(path, {**yaml.safe_load(path.read_text(encoding="utf-8")), **changes})


EDITS: dict[str, tuple[Callable[[Path], object], set[str], int]] = {
    # what is done, the tags whose entries it may replace, how many files are read
    "add a newest article with a new tag": (
        lambda root: write_yaml(
            root / "articles" / "new.yaml", article("New", "2025-12-06", tags=["China", "Fresh"])
        ),
        {"china", "fresh"},
        1,
    ),
    "add an article tied with two others": (
        lambda root: write_yaml(
            root / "articles" / "dab.yaml", article("Dab", "2025-12-03T09:00:00Z", tags=["Health"])
        ),
        {"health"},
        1,
    ),
    "edit a title": (
        lambda root: edit(root, "alpha", title="Alpha, corrected"),
        {"china", "diplomacy"},
        1,
    ),
    "move an article to the top and to other tags": (
        lambda root: edit(root, "alpha", published="2025-12-09T00:00:00Z", tags=["Health"]),
        {"china", "diplomacy", "health"},
        1,
    ),
    "delete the only article of a tag": (
        lambda root: (root / "articles" / "eps.yaml").unlink(),
        {"solo"},
        0,
    ),
    "delete the article that spells a tag's name": (
        lambda root: (root / "articles" / "gamma.yaml").unlink(),
        {"north-korea", "china"},
        0,
    ),
    "turn an article into a draft": (
        lambda root: edit(root, "beta", draft=True),
        {"north-korea"},
        1,
    ),
    "reschedule an article into the future": (
        lambda root: edit(root, "delta", published="2026-02-01T00:00:00Z"),
        {"health"},
        1,
    ),
    "schedule an update of an article": (
        lambda root: edit(root, "beta", updated="2026-01-20T00:00:00Z"),
        {"north-korea"},
        1,
    ),
    "schedule a new article in existing tags": (  # in no feed yet: no entry is replaced
        lambda root: write_yaml(
            root / "articles" / "soon.yaml",
            article("Soon", "2026-01-20T00:00:00Z", tags=["China", "Health"]),
        ),
        set(),
        1,
    ),
    "rank by popularity.yaml": (
        lambda root: write_yaml(root / "popularity.yaml", {"delta": 10**6, "beta": 0}),
        set(),
        1,
    ),
}


@pytest.mark.parametrize("what", list(EDITS))
def test_an_incremental_reload_equals_a_fresh_load(tmp_path: Path, what: str):
    """A reload reads only what changed and patches the builder; the snapshot must
    be the one a fresh loader makes of the same files. Tags the edit did not
    touch keep their very entry objects (the service keeps their feeds and
    cached bytes on identity), so only the touched tags are cut again."""
    change, touched, reads = EDITS[what]
    root = make_content(tmp_path / "content", start_articles())
    time.sleep(RACY_SECONDS * 1.5)  # so the first load trusts every file's stat
    loader = ContentLoader(root)
    before = loader.load(NOW)
    change(root)
    found = loader.find_changes()
    assert found, "the change was not seen"
    files_read = loader.files_read
    patched = loader.load(NOW, found=found)
    assert loader.files_read - files_read == reads  # one file, not the folder
    assert shape(patched) == shape(ContentLoader(root).load(NOW))
    for slug, entry in patched.tags.items():
        if slug not in touched and slug in before.tags:
            assert entry is before.tags[slug], slug
    # The version moves exactly when a feed changes (see the version test above).
    assert (patched.version != before.version) == (
        what != "schedule a new article in existing tags"
    )
    # Later reloads as time passes (the scheduled update falls due) stay equal too.
    later = NOW + 24 * 40 * HOUR
    assert shape(loader.load(later, found=loader.find_changes())) == shape(
        ContentLoader(root).load(later)
    )


# -- model ---------------------------------------------------------------------------


def test_articles_read_their_text_back_and_know_when_they_last_changed(tmp_path: Path):
    """Summary and body live in the text store, not on the article; ``modified`` is
    the update only when it is after publication (an earlier one is ignored, with
    a warning that ``Snapshot.errors`` leaves out)."""
    root = make_content(
        tmp_path / "content",
        {
            "later": article(
                "Later", "2025-12-01T00:00:00Z", updated="2025-12-02T06:00:00Z",
                summary="Short.", body="Long **body**.\n\nTwo paragraphs.",
            ),
            "earlier": article("Earlier", "2025-12-03T00:00:00Z", updated="2025-12-01T00:00:00Z"),
            "never": article("Never", "2025-12-04T00:00:00Z"),
        },
    )  # fmt: skip
    snapshot = load(root)
    by_slug = {a.slug: a for a in snapshot.articles}
    later = by_slug["later"]
    assert (later.summary, later.body) == ("Short.", "Long **body**.\n\nTwo paragraphs.")
    assert later.modified == datetime(2025, 12, 2, 6, 0, tzinfo=UTC)
    assert by_slug["earlier"].modified == by_slug["earlier"].published
    assert by_slug["never"].modified == by_slug["never"].published
    assert [p.field for p in snapshot.problems] == ["updated"]
    assert snapshot.problems[0].severity == "warning" and snapshot.errors == ()


def test_a_snapshot_cannot_be_changed_after_it_is_built(tmp_path: Path):
    """Requests read a snapshot while the next is built: nothing in it may change."""
    snapshot = load(
        make_content(tmp_path / "content", {"a": article("A", "2025-12-01", tags=["X"])})
    )
    with pytest.raises(AttributeError):
        snapshot.version = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        snapshot.tags["y"] = snapshot.tags["x"]  # type: ignore[index]
    assert isinstance(snapshot.articles, tuple) and isinstance(snapshot.popular, tuple)
    assert isinstance(snapshot.site, SiteSettings)
