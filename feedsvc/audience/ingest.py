"""``feedsvc audience ingest``: the new lines of an access log into the audience tables.

Each batch of lines is counted and its log position saved in one
transaction: a run stopped at any point (killed, disk full) resumes after
the last committed batch, so no line is lost or counted twice.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from feedsvc.audience import store
from feedsvc.audience.accesslog import LogFormat, parse_line
from feedsvc.audience.tail import LogTail, Position
from feedsvc.audience.tally import Tally, TallyCounts


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingest run read and counted."""

    lines: int
    junk: int  # lines that were not a request in the chosen format
    counts: TallyCounts
    lost: bool  # a rotated file with unread lines was gone


def ingest_log(
    conn: sqlite3.Connection,
    path: Path,
    fmt: LogFormat,
    *,
    today: date,
    prefix: str | None = "",
) -> IngestResult:
    """Count the lines of ``path`` written since the last run (by its absolute path)."""
    store.ensure_schema(conn)
    name = str(path.resolve())
    saved = store.log_position(conn, name)
    tail = LogTail(path, Position(*saved) if saved else None)
    tally = Tally(conn, prefix)
    lines = junk = 0
    for batch, position in tail.batches():
        for raw in batch:
            hit = parse_line(raw, fmt)
            if hit is None:
                junk += 1 if raw.strip() else 0
                continue
            tally.add(hit)
        lines += len(batch)
        store.save_log_position(conn, name, (position.inode, position.offset, position.head))
        conn.commit()
    store.forget_old_keys(conn, today)
    conn.commit()
    return IngestResult(lines, junk, tally.counts, tail.lost)
