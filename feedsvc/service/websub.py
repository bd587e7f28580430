"""WebSub publishing: tell the hub which feed URLs changed after a reload.

Readers subscribed through a hub get new items within seconds instead of at
their next poll. Publishing must never slow requests or reloads down, so
pings go through a queue to one background thread, which retries failed
pings with exponential backoff (and gives up after a bounded number of
attempts, logging it: the hub will still see the change at its next fetch).

Pings not yet delivered are kept in the state (table ``websub_pending``):
a ping queued or being retried when the service stops is sent by the next
run (for the same hub; pings for a hub no longer configured are dropped,
logged). A ping leaves the table once delivered or given up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import random
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from feedsvc.feeds.catalog import Catalog, changed_feeds
from feedsvc.feeds.urls import FORMATS
from feedsvc.service.core import FeedService
from feedsvc.state.store import StateStore
from feedsvc.version import __version__

log = logging.getLogger("feedsvc.service.websub")
OWNER = "websub"
SCHEMA_VERSION = 1
TABLE = (
    "CREATE TABLE IF NOT EXISTS websub_pending ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, hub TEXT NOT NULL, urls TEXT NOT NULL,"
    " queued_at TEXT NOT NULL)"
)
Batch = tuple[int | None, tuple[str, ...]]  # (row in websub_pending, or None; the URLs)


class PendingPings:
    """The pings of one hub not yet delivered, in the state store."""

    def __init__(self, state: StateStore, hub_url: str) -> None:
        self.state = state
        self.hub_url = hub_url
        state.schema(OWNER, SCHEMA_VERSION, [TABLE])

    def load(self) -> list[Batch]:
        """Pings left by an earlier run, oldest first (those of other hubs are dropped)."""

        def read(db: sqlite3.Connection) -> list[Batch]:
            rows = db.execute("SELECT id, hub, urls FROM websub_pending ORDER BY id").fetchall()
            other = [row[0] for row in rows if row[1] != self.hub_url]
            if other:
                log.warning("WebSub: dropping %d pending pings for a hub no longer set", len(other))
                db.executemany("DELETE FROM websub_pending WHERE id = ?", [(i,) for i in other])
            return [(int(i), tuple(json.loads(urls))) for i, hub, urls in rows
                    if hub == self.hub_url]  # fmt: skip

        return self.state.attempt("reading pending WebSub pings", read) or []

    def add(self, urls: tuple[str, ...]) -> int | None:
        """Keep a ping until it is delivered; its row id (``None`` if the state failed)."""
        stamp = datetime.now(UTC).isoformat()
        return self.state.attempt("keeping a WebSub ping", lambda db: db.execute(
            "INSERT INTO websub_pending (hub, urls, queued_at) VALUES (?, ?, ?)",
            (self.hub_url, json.dumps(list(urls)), stamp),
        ).lastrowid)  # fmt: skip

    def done(self, row: int | None) -> None:
        """The ping was delivered or given up: forget it."""
        if row is not None:
            self.state.attempt("forgetting a WebSub ping", lambda db: db.execute(
                "DELETE FROM websub_pending WHERE id = ?", (row,)
            ))  # fmt: skip


def has_pending(state: StateStore, hub_url: str) -> bool:
    """Whether an earlier run left pings for ``hub_url`` (so a publisher starts at once)."""
    state.schema(OWNER, SCHEMA_VERSION, [TABLE])
    with state.reading() as db:
        try:
            row = db.execute(
                "SELECT 1 FROM websub_pending WHERE hub = ? LIMIT 1", (hub_url,)
            ).fetchone()
        except sqlite3.Error:
            return False
    return row is not None


@dataclass(slots=True)
class PublishStats:
    """Counters for ``/metrics`` and tests."""

    published: int = 0
    attempts: int = 0
    retries: int = 0
    failed: int = 0
    last_error: str = ""
    urls: list[str] = field(default_factory=list)


class WebSubPublisher:
    """Sends ``hub.mode=publish`` pings from a background thread."""

    def __init__(
        self,
        hub_url: str,
        *,
        max_attempts: int = 6,
        first_delay: float = 0.5,
        max_delay: float = 60.0,
        timeout: float = 10.0,
        state: StateStore | None = None,
    ) -> None:
        self.hub_url = hub_url
        self.max_attempts = max_attempts
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.stats = PublishStats()
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=1000)
        self._pending = PendingPings(state, hub_url) if state is not None else None
        if self._pending is not None:
            left = self._pending.load()
            cut = len(left) - self._queue.maxsize
            for row, _ in left[: max(0, cut)]:  # more than the queue holds: the oldest go
                self._pending.done(row)
            for batch in left[max(0, cut) :]:
                self._queue.put_nowait(batch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feedsvc-websub", daemon=True)
        self._thread.start()

    def publish(self, urls: Iterable[str]) -> None:
        """Queue one ping for ``urls``; returns at once (drops it if the queue is full)."""
        batch = tuple(dict.fromkeys(urls))
        if not batch:
            return
        if self._queue.full():
            log.warning("WebSub queue full; dropping a ping for %d URLs", len(batch))
            return
        row = self._pending.add(batch) if self._pending is not None else None
        try:
            self._queue.put_nowait((row, batch))
        except queue.Full:
            log.warning("WebSub queue full; dropping a ping for %d URLs", len(batch))
            self._done(row)

    def _done(self, row: int | None) -> None:
        if self._pending is not None:
            self._pending.done(row)

    def _send(self, urls: tuple[str, ...]) -> None:
        body = urlencode([("hub.mode", "publish"), *(("hub.url", url) for url in urls)])
        request = urllib.request.Request(
            self.hub_url,
            data=body.encode("ascii"),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": f"feedsvc/{__version__} (WebSub publisher)",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            response.read(65536)

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is None:
                return
            row, batch = item
            if self._deliver(batch):
                self._done(row)

    def _deliver(self, batch: tuple[str, ...]) -> bool:
        """Send one ping, retrying with backoff; True once settled (sent, or given up).

        False when the service stops before then: the ping stays in the
        state, and the next run sends it.
        """
        delay = self.first_delay
        for attempt in range(1, self.max_attempts + 1):
            self.stats.attempts += 1
            try:
                self._send(batch)
            except (OSError, urllib.error.URLError, ValueError) as exc:
                self.stats.last_error = str(exc)
                if self._stop.is_set():
                    return False
                if attempt == self.max_attempts:
                    self.stats.failed += 1
                    log.error("WebSub ping to %s failed %d times: %s", self.hub_url, attempt, exc)
                    return True
                self.stats.retries += 1
                # Full jitter keeps many instances from pinging in lockstep.
                if self._stop.wait(random.uniform(0, delay)):
                    return False
                delay = min(delay * 2, self.max_delay)
            else:
                self.stats.published += 1
                self.stats.urls.extend(batch)
                del self.stats.urls[:-1000]
                log.info("WebSub: notified %s of %d changed feed URLs", self.hub_url, len(batch))
                return True
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; pings not yet sent stay in the state for the next run."""
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout)


class WebSubNotifier:
    """Reload listener: pings the hub (``site.websub_hub``) with changed feed URLs.

    The hub setting is content (``site.yaml`` or ``FEEDSVC_WEBSUB_HUB``), so
    the publisher follows it across reloads.
    """

    def __init__(self, service: FeedService) -> None:
        self.service = service
        self.publisher: WebSubPublisher | None = None
        hub = service.catalog.snapshot.site.websub_hub
        if hub and has_pending(service.state, hub):  # an earlier run left pings: send them now
            self._publisher_for(hub)

    def _publisher_for(self, hub: str) -> WebSubPublisher | None:
        if not hub:
            return None
        if self.publisher is None or self.publisher.hub_url != hub:
            if self.publisher is not None:
                self.publisher.stop(timeout=0.1)
            self.publisher = WebSubPublisher(hub, state=self.service.state)
        return self.publisher

    def __call__(self, old: Catalog, new: Catalog) -> None:
        publisher = self._publisher_for(new.snapshot.site.websub_hub)
        if publisher is None:
            return
        bases = self.service.known_bases
        urls = [
            base + spec.url_path(fmt)
            for spec in changed_feeds(old, new, cached=self.service.cache.templates.__contains__)
            for fmt in FORMATS.values()
            for base in bases
        ]
        publisher.publish(urls)

    def stop(self) -> None:
        """Stop the publisher thread, if one runs."""
        if self.publisher is not None:
            self.publisher.stop()
