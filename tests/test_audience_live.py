"""Counting in-process: the recorder behind the real app (feedsvc.audience.live).

The real app (fast path and Flask) wrapped as ``feedsvc serve`` wraps it,
requests through Flask's test client and a real waitress server, the
buffer counted into a real SQLite state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from audiencekit import totals
from edgekit import feedsvc_app
from servers import WaitressThread, http_request

from feedsvc.audience.db import connect_state
from feedsvc.audience.live import LiveRecorder, RecordingMiddleware


def recorder_for(state_dir: Path, **options: object) -> LiveRecorder:
    return LiveRecorder(lambda: connect_state(state_dir), **options)  # type: ignore[arg-type]


def test_feed_answers_through_the_fast_path_are_counted(bundled_content: Path, tmp_path: Path):
    recorder = recorder_for(tmp_path / "state")
    with feedsvc_app(bundled_content) as app:
        app.wsgi_app = RecordingMiddleware(app.wsgi_app, recorder)
        with WaitressThread(app) as server:
            for agent, path in [
                ("Feedbin feed-id:5 - 1,500 subscribers", "/rss.xml"),
                ("Newsboat/2.36 (Linux x86_64)", "/atom.xml"),
                ("Newsboat/2.36 (Linux x86_64)", "/feed.json"),
                ("curl/8.5.0", "/rss.xml"),
                ("Newsboat/2.36 (Linux x86_64)", "/tags/no-such-tag/rss.xml"),  # 404
                ("Newsboat/2.36 (Linux x86_64)", "/tags/"),  # a page, not a feed
            ]:
                http_request(server.port, path, headers={"User-Agent": agent})
    assert recorder.flush() == 4  # the 404 and the page were never buffered
    conn = connect_state(tmp_path / "state")
    assert totals(conn) == {"main": (1500, 1)}


def test_the_buffer_is_bounded_and_a_broken_state_loses_counts_not_requests(tmp_path: Path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the state folder should be")
    recorder = recorder_for(blocked, max_buffer=2)
    for _ in range(5):
        recorder.record("/rss.xml", "Newsboat/2.36", "10.0.0.1", 200)
    assert recorder.dropped == 3
    assert recorder.flush() == 0  # the state cannot be opened: logged, counted as dropped
    assert recorder.dropped == 5


def test_stop_counts_what_is_buffered(tmp_path: Path):
    when = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    recorder = recorder_for(tmp_path / "state", interval=60, clock=when.timestamp)
    recorder.start()
    recorder.record("/popular/rss.xml", "NetNewsWire (RSS Reader)", "10.0.0.9", 304, "HEAD")
    recorder.stop()
    assert totals(connect_state(tmp_path / "state")) == {"popular": (0, 1)}
