"""The one place the audience opens its state: ``<state dir>/state.db``.

Until the shared state store lands, this opens SQLite directly; swapping it
for the shared store's connection is a change to this function alone.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from feedsvc.audience.store import ensure_schema

STATE_FILE = "state.db"


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
