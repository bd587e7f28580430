"""With live editing off (reload interval 0) scheduled articles still appear when due.

The watcher thread then watches no files; it sleeps until the served
content's next scheduled change and reloads then. Real thread, real clock,
real files; every wait is bounded.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedcheck import parse_feed
from support import WatchedApp, article, wait_for, write_yaml


def titles(live: WatchedApp) -> list[str]:
    return [e.title for e in parse_feed(live.client.get("/feed.json").data, "json").entries]


def test_without_live_editing_a_scheduled_article_appears_when_due(small_content: Path):
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    write_yaml(
        small_content / "articles" / "soon.yaml", article("Soon", due.isoformat(), tags=["Health"])
    )
    live = WatchedApp(small_content, interval=0)
    try:
        assert live.service.watch_mode == "off"
        names = {t.name for t in threading.enumerate()}
        assert "feedsvc-reload" not in names and "feedsvc-schedule" in names
        assert "Soon" not in titles(live)
        wait_for(lambda: live.service.reloads == 1, timeout=10, what="the due reload")
        assert datetime.now(UTC) >= due
        assert "Soon" in titles(live)
    finally:
        live.close()


def test_stop_ends_the_schedule_thread_at_once(small_content: Path):
    live = WatchedApp(small_content, interval=0)  # nothing scheduled: a long sleep
    thread = live.service.watcher.thread
    assert thread is not None and thread.is_alive()
    live.close()
    assert not thread.is_alive() and live.service.watcher.thread is None
