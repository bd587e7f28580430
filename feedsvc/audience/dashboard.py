"""What ``/stats`` shows, computed from the state: the numbers and the charts.

Kept apart from the web layer so the page template only lays it out: the
admin view asks for a :class:`Dashboard` and renders it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date, timedelta

from markupsafe import Markup

from feedsvc.audience import estimate
from feedsvc.audience.charts import (
    AGGREGATOR_COLOUR,
    READER_COLOUR,
    Bar,
    Series,
    bar_chart,
    line_chart,
    tiles,
)
from feedsvc.audience.estimate import ClientShare, Estimate

DAYS = 30
LINES = 8  # feeds drawn over time (the biggest; the rest are in the table)
BARS = 15


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The audience page's content."""

    day: str | None
    ranked: list[Estimate] = field(default_factory=list)
    clients: list[ClientShare] = field(default_factory=list)
    excluded: list[tuple[str, str, int]] = field(default_factory=list)
    over_time: Markup | None = None
    by_client: Markup | None = None
    feeds: Markup | None = None
    summary: Markup | None = None

    @property
    def subscriptions(self) -> int:
        """Subscriptions on the latest day, all feeds (a person following two feeds is two)."""
        return sum(e.total for e in self.ranked)

    @property
    def left_out(self) -> int:
        """Requests not counted as subscribers on the latest day."""
        return sum(n for _, _, n in self.excluded)


def build(conn: sqlite3.Connection, today: date) -> Dashboard:
    """The dashboard as of ``today`` (the last :data:`DAYS` days drawn)."""
    day = estimate.last_day(conn)
    if day is None:
        return Dashboard(None)
    ranked = estimate.latest(conn)
    clients = estimate.by_client(conn, day)
    last = min(date.fromisoformat(day), today)  # the last day counted (an older log's too)
    days = [(last - timedelta(days=n)).isoformat() for n in range(DAYS - 1, -1, -1)]
    history = estimate.daily(conn, days[0])
    first = min((e.day for e in history), default=day)
    days = [d for d in days if d >= first]
    totals = {(e.day, e.feed): e.total for e in history}
    series = [Series(e.label, [totals.get((d, e.feed), 0) for d in days]) for e in ranked[:LINES]]
    client_bars = [Bar(s.client, [s.subscribers] if s.kind == "aggregator" else [0, s.subscribers])
                   for s in clients[:BARS]]  # fmt: skip
    feed_bars = [Bar(e.label, [e.aggregated, e.readers]) for e in ranked[:BARS]]
    colours = (AGGREGATOR_COLOUR, READER_COLOUR)
    aggregated = sum(e.aggregated for e in ranked)
    summary = tiles([
        (sum(e.total for e in ranked), "subscriptions, all feeds"),
        (aggregated, "reported by aggregators"),
        (sum(e.readers for e in ranked), "direct readers"),
        (len(ranked), "feeds with readers"),
    ])  # fmt: skip
    return Dashboard(
        day,
        ranked,
        clients,
        estimate.excluded(conn, day),
        line_chart("Subscribers per feed, by day", days, series),
        bar_chart(f"Subscribers by client on {day}", client_bars, colours),
        bar_chart(f"Feeds ranked by subscribers on {day}", feed_bars, colours),
        summary,
    )
