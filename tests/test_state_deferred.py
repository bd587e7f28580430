"""State writes no request waits for: Last-Modified rows written by a thread of their own.

Real SQLite files in tmp_path, a second connection holding the file's write
lock as the body writer or the pre-render helper do, a real service and
its test client, and a restart on the same state folder.
"""

from __future__ import annotations

import sqlite3
from email.utils import parsedate_to_datetime
from pathlib import Path

from support import Clock

from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings
from feedsvc.state.deferred import DeferredWrites
from feedsvc.state.store import StateStore, connect_file
from feedsvc.web.app import create_app


def rows(path: Path) -> list[tuple[int, str]]:
    """What another process reading the file sees."""
    reader = connect_file(str(path))
    try:
        return [tuple(r) for r in reader.execute("SELECT n, what FROM t_rows ORDER BY n")]
    finally:
        reader.close()


def insert(n: int) -> object:
    return lambda db: db.execute("INSERT INTO t_rows VALUES (?, ?)", (n, f"row {n}"))


def held_lock(path: Path) -> sqlite3.Connection:
    """Another connection in the middle of a write: the file's one writer, for now."""
    other = connect_file(str(path))
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO state_schema (owner, version) VALUES ('other', 1)")
    return other


def test_writes_run_in_order_and_close_runs_what_is_queued(rows_state: StateStore):
    assert rows_state.path is not None
    deferred = DeferredWrites(rows_state)
    for n in range(1, 301):  # more than one batch
        deferred.submit("test rows", insert(n))
    deferred.close()
    assert rows(rows_state.path) == [(n, f"row {n}") for n in range(1, 301)]
    deferred.submit("test rows", insert(301))  # once closed: written by the caller
    assert rows(rows_state.path)[-1] == (301, "row 301")


def test_a_write_waits_for_a_held_lock_on_its_thread_not_the_callers(rows_state: StateStore):
    assert rows_state.path is not None
    deferred = DeferredWrites(rows_state)
    other = held_lock(rows_state.path)
    deferred.submit("test rows", insert(1))  # returns at once: nothing written yet
    assert rows(rows_state.path) == []
    assert not deferred.flush(timeout=0.2)  # queued behind the other writer
    other.execute("COMMIT")
    other.close()
    assert deferred.flush(timeout=10)
    assert rows(rows_state.path) == [(1, "row 1")]
    assert not rows_state.degraded
    deferred.close()


def test_one_failing_write_does_not_lose_the_others_of_its_batch(rows_state: StateStore):
    assert rows_state.path is not None
    deferred = DeferredWrites(rows_state)
    other = held_lock(rows_state.path)  # so that the three queue up into one batch
    deferred.submit("test rows", insert(1))
    deferred.submit("a broken write", lambda db: db.execute("INSERT INTO no_such_table VALUES (1)"))
    deferred.submit("test rows", insert(2))
    other.execute("COMMIT")
    other.close()
    deferred.close()
    assert rows(rows_state.path) == [(1, "row 1"), (2, "row 2")]
    assert rows_state.degraded  # the broken one is reported, as any failed state write


def test_a_cold_feed_is_answered_while_another_writer_holds_the_state(
    small_content: Path, tmp_path: Path, clock: Clock
):
    """Its Last-Modified is decided at once, the row written later and kept across a restart."""
    settings = ServiceSettings(
        content_dir=small_content, reload_interval=0, state_dir=str(tmp_path / "state")
    )
    service = FeedService(settings, clock=clock, prewarm=False)
    client = create_app(settings, service=service, watch=False).test_client()
    assert service.state.path is not None
    other = held_lock(service.state.path)
    response = client.get("/tags/health/atom.xml")
    assert response.status_code == 200
    date = parsedate_to_datetime(response.headers["Last-Modified"])
    reader = connect_file(str(service.state.path))
    query = "SELECT date FROM feeds_last_modified WHERE feed_key = 'tag:health' AND fmt = 'atom'"
    assert reader.execute(query).fetchall() == []  # not written by the request
    other.execute("COMMIT")
    other.close()
    assert service.deferred.flush(timeout=10)
    (stored,) = reader.execute(query).fetchall()
    assert stored[0] == date.isoformat()
    reader.close()
    service.close()

    again = FeedService(settings, clock=clock, prewarm=False)
    client = create_app(settings, service=again, watch=False).test_client()
    assert (
        client.get("/tags/health/atom.xml").headers["Last-Modified"]
        == response.headers["Last-Modified"]
    )
    assert not again.state.degraded
    again.close()
