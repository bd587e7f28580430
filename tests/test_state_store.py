"""The state store (feedsvc.state.store): real SQLite files in tmp_path, broken in real ways.

Whatever is wrong with ``state.db`` (garbage, truncated, a folder in its
place, a folder that cannot hold it, a lock another process keeps), opening
it never raises: it starts fresh or in memory and says so in ``status``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from feedsvc.settings import DEFAULT_STATE_DIR, ServiceSettings, state_dir_from_env
from feedsvc.state.store import STATE_FILE, open_state

TABLE = "CREATE TABLE IF NOT EXISTS test_rows (k TEXT PRIMARY KEY, v TEXT)"


def _filled(folder: Path, rows: int = 500) -> bytes:
    """A real state.db with ``rows`` rows, closed; its bytes."""
    store = open_state(folder)
    assert store.schema("test", 1, [TABLE]) == 0
    with store.transaction() as db:
        db.executemany(
            "INSERT INTO test_rows VALUES (?, ?)", [(str(i), "x" * 200) for i in range(rows)]
        )
    store.close()
    return (folder / STATE_FILE).read_bytes()


def test_state_survives_reopening_and_keeps_schema_versions(tmp_path: Path):
    _filled(tmp_path / "s", rows=3)
    store = open_state(tmp_path / "s")
    assert store.status == "ok" and store.durable and not store.degraded
    assert store.schema("test", 2, [TABLE]) == 1  # the version found: the owner migrates from it
    assert store.connection.execute("SELECT count(*) FROM test_rows").fetchone() == (3,)
    assert store.connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    store.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "short", "directory"])
def test_a_broken_state_file_is_moved_aside_and_a_fresh_one_started(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
):
    folder = tmp_path / "state"
    good = _filled(folder)
    target = folder / STATE_FILE
    target.unlink()
    if damage == "garbage":
        target.write_bytes(b"\x00garbage\xff" * 1000)
    elif damage == "truncated":
        target.write_bytes(good[: len(good) // 2])
    elif damage == "short":
        target.write_bytes(good[:50])
    else:
        target.mkdir()
    store = open_state(folder)
    assert store.status.startswith("fresh: state.db was unreadable")
    assert "moved to state.db.corrupt-" in store.status
    assert store.durable and not store.degraded
    assert [
        p.name for p in folder.glob("state.db.corrupt-*") if not p.name.endswith(("-wal", "-shm"))
    ]
    assert target.is_file()
    assert store.schema("test", 1, [TABLE]) == 0  # empty: starts again
    assert any("started a fresh state" in r.getMessage() for r in caplog.records)
    store.close()


def test_a_folder_that_cannot_hold_state_means_memory(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = open_state(blocker / "state")
    assert store.status.startswith("memory: cannot use") and not store.durable and store.degraded
    assert store.schema("test", 1, [TABLE]) == 0  # still works, for this run


@pytest.mark.slow  # waits out the busy timeout
def test_a_file_locked_too_long_by_another_process_means_memory(tmp_path: Path):
    _filled(tmp_path)
    holder = sqlite3.connect(tmp_path / STATE_FILE, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        store = open_state(tmp_path)
    finally:
        holder.close()
    assert store.status.startswith("memory:") and "locked" in store.status, store.status
    assert (tmp_path / STATE_FILE).is_file()  # another process's file is never moved


def test_writes_that_fail_under_a_running_service_degrade_never_raise(tmp_path: Path):
    store = open_state(tmp_path)
    assert (
        store.attempt("writing rows", lambda db: db.execute("INSERT INTO nowhere VALUES (1)"))
        is None
    )
    assert store.degraded and "writing rows failed" in store.status


def test_one_lock_serialises_writers_from_many_threads(tmp_path: Path):
    store = open_state(tmp_path)
    store.schema("test", 1, [TABLE])

    def write(n: int) -> None:
        for i in range(50):
            store.attempt(
                "w",
                lambda db, i=i: db.execute("INSERT INTO test_rows VALUES (?, ?)", (f"{n}-{i}", "")),
            )

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert store.connection.execute("SELECT count(*) FROM test_rows").fetchone() == (200,)
    assert store.status == "ok"


def test_the_state_folder_setting():
    assert state_dir_from_env({}) == DEFAULT_STATE_DIR == ".feedsvc-state"
    assert state_dir_from_env({"FEEDSVC_STATE_DIR": "  "}) == DEFAULT_STATE_DIR
    assert state_dir_from_env({"FEEDSVC_STATE_DIR": "/var/lib/feedsvc"}) == "/var/lib/feedsvc"
    assert state_dir_from_env({"FEEDSVC_STATE_DIR": "none"}) is None
    assert ServiceSettings.from_env({"FEEDSVC_STATE_DIR": "/x"}).state_dir == "/x"
    assert ServiceSettings().state_dir is None  # built in code (tests, embedding): memory


def test_a_cleanly_closed_state_opens_without_the_check_until_anything_else_touched_it(
    tmp_path: Path,
):
    folder = tmp_path / "state"
    _filled(folder)
    marker = folder / (STATE_FILE + ".clean")
    assert marker.is_file()  # left by the clean close
    store = open_state(folder)
    assert not store.checked and not marker.exists()  # taken at open: a crash leaves none
    assert store.connection.execute("SELECT count(*) FROM test_rows").fetchone() == (500,)
    store.close()
    # A crash (never closed): the next open checks.
    crashed = open_state(folder)
    with crashed.transaction() as db:
        db.execute("INSERT INTO test_rows VALUES ('late', 'y')")
    again = open_state(folder)
    assert again.checked
    again.close()
    crashed.close()
    # Damaged in place after a clean close, size and mtime kept: ctime moved, so
    # the file is checked, and moved aside.
    target = folder / STATE_FILE
    stat = target.stat()
    with open(target, "r+b") as raw:
        raw.seek(stat.st_size // 2 // 4096 * 4096)
        raw.write(b"\xff" * 4096)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert marker.is_file() and target.stat().st_size == stat.st_size
    damaged = open_state(folder)
    assert damaged.checked and damaged.status.startswith("fresh: state.db was unreadable")
    damaged.close()
