"""Requests read the catalog being served; only reloads replace it.

A request never reloads content, not even when a scheduled article has
fallen due: the watcher thread (or an explicit ``reload()``) does that, off
the request path, and swaps the new catalog in whole.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedcheck import parse_feed
from support import Clock, article, write_yaml


def titles(client: Any, path: str = "/rss.xml") -> list[str]:
    return [e.title for e in parse_feed(client.get(path).data, "rss").entries]


def test_a_request_never_reloads_even_when_an_article_falls_due(
    make_app: Callable[..., Any], small_content: Path, clock: Clock
):
    write_yaml(
        small_content / "articles" / "later.yaml",
        article("Later", "2026-02-01T00:00:00Z", tags=["Health"]),
    )
    app = make_app(small_content)
    service = app.extensions["feedsvc"]
    client = app.test_client()
    served = service.catalog
    clock.now = datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC)  # "Later" is due now
    for path in ("/rss.xml", "/tags/health/rss.xml", "/", "/healthz"):
        assert client.get(path).status_code == 200
    assert service.catalog is served and service.reloads == 0
    assert "Later" not in titles(client)

    assert service.reload() is True  # the watcher's job, done here by hand
    assert service.catalog is not served and service.reloads == 1
    assert titles(client) == ["Later", "Gamma", "Beta", "Alpha"]
    assert titles(client, "/tags/health/rss.xml") == ["Later", "Gamma"]


def test_reload_without_changes_keeps_the_catalog_and_its_sequence(
    make_app: Callable[..., Any], small_content: Path
):
    service = make_app(small_content).extensions["feedsvc"]
    served = service.catalog
    assert service.reload() is False
    assert service.reload(force=True) is False  # re-read, same content
    # Same content: the same feeds, routes and sequence (so every cached variant stays).
    assert service.catalog.seq == served.seq and service.catalog.feeds is served.feeds
    assert service.reloads == 0 and service.last_reload_at is not None


def test_listeners_see_old_and_new_catalogs_and_cannot_break_a_reload(
    make_app: Callable[..., Any], small_content: Path
):
    service = make_app(small_content).extensions["feedsvc"]
    seen: list[tuple[int, int]] = []

    def broken(old: Any, new: Any) -> None:
        raise RuntimeError("a listener failing")

    service.listeners.append(broken)
    service.listeners.append(lambda old, new: seen.append((old.seq, new.seq)))
    before = service.catalog.seq
    write_yaml(small_content / "articles" / "delta.yaml", article("Delta", "2025-12-04T00:00:00Z"))
    assert service.reload() is True
    assert seen == [(before, service.catalog.seq)] and service.catalog.seq > before


def test_a_failed_reload_keeps_serving_and_healthz_says_why_until_one_succeeds(
    make_app: Callable[..., Any], small_content: Path, clock: Clock, caplog: Any
):
    """Any reload failure is caught at the swap: last good catalog, "degraded", one traceback."""
    app = make_app(small_content)
    service = app.extensions["feedsvc"]
    client = app.test_client()
    served = service.catalog
    write_yaml(small_content / "articles" / "new.yaml", article("New", "2025-12-20T00:00:00Z"))
    good_now = clock.now
    clock.now = "2026-01-16"  # type: ignore[assignment]  # a clock gone wrong: not a datetime
    assert service.reload() is False and service.reload() is False  # never raises
    assert service.catalog is served and service.reload_errors == 2
    health = client.get("/healthz").get_json()
    assert health["status"] == "degraded" and health["content_valid"] is True
    assert health["reload_error"].startswith("reload failed (AttributeError: ")
    assert health["reload_error"].endswith(
        "still serving content version " + served.snapshot.version[:12]
    )
    assert "New" not in titles(client)
    tracebacks = [r for r in caplog.records if r.exc_info and "reload failed" in r.getMessage()]
    assert len(tracebacks) == 1  # the same failure twice: its traceback once

    clock.now = good_now
    assert service.reload() is True
    health = client.get("/healthz").get_json()
    assert health["status"] == "ok" and health["reload_error"] is None
    assert titles(client)[0] == "New"
