"""``feedsvc audience ingest|report`` and ``feedsvc popularity``: their arguments and work.

:mod:`feedsvc.cli` adds these subcommands (:func:`add_audience_commands`);
each prints what it did and returns an exit code (0 done, 1 nothing usable
read, 2 cannot run).
"""

from __future__ import annotations

import argparse
import fcntl
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedsvc.audience import report
from feedsvc.audience.accesslog import LogFormat
from feedsvc.audience.db import connect_state
from feedsvc.audience.ingest import ingest_log
from feedsvc.audience.popularity import (
    POPULARITY_FILE,
    count_views,
    parse_window,
    popularity_yaml,
    read_hits,
    write_atomically,
)
from feedsvc.audience.store import SchemaError
from feedsvc.content.loader import ContentLoader
from feedsvc.problems import ContentError

EXIT_OK, EXIT_PROBLEMS, EXIT_UNUSABLE = 0, 1, 2
LOCK_FILE = "audience-ingest.lock"
NO_STATE = "the audience is kept in the state: set FEEDSVC_STATE_DIR (or --state-dir) to a folder"


def _fail(message: str) -> int:
    print(f"feedsvc: {message}", file=sys.stderr)
    return EXIT_UNUSABLE


@contextmanager
def ingest_lock(state_dir: str) -> Iterator[bool]:
    """Whether this run may ingest: one at a time per state (cron runs can overlap).

    Two runs reading from the same saved position would count the same lines
    twice; the second one waits for nothing and says so instead.
    """
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(state_dir) / LOCK_FILE, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ingest(state_dir: str | None, log: Path, fmt: LogFormat, prefix: str | None) -> int:
    """Count the new lines of ``log`` into the state; print a one-line summary."""
    if state_dir is None:
        return _fail(NO_STATE)
    if not log.is_file():
        return _fail(f"{log}: no such access log")
    try:
        conn = connect_state(state_dir)
    except (sqlite3.Error, OSError, SchemaError) as exc:
        return _fail(f"cannot open the state in {state_dir}: {exc}")
    try:
        with ingest_lock(state_dir) as mine:
            if not mine:
                return _fail(f"another ingest into {state_dir} is running; nothing read")
            result = ingest_log(conn, log, fmt, today=datetime.now(UTC).date(), prefix=prefix)
    finally:
        conn.close()
    counts = result.counts
    print(
        f"{log}: {result.lines:,} new lines, {counts.feed_hits:,} feed requests: "
        f"{counts.reports:,} aggregator reports, {counts.readers:,} from direct readers, "
        f"{counts.excluded:,} left out; {result.junk:,} lines not in {fmt} format",
        flush=True,
    )
    if result.lost:
        print(f"feedsvc: {log} was rotated and the rotated file is gone: "
              "its unread lines were not counted", file=sys.stderr)  # fmt: skip
    return EXIT_PROBLEMS if result.lines and result.junk == result.lines else EXIT_OK


def show_report(state_dir: str | None, fmt: str = "text") -> int:
    """Print the estimates as tables (or JSON)."""
    if state_dir is None:
        return _fail(NO_STATE)
    try:
        conn = connect_state(state_dir)
    except (sqlite3.Error, OSError, SchemaError) as exc:
        return _fail(f"cannot open the state in {state_dir}: {exc}")
    try:
        write = report.as_json if fmt == "json" else report.render
        print(write(conn, datetime.now(UTC).date()), end="", flush=True)
    finally:
        conn.close()
    return EXIT_OK


def popularity(
    content_dir: str, logs: Sequence[Path], fmt: LogFormat, window: str, write: bool
) -> int:
    """Count article views in ``logs``; print them, and write ``popularity.yaml`` if asked."""
    try:
        span = parse_window(window)
    except ValueError as exc:
        return _fail(str(exc))
    missing = [str(p) for p in logs if not p.is_file()]
    if missing:
        return _fail(f"no such access log: {', '.join(missing)}")
    try:
        loader = ContentLoader(Path(content_dir), display_prefix=content_dir)
        snapshot = loader.load()
    except ContentError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return _fail("popularity needs a usable site.yaml (article_path)")
    slugs = {article.slug for article in loader.all_articles()}
    views, newest = count_views(read_hits(logs, fmt), snapshot.site, slugs, span)
    for slug, count in sorted(views.items(), key=lambda item: (-item[1], item[0])):
        print(f"{count:>9,}  {slug}")
    if newest is None:
        return _fail("no request found in the access log")
    print(f"{sum(views.values()):,} views of {len(views)} articles over {window} "
          f"up to {newest.isoformat()}", file=sys.stderr)  # fmt: skip
    if write:
        target = Path(content_dir) / POPULARITY_FILE
        write_atomically(target, popularity_yaml(views, slugs, window, newest))
        print(f"wrote {target}", file=sys.stderr)
    return EXIT_OK


def cmd_audience_ingest(args: argparse.Namespace) -> int:
    """Count the new lines of an access log into the audience state."""
    prefix = None if args.prefix == "auto" else args.prefix
    return ingest(args.state_dir, Path(args.access_log), args.format, prefix)


def cmd_audience_report(args: argparse.Namespace) -> int:
    """Print the subscriber estimates as tables."""
    return show_report(args.state_dir, args.format)


def cmd_popularity(args: argparse.Namespace) -> int:
    """Article views from the site's access log; ``--write`` updates popularity.yaml."""
    logs = [Path(p) for p in args.access_log]
    return popularity(args.content_dir, logs, args.format, args.window, args.write)


def add_audience_commands(sub: Any, content_dir: str, state_dir: str | None) -> None:
    """``feedsvc audience ingest|report`` and ``feedsvc popularity`` (defaults from settings)."""
    audience = sub.add_parser("audience", help="subscriber estimates from logs and live requests")
    verbs = audience.add_subparsers(dest="verb", required=True)
    ingest = verbs.add_parser("ingest", help="count the new lines of an access log")
    ingest.add_argument("--access-log", required=True, help="nginx access log (rotation-safe)")
    ingest.add_argument("--format", choices=("combined", "json"), default="combined")
    ingest.add_argument("--prefix", default="auto", help="feeds' mount path (/feeds) or auto")
    ingest.add_argument("--state-dir", default=state_dir)
    ingest.set_defaults(func=cmd_audience_ingest)
    report = verbs.add_parser("report", help="print subscriber estimates")
    report.add_argument("--state-dir", default=state_dir)
    report.add_argument("--format", choices=("text", "json"), default="text")
    report.set_defaults(func=cmd_audience_report)

    popular = sub.add_parser("popularity", help="article views from the site's access log")
    popular.add_argument("--access-log", required=True, action="append", help="repeatable; .gz ok")
    popular.add_argument("--window", default="7d", help="24h, 7d, 30d (ends at the newest request)")
    popular.add_argument("--format", choices=("combined", "json"), default="combined")
    popular.add_argument("--content-dir", default=content_dir)
    popular.add_argument("--write", action="store_true", help="write content/popularity.yaml")
    popular.set_defaults(func=cmd_popularity)
