"""Helpers of the audience tests: access-log lines, a state database, estimates by feed."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from feedsvc.audience import estimate
from feedsvc.audience.db import connect_state
from feedsvc.audience.ingest import IngestResult, ingest_log

DAY = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def combined(address: str, path: str, agent: str, status: int = 200,
             when: datetime = DAY, method: str = "GET") -> str:  # fmt: skip
    """One nginx ``combined`` line, newline-terminated."""
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S %z")
    return (f'{address} - - [{stamp}] "{method} {path} HTTP/1.1" {status} 512 "-" '
            f'"{agent}"\n')  # fmt: skip


def reader_lines(count: int, start: int = 0, path: str = "/rss.xml") -> str:
    """``count`` lines, each from a distinct direct reader (address 10.0.x.y, newsboat)."""
    return "".join(
        combined(f"10.0.{n // 250}.{n % 250 + 1}", path, "Newsboat/2.36 (Linux x86_64)")
        for n in range(start, start + count)
    )


def state(folder: Path) -> sqlite3.Connection:
    """The audience state in ``folder`` (as feedsvc opens it)."""
    return connect_state(folder)


def ingest(conn: sqlite3.Connection, log: Path, fmt: str = "combined",
           prefix: str | None = None) -> IngestResult:  # fmt: skip
    """One ``feedsvc audience ingest`` run over ``log``."""
    return ingest_log(conn, log, fmt, today=DAY.date(), prefix=prefix)  # type: ignore[arg-type]


def totals(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    """Feed label -> (aggregated, direct readers) on each feed's latest day."""
    return {e.label: (e.aggregated, e.readers) for e in estimate.latest(conn)}


def direct_readers(conn: sqlite3.Connection) -> int:
    """Distinct direct readers of every feed and day together."""
    return int(conn.execute("SELECT count(*) FROM audience_readers").fetchone()[0])
