"""The running content: current snapshot, its feeds, reloads and prewarming.

:class:`FeedService` owns one :class:`Catalog` at a time (a snapshot plus its URL
table). A reload builds the next view completely, renders the feeds readers
are likely to ask for, then swaps one reference; a request holds the view it
started with, so it sees the old state or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import select
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime

from feedsvc.content.events import ContentEvents
from feedsvc.content.loader import ContentLoader
from feedsvc.feeds.cache import FeedCache, Variant
from feedsvc.feeds.catalog import Catalog, make_catalog
from feedsvc.feeds.render import RenderedFeed, render_feed
from feedsvc.feeds.spec import FeedSpec
from feedsvc.feeds.urls import FORMATS, FeedFormat
from feedsvc.memory import freeze_loaded_objects, paused_gc, release_free_memory
from feedsvc.problems import Problem
from feedsvc.settings import ServiceSettings

log = logging.getLogger("feedsvc")

PREWARM_FEEDS = 256  # feeds rendered before a swap; the rest render on first request
# A site with at most this many feeds is prewarmed whole before serving starts; a
# bigger one gets its main and popular feeds first and the rest in the background,
# so that start-up time does not grow with the number of tags.
START_PREWARM_FEEDS = 16


SETTLE_MAX = 1.0  # seconds a changed file must be quiet before it is applied
MIN_WAIT = 0.02  # the watcher never spins faster than this
# With inotify: after the first event, wait this long for the rest of a save's
# events (an editor's temporary file, write, close, rename) so they make one reload.
DEBOUNCE = 0.01
# With inotify, a full comparison of every file this often anyway (or every
# reload interval, if longer): inotify misses changes made on another host of
# a network file system (NFS, SMB), writes through mmap, and a folder swapped
# in a way we did not notice; this bounds how long any of those goes unseen,
# for ~0.5 s of CPU a minute at 100k articles.
SAFETY_SCAN_SECONDS = 60.0


def settle_seconds(reload_interval: float) -> float:
    """How long a change must be quiet before a reload applies it.

    Half the poll interval, at most :data:`SETTLE_MAX`: long enough to skip a
    file caught mid-write (truncated, or cut inside its body yet still valid
    YAML), short enough that a change is live within one interval. No
    watcher, no settling: explicit reloads apply what is on disk.
    """
    if reload_interval <= 0:
        return 0.0
    return min(SETTLE_MAX, reload_interval / 2)


class FeedService:
    """Loads content, keeps the current view and serves rendered variants."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        clock: Callable[[], datetime] | None = None,
        env: dict[str, str] | None = None,
        prewarm: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.loader = ContentLoader(
            settings.content_dir, env, settle=settle_seconds(settings.reload_interval)
        )
        self.cache = FeedCache(settings.cache_bytes)
        self.reloads = 0
        self.reload_errors = 0
        self.polls = 0  # watcher wake-ups (tests wait for polls, not for time)
        self.last_reload_at: datetime | None = None
        self._seq = 0
        self._recent_bases: OrderedDict[str, None] = OrderedDict()
        self._stop = threading.Event()
        self._wake: tuple[int, int] | None = None  # a pipe that interrupts the watcher's wait
        self._watcher: threading.Thread | None = None
        self._prewarmer: threading.Thread | None = None
        # Called as listener(old_view, new_view) after each swap, in the reloading thread.
        self.listeners: list[Callable[[Catalog, Catalog], None]] = []
        now = self.clock()
        with paused_gc():  # see feedsvc.memory: millions of objects, no cycles
            snapshot = self.loader.load(now)  # raises ContentError without a usable site.yaml
            self._view = make_catalog(self._next_seq(), snapshot, now)
        release_free_memory()
        freeze_loaded_objects(len(snapshot.articles))
        self._log_problems(snapshot.problems, ())
        if settings.public_url:
            self.note_base(settings.public_url)
        if prewarm:
            self._start_prewarm(self._view)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- reading ---------------------------------------------------------

    @property
    def view(self) -> Catalog:
        """The current view; rebuilt first if a scheduled article is now due.

        With the watcher running it wakes up for due articles itself, so a
        request only rebuilds when nothing else will (no watcher, or the
        watcher is late by a whole interval). Only one request rebuilds; the
        others keep serving the current view meanwhile.
        """
        view = self._view
        due = view.snapshot.next_change_at
        if due is None:
            return view
        now = self.clock()
        if now < due:
            return view
        if self._watcher is not None and (now - due).total_seconds() < max(
            1.0, 2 * self.settings.reload_interval
        ):
            return view
        if self.loader.lock.acquire(blocking=False):
            try:
                self._reload_locked(force=False)
            finally:
                self.loader.lock.release()
        return self._view

    def _due(self) -> bool:
        due = self._view.snapshot.next_change_at
        return due is not None and self.clock() >= due

    @property
    def known_bases(self) -> list[str]:
        """Base URLs feeds are published under: the public URL, else those seen lately."""
        if self.settings.public_url:
            return [self.settings.public_url]
        return list(self._recent_bases)

    def note_base(self, base_url: str) -> None:
        """Remember a base URL readers use, so reloads prewarm its variants."""
        if base_url in self._recent_bases:
            self._recent_bases.move_to_end(base_url)
            return
        self._recent_bases[base_url] = None
        while len(self._recent_bases) > self.settings.max_base_urls:
            self._recent_bases.popitem(last=False)

    def _render(self, view: Catalog, spec: FeedSpec) -> Callable[[], RenderedFeed]:
        return lambda: render_feed(view.snapshot, spec)

    def variant(self, view: Catalog, base_url: str, spec: FeedSpec, fmt: FeedFormat) -> Variant:
        """Served bytes and validators for a feed under ``base_url``."""
        key = (base_url, view.seq, spec.key, fmt.name)
        return self.cache.variant(
            key, view.fingerprint(spec), fmt.content_type, self._render(view, spec)
        )

    # -- reloading -------------------------------------------------------

    def _start_prewarm(self, view: Catalog) -> None:
        """Prewarm at start: all of a small site now, a big one mostly in the background."""
        if len(view.feeds) <= START_PREWARM_FEEDS:
            self.prewarm(view)
            return
        self.prewarm(view, limit=2)  # main and popular: the first requests
        self._prewarmer = threading.Thread(
            target=self.prewarm, args=(view,), name="feedsvc-prewarm", daemon=True
        )
        self._prewarmer.start()

    def wait_prewarmed(self, timeout: float | None = None) -> bool:
        """Wait for the start-up background prewarm (if any); True once it has finished."""
        thread = self._prewarmer
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def prewarm(
        self, view: Catalog, limit: int = PREWARM_FEEDS, previous: Catalog | None = None
    ) -> int:
        """Render the likeliest feeds (main, popular, biggest tags); returns how many.

        Bounded twice: by ``limit`` and by the cache itself. Prewarming stops at
        the first eviction, because rendering past the cache's bound would
        evict the feeds just rendered (the most wanted ones first) and a reload
        would then re-render all of them. Afterwards the prewarmed entries are
        touched from least to most wanted, so the LRU evicts rare tags first.

        With ``previous`` (a reload), a feed whose fingerprint did not change
        takes over its served variants from the previous view instead of
        rebuilding them (a byte replace, a gzip and two hashes each): same
        bytes, same validators. Nothing else is built for it: a variant or
        template it did not have before the reload (a base URL seen since, an
        entry evicted) is built on its first request, as it would have been
        without the reload. A one-file edit then costs only the feeds it touched.
        """
        # Main, popular, then the biggest tags (ties in slug order).
        feeds = view.feeds
        biggest = heapq.nsmallest(
            max(0, limit - 2), view.snapshot.tags.values(), key=lambda e: -len(e.articles)
        )
        specs = [feeds["main"], feeds["popular"], *(feeds[f"tag:{e.slug}"] for e in biggest)]
        specs = specs[:limit]
        bases = list(self._recent_bases)[-4:]
        cache = self.cache
        evictions = cache.templates.evictions + cache.variants.evictions
        done: list[FeedSpec] = []
        for spec in specs:
            if previous is None and self._view is not view:
                break  # a reload replaced this view while it was prewarmed in the background
            fingerprint = view.fingerprint(spec)
            if previous is not None and previous.fingerprints.get(spec.key) == fingerprint:
                for base in bases:
                    for fmt in FORMATS.values():
                        old = cache.variants.pop((base, previous.seq, spec.key, fmt.name))
                        if old is not None:
                            cache.variants.put((base, view.seq, spec.key, fmt.name), old)
                done.append(spec)
                continue
            cache.template(fingerprint, self._render(view, spec))
            for base in bases:
                for fmt in FORMATS.values():
                    self.variant(view, base, spec, fmt)
            done.append(spec)
            if cache.templates.evictions + cache.variants.evictions > evictions:
                break
        for spec in reversed(done):
            cache.templates.get(view.fingerprint(spec))
            for base in bases:
                for fmt in FORMATS.values():
                    cache.variants.get((base, view.seq, spec.key, fmt.name))
        return len(done)

    def reload(self, *, force: bool = False) -> bool:
        """Re-read changed files and swap in a new view; True when content changed.

        Safe to call from any thread; concurrent calls are serialised.
        """
        with self.loader.lock:
            return self._reload_locked(force=force)

    def _reload_locked(self, *, force: bool) -> bool:
        """Reload with ``self.loader.lock`` held (see :meth:`reload`)."""
        found = self.loader.find_changes()
        if not force and not self._due() and not found:
            return False
        now = self.clock()
        old = self._view
        snapshot = self.loader.load(now, found)
        self._log_problems(self.loader.new_problems, ())
        self.last_reload_at = now
        changed = snapshot.version != old.snapshot.version
        if not changed:
            # Same feeds; keep the view (and its cached variants), refresh problems.
            self._view = replace(old, snapshot=snapshot)
            return False
        view = make_catalog(self._next_seq(), snapshot, now, previous=old)
        self.prewarm(view, previous=old)
        # Ledger entries of vanished feeds are kept: a tag that comes back
        # must not restart its Last-Modified from an earlier date.
        self._view = view
        self.reloads += 1
        for listener in self.listeners:
            try:
                listener(old, view)
            except Exception:  # a listener (e.g. WebSub) must never break reloads
                log.exception("reload listener %r failed", listener)
        log.info(
            "content reloaded: %d articles, %d tags (version %s)",
            len(snapshot.articles),
            len(snapshot.tags),
            snapshot.version[:12],
        )
        return True

    def _log_problems(self, problems: Iterable[Problem], previous: Iterable[Problem]) -> None:
        """Log each problem once: when it first appears, not on every poll."""
        seen = set(previous)
        for problem in problems:
            if problem not in seen:
                level = logging.WARNING if problem.severity == "warning" else logging.ERROR
                log.log(level, "%s", problem)

    @property
    def watch_mode(self) -> str:
        """How content changes are found: ``inotify``, ``poll``, or ``off`` (no watcher)."""
        if self._watcher is None:
            return "off"
        return "inotify" if self.loader.events is not None else "poll"

    def _open_events(self) -> ContentEvents | None:
        """inotify watches on the content, or ``None`` to poll (not Linux, limits, turned off)."""
        if self.settings.watch == "poll" or not sys.platform.startswith("linux"):
            return None
        try:
            return ContentEvents(self.loader.content_dir, self.loader.articles_dir)
        except OSError as exc:
            log.warning(
                "cannot watch %s with inotify (%s); polling every %g s instead",
                self.settings.content_dir,
                exc,
                self.settings.reload_interval,
            )
            return None

    def start_watching(self) -> None:
        """Watch the content in a daemon thread: inotify events where available, else polling.

        With inotify the thread sleeps until the kernel reports a change (a
        saved file is applied within milliseconds) and wakes every reload
        interval only to check that the watched folders are still the ones
        the paths name; every :data:`SAFETY_SCAN_SECONDS` it compares every
        file anyway. Polling compares every file every interval.
        """
        interval = self.settings.reload_interval
        if interval <= 0 or self._watcher is not None:
            return
        events = self._open_events()
        self.loader.events = events
        if events is not None:
            self._wake = os.pipe()
            log.info("watching %s with inotify", self.settings.content_dir)

        def watch() -> None:
            # The first look (with inotify: a full comparison, for changes made before
            # the watches existed) comes one interval after start, as the first poll.
            wait = interval
            safety = max(SAFETY_SCAN_SECONDS, interval)
            next_full = time.monotonic() + safety
            while True:
                woken = self._sleep(events, wait)
                if self._stop.is_set():
                    return
                self.polls += 1
                if events is not None:
                    if woken and self._stop.wait(DEBOUNCE):
                        return
                    events.check_identity()
                    if time.monotonic() >= next_full:
                        events.request_full_scan()
                        next_full = time.monotonic() + safety
                try:
                    self.reload()
                except Exception:  # a reload must never kill the watcher
                    self.reload_errors += 1
                    log.exception("content reload failed; still serving the previous content")
                    if self._stop.wait(interval):  # never spin on a failing reload
                        return
                wait = self._next_wait(interval)

        self._watcher = threading.Thread(target=watch, name="feedsvc-reload", daemon=True)
        self._watcher.start()

    def _sleep(self, events: ContentEvents | None, wait: float) -> bool:
        """Wait ``wait`` seconds, for an inotify event, or for :meth:`stop`; True on an event."""
        if events is None or self._wake is None:
            self._stop.wait(wait)
            return False
        poller = select.poll()
        poller.register(events.fileno(), select.POLLIN)
        poller.register(self._wake[0], select.POLLIN)
        ready = poller.poll(max(0, int(wait * 1000) + 1))
        return any(fd == events.fileno() for fd, _ in ready)

    def _next_wait(self, interval: float) -> float:
        """Sleep until the next poll, a pending change settling or an article falling due."""
        wait = interval
        settle_at = self.loader.next_settle_at()
        if settle_at is not None:
            wait = min(wait, settle_at - time.time() + MIN_WAIT)
        due = self._view.snapshot.next_change_at
        if due is not None:
            wait = min(wait, (due - self.clock()).total_seconds() + MIN_WAIT)
        return max(MIN_WAIT, wait)

    def stop(self) -> None:
        """Stop the watcher thread (if any) and wait for it briefly."""
        self._stop.set()
        if self._wake is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"x")  # interrupt the watcher's wait at once
        if self._prewarmer is not None:
            self._prewarmer.join(timeout=30)
            self._prewarmer = None
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            if self._watcher.is_alive():
                return  # stuck in a reload: leave its descriptors to the process's exit
            self._watcher = None
        events, self.loader.events = self.loader.events, None
        if events is not None:
            events.close()
        if self._wake is not None:
            for fd in self._wake:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._wake = None
