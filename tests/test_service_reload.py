"""Hot reload through the real watcher thread and real files on disk.

Every wait is bounded and polls (the feed or /healthz); no test sleeps for
a fixed time longer than the watcher needs.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import yaml
from feedcheck import parse_feed
from support import WatchedApp, article, wait_for, write_yaml

from feedsvc.content.loader import ContentLoader
from feedsvc.feeds.lastmodified import LastModifiedLedger
from feedsvc.service.watcher import settle_seconds
from feedsvc.settings import ServiceSettings

INTERVAL = 0.1


def titles(live: WatchedApp, path: str = "/feed.json") -> list[str]:
    return [e.title for e in parse_feed(live.client.get(path).data, "json").entries]


def slugs(live: WatchedApp, path: str = "/feed.json") -> list[str]:
    return [e.id.rsplit("/", 1)[1] for e in parse_feed(live.client.get(path).data, "json").entries]


def edit(path: Path, **changes: object) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(changes)
    write_yaml(path, data)


def last_modified(response) -> datetime:  # type: ignore[no-untyped-def]
    return parsedate_to_datetime(response.headers["Last-Modified"])


def test_added_edited_renamed_and_deleted_files_are_picked_up(live: WatchedApp, small_content):
    articles = small_content / "articles"
    write_yaml(articles / "delta.yaml", article("Delta", "2025-12-04T00:00:00Z", tags=["Health"]))
    wait_for(lambda: "Delta" in titles(live), what="the new file")
    assert "Delta" in titles(live, "/tags/health/feed.json")

    edit(articles / "delta.yaml", title="Delta, corrected")
    wait_for(lambda: "Delta, corrected" in titles(live), what="the edit")
    assert "Delta" not in titles(live)

    # A rename is a new slug; both halves must land in the same reload: every
    # response while it happens has exactly four items, never three or five.
    counts: list[int] = []
    stop = threading.Event()

    def watch_counts() -> None:
        client = live.app.test_client()
        while not stop.is_set():
            counts.append(len(json.loads(client.get("/feed.json").data)["items"]))

    reader = threading.Thread(target=watch_counts)
    reader.start()
    try:
        os.rename(articles / "delta.yaml", articles / "epsilon.yaml")
        wait_for(lambda: "epsilon" in slugs(live), what="the rename")
    finally:
        stop.set()
        reader.join(timeout=10)
    assert "delta" not in slugs(live)
    assert counts and set(counts) == {4}, counts

    (articles / "epsilon.yaml").unlink()
    wait_for(lambda: "epsilon" not in slugs(live), what="the deletion")
    assert titles(live) == ["Gamma", "Beta", "Alpha"]
    assert live.healthz()["status"] == "ok"


def test_site_yaml_and_popularity_yaml_changes_are_picked_up(live: WatchedApp, small_content):
    edit(small_content / "site.yaml", title="Renamed Times")
    wait_for(
        lambda: parse_feed(live.client.get("/rss.xml").data, "rss").title == "Renamed Times",
        what="the new site title",
    )
    assert [t for t in titles(live, "/popular/feed.json")] == ["Beta", "Alpha", "Gamma"]
    write_yaml(small_content / "popularity.yaml", {"gamma": 10_000, "alpha": 1})
    wait_for(
        lambda: titles(live, "/popular/feed.json") == ["Gamma", "Beta", "Alpha"],
        what="popularity.yaml to count",
    )
    (small_content / "popularity.yaml").unlink()
    wait_for(
        lambda: titles(live, "/popular/feed.json") == ["Beta", "Alpha", "Gamma"],
        what="the views in the articles to count again",
    )


def test_reload_interval_zero_turns_the_watcher_off(small_content: Path):
    assert ServiceSettings.from_env({"FEEDSVC_RELOAD": "0"}).reload_interval == 0
    before = set(threading.enumerate())
    off = WatchedApp(small_content, interval=0)
    try:
        assert off.service.watch_mode == "off"
        assert not [t for t in set(threading.enumerate()) - before if t.name == "feedsvc-reload"]
        before = off.client.get("/rss.xml").data
        edit(small_content / "articles" / "beta.yaml", title="Beta, edited")
        # A negative check needs some time: a watcher at INTERVAL would have
        # picked the edit up five times over.
        threading.Event().wait(INTERVAL * 5)
        assert off.client.get("/rss.xml").data == before
        assert off.service.reloads == 0
    finally:
        off.close()


def test_validators_follow_the_bytes(live: WatchedApp, small_content):
    client = live.client
    main, health = client.get("/rss.xml"), client.get("/tags/health/atom.xml")
    version = live.healthz()["version"]

    edit(small_content / "articles" / "beta.yaml", title="Beta, corrected")
    live.wait_version_change(version)
    changed, untouched = client.get("/rss.xml"), client.get("/tags/health/atom.xml")
    assert changed.headers["ETag"] != main.headers["ETag"]
    assert last_modified(changed) > last_modified(main)
    assert untouched.headers["ETag"] == health.headers["ETag"]
    assert untouched.headers["Last-Modified"] == health.headers["Last-Modified"]
    conditional = client.get(
        "/rss.xml", headers={"If-Modified-Since": main.headers["Last-Modified"]}
    )
    assert conditional.status_code == 200

    # The newest article moves back in time: the feed changes, so its
    # Last-Modified must still move forward, not back to the older content date.
    version = live.healthz()["version"]
    edit(small_content / "articles" / "gamma.yaml", published="2020-01-01T00:00:00Z")
    live.wait_version_change(version)
    moved = client.get("/rss.xml")
    assert moved.headers["ETag"] != changed.headers["ETag"]
    assert last_modified(moved) > last_modified(changed)
    again = client.get("/rss.xml", headers={"If-Modified-Since": changed.headers["Last-Modified"]})
    assert again.status_code == 200


def test_only_changed_files_are_read_again(live: WatchedApp, small_content):
    loader = live.service.loader
    assert loader.files_read >= 4  # site.yaml and three articles
    # Files written a moment before the start are read once more at the first
    # poll (their times are too fresh to trust; see ContentLoader._recorded).
    wait_for(lambda: live.service.polls >= 2, what="two polls")
    read_at_start = loader.files_read
    assert read_at_start <= 8
    version = live.healthz()["version"]
    edit(small_content / "articles" / "alpha.yaml", title="Alpha, again")
    live.wait_version_change(version)
    assert loader.files_read == read_at_start + 1
    polls = live.service.polls
    wait_for(lambda: live.service.polls >= polls + 3, what="three more polls")
    assert loader.files_read == read_at_start + 1  # nothing changed, nothing read

    version = live.healthz()["version"]
    edit(small_content / "articles" / "beta.yaml", title="Beta, again")
    edit(small_content / "articles" / "gamma.yaml", title="Gamma, again")
    wait_for(lambda: {"Beta, again", "Gamma, again"} <= set(titles(live)), what="both edits")
    assert loader.files_read == read_at_start + 3


@pytest.mark.slow
def test_a_request_sees_the_old_state_or_the_new_one(live: WatchedApp, small_content):
    """Title and tags change in one save; no response shows one without the other."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    stop = threading.Event()

    def read() -> None:
        client = live.app.test_client()
        while not stop.is_set():
            for item in json.loads(client.get("/feed.json").data)["items"]:
                if item["id"].endswith("/beta"):
                    seen.add((item["title"], tuple(item["tags"])))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for round_ in range(4):
            new = (f"Beta round {round_}", [f"Round {round_}"])
            edit(small_content / "articles" / "beta.yaml", title=new[0], tags=new[1])
            wait_for(lambda new=new: (new[0], tuple(new[1])) in seen, what=f"round {round_}")
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=10)
    assert seen <= {("Beta", ("north korea",))} | {
        (f"Beta round {r}", (f"Round {r}",)) for r in range(4)
    }, seen


@pytest.mark.slow
def test_a_scheduled_article_appears_when_due(small_content: Path):
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    write_yaml(
        small_content / "articles" / "soon.yaml", article("Soon", due.isoformat(), tags=["Health"])
    )
    live = WatchedApp(small_content, interval=INTERVAL)
    try:
        assert "Soon" not in titles(live)
        wait_for(lambda: "Soon" in titles(live), timeout=10, what="the due article")
        assert datetime.now(UTC) >= due
        assert "Soon" in titles(live, "/tags/health/feed.json")
    finally:
        live.close()


def test_an_update_date_in_the_future_is_not_shown_before_it_is_due(make_app, small_content, clock):
    edit(small_content / "articles" / "beta.yaml", updated="2026-03-01T00:00:00Z")
    app = make_app(small_content)
    client = app.test_client()
    beta = next(
        e for e in parse_feed(client.get("/atom.xml").data, "atom").entries if "Beta" in e.title
    )
    assert beta.updated <= clock.now
    clock.now = datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC)
    app.extensions["feedsvc"].reload()  # what the watcher does when the update falls due
    beta = next(
        e for e in parse_feed(client.get("/atom.xml").data, "atom").entries if "Beta" in e.title
    )
    assert beta.updated == datetime(2026, 3, 1, tzinfo=UTC)


def test_a_request_holding_an_older_view_gets_an_older_last_modified():
    """A late request of the previous version must not out-date the current one,
    or an If-Modified-Since client would get a 304 for bytes it does not have."""
    ledger = LastModifiedLedger()
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    first = ledger.observe("main", "rss", 1, "A", t0)
    second = ledger.observe("main", "rss", 2, "B", t0)  # content date did not move
    assert second > first
    assert ledger.observe("main", "rss", 1, "A", t0) == first  # the old view, known bytes
    late = ledger.observe("main", "rss", 1, "A2", t0 + timedelta(days=1))  # never seen
    assert late < second
    assert ledger.observe("main", "rss", 2, "B", t0) == second  # the ledger did not move
    back = ledger.observe("main", "rss", 3, "A", t0)  # content reverted: still forward
    assert back > second


# -- settling: a change is applied once it is whole ----------------------------


class FakeWall:
    """A wall clock the test moves by hand (file times are real)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def changed_at(path: Path) -> float:
    stat = path.stat()
    return max(stat.st_mtime, stat.st_ctime)


def test_settle_time_is_half_the_interval_capped():
    assert settle_seconds(0) == 0
    assert settle_seconds(0.2) == pytest.approx(0.1)
    assert settle_seconds(2) == 1.0
    assert settle_seconds(60) == 1.0


def test_a_file_cut_inside_its_body_is_not_served_while_fresh(small_content: Path):
    """A copy in progress may stop mid-body and still be valid YAML; it must not go out."""
    wall = FakeWall()
    loader = ContentLoader(small_content, settle=1.0, wall_clock=wall)
    loader.load()
    path = small_content / "articles" / "beta.yaml"
    full = (
        "title: Beta\npublished: 2025-12-02T10:00:00Z\nsummary: About beta.\n"
        "body: |\n  First paragraph.\n\n  Second paragraph.\n"
    )
    cut = full[: full.index("Second")]  # still parses: body ends after "First paragraph."
    assert yaml.safe_load(cut)["body"]
    path.write_text(cut, encoding="utf-8")
    wall.now = max(wall.now, changed_at(path)) + 0.2
    found = loader.find_changes()
    assert not found
    snapshot = loader.load(found=found)
    beta = next(a for a in snapshot.articles if a.slug == "beta")
    assert "First paragraph" not in beta.body  # the old version, not the cut one
    assert loader.next_settle_at() is not None

    path.write_text(full, encoding="utf-8")  # the copy finishes
    wall.now = max(wall.now, changed_at(path)) + 1.1
    found = loader.find_changes()
    assert found
    beta = next(a for a in loader.load(found=found).articles if a.slug == "beta")
    assert "Second paragraph" in beta.body
    assert loader.next_settle_at() is None


def test_both_halves_of_a_rename_are_applied_together(small_content: Path):
    wall = FakeWall()
    loader = ContentLoader(small_content, settle=1.0, wall_clock=wall)
    loader.load()
    articles = small_content / "articles"
    os.rename(articles / "beta.yaml", articles / "beta-renamed.yaml")
    wall.now = max(wall.now, changed_at(articles / "beta-renamed.yaml")) + 0.1
    slugs_now = {a.slug for a in loader.load().articles}
    assert slugs_now == {"alpha", "beta", "gamma"}  # neither half yet
    wall.now += 1.0
    slugs_now = {a.slug for a in loader.load().articles}
    assert slugs_now == {"alpha", "beta-renamed", "gamma"}


def test_a_file_deleted_and_recreated_by_an_editor_never_vanishes(small_content: Path):
    wall = FakeWall()
    loader = ContentLoader(small_content, settle=1.0, wall_clock=wall)
    loader.load()
    path = small_content / "articles" / "beta.yaml"
    saved = path.read_bytes()
    path.unlink()  # some editors delete, then write the new file
    wall.now = max(wall.now, changed_at(small_content / "articles")) + 0.1
    assert "beta" in {a.slug for a in loader.load().articles}
    path.write_bytes(saved.replace(b"Beta", b"Beta saved"))
    wall.now = max(wall.now, changed_at(path)) + 1.1
    beta = next(a for a in loader.load().articles if a.slug == "beta")
    assert beta.title == "Beta saved"


def test_a_file_read_within_a_clock_tick_of_its_change_is_read_again(small_content: Path):
    """Same size, same coarse time: a second quick save could look unchanged."""
    path = small_content / "articles" / "beta.yaml"
    wall = FakeWall()
    wall.now = changed_at(path) + 0.001  # read right after the write
    loader = ContentLoader(small_content, wall_clock=wall)
    loader.load()
    reads = loader.files_read
    found = loader.find_changes()
    assert found  # not trusted yet
    wall.now += 1.0  # the next poll
    loader.load(found=found)
    assert loader.files_read == reads + 4  # site.yaml and the three articles, once more
    found = loader.find_changes()
    assert not found
    loader.load(found=found)
    assert loader.files_read == reads + 4
