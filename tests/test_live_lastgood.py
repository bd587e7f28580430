"""Last good content: saving a typo never takes an article out of a feed.

Through the real watcher thread, real files and the real app; the CLI as a
subprocess where exit codes matter.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from feedcheck import parse_feed
from support import SITE, WatchedApp, article, feed_paths, fmt_of, wait_for, write_yaml

from bench.servers import free_port
from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings

INTERVAL = 0.1
BROKEN_YAML = 'title: "Beta, being edited\npublished: 2025-12-02T10:00:00Z\n'


def served(live: WatchedApp) -> dict[str, set[str]]:
    """Item ids of every feed (all formats must agree), each feed parsed as a reader does."""
    found: dict[str, set[str]] = {}
    for path in feed_paths(live.app):
        response = live.client.get(path)
        assert response.status_code == 200, path
        ids = {entry.id for entry in parse_feed(response.data, fmt_of(path)).entries}
        feed = path.rsplit("/", 1)[0]
        assert found.setdefault(feed, ids) == ids, f"{path} disagrees with the other formats"
    return found


def named(live: WatchedApp, name: str) -> list[dict[str, object]]:
    health = live.healthz()
    return [p for p in health["errors"] + health["warnings"] if str(p["path"]).endswith(name)]


def beta_in_every_feed(live: WatchedApp, title: str = "Beta") -> None:
    feeds = served(live)
    beta = "tag:news.test,2025:articles/beta"
    for feed in ("", "/popular", "/tags/north-korea"):
        assert beta in feeds[feed], feed
    entries = parse_feed(live.client.get("/atom.xml").data, "atom").entries
    assert next(e for e in entries if e.id == beta).title == title


def test_a_file_that_stops_parsing_keeps_its_last_good_article_everywhere(live, small_content):
    (small_content / "articles" / "beta.yaml").write_text(BROKEN_YAML, encoding="utf-8")
    wait_for(lambda: live.healthz()["status"] == "degraded", what="the broken file")
    beta_in_every_feed(live)

    response = live.client.get("/healthz")
    assert response.status_code == 200 and response.is_json
    health = response.get_json()
    assert health["status"] == "degraded" and health["content_valid"] is False
    problems = {(p["path"], p["field"]) for p in health["errors"]}
    assert ("content/articles/beta.yaml", "(yaml)") in problems
    assert any(
        p["path"] == "content/articles/beta.yaml" and "last good" in p["message"]
        for p in health["errors"]
    )

    # Fixed: the new version goes out and the service is healthy again.
    write_yaml(
        small_content / "articles" / "beta.yaml",
        article("Beta, fixed", "2025-12-02T10:00:00Z", tags=["north korea"], views=500),
    )
    wait_for(lambda: live.healthz()["status"] == "ok", what="the fix")
    beta_in_every_feed(live, "Beta, fixed")
    assert live.healthz()["content_valid"] is True


def test_a_file_that_stops_validating_keeps_its_last_good_article(live, small_content):
    path = small_content / "articles" / "beta.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["published"] = "2025-12-02 10:00"  # no timezone
    write_yaml(path, data)
    wait_for(lambda: live.healthz()["status"] == "degraded", what="the invalid file")
    beta_in_every_feed(live)
    (problem,) = [p for p in live.healthz()["errors"] if p["field"] == "published"]
    assert problem["line"] == 2 and "timezone" in problem["message"]


@pytest.mark.slow
def test_each_problem_is_logged_once_not_on_every_poll(live, small_content, caplog):
    caplog.set_level(logging.WARNING, logger="feedsvc")
    (small_content / "articles" / "beta.yaml").write_text(BROKEN_YAML, encoding="utf-8")
    wait_for(lambda: live.healthz()["status"] == "degraded", what="the broken file")
    polls = live.service.polls
    wait_for(lambda: live.service.polls >= polls + 5, what="five more polls")
    yaml_errors = [
        r for r in caplog.records if "beta.yaml" in r.getMessage() and "YAML" in r.getMessage()
    ]
    assert len(yaml_errors) == 1, [r.getMessage() for r in caplog.records]
    assert yaml_errors[0].levelno == logging.ERROR

    # Saved again, still with the same mistake: still one message.
    (small_content / "articles" / "beta.yaml").write_text(BROKEN_YAML, encoding="utf-8")
    reads = live.service.loader.files_read
    wait_for(lambda: live.service.loader.files_read > reads, what="the re-read")
    polls = live.service.polls
    wait_for(lambda: live.service.polls >= polls + 3, what="three more polls")
    again = [
        r for r in caplog.records if "beta.yaml" in r.getMessage() and "YAML" in r.getMessage()
    ]
    assert len(again) == 1


@pytest.mark.parametrize(
    "truncated",
    [b"", b"title: Beta\npublished: 2025-12-", b'title: "Beta\n', b"title: Beta\ntags: [north"],
    ids=["zero-bytes", "cut-in-a-date", "cut-in-a-quote", "cut-in-a-list"],
)
def test_a_truncated_file_is_not_parseable_yet_not_a_deletion(live, small_content, truncated):
    (small_content / "articles" / "beta.yaml").write_bytes(truncated)
    wait_for(
        lambda: any(p["severity"] == "error" for p in named(live, "beta.yaml")),
        what="the truncated file to be reported",
    )
    beta_in_every_feed(live)
    if not truncated:
        assert "not parseable yet" in str(named(live, "beta.yaml"))


def test_a_deleted_file_removes_its_article(live, small_content):
    (small_content / "articles" / "beta.yaml").write_text(BROKEN_YAML, encoding="utf-8")
    wait_for(lambda: live.healthz()["status"] == "degraded", what="the broken file")
    (small_content / "articles" / "beta.yaml").unlink()
    wait_for(lambda: live.healthz()["status"] == "ok", what="the deletion")
    feeds = served(live)
    assert all("tag:news.test,2025:articles/beta" not in ids for ids in feeds.values())
    assert not named(live, "beta.yaml")


def test_a_bad_file_at_start_is_skipped_with_the_same_message(small_content, caplog):
    caplog.set_level(logging.WARNING, logger="feedsvc")
    (small_content / "articles" / "beta.yaml").write_text(BROKEN_YAML, encoding="utf-8")
    live = WatchedApp(small_content, interval=INTERVAL)
    try:
        feeds = served(live)
        assert "tag:news.test,2025:articles/beta" not in feeds[""]
        (problem,) = [p for p in live.healthz()["errors"] if p["path"].endswith("beta.yaml")]
        assert problem["field"] == "(yaml)" and problem["line"] == 3
        logged = [r.getMessage() for r in caplog.records if "beta.yaml" in r.getMessage()]
        assert logged == ["content/articles/beta.yaml:3: (yaml): " + problem["message"]]
    finally:
        live.close()


def test_site_yaml_broken_on_reload_keeps_the_last_good_settings(live, small_content):
    (small_content / "site.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    wait_for(lambda: "last good" in str(named(live, "site.yaml")), what="the broken site.yaml")
    assert parse_feed(live.client.get("/rss.xml").data, "rss").title == "Test Times"
    messages = " ".join(str(p["message"]) for p in named(live, "site.yaml"))
    assert "YAML syntax error" in messages and "last good settings" in messages
    (small_content / "site.yaml").unlink()
    wait_for(lambda: "is missing" in str(named(live, "site.yaml")), what="the missing site.yaml")
    assert parse_feed(live.client.get("/rss.xml").data, "rss").title == "Test Times"
    write_yaml(small_content / "site.yaml", {**SITE, "title": "Back Again"})
    wait_for(lambda: live.healthz()["status"] == "ok", what="site.yaml to come back")
    assert parse_feed(live.client.get("/rss.xml").data, "rss").title == "Back Again"


def test_popularity_yaml_broken_on_reload_keeps_the_last_counts(live, small_content):
    write_yaml(small_content / "popularity.yaml", {"gamma": 10_000})
    wait_for(lambda: live.service.catalog.snapshot.popular[0].slug == "gamma", what="the counts")
    (small_content / "popularity.yaml").write_text("gamma: [1\n", encoding="utf-8")
    wait_for(
        lambda: "last good" in str(named(live, "popularity.yaml")),
        what="the broken popularity.yaml",
    )
    titles = [e.title for e in parse_feed(live.client.get("/popular/rss.xml").data, "rss").entries]
    assert titles[0] == "Gamma"
    assert "last good view counts" in str(named(live, "popularity.yaml"))


# -- start-up: nothing sensible to serve without site.yaml -----------------------


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


SITE_YAML_CASES = {
    "missing": None,
    "not-yaml": "title: [unclosed\n",
    "not-a-mapping": "- just\n- a list\n",
    "no-site-url": "title: Test Times\n",
    "bad-url": "title: Test Times\nsite_url: news.test\n",
}


@pytest.mark.parametrize("case", sorted(SITE_YAML_CASES))
@pytest.mark.parametrize("command", ["serve", "check"])
def test_a_bad_or_missing_site_yaml_at_start_exits_2_with_a_clear_error(tmp_path, case, command):
    content = tmp_path / "content"
    write_yaml(content / "articles" / "a.yaml", article("A", "2025-01-01"))
    if SITE_YAML_CASES[case] is not None:
        (content / "site.yaml").write_text(SITE_YAML_CASES[case], encoding="utf-8")
    if command == "serve":
        result = run_cli("serve", "--port", str(free_port()), "--content-dir", str(content))
        text = result.stderr
    else:
        result = run_cli("check", str(content))
        text = result.stdout + result.stderr
    assert result.returncode == 2, text
    assert "site.yaml" in text and "Traceback" not in text
    first = text.splitlines()[0]
    assert first.startswith(
        str(content / "site.yaml") if command == "check" else "content/site.yaml"
    )


def test_a_missing_content_directory_says_so(tmp_path):
    result = run_cli("check", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "content directory does not exist" in result.stdout


def test_start_up_raises_content_error_not_a_traceback(tmp_path):
    from feedsvc.problems import ContentError

    with pytest.raises(ContentError) as error:
        FeedService(ServiceSettings(content_dir=tmp_path, reload_interval=0))
    assert "site.yaml: (file): is missing" in str(error.value)


# -- the acceptance walk: hazardous files dropped in one by one -----------------

LATIN1 = "title: Café crème\npublished: 2025-11-01T00:00:00Z\nsummary: Déjà vu.\n".encode("latin-1")
UTF16 = "title: 북한 소식\npublished: 2025-11-02T00:00:00Z\nsummary: 요약.\n".encode("utf-16")
CONTROLS = (
    b"title: Bell\x07 and\x1b escape\npublished: 2025-11-03T00:00:00Z\n"
    b'summary: "Null \\0 and \\x08 backspace"\nbody: "Form\\x0cfeed"\n'
)
MARKUP = b"""title: <b>Breaking</b> & <script>alert(1)</script>news
published: 2025-11-04T00:00:00Z
summary: "AT&T <3 a < b ]]> done"
author: Jane <jane@example.com>
tags: [Markup, "<i>Italic</i> tag"]
body: |
  <script>alert(1)</script><style>p{}</style>
  <iframe src="https://evil.test"></iframe>
  <img src="/x.png" onerror="alert(1)"> <a href="javascript:alert(1)">x</a>
  <a href="relative/page">rel</a> ]]> & < done
"""
BOMB = b"""a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
title: Bomb
published: 2025-11-05T00:00:00Z
views: *e
tags: *e
"""
HAZARDS: list[tuple[str, bytes, str]] = [
    # (file name, bytes, expected: "served" = appears in feeds; "error"/"warning" = named)
    ("latin1.yaml", LATIN1, "error"),
    ("utf16.yaml", UTF16, "served"),
    ("bom.yaml", b"\xef\xbb\xbftitle: BOM\npublished: 2025-11-06T00:00:00Z\n", "served"),
    ("controls.yaml", CONTROLS, "warning"),
    ("markup.yaml", MARKUP, "warning"),
    ("bad-date.yaml", b"title: Bad date\npublished: 2025-02-30\n", "error"),
    ("naive-date.yaml", b"title: Naive\npublished: 2025-02-01 10:00:00\n", "error"),
    ("no-date.yaml", b"title: No date\n", "error"),
    ("broken.yaml", b"title: [Broken\npublished: 2025-11-07\n", "error"),
    ("list.yaml", b"- not\n- a mapping\n", "error"),
    ("empty.yaml", b"", "error"),
    ("bomb.yaml", BOMB, "error"),
    ("deep.yaml", b"title: " + b"[" * 5000 + b"]" * 5000 + b"\n", "error"),
    ("Alpha.yaml", b"title: Upper alpha\npublished: 2025-11-08T00:00:00Z\n", "error"),
    ("twin.yaml", b"title: beta\npublished: 2025-11-09T00:00:00Z\nsummary: twin\n", "warning"),
    ("keys.yaml", b"title: One\ntitle: Two\npublished: 2025-11-10T00:00:00Z\n", "warning"),
    ("future.yaml", b"title: Future\npublished: 2999-01-01T00:00:00Z\n", "warning"),
    ("norway.yaml", b"title: no\npublished: 2025-11-11T00:00:00Z\ntags: [NO, yes]\n", "served"),
    ("beta.yaml", BROKEN_YAML.encode(), "error"),  # an article that was fine breaks
]


@pytest.mark.slow
def test_hazardous_files_dropped_in_one_by_one_never_break_or_lose_anything(small_content):
    # Room for every article in every feed, so "nothing lost" is about content, not ranking.
    write_yaml(small_content / "site.yaml", {**SITE, "popular": {"items": 50}})
    live = WatchedApp(small_content, interval=INTERVAL)
    try:
        walk_hazards(live, small_content / "articles")
    finally:
        live.close()


def walk_hazards(live: WatchedApp, articles: Path) -> None:
    before = served(live)
    for name, data, expected in HAZARDS:
        version = live.healthz()["version"]
        (articles / name).write_bytes(data)
        slug = name.removesuffix(".yaml").lower()
        # Served: valid, maybe repaired with a warning. Future: valid, not yet served.
        should_serve = expected in ("served", "warning") and slug != "future"

        def settled(
            name: str = name, expected: str = expected, slug: str = slug, serve: bool = should_serve
        ) -> bool:
            problems = named(live, name)
            if any(p["severity"] == "error" for p in problems) != (expected == "error"):
                return False
            if expected == "warning" and not problems:
                return False
            if not serve:
                return True
            try:
                feeds = served(live)
            except AssertionError:  # a reload landed between two formats: not settled yet
                return False
            return any(s.endswith("/" + slug) for s in feeds[""])

        wait_for(settled, what=f"{name} to be taken as {expected}")
        now = served(live)  # every feed parses, in every format
        for feed, ids in before.items():
            assert ids <= now.get(feed, set()), f"{name}: {feed} lost {ids - now.get(feed, set())}"
        if should_serve:
            assert live.healthz()["version"] != version
        before = now
    assert live.healthz()["status"] == "degraded"
    assert live.client.get("/healthz").status_code == 200


def test_hostile_files_at_runtime_are_problems_and_never_stop_the_watcher(
    live, small_content, tmp_path
):
    """Issue 11: a 5,000-digit number, an alias bomb in site.yaml, a link out of the
    folder and a FIFO, dropped into a running service: each is a problem in
    /healthz, the last good settings and articles stay served, reloads go on."""
    import os

    articles = small_content / "articles"
    (articles / "huge.yaml").write_text("title: Huge\npublished: 2025-12-04\nviews: " + "9" * 5000)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
    )
    site = small_content / "site.yaml"
    site.write_text(bomb + site.read_text().replace("items_per_feed: 20", "items_per_feed: *j"))
    (tmp_path / "secret.yaml").write_text("title: Secret\npublished: 2025-12-04\n")
    os.symlink(tmp_path / "secret.yaml", articles / "secret.yaml")
    os.mkfifo(articles / "pipe.yaml")
    wanted = {"huge.yaml", "site.yaml", "secret.yaml"}
    wait_for(lambda: wanted <= {p["path"].rsplit("/", 1)[1] for p in live.healthz()["errors"]},
             what="every hostile file reported")  # fmt: skip
    health = live.healthz()
    assert health["status"] == "degraded" and health["reload_error"] is None
    assert health["articles"] == 3
    assert live.client.get("/rss.xml").status_code == 200
    assert live.service.catalog.snapshot.site.title == SITE["title"]
    # The watcher still applies edits.
    write_yaml(articles / "delta.yaml", article("Delta", "2025-12-05T00:00:00Z"))
    wait_for(lambda: live.healthz()["articles"] == 4, what="a later edit")
