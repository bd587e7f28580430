"""Change detection by inotify: real files, real kernel events, no mocks.

The loader-level tests freeze the loader's wall clock in the past, so that
nothing ever *settles* by time: whatever is applied was applied on an
event's word (a close after writing, a rename into place), and whatever
must settle (a file still open, a deletion) visibly waits until the test
moves the clock. The service-level tests run the real watcher thread with
a reload interval far longer than the test, so only events can explain a
change being served; and ``feedsvc serve`` is stopped by SIGTERM.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from feedcheck import parse_feed
from support import SITE, WatchedApp, article, wait_for, write_yaml

from bench.servers import feedsvc_server
from feedsvc.content.events import ContentEvents
from feedsvc.content.inotify import Inotify
from feedsvc.content.loader import ContentLoader
from feedsvc.content.scan import Findings
from feedsvc.settings import ServiceSettings

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux")

SETTLE = 1.0
LONG = 30.0  # a reload interval no test waits for: only events can explain a reload


class Wall:
    """The loader's wall clock, moved by hand (file times stay real)."""

    def __init__(self) -> None:
        self.now = time.time() + 10  # files written before the start look old: read once

    def __call__(self) -> float:
        return self.now

    def freeze_in_the_past(self) -> None:
        """From now on no change settles by time until :meth:`settle` is called."""
        self.now = time.time() - 5

    def settle(self) -> None:
        self.now = time.time() + 10


@pytest.fixture
def watched(small_content: Path) -> Iterator[tuple[ContentLoader, ContentEvents, Wall]]:
    wall = Wall()
    loader = ContentLoader(small_content, settle=SETTLE, wall_clock=wall)
    loader.load()
    events = ContentEvents(loader.content_dir, loader.articles_dir)
    loader.events = events
    loader.load()  # the first look after the watches exist compares everything
    wall.freeze_in_the_past()
    yield loader, events, wall
    events.close()


def titles(loader: ContentLoader, found: Findings | None = None) -> dict[str, str]:
    return {a.slug: a.title for a in loader.load(found=found).articles}


def beta(title: str) -> dict[str, object]:
    return article(title, "2025-12-02T10:00:00Z", tags=["north korea"], views=500)


def test_a_save_closed_after_writing_is_applied_at_once(watched):
    loader, _, _ = watched
    scans, reads = loader.full_scans, loader.files_read
    write_yaml(loader.articles_dir / "beta.yaml", beta("Beta, saved"))  # truncate and write
    found = loader.find_changes()
    assert found
    assert titles(loader, found)["beta"] == "Beta, saved"
    assert loader.files_read == reads + 1 and loader.full_scans == scans  # only that file
    assert loader.next_settle_at() is None


def test_an_editor_save_by_renaming_a_temporary_file_is_applied_at_once(watched):
    loader, _, _ = watched
    temporary = loader.articles_dir / ".beta.yaml.swp"
    write_yaml(temporary, beta("Beta, atomic"))
    os.replace(temporary, loader.articles_dir / "beta.yaml")
    assert titles(loader)["beta"] == "Beta, atomic"
    assert ".beta" not in titles(loader)


def test_a_file_still_open_for_writing_waits_then_applies_when_closed(watched):
    loader, _, _ = watched
    text = yaml.safe_dump(beta("Beta, written slowly"), sort_keys=False)
    cut = text.index("body")  # what is written so far parses, without the body
    with open(loader.articles_dir / "beta.yaml", "w", encoding="utf-8") as handle:
        handle.write(text[:cut])
        handle.flush()
        found = loader.find_changes()
        assert not found
        assert titles(loader, found)["beta"] == "Beta"  # not the half-written file
        assert loader.next_settle_at() is not None
        handle.write(text[cut:])
    assert titles(loader)["beta"] == "Beta, written slowly"  # closed: whole
    assert loader.next_settle_at() is None


def test_a_rename_between_two_article_files_is_applied_whole(watched):
    loader, _, _ = watched
    os.rename(loader.articles_dir / "beta.yaml", loader.articles_dir / "beta-renamed.yaml")
    assert set(titles(loader)) == {"alpha", "beta-renamed", "gamma"}  # both halves, at once


def test_a_deletion_settles_first_so_a_delete_and_rewrite_never_vanishes(watched):
    loader, _, wall = watched
    path = loader.articles_dir / "beta.yaml"
    path.unlink()  # some editors delete, then write the new file
    assert "beta" in titles(loader)
    write_yaml(path, beta("Beta, rewritten"))
    assert titles(loader)["beta"] == "Beta, rewritten"

    path.unlink()  # a real deletion
    assert "beta" in titles(loader)
    wall.settle()
    assert "beta" not in titles(loader)


def test_a_backup_rename_then_a_new_file_never_vanishes(watched):
    """vim without backupcopy: rename the file to ``name~``, then write ``name`` afresh."""
    loader, _, wall = watched
    path = loader.articles_dir / "beta.yaml"
    os.rename(path, loader.articles_dir / "beta.yaml~")
    assert "beta" in titles(loader)  # renamed away to a non-article: that settles
    write_yaml(path, beta("Beta, vim"))
    assert titles(loader)["beta"] == "Beta, vim"
    wall.settle()
    assert titles(loader)["beta"] == "Beta, vim"


def test_site_yaml_and_popularity_yaml_saves_are_applied_at_once(watched):
    loader, _, _ = watched
    write_yaml(loader.content_dir / "site.yaml", {**SITE, "title": "Evented Times"})
    write_yaml(loader.content_dir / "popularity.yaml", {"gamma": 10_000})
    snapshot = loader.load()
    assert snapshot.site.title == "Evented Times"
    assert snapshot.popular[0].slug == "gamma"


def test_a_file_written_again_while_it_was_read_is_read_again(watched):
    loader, _, _ = watched
    path = loader.articles_dir / "beta.yaml"
    write_yaml(path, beta("Beta, first"))
    found = loader.find_changes()
    assert found  # takes the close event
    write_yaml(path, beta("Beta, second"))  # before the load reads it
    reads = loader.files_read
    loader.load(found=found)  # reads, then sees the new events: the read is not trusted
    assert loader.files_read == reads + 1
    assert titles(loader)["beta"] == "Beta, second"


def max_queued_events() -> int:
    try:
        return int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    except (OSError, ValueError):
        return 0


def flood(folder: Path, count: int) -> None:
    """More events than the kernel queues: attribute changes of two hidden files, alternating
    (identical consecutive events are merged; these never are)."""
    pair = [folder / ".flood-a", folder / ".flood-b"]
    for path in pair:
        path.touch()
    for n in range(count):
        os.utime(pair[n % 2], (n, n))
    for path in pair:
        path.unlink()


def test_a_queue_overflow_falls_back_to_comparing_every_file(watched):
    loader, events, wall = watched
    limit = max_queued_events()
    if not 0 < limit <= 200_000:
        pytest.skip(f"max_queued_events is {limit}")
    flood(loader.articles_dir, limit + 100)
    write_yaml(loader.articles_dir / "delta.yaml", article("Delta", "2025-12-04T00:00:00Z"))
    scans = loader.full_scans
    assert "delta" not in titles(loader)  # lost events vouch for nothing: it must settle
    assert events.overflows == 1 and loader.full_scans == scans + 1
    wall.settle()
    assert titles(loader)["delta"] == "Delta"


def test_a_content_folder_swapped_by_a_deploy_is_watched_again(tmp_path: Path):
    """``current`` is a symlink a deploy points at a new release; inotify watched the old one."""
    releases = []
    for number in (1, 2):
        release = tmp_path / f"release-{number}"
        write_yaml(release / "site.yaml", {**SITE, "title": f"Release {number}"})
        write_yaml(release / "articles" / "a.yaml", article(f"A{number}", "2025-01-01"))
        releases.append(release)
    current = tmp_path / "current"
    current.symlink_to(releases[0])
    wall = Wall()
    loader = ContentLoader(current, settle=SETTLE, wall_clock=wall)
    loader.load()
    events = ContentEvents(loader.content_dir, loader.articles_dir)
    loader.events = events
    try:
        loader.load()
        assert not events.check_identity()
        swap = tmp_path / "current.new"
        swap.symlink_to(releases[1])
        os.replace(swap, current)
        assert events.check_identity()
        snapshot = loader.load()
        assert snapshot.site.title == "Release 2" and snapshot.articles[0].title == "A2"
        wall.freeze_in_the_past()
        write_yaml(releases[1] / "articles" / "b.yaml", article("B2", "2025-01-02"))
        assert "b" in {a.slug for a in loader.load().articles}  # watching the new release
    finally:
        events.close()


def test_an_articles_folder_deleted_and_made_again_is_watched_again(watched):
    loader, events, wall = watched
    shutil.rmtree(loader.articles_dir)
    loader.articles_dir.mkdir()
    write_yaml(loader.articles_dir / "new.yaml", article("New", "2025-12-05T00:00:00Z"))
    wall.settle()
    assert set(titles(loader)) == {"new"}
    assert events.rewatches >= 1
    wall.freeze_in_the_past()
    write_yaml(loader.articles_dir / "new.yaml", article("New, edited", "2025-12-05T00:00:00Z"))
    assert titles(loader)["new"] == "New, edited"  # the new folder's events


# -- the watcher thread --------------------------------------------------------


@pytest.fixture
def live_interval() -> float:
    return LONG  # the ``live`` app (conftest) polls too rarely to explain any change


def feed_titles(live: WatchedApp) -> list[str]:
    return [e.title for e in parse_feed(live.client.get("/feed.json").data, "json").entries]


@pytest.mark.slow
def test_the_watcher_serves_saves_renames_and_deletions_without_polling(live, small_content):
    assert live.service.watch_mode == "inotify" and live.healthz()["watch"] == "inotify"
    articles = small_content / "articles"
    write_yaml(articles / "beta.yaml", beta("Beta, in place"))
    wait_for(lambda: "Beta, in place" in feed_titles(live), what="an in-place save")
    temporary = articles / ".beta.yaml.tmp"
    write_yaml(temporary, beta("Beta, atomic"))
    os.replace(temporary, articles / "beta.yaml")
    wait_for(lambda: "Beta, atomic" in feed_titles(live), what="an atomic save")
    write_yaml(articles / "delta.yaml", article("Delta", "2025-12-04T00:00:00Z"))
    wait_for(lambda: "Delta" in feed_titles(live), what="a new file")
    (articles / "delta.yaml").unlink()
    wait_for(lambda: "Delta" not in feed_titles(live), what="a deletion, once settled")
    write_yaml(small_content / "site.yaml", {**SITE, "title": "Evented Times"})
    wait_for(
        lambda: parse_feed(live.client.get("/rss.xml").data, "rss").title == "Evented Times",
        what="site.yaml",
    )
    # One comparison of every file at start; the rest came from events.
    assert live.service.loader.full_scans <= 2


def test_stop_interrupts_the_watchers_wait_at_once(small_content):
    app = WatchedApp(small_content, interval=LONG)
    thread = app.service.watcher.thread
    assert thread is not None and thread.is_alive()
    app.close()  # joins for at most 5 s; the wait itself is LONG
    assert not thread.is_alive() and app.service.watcher.thread is None
    assert app.service.loader.events is None  # the descriptor is closed


@pytest.mark.slow
def test_an_overflow_while_a_reload_runs_is_recovered_by_a_full_comparison(live, small_content):
    limit = max_queued_events()
    if not 0 < limit <= 200_000:
        pytest.skip(f"max_queued_events is {limit}")
    articles = small_content / "articles"
    events = live.service.loader.events
    with live.service.loader.lock:  # as if a long reload ran: nothing drains the queue
        flood(articles, limit + 100)
        write_yaml(articles / "delta.yaml", article("Delta", "2025-12-04T00:00:00Z"))
    wait_for(lambda: "Delta" in feed_titles(live), what="the file whose events were lost")
    assert events.overflows >= 1


def test_the_watcher_polls_when_asked_to(small_content):
    settings = ServiceSettings.from_env({"FEEDSVC_WATCH": "poll", "FEEDSVC_RELOAD": "0.1"})
    assert settings.watch == "poll"
    with pytest.raises(ValueError, match="FEEDSVC_WATCH"):
        ServiceSettings.from_env({"FEEDSVC_WATCH": "fanotify"})
    app = WatchedApp(small_content, interval=0.1, watch="poll")
    try:
        assert app.service.watch_mode == "poll" and app.service.loader.events is None
        write_yaml(small_content / "articles" / "beta.yaml", beta("Beta, polled"))
        wait_for(lambda: "Beta, polled" in feed_titles(app), what="the polled edit")
    finally:
        app.close()


def max_user_instances() -> int:
    try:
        return int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    except (OSError, ValueError):
        return 0


def test_when_inotify_instances_run_out_the_watcher_polls(small_content, caplog):
    """The per-user instance limit, reached for real (and released at once)."""
    if not 0 < max_user_instances() <= 1024:
        pytest.skip("the inotify instance limit is too high to reach here")
    caplog.set_level(logging.WARNING, logger="feedsvc")
    held: list[Inotify] = []
    try:
        while True:
            try:
                held.append(Inotify())
            except OSError as exc:
                assert exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOMEM)
                break
            if len(held) > 2048:
                pytest.skip("no inotify instance limit was reached")
        app = WatchedApp(small_content, interval=0.1)
    finally:
        for instance in held:
            instance.close()
    try:
        assert app.service.watch_mode == "poll"
        assert any("polling every" in r.getMessage() for r in caplog.records)
        write_yaml(small_content / "articles" / "beta.yaml", beta("Beta, polled"))
        wait_for(lambda: "Beta, polled" in feed_titles(app), what="the polled edit")
    finally:
        app.close()


def test_feedsvc_serve_watches_with_inotify_and_stops_on_sigterm(small_content):
    server = feedsvc_server(small_content, reload=LONG).start()
    try:
        assert "with inotify" in server.log()
        write_yaml(small_content / "articles" / "beta.yaml", beta("Beta, served"))

        def served() -> bool:
            _, _, body = server.get("/feed.json")
            return any(e.title == "Beta, served" for e in parse_feed(body, "json").entries)

        wait_for(served, what="the edit over HTTP")
    finally:
        server.stop()  # SIGTERM by PID; SIGKILL if it is ignored for 10 s
    assert not server.killed and server.stop_seconds < 10
    assert "feedsvc stopped" in server.log()
