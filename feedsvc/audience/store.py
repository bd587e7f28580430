"""The audience tables (``audience_*``) in the service's SQLite state.

Kept to what an estimate needs and nothing that names a person:

* ``audience_reports``: the highest count each aggregator (and feed id, and
  feed format) reported for a feed on a day;
* ``audience_readers``: one row per distinct direct reader of a feed on a
  day, named by a keyed hash of address and User-Agent (never the address);
* ``audience_keys``: the random key of each day's hashes, deleted once the
  day is over (:func:`forget_old_keys`), after which no hash can be linked
  to an address again, not even by trying every address;
* ``audience_excluded``: requests left out (browsers, bots, tools,
  spoofers) by kind and client, so a report can say what was not counted;
* ``audience_logs``: where each access log's ingest stopped (see ``tail``).

Every write goes through a caller's transaction: the ingester commits the
counts and the log position together, so a crash neither loses nor
double-counts lines.
"""

from __future__ import annotations

import secrets
import sqlite3
from datetime import date, timedelta

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS audience_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audience_reports (
    day TEXT NOT NULL, feed TEXT NOT NULL, aggregator TEXT NOT NULL, feed_id TEXT NOT NULL,
    format TEXT NOT NULL, subscribers INTEGER NOT NULL, capped INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, feed, aggregator, feed_id, format));
CREATE TABLE IF NOT EXISTS audience_readers (
    day TEXT NOT NULL, feed TEXT NOT NULL, reader TEXT NOT NULL, client TEXT NOT NULL,
    PRIMARY KEY (day, feed, reader));
CREATE TABLE IF NOT EXISTS audience_keys (day TEXT PRIMARY KEY, key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audience_excluded (
    day TEXT NOT NULL, feed TEXT NOT NULL, kind TEXT NOT NULL, client TEXT NOT NULL,
    requests INTEGER NOT NULL, PRIMARY KEY (day, feed, kind, client));
CREATE TABLE IF NOT EXISTS audience_logs (
    path TEXT PRIMARY KEY, inode INTEGER NOT NULL, offset INTEGER NOT NULL,
    head TEXT NOT NULL);
"""
# A late log (rotated at midnight, ingested in the morning) still dedupes
# against the readers already counted that day: keys live one day longer.
KEY_GRACE_DAYS = 1


class SchemaError(RuntimeError):
    """The state holds audience tables of a newer feedsvc."""


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the tables if missing; refuse a schema newer than this code knows."""
    conn.executescript(SCHEMA)
    row = conn.execute("SELECT value FROM audience_meta WHERE name = 'schema'").fetchone()
    if row is None:
        conn.execute("INSERT INTO audience_meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    elif int(row[0]) > SCHEMA_VERSION:
        raise SchemaError(f"audience tables are version {row[0]}; this feedsvc knows up to 1")
    conn.commit()


def day_key(conn: sqlite3.Connection, day: str) -> bytes:
    """The random key of ``day``'s reader hashes (made on first use)."""
    row = conn.execute("SELECT key FROM audience_keys WHERE day = ?", (day,)).fetchone()
    if row is not None:
        return bytes(row[0])
    key = secrets.token_bytes(32)
    conn.execute("INSERT INTO audience_keys VALUES (?, ?)", (day, key))
    return key


def forget_old_keys(conn: sqlite3.Connection, today: date) -> int:
    """Delete the keys of days that are over; how many went.

    A day is over once counting has moved a grace day past it: past today
    for live traffic and current logs; past the newest day counted for an
    older log, so a log ingested in several runs (rotated between them)
    still sees each reader once a day. Current traffic (the live recorder
    flushes every few seconds) then deletes those too.
    """
    newest = conn.execute("SELECT max(day) FROM audience_keys").fetchone()[0]
    if newest is None:
        return 0
    horizon = min(today, date.fromisoformat(str(newest))) - timedelta(days=KEY_GRACE_DAYS)
    return conn.execute("DELETE FROM audience_keys WHERE day < ?", (horizon.isoformat(),)).rowcount


def add_report(
    conn: sqlite3.Connection,
    key: tuple[str, str, str, str, str],
    subscribers: int,
    capped: bool,
) -> None:
    """Keep the highest report of (day, feed, aggregator, feed id, format)."""
    conn.execute(
        "INSERT INTO audience_reports VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT DO UPDATE SET subscribers = max(subscribers, excluded.subscribers), "
        "capped = CASE WHEN excluded.subscribers >= subscribers THEN excluded.capped "
        "ELSE capped END",
        (*key, subscribers, int(capped)),
    )


def add_reader(conn: sqlite3.Connection, day: str, feed: str, reader: str, client: str) -> None:
    """One distinct direct reader (a hash) of ``feed`` on ``day``; repeats are one."""
    conn.execute(
        "INSERT OR IGNORE INTO audience_readers VALUES (?, ?, ?, ?)", (day, feed, reader, client)
    )


def add_excluded(conn: sqlite3.Connection, key: tuple[str, str, str, str], requests: int) -> None:
    """Count requests left out, by (day, feed, kind, client)."""
    conn.execute(
        "INSERT INTO audience_excluded VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT DO UPDATE SET requests = requests + excluded.requests",
        (*key, requests),
    )


def log_position(conn: sqlite3.Connection, path: str) -> tuple[int, int, str] | None:
    """(inode, offset, head hash) where the last ingest of ``path`` stopped."""
    row = conn.execute(
        "SELECT inode, offset, head FROM audience_logs WHERE path = ?", (path,)
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]), str(row[2]))


def save_log_position(conn: sqlite3.Connection, path: str, position: tuple[int, int, str]) -> None:
    """Remember where ingest of ``path`` stopped (in the caller's transaction)."""
    conn.execute(
        "INSERT INTO audience_logs VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
        "inode = excluded.inode, offset = excluded.offset, head = excluded.head",
        (path, *position),
    )
