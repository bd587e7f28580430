"""The one place the audience opens its state: ``<state dir>/state.db``.

The same file as :mod:`feedsvc.state.store` (its ``STATE_FILE``), through
connections of the audience's own: log ingest runs in its own process, the
live recorder flushes from its own thread and the admin pages read while
requests write, and WAL lets all of them share the file without holding the
service's one connection (and its lock) for a whole batch. Swapping this for
the shared store's connection is a change to this function alone.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from feedsvc.audience.store import ensure_schema
from feedsvc.state.store import STATE_FILE


def connect_state(state_dir: str | Path) -> sqlite3.Connection:
    """A connection to the state database in ``state_dir`` (created if missing).

    WAL lets the admin pages read while an ingest or the live recorder
    writes; the busy timeout rides out the other writer's short commits.
    """
    folder = Path(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(folder / STATE_FILE, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    ensure_schema(conn)
    return conn
