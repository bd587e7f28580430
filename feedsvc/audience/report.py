"""``feedsvc audience report``: the estimates as plain-text tables for a terminal.

The same three views as ``/stats`` (feeds ranked, readers by client, each
feed over the last days), so a publisher over SSH sees what the page shows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import date, timedelta

from feedsvc.audience import estimate

DAYS_SHOWN = 14


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Columns padded to their widest cell; numbers right-aligned, text left."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], int) for row in rows) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [
            c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(cells[0]), "  ".join("-" * w for w in widths), *map(line, cells[1:])]


def _cell(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def render(conn: sqlite3.Connection, today: date) -> str:
    """The whole report; a short note when nothing has been counted yet."""
    day = estimate.last_day(conn)
    if day is None:
        return "No audience counted yet: run `feedsvc audience ingest --access-log FILE`.\n"
    out = [f"Subscribers on {day} (latest day counted)", ""]
    ranked = estimate.latest(conn)
    out += table(
        ("feed", "subscribers", "aggregators", "direct readers", "day", "note"),
        [(e.label, e.total, e.aggregated, e.readers, e.day, "capped" if e.capped else "")
         for e in ranked],
    )  # fmt: skip
    out += ["", f"Readers by client on {day}", ""]
    out += table(
        ("client", "kind", "subscribers"),
        [(s.client, s.kind, s.subscribers) for s in estimate.by_client(conn, day)],
    )
    last = min(date.fromisoformat(day), today)  # the last day counted (an older log's too)
    since = (last - timedelta(days=DAYS_SHOWN - 1)).isoformat()
    history = estimate.daily(conn, since)
    if history:
        out += ["", f"Subscribers per day since {since}", ""]
        out += table(("day", "feed", "subscribers"), [(e.day, e.label, e.total) for e in history])
    left_out = estimate.excluded(conn, day)
    if left_out:
        out += ["", f"Left out on {day} (not subscribers)", ""]
        out += table(("kind", "client", "requests"), left_out)
    return "\n".join(out) + "\n"


def as_json(conn: sqlite3.Connection, today: date) -> str:
    """The same figures for scripts and spreadsheets: every day, the latest, the clients."""
    day = estimate.last_day(conn)

    def row(e: estimate.Estimate) -> dict[str, object]:
        return {
            "day": e.day, "feed": e.feed, "label": e.label, "subscribers": e.total,
            "aggregators": e.aggregated, "direct_readers": e.readers, "capped": e.capped,
        }  # fmt: skip

    document = {
        "last_day": day,
        "latest": [row(e) for e in estimate.latest(conn)],
        "daily": [row(e) for e in estimate.daily(conn)],  # every day counted
        "clients": [
            {"client": s.client, "kind": s.kind, "subscribers": s.subscribers}
            for s in (estimate.by_client(conn, day) if day else [])
        ],
        "not_counted": [
            {"kind": k, "client": c, "requests": n}
            for k, c, n in (estimate.excluded(conn, day) if day else [])
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
