"""WebSub publishing: tell the hub which feed URLs changed after a reload.

Readers subscribed through a hub get new items within seconds instead of at
their next poll. Publishing must never slow requests or reloads down, so
pings go through a queue to one background thread, which retries failed
pings with exponential backoff (and gives up after a bounded number of
attempts, logging it: the hub will still see the change at its next fetch).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from feedsvc.feeds.catalog import Catalog, changed_feeds
from feedsvc.feeds.urls import FORMATS
from feedsvc.service.core import FeedService
from feedsvc.version import __version__

log = logging.getLogger("feedsvc.service.websub")


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
    ) -> None:
        self.hub_url = hub_url
        self.max_attempts = max_attempts
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.stats = PublishStats()
        self._queue: queue.Queue[tuple[str, ...] | None] = queue.Queue(maxsize=1000)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feedsvc-websub", daemon=True)
        self._thread.start()

    def publish(self, urls: Iterable[str]) -> None:
        """Queue one ping for ``urls``; returns at once (drops it if the queue is full)."""
        batch = tuple(dict.fromkeys(urls))
        if not batch:
            return
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            log.warning("WebSub queue full; dropping a ping for %d URLs", len(batch))

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
            batch = self._queue.get()
            if batch is None:
                return
            delay = self.first_delay
            for attempt in range(1, self.max_attempts + 1):
                self.stats.attempts += 1
                try:
                    self._send(batch)
                except (OSError, urllib.error.URLError, ValueError) as exc:
                    self.stats.last_error = str(exc)
                    if attempt == self.max_attempts or self._stop.is_set():
                        self.stats.failed += 1
                        log.error(
                            "WebSub ping to %s failed %d times: %s", self.hub_url, attempt, exc
                        )
                        break
                    self.stats.retries += 1
                    # Full jitter keeps many instances from pinging in lockstep.
                    if self._stop.wait(random.uniform(0, delay)):
                        break
                    delay = min(delay * 2, self.max_delay)
                else:
                    self.stats.published += 1
                    self.stats.urls.extend(batch)
                    del self.stats.urls[:-1000]
                    log.info(
                        "WebSub: notified %s of %d changed feed URLs", self.hub_url, len(batch)
                    )
                    break

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (pending pings are dropped)."""
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

    def _publisher_for(self, hub: str) -> WebSubPublisher | None:
        if not hub:
            return None
        if self.publisher is None or self.publisher.hub_url != hub:
            if self.publisher is not None:
                self.publisher.stop(timeout=0.1)
            self.publisher = WebSubPublisher(hub)
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
