"""Shared test helpers: a plain module, imported as ``from support import ...``.

Fixtures live in ``conftest.py`` (which uses these); everything a test
file imports by name lives here. ``tests/`` and the repository root are on
``sys.path`` (``pythonpath`` in pyproject's ``[tool.pytest.ini_options]``),
so ``support``, ``feedcheck`` and ``bench`` import the same way everywhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import yaml

from feedsvc.content.loader import ContentLoader
from feedsvc.content.model import Snapshot
from feedsvc.feeds.render import render_feed
from feedsvc.feeds.spec import all_feeds
from feedsvc.state.store import open_state

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
BUNDLED_CONTENT = REPO / "content"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

SITE = {
    "title": "Test Times",
    "description": "A test site.",
    "site_url": "https://news.test",
    "language": "en",
    "author": "Test Desk",
    "id_authority": "news.test,2025",
    "items_per_feed": 20,
    "popular": {"items": 5, "window_days": 0},
    "cache_max_age": 120,
}


class Clock:
    """A settable clock handed to the service (drafts/future articles)."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def write_yaml(path: Path, data: Any) -> Path:
    """Write ``data`` as YAML (UTF-8), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def article(title: str, published: str, **fields: Any) -> dict[str, Any]:
    """An article mapping with sensible defaults for the other fields."""
    return {
        "title": title,
        "published": published,
        "summary": fields.pop("summary", f"Summary of {title}."),
        "body": fields.pop("body", f"Body of **{title}**."),
        **fields,
    }


def feed_paths(app: Any) -> list[str]:
    """Every canonical feed URL path of the app's current content, in every format.

    One feed after another, each as RSS, Atom and JSON Feed: the order of
    the OPML list (``/feeds.opml`` lists exactly these feeds).
    """
    from feedsvc.feeds.urls import FORMATS

    return [spec.url_path(fmt) for spec in app.extensions["feedsvc"].catalog.feeds.values()
            for fmt in FORMATS.values()]  # fmt: skip


def fmt_of(path: str) -> str:
    """The format (``rss``, ``atom``, ``json``) a feed path's file name stands for."""
    return {"rss.xml": "rss", "atom.xml": "atom", "feed.json": "json"}[path.rsplit("/", 1)[1]]


def wait_for(
    predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition", step: float = 0.02
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``.

    Bounded waits instead of fixed sleeps: a test is as fast as the code.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


class WatchedApp:
    """The real app in this process with its real watcher thread polling real files."""

    def __init__(self, content: Path, interval: float = 0.1, **settings: object) -> None:
        from feedsvc.service.core import FeedService
        from feedsvc.settings import ServiceSettings
        from feedsvc.web.app import create_app

        self.settings = ServiceSettings(
            content_dir=content,
            reload_interval=interval,
            **settings,  # type: ignore[arg-type]
        )
        self.service = FeedService(self.settings)
        self.app = create_app(self.settings, service=self.service, watch=True)
        self.client = self.app.test_client()

    def healthz(self) -> dict[str, object]:
        return self.client.get("/healthz").get_json()

    def wait_version_change(self, old_version: str, timeout: float = 10.0) -> dict[str, object]:
        """Wait until /healthz reports a content version other than ``old_version``."""
        return wait_for(
            lambda: (h := self.healthz())["version"] != old_version and h,
            timeout,
            "a reload",
        )

    def close(self) -> None:
        self.service.stop()


class Hub:
    """A tiny WebSub hub on 127.0.0.1 that records publish pings.

    It fails the first ``fail_first`` pings with a 503 so the publisher's
    retries are exercised.
    """

    def __init__(self, fail_first: int = 0) -> None:
        self.pings: list[dict[str, list[str]]] = []
        self.failures_left = fail_first
        self.attempts = 0
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                hub.attempts += 1
                if hub.failures_left > 0:
                    hub.failures_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                hub.pings.append(form)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hub"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for_pings(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.pings) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def snapshot_feeds(snapshot: Snapshot) -> dict[str, bytes]:
    """Every feed of a snapshot in every format, its version and its problems.

    Two loads that agree on this served the same thing: the parse cache's
    tests compare a cached load with a parsed one through it.
    """
    out = {"version": snapshot.version.encode(), "problems": repr(snapshot.problems).encode()}
    for spec in all_feeds(snapshot):
        for fmt, body in render_feed(snapshot, spec).bodies.items():
            out[f"{spec.key}:{fmt}"] = body
    return out


def fresh_load(content: Path, state: Path | None) -> tuple[ContentLoader, dict[str, bytes]]:
    """A fresh loader's first load (``state``: its state folder; ``None``: no cache)."""
    store = open_state(state) if state is not None else None
    try:
        loader = ContentLoader(content, state=store)
        return loader, snapshot_feeds(loader.load())
    finally:
        if store is not None:
            store.close()
