"""Estimates from an ingested log: FeedBurner's rules, privacy, per feed (feedsvc.audience)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from audiencekit import DAY, combined, ingest, state, totals

from feedsvc.audience import dashboard, estimate, report, store
from feedsvc.audience.feedpaths import FeedHit, feed_of

FEEDBIN = "Feedbin feed-id:{id} - {n} subscribers"
FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; {n} subscribers; )"
NEWSBOAT = "Newsboat/2.36 (Linux x86_64)"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), "utf-8")
    return path


def test_highest_report_per_aggregator_and_feed_id_per_day_summed(tmp_path: Path):
    later = DAY + timedelta(hours=3)
    log = write(tmp_path / "access.log", [
        combined("1.1.1.1", "/rss.xml", FEEDBIN.format(id=1, n=50)),
        combined("1.1.1.1", "/rss.xml", FEEDBIN.format(id=1, n=56), when=later),
        combined("1.1.1.1", "/rss.xml", FEEDBIN.format(id=1, n=40), when=later),
        combined("1.1.1.2", "/rss.xml", FEEDBIN.format(id=2, n=3)),  # a second subscription
        combined("2.2.2.2", "/rss.xml", FEEDLY.format(n="1,000")),
        combined("2.2.2.2", "/atom.xml", FEEDLY.format(n=20)),  # other URL, other people
        combined("2.2.2.3", "/rss.xml", FEEDLY.format(n=999), status=404),  # not an answer
    ])  # fmt: skip
    conn = state(tmp_path / "state")
    ingest(conn, log)
    assert totals(conn) == {"main": (56 + 3 + 1000 + 20, 0)}


def test_direct_readers_are_distinct_address_and_client_pairs_across_formats(tmp_path: Path):
    log = write(tmp_path / "access.log", [
        combined("10.0.0.1", "/rss.xml", NEWSBOAT),
        combined("10.0.0.1", "/rss.xml", NEWSBOAT, status=304),
        combined("10.0.0.1", "/atom.xml", NEWSBOAT),  # same reader, same feed
        combined("10.0.0.1", "/rss.xml", "NetNewsWire (RSS Reader; https://netnewswire.com/)"),
        combined("10.0.0.2", "/rss.xml", NEWSBOAT),
        combined("10.0.0.3", "/rss.xml", FIREFOX),  # a browser: nobody's subscription
        combined("10.0.0.4", "/rss.xml", "curl/8.5.0"),
        combined("10.0.0.5", "/tags/North%20Korea/feed.json", NEWSBOAT),
        combined("10.0.0.5", "/tags/north-korea/rss.xml", NEWSBOAT),
        combined("10.0.0.6", "/popular/rss.xml", NEWSBOAT, method="HEAD"),
        combined("10.0.0.7", "/rss.xml", NEWSBOAT, status=301),
        combined("10.0.0.8", "/page/2/rss.xml", NEWSBOAT),
    ])  # fmt: skip
    conn = state(tmp_path / "state")
    ingest(conn, log)
    assert totals(conn) == {"main": (0, 3), "north-korea": (0, 1), "popular": (0, 1)}
    day = DAY.date().isoformat()
    assert ("browser", "Firefox", 1) in estimate.excluded(conn, day)
    assert ("tool", "curl", 1) in estimate.excluded(conn, day)


def test_no_address_or_user_agent_is_stored_and_old_keys_are_deleted(tmp_path: Path):
    log = write(tmp_path / "access.log", [combined("203.0.113.77", "/rss.xml", NEWSBOAT)])
    conn = state(tmp_path / "state")
    ingest(conn, log)
    dump = "\n".join(conn.iterdump())
    assert "203.0.113.77" not in dump and "Newsboat/2.36" not in dump
    day = DAY.date().isoformat()
    assert conn.execute("SELECT count(*) FROM audience_keys WHERE day = ?", (day,)).fetchone()[0]
    # Once counting is a grace day past it, the day's key goes: the hashes are unlinkable.
    later = DAY + timedelta(days=2)
    with log.open("a") as out:
        out.write(combined("203.0.113.77", "/rss.xml", NEWSBOAT, when=later))
    ingest(conn, log)
    store.forget_old_keys(conn, later.date())
    kept = conn.execute("SELECT day FROM audience_keys").fetchall()
    assert kept == [(later.date().isoformat(),)]
    assert [e.readers for e in estimate.daily(conn)] == [1, 1]


def test_an_old_log_ingested_in_two_runs_counts_each_reader_once(tmp_path: Path):
    """Through the CLI (today is the real today): the old day's key outlives the first run."""
    log = write(tmp_path / "access.log", [combined("10.0.0.1", "/rss.xml", NEWSBOAT)])
    run = [sys.executable, "-m", "feedsvc.cli", "audience", "ingest", "--access-log", str(log),
           "--state-dir", str(tmp_path / "state")]  # fmt: skip
    assert subprocess.run(run, capture_output=True, timeout=60, check=False).returncode == 0
    with log.open("a") as out:
        out.write(combined("10.0.0.1", "/rss.xml", NEWSBOAT, when=DAY + timedelta(hours=5)))
        out.write(combined("10.0.0.2", "/rss.xml", NEWSBOAT, when=DAY + timedelta(hours=5)))
    log.rename(tmp_path / "access.log.1")
    log.write_text(combined("10.0.0.1", "/atom.xml", NEWSBOAT, when=DAY + timedelta(hours=9)))
    assert subprocess.run(run, capture_output=True, timeout=60, check=False).returncode == 0
    assert totals(state(tmp_path / "state")) == {"main": (0, 2)}


def test_days_are_counted_separately_and_the_report_prints_them(tmp_path: Path):
    tomorrow = DAY + timedelta(days=1)
    log = write(tmp_path / "access.log", [
        combined("10.0.0.1", "/rss.xml", NEWSBOAT),
        combined("10.0.0.1", "/rss.xml", NEWSBOAT, when=tomorrow),
        combined("10.0.0.2", "/rss.xml", NEWSBOAT, when=tomorrow),
        combined("3.3.3.3", "/rss.xml", FEEDBIN.format(id=9, n="1,234"), when=tomorrow),
    ])  # fmt: skip
    conn = state(tmp_path / "state")
    ingest(conn, log)
    days = [(e.day, e.total) for e in estimate.daily(conn)]
    assert days == [(DAY.date().isoformat(), 1), (tomorrow.date().isoformat(), 1236)]
    text = report.render(conn, tomorrow.date())
    assert "main" in text and "1,236" in text and "Feedbin" in text and "newsboat" in text
    document = json.loads(report.as_json(conn, tomorrow.date()))
    assert document["latest"][0]["subscribers"] == 1236
    assert {c["client"] for c in document["clients"]} == {"Feedbin", "newsboat"}


def test_json_logs_count_like_combined_ones(tmp_path: Path):
    line = (
        '{"time_iso8601":"2026-03-10T09:00:00+00:00","remote_addr":"10.0.0.1",'
        '"request":"GET /feeds/rss.xml HTTP/1.1","status":200,'
        '"http_user_agent":"Mozilla/5.0 (compatible; inoreader.com; 114 subscribers)"}\n'
    )
    log = tmp_path / "access.json"
    log.write_text(line + "junk\n")
    conn = state(tmp_path / "state")
    result = ingest(conn, log, fmt="json", prefix="/feeds")
    assert (result.lines, result.junk) == (2, 1)
    assert totals(conn) == {"main": (114, 0)}


def test_feed_paths_with_and_without_a_mount_prefix():
    assert feed_of("/feeds/rss.xml", "/feeds") == FeedHit("/", "rss")
    assert feed_of("/rss.xml", "/feeds") is None
    assert feed_of("/feeds/tags/North Korea/ATOM.XML?x=1", None) == FeedHit(
        "/tags/north-korea", "atom"
    )
    assert feed_of("/tags/b+a/feed.json") == FeedHit("/tags/a+b", "json")
    assert feed_of("/articles/x") is None
    assert feed_of("/tags/x/page/2/rss.xml") is None
    assert feed_of("/" + "a/" * 3000 + "rss.xml", None) is None


def test_an_older_log_is_shown_at_its_own_days_not_todays(tmp_path: Path):
    log = write(tmp_path / "access.log", [combined("10.0.0.1", "/rss.xml", NEWSBOAT)])
    conn = state(tmp_path / "state")
    ingest(conn, log)
    much_later = DAY.date() + timedelta(days=300)
    assert DAY.date().isoformat() in report.render(conn, much_later).split("per day since")[1]
    assert json.loads(report.as_json(conn, much_later))["daily"][0]["subscribers"] == 1
    board = dashboard.build(conn, much_later)
    assert board.over_time is not None and DAY.date().isoformat()[5:] in board.over_time
