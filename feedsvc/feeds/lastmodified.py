"""Last-Modified per feed and format: from the content, and never backwards.

A feed's ``Last-Modified`` is its newest item change, so validators change
exactly when the content does. But a change can move that date back (an
article deleted, a date corrected), and a reader holding the later date
would then never see the change (If-Modified-Since says "not modified").
So the ledger remembers, per (feed, format), the last bytes' hash and the
date given to them: when the bytes change and the content date would not
move forward, the previous date plus one second is used instead.

With a state store the ledger is kept in it (table ``feeds_last_modified``,
one row per (feed, format): the last hash and its date), so this holds
across restarts too: the newest article deleted while the service was
stopped moves its feeds' dates forward, never back. Entries read back from
the state count as older than every catalog of this process (sequence 0).
Given a :class:`~feedsvc.state.deferred.DeferredWrites`, rows are written by
its thread, not by the request that decided them (which then never waits
for SQLite's lock); the date is decided, and served, at once either way.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from datetime import datetime, timedelta

from feedsvc.state.deferred import DeferredWrites
from feedsvc.state.store import StateStore

ONE_SECOND = timedelta(seconds=1)
SCHEMA_VERSION = 1
FEEDS_TABLE = "feeds_last_modified"
TABLE = (
    "CREATE TABLE IF NOT EXISTS {table} ("
    " feed_key TEXT NOT NULL, fmt TEXT NOT NULL, body_hash TEXT NOT NULL, date TEXT NOT NULL,"
    " PRIMARY KEY (feed_key, fmt))"
)


class LastModifiedLedger:
    """Per (feed, format): the last bytes' hash and the Last-Modified given to them."""

    HISTORY = 8  # dates remembered per feed for requests still holding an older catalog
    MAX_FEEDS = 200_000  # (feed, format) pairs remembered

    def __init__(
        self,
        state: StateStore | None = None,
        table: str = FEEDS_TABLE,
        deferred: DeferredWrites | None = None,
    ) -> None:
        """``table``: this ledger's own table in ``state`` (the page cache keeps another);
        ``deferred``: who writes its rows (``None``: the caller, in its own transaction)."""
        if not table.isidentifier():
            raise ValueError(f"not a table name: {table!r}")
        self._table = table
        self._entries: OrderedDict[tuple[str, str], tuple[int, str, datetime]] = OrderedDict()
        self._history: dict[tuple[str, str], OrderedDict[str, datetime]] = {}
        self._lock = threading.Lock()
        self._state = state
        self._deferred = deferred
        if state is not None:
            self._load(state)

    def _load(self, state: StateStore) -> None:
        """Read the ledger kept in the state, oldest change first (evicted first)."""
        state.schema(self._table, SCHEMA_VERSION, [TABLE.format(table=self._table)])
        with state.reading() as db:
            rows = db.execute(
                f"SELECT feed_key, fmt, body_hash, date FROM {self._table} ORDER BY date"
            ).fetchall()
        for feed_key, fmt, body_hash, date in rows:
            try:
                when = datetime.fromisoformat(date)
            except (TypeError, ValueError):
                continue  # a row edited by hand: that feed starts again from its content
            key = (str(feed_key), str(fmt))
            self._entries[key] = (0, str(body_hash), when)
            self._history[key] = OrderedDict({str(body_hash): when})

    def observe(
        self, feed_key: str, fmt: str, seq: int, body_hash: str, content_date: datetime
    ) -> datetime:
        """Last-Modified for these bytes, seen by the catalog with sequence ``seq``.

        Unchanged bytes keep their date; changed bytes get the content date or,
        if that is not later, the previous date plus one second. Views older
        than the last one recorded never move the ledger, and their bytes get
        a date *before* the current one (the one they had, if known): a client
        that got them must revalidate against the current bytes, never get a
        304 for them.
        """
        content_date = content_date.replace(microsecond=0)
        key = (feed_key, fmt)
        with self._lock:
            previous = self._entries.get(key)
            if previous is None:
                self._record(key, seq, body_hash, content_date)
                return content_date
            prev_seq, prev_hash, prev_date = previous
            if prev_hash == body_hash:
                return prev_date
            if seq < prev_seq:
                history = self._history.get(key)
                known = history.get(body_hash) if history is not None else None
                if known is not None and known < prev_date:
                    return known
                return min(content_date, prev_date - ONE_SECOND)
            date = max(content_date, prev_date + ONE_SECOND)
            self._record(key, seq, body_hash, date)
            return date

    def _record(self, key: tuple[str, str], seq: int, body_hash: str, date: datetime) -> None:
        self._entries[key] = (seq, body_hash, date)
        self._entries.move_to_end(key)
        history = self._history.setdefault(key, OrderedDict())
        history[body_hash] = date
        history.move_to_end(body_hash)
        while len(history) > self.HISTORY:
            history.popitem(last=False)
        evicted = []
        # Feed keys include pages and tag combinations, which clients choose:
        # bound the ledger, forgetting the feeds that changed longest ago.
        # Deleted tags keep theirs, so a tag that comes back never gets an
        # earlier Last-Modified than it had.
        while len(self._entries) > self.MAX_FEEDS:
            old_key, _ = self._entries.popitem(last=False)
            self._history.pop(old_key, None)
            evicted.append(old_key)
        if self._state is not None:
            self._persist(self._state, key, body_hash, date, evicted)

    def _persist(
        self,
        state: StateStore,
        key: tuple[str, str],
        body_hash: str,
        date: datetime,
        evicted: list[tuple[str, str]],
    ) -> None:
        """Write one entry (and forget evicted ones) in the state; WAL commits cost no fsync."""

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                f"INSERT OR REPLACE INTO {self._table} VALUES (?, ?, ?, ?)",
                (*key, body_hash, date.isoformat()),
            )
            db.executemany(f"DELETE FROM {self._table} WHERE feed_key = ? AND fmt = ?", evicted)

        if self._deferred is not None:
            self._deferred.submit("keeping Last-Modified dates", write)
        else:
            state.attempt("keeping Last-Modified dates", write)
