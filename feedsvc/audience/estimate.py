"""Subscriber estimates read back from the audience tables.

A feed's subscribers on a day = the sum, over aggregators (and their feed
ids and the feed's formats), of the highest count each reported that day,
plus the distinct direct readers that fetched it that day. This is
FeedBurner's estimate; it is an estimate (a reader on two machines is two
readers, a reader whose address changes mid-day may be two).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from feedsvc.audience.feedpaths import feed_label


@dataclass(frozen=True, slots=True)
class Estimate:
    """One feed on one day."""

    day: str
    feed: str
    aggregated: int  # subscribers reported by aggregators
    readers: int  # distinct direct readers
    capped: bool  # some report was capped (an absurd claim)

    @property
    def total(self) -> int:
        """The subscriber estimate."""
        return self.aggregated + self.readers

    @property
    def label(self) -> str:
        """The feed as people name it (``main``, ``popular``, a tag)."""
        return feed_label(self.feed)


def daily(conn: sqlite3.Connection, since: str = "") -> list[Estimate]:
    """Every (day, feed) estimate from ``since`` (ISO day) on, by day then feed."""
    rows = conn.execute(
        """
        SELECT day, feed, sum(a), sum(r), max(c) FROM (
            SELECT day, feed, sum(subscribers) AS a, 0 AS r, max(capped) AS c
            FROM audience_reports WHERE day >= ?1 GROUP BY day, feed
            UNION ALL
            SELECT day, feed, 0, count(*), 0
            FROM audience_readers WHERE day >= ?1 GROUP BY day, feed)
        GROUP BY day, feed ORDER BY day, feed
        """,
        (since,),
    ).fetchall()
    return [Estimate(d, f, int(a), int(r), bool(c)) for d, f, a, r, c in rows]


def latest(conn: sqlite3.Connection) -> list[Estimate]:
    """Each feed's estimate on the last day it was counted, biggest first."""
    newest: dict[str, Estimate] = {}
    for estimate in daily(conn):
        newest[estimate.feed] = estimate  # days ascend: the last one wins
    return sorted(newest.values(), key=lambda e: (-e.total, e.feed))


def last_day(conn: sqlite3.Connection) -> str | None:
    """The newest day with any count."""
    row = conn.execute(
        "SELECT max(day) FROM (SELECT day FROM audience_reports "
        "UNION ALL SELECT day FROM audience_readers)"
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


@dataclass(frozen=True, slots=True)
class ClientShare:
    """Subscribers one client accounts for on a day (all feeds)."""

    client: str
    kind: str  # "aggregator" or "reader"
    subscribers: int


def by_client(conn: sqlite3.Connection, day: str) -> list[ClientShare]:
    """Aggregators (their reports) and reader apps (distinct readers) on ``day``, biggest first."""
    rows = conn.execute(
        """
        SELECT aggregator, 'aggregator', sum(subscribers) FROM audience_reports
        WHERE day = ?1 GROUP BY aggregator
        UNION ALL
        SELECT client, 'reader', count(*) FROM audience_readers WHERE day = ?1 GROUP BY client
        """,
        (day,),
    ).fetchall()
    shares = [ClientShare(str(c), str(k), int(n)) for c, k, n in rows]
    return sorted(shares, key=lambda s: (-s.subscribers, s.client))


def excluded(conn: sqlite3.Connection, day: str) -> list[tuple[str, str, int]]:
    """(kind, client, requests) left out on ``day``, most requests first."""
    rows = conn.execute(
        "SELECT kind, client, sum(requests) FROM audience_excluded WHERE day = ? "
        "GROUP BY kind, client ORDER BY sum(requests) DESC, kind, client",
        (day,),
    ).fetchall()
    return [(str(k), str(c), int(n)) for k, c, n in rows]
