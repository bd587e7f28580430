"""The background pre-render: a real helper process fills the state; feeds stay byte-identical.

Real services on generated content (bench/generate.py) with real state
folders, restarted by closing one service and starting another on the
same folder; the helper is a real ``python`` process.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from feedcheck import parse_feed
from support import Clock, wait_for

from bench.generate import write_content
from bench.servers import feedsvc_server
from feedsvc.content.textstore import get_text
from feedsvc.feeds.body import body_url
from feedsvc.feeds.markdown import render_body
from feedsvc.feeds.prerender import NICENESS, send, serve_requests, start_helper
from feedsvc.feeds.rendered import RenderedBodies
from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings
from feedsvc.state.store import open_state
from feedsvc.web.app import create_app

FEEDS = ["/rss.xml", "/atom.xml", "/feed.json", "/popular/rss.xml"]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """300 articles over 40 tags: more bodies than the start-up prewarm renders."""
    return write_content(tmp_path / "content", 300, 40, seed=3, items_per_feed=10)


@pytest.fixture
def start(clock: Clock) -> Iterator[Callable[..., tuple[FeedService, Any]]]:
    """Start a service (prewarm and pre-render on, as ``feedsvc serve``) and its test client."""
    services: list[FeedService] = []

    def build(content: Path, **settings: Any) -> tuple[FeedService, Any]:
        config = ServiceSettings(content_dir=content, reload_interval=0, **settings)
        service = FeedService(config, clock=clock)
        services.append(service)
        app = create_app(config, service=service, watch=False)
        return service, app.test_client()

    yield build
    for service in services:
        service.close()


def tag_feeds(service: FeedService) -> list[str]:
    return [f"/tags/{slug}/{name}" for slug in sorted(service.catalog.snapshot.tags)
            for name in ("rss.xml", "feed.json")]  # fmt: skip


def test_the_helper_renders_every_missing_body_and_feeds_stay_identical(
    site: Path, tmp_path: Path, start
):
    service, client = start(site, state_dir=str(tmp_path / "state"))
    assert service.prerender.wait(120)
    snapshot = service.catalog.snapshot
    keys = {service.bodies.key(body_url(snapshot, a), get_text(a.text_ref)[1])
            for a in snapshot.articles}  # fmt: skip
    assert service.bodies.missing(sorted(keys)) == set()
    assert service.prerender.sent > 0 and service.prerender.stored == service.prerender.sent
    assert service.prerender.helper is not None and service.prerender.helper.returncode == 0
    _, plain = start(site)  # FEEDSVC_STATE_DIR=none: rendered on request, kept in memory only
    for path in FEEDS + tag_feeds(service):
        kept, rendered = client.get(path), plain.get(path)
        assert kept.status_code == rendered.status_code == 200, path
        assert kept.data == rendered.data, path


def test_a_restart_renders_no_body_and_an_edit_renders_one(site: Path, tmp_path: Path, start):
    state = str(tmp_path / "state")
    first, _ = start(site, state_dir=state)
    assert first.prerender.wait(120)
    first.close()
    service, client = start(site, state_dir=state)
    assert service.prerender.wait(60)
    assert service.prerender.sent == 0 and service.prerender.helper is None
    assert not service.prerender.walked  # the first walk was complete: unchanged content
    for path in tag_feeds(service):
        assert client.get(path).status_code == 200
    assert service.bodies.renders == 0 and service.bodies.hits > 0
    newest = service.catalog.snapshot.articles[0]
    path = site / "articles" / f"{newest.slug}.yaml"
    path.write_text(path.read_text().replace("body: |", "body: |\n  An edited first line.\n", 1))
    assert service.reload()
    assert "An edited first line." in client.get("/rss.xml").get_data(as_text=True)
    assert service.bodies.renders == 1


def test_a_walk_cut_short_or_other_content_walks_again(site: Path, tmp_path: Path, start):
    state = str(tmp_path / "state")
    first, _ = start(site, state_dir=state)
    first.prerender.stop()  # before (or while) walking: nothing recorded
    first.close()
    second, _ = start(site, state_dir=state)
    assert second.prerender.wait(120) and second.prerender.walked
    second.close()
    edited = sorted((site / "articles").glob("*.yaml"))[0]
    edited.write_text(edited.read_text().replace("body: |", "body: |\n  Edited.\n", 1))
    third, _ = start(site, state_dir=state)
    assert third.prerender.wait(120) and third.prerender.walked  # (the prewarm may render it)
    third.close()
    fourth, _ = start(site, state_dir=state)
    assert fourth.prerender.wait(60) and not fourth.prerender.walked


def test_rows_of_deleted_articles_are_pruned_at_the_next_start(site: Path, tmp_path: Path, start):
    state = str(tmp_path / "state")
    first, _ = start(site, state_dir=state)
    assert first.prerender.wait(120)
    gone = first.catalog.snapshot.articles[5]
    gone_key = first.bodies.key(body_url(first.catalog.snapshot, gone), get_text(gone.text_ref)[1])
    first.close()
    (site / "articles" / f"{gone.slug}.yaml").unlink()
    service, _ = start(site, state_dir=state)
    assert service.prerender.wait(60)
    assert service.prerender.pruned == 2  # its body, and the record of the complete walk before
    assert service.bodies.missing([gone_key]) == {gone_key}


def test_with_the_state_in_memory_nothing_is_started(site: Path, start):
    service, client = start(site)
    assert service.prerender.wait(1) and service.prerender.helper is None
    assert client.get("/rss.xml").status_code == 200


def test_stop_ends_the_helper(site: Path, tmp_path: Path, start):
    service, _ = start(site, state_dir=str(tmp_path / "state"))
    service.stop()
    helper = service.prerender.helper
    assert helper is None or helper.poll() is not None  # killed (or never needed)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="a Linux scheduling policy")
def test_the_helper_gives_its_core_up_to_any_other_work(tmp_path: Path):
    """SCHED_IDLE, not only nice 19: a waking request thread or writer never waits for it."""
    state = open_state(tmp_path / "state")
    RenderedBodies(state).close()  # its table
    helper = start_helper(str(state.path))
    try:
        wait_for(lambda: os.sched_getscheduler(helper.pid) == os.SCHED_IDLE, timeout=20)
        assert os.getpriority(os.PRIO_PROCESS, helper.pid) == max(
            NICENESS, os.getpriority(os.PRIO_PROCESS, 0)
        )
    finally:
        assert helper.stdin is not None
        helper.stdin.close()  # its input ends: it stores nothing and exits
        assert helper.wait(20) == 0
        state.close()


def test_the_helper_stores_what_rendering_returns(tmp_path: Path):
    bodies = [("https://n.example/a/1", "*one* [x](/y)"), ("http://h/b", "é\n\n<b>b</b>"),
              ("https://n.example/a/3", "")]  # fmt: skip
    state = open_state(tmp_path / "state")
    kept = RenderedBodies(state)
    requests = io.BytesIO()
    for url, source in bodies:
        send(requests, kept.key(url, source), url, source)
    connection = state.another_connection()
    assert connection is not None
    assert serve_requests(io.BytesIO(requests.getvalue()), connection) == len(bodies)
    connection.close()
    for url, source in bodies:
        assert kept.get(kept.key(url, source)) == render_body(source, url)
    kept.close()
    state.close()


def _tag_slugs(site: Path) -> list[str]:
    service = FeedService(ServiceSettings(content_dir=site, reload_interval=0), prewarm=False)
    try:
        return sorted(service.catalog.snapshot.tags)
    finally:
        service.close()


@pytest.mark.slow
def test_real_servers_pre_render_then_restart_without_rendering(site: Path, tmp_path: Path):
    state = {"FEEDSVC_STATE_DIR": str(tmp_path / "state")}
    paths = ["/tags/" + slug + "/rss.xml" for slug in _tag_slugs(site)][-10:]
    with feedsvc_server(site, env=state, reload=0) as server:
        wait_for(lambda: "pre-rendered " in server.log(), timeout=120, what="the pre-render")
        first = [server.get(path) for path in paths]
    assert re.search(r"pre-rendered [1-9]\d* article bodies", server.log())
    with feedsvc_server(site, env=state, reload=0) as server:
        wait_for(lambda: "pre-rendered " in server.log(), timeout=60, what="the pre-render")
        assert "pre-rendered 0 article bodies" in server.log()  # every body was kept
        again = [server.get(path) for path in paths]
    for (status, _, body), (status_again, _, body_again) in zip(first, again, strict=True):
        assert status == status_again == 200
        items, items_again = parse_feed(body, "rss").entries, parse_feed(body_again, "rss").entries
        assert items and [i.content for i in items] == [i.content for i in items_again]
