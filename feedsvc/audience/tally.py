"""Count one request: an aggregator's report, a distinct reader, or a request left out.

The one place hits become rows, for access logs and live requests alike,
so both count by the same rules (:mod:`~feedsvc.audience.agents`,
:mod:`~feedsvc.audience.feedpaths`). A direct reader is stored as
HMAC-SHA256(day key, address + User-Agent): the same reader polling all
day is one row, and once the day's key is deleted nothing links the row to
an address.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import sqlite3
from dataclasses import dataclass

from feedsvc.audience import store
from feedsvc.audience.accesslog import Hit
from feedsvc.audience.agents import MAX_AGENT_CHARS, Client, classify
from feedsvc.audience.feedpaths import feed_of

COUNTED_STATUSES = frozenset({200, 304})  # answers a reader keeps; redirects are followed
COUNTED_METHODS = frozenset({"GET", "HEAD"})
READER_HASH_CHARS = 32  # 128 bits of the HMAC: no collisions among a day's readers

_classify = functools.lru_cache(maxsize=4096)(classify)


def classify_cached(agent: str) -> Client:
    """:func:`~feedsvc.audience.agents.classify`, memoised on the part it reads.

    Keyed on at most :data:`MAX_AGENT_CHARS` characters, so a client sending
    huge User-Agents cannot make the cache hold megabytes.
    """
    return _classify(agent.strip()[:MAX_AGENT_CHARS])


@dataclass(slots=True)
class TallyCounts:
    """What one batch of hits came to (for the ingest summary and tests)."""

    hits: int = 0
    feed_hits: int = 0
    reports: int = 0
    readers: int = 0
    excluded: int = 0


class Tally:
    """Writes hits into the audience tables of ``conn`` (the caller commits)."""

    def __init__(self, conn: sqlite3.Connection, prefix: str | None = "") -> None:
        self.conn = conn
        self.prefix = prefix
        self.counts = TallyCounts()
        self._keys: dict[str, bytes] = {}

    def add(self, hit: Hit, times: int = 1) -> None:
        """Count ``hit`` (seen ``times`` times) if it is a feed answer a reader keeps."""
        self.counts.hits += times
        if hit.status not in COUNTED_STATUSES or hit.method not in COUNTED_METHODS:
            return
        feed = feed_of(hit.target, self.prefix)
        if feed is None:
            return
        self.counts.feed_hits += times
        day = hit.time.date().isoformat()
        client: Client = classify_cached(hit.agent)
        if client.report is not None:
            report = client.report
            key = (day, feed.feed, report.aggregator, report.feed_id, feed.fmt)
            store.add_report(self.conn, key, report.subscribers, report.capped)
            self.counts.reports += 1
        elif client.kind == "reader":
            reader = self.reader_hash(day, hit.address, hit.agent)
            store.add_reader(self.conn, day, feed.feed, reader, client.name)
            self.counts.readers += 1
        else:
            kind = "no count" if client.kind == "aggregator" else client.kind
            store.add_excluded(self.conn, (day, feed.feed, kind, client.name or "-"), times)
            self.counts.excluded += times

    def reader_hash(self, day: str, address: str, agent: str) -> str:
        """The keyed hash naming one reader on one day."""
        key = self._keys.get(day)
        if key is None:
            key = self._keys[day] = store.day_key(self.conn, day)
        message = f"{address}\n{agent}".encode("utf-8", errors="replace")
        return hmac.new(key, message, hashlib.sha256).hexdigest()[:READER_HASH_CHARS]

    def forget_keys(self) -> None:
        """Drop the keys held in memory (after the caller deleted old ones from the store)."""
        self._keys.clear()
