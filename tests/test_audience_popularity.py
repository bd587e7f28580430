"""Popular from real traffic: article views in the site's access log (feedsvc popularity).

Real files: a content copy, a combined log, the CLI as a subprocess, and
the real app's watcher picking the written popularity.yaml up like any edit.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from audiencekit import DAY, combined
from feedcheck import parse_feed
from support import WatchedApp, wait_for

from feedsvc.audience.popularity import parse_window

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0 Safari/537.36")  # fmt: skip
SEOUL = "seoul-denies-hostile-intent"
HEALTH = "sample-dysphagia-care-at-home"


def views_log(path: Path) -> Path:
    lines = [combined(f"10.0.0.{n}", f"/articles/{SEOUL}", CHROME) for n in range(5)]
    lines += [combined("10.0.1.1", f"/articles/{HEALTH}?utm_source=x", CHROME)] * 3
    lines += [combined("10.0.1.2", f"/articles/{HEALTH.upper()}/", "Newsboat/2.36")]
    lines += [
        combined("10.0.2.1", f"/articles/{HEALTH}", "Mozilla/5.0 (compatible; Googlebot/2.1)"),
        combined("10.0.2.2", f"/articles/{HEALTH}", "curl/8.5.0"),
        combined("10.0.2.3", f"/articles/{HEALTH}", CHROME, status=404),
        combined("10.0.2.4", f"/articles/{HEALTH}", CHROME, method="POST"),
        combined("10.0.2.5", "/articles/no-such-article", CHROME),
        combined("10.0.2.6", f"/articles/{HEALTH}/comments", CHROME),
        # Older than the window (7 days before the newest request):
        *[combined("10.0.3.1", f"/articles/{HEALTH}", CHROME, when=DAY - timedelta(days=8))] * 9,
        "junk line\n",
    ]
    path.write_text("".join(lines))
    return path


def popularity(content: Path, log: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "popularity", "--access-log", str(log),
         "--content-dir", str(content), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_views_in_the_window_are_written_and_the_running_popular_feed_follows(
    bundled_content: Path, tmp_path: Path
):
    log = views_log(tmp_path / "site-access.log")
    watched = WatchedApp(bundled_content)
    try:
        before = watched.healthz()["version"]
        dry = popularity(bundled_content, log, "--window", "7d")
        assert dry.returncode == 0, dry.stderr
        assert "seoul" not in (bundled_content / "popularity.yaml").read_text()  # not written
        done = popularity(bundled_content, log, "--window", "7d", "--write")
        assert done.returncode == 0, done.stderr
        views = yaml.safe_load((bundled_content / "popularity.yaml").read_text())
        assert views[SEOUL] == 5 and views[HEALTH] == 4  # 3 + newsboat; bots, 404, POST out
        assert (
            views["xi-jinping-red-carpet-kim-jong-un"] == 0
        )  # unread: typed views no longer count
        assert "no-such-article" not in views
        assert not list(bundled_content.glob(".popularity-*"))  # the temporary file is gone
        watched.wait_version_change(str(before))
        body = watched.client.get("/popular/rss.xml").get_data()
        first = wait_for(lambda: parse_feed(body, "rss").entries[0], 5, "the popular feed")
        assert SEOUL in str(first.link)
    finally:
        watched.close()


def test_a_wider_window_counts_the_older_views(bundled_content: Path, tmp_path: Path):
    log = views_log(tmp_path / "site-access.log")
    assert popularity(bundled_content, log, "--window", "30d", "--write").returncode == 0
    views = yaml.safe_load((bundled_content / "popularity.yaml").read_text())
    assert views[HEALTH] == 4 + 9


@pytest.mark.parametrize("text", ["24h", "7d", "30d", "36h"])
def test_windows(text: str):
    assert parse_window(text).total_seconds() > 0


@pytest.mark.parametrize("text", ["", "0d", "7", "7w", "-1d", "1.5d"])
def test_bad_windows_are_refused(text: str):
    with pytest.raises(ValueError, match="24h, 7d, 30d"):
        parse_window(text)


def test_missing_log_and_bad_window_exit_2(bundled_content: Path, tmp_path: Path):
    assert popularity(bundled_content, tmp_path / "none.log").returncode == 2
    log = views_log(tmp_path / "site-access.log")
    assert popularity(bundled_content, log, "--window", "7x").returncode == 2
