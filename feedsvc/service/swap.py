"""The catalog being served, and the reloads that build and swap in the next one.

A reload builds the next catalog completely off to the side, has the
likeliest feeds prewarmed, then swaps one reference: a request holds the
catalog it started with, so it sees the old state or the new one, never a
mix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from feedsvc.content.loader import ContentLoader
from feedsvc.content.yamlfile import shown_key
from feedsvc.feeds.catalog import Catalog, make_catalog, refreshed_catalog
from feedsvc.feeds.served_tags import ServedTags
from feedsvc.memory import freeze_loaded_objects, paused_gc, release_free_memory
from feedsvc.problems import Problem

log = logging.getLogger("feedsvc")

RETRY_SECONDS = 10.0  # after a failed reload, how often one is retried without new changes


def log_problems(problems: Iterable[Problem]) -> None:
    """Log content problems (the loader reports each once, when it first appears)."""
    for problem in problems:
        level = logging.WARNING if problem.severity == "warning" else logging.ERROR
        log.log(level, "%s", problem)


class CatalogSwap:
    """Holds the current :class:`Catalog`; :meth:`reload` replaces it.

    The first catalog is loaded on construction (raising
    :class:`~feedsvc.problems.ContentError` without a usable
    ``site.yaml``). ``prewarm(new, old)`` is called before each swap.
    ``served`` remembers every tag published (kept as an empty feed once
    its last article goes; see :mod:`feedsvc.feeds.served_tags`).
    Listeners are called as ``listener(old, new)`` after each swap that
    changed the content, in the reloading thread.
    """

    def __init__(
        self,
        loader: ContentLoader,
        clock: Callable[[], datetime],
        prewarm: Callable[[Catalog, Catalog], object],
        served: ServedTags,
    ) -> None:
        self.loader = loader
        self.served = served
        self.clock = clock
        self._prewarm = prewarm
        self.reloads = 0
        self.reload_errors = 0  # reloads that raised (the catalog before them kept)
        self.failure: str | None = None  # why the last reload failed; None once one succeeds
        self._retry_at = 0.0  # monotonic time after which a failed reload is retried in full
        self.last_reload_at: datetime | None = None
        self.listeners: list[Callable[[Catalog, Catalog], None]] = []
        self._seq = 0
        now = clock()
        with paused_gc():  # see feedsvc.memory: millions of objects, no cycles
            snapshot = loader.load(now)
            names = served.remember(snapshot.tags, now)
            self.current = make_catalog(self._next_seq(), snapshot, now, served=names)
            # Frozen before the collector resumes: its first run would otherwise
            # walk every object just loaded (~0.2-0.3 s of a 100k restart) to find
            # the handful of cycles a load makes (14 at 100k, left uncollected).
            freeze_loaded_objects(len(snapshot.articles))
        release_free_memory()
        log_problems(snapshot.problems)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def seconds_until_due(self) -> float | None:
        """Seconds until a scheduled article or update of the current content falls due."""
        due = self.current.snapshot.next_change_at
        return None if due is None else (due - self.clock()).total_seconds()

    def reload(self, *, force: bool = False) -> bool:
        """Re-read changed files and swap in a new catalog; True when content changed.

        Also applies scheduled articles and updates that have fallen due.
        Safe to call from any thread; concurrent calls are serialised.

        Never raises: a reload that fails, whatever the cause, keeps the
        current catalog, sets :attr:`failure` (``/healthz`` is "degraded"
        with it) and logs the traceback once per distinct failure. While it
        is set, a reload is retried even without changes (every
        :data:`RETRY_SECONDS` at most); the first that succeeds clears it.
        """
        with self.loader.lock:
            retry = self.failure is not None and time.monotonic() >= self._retry_at
            try:
                changed = self._reload_locked(force=force or retry)
            except Exception as exc:
                self._failed(exc)
                return False
            if self.failure is not None:
                log.info("content reload succeeded again")
                self.failure = None
            return changed

    def _failed(self, exc: Exception) -> None:
        """Record a failed reload; its traceback is logged the first time only."""
        self.reload_errors += 1
        reason = f"{type(exc).__name__}: {shown_key(str(exc))}"
        failure = (
            f"reload failed ({reason}); still serving content version "
            + (self.current.snapshot.version[:12])
        )
        if failure != self.failure:
            log.exception("content reload failed; still serving the previous content")
        self.failure = failure
        self._retry_at = time.monotonic() + RETRY_SECONDS
        events = self.loader.events
        if events is not None:  # the failed reload took inotify's events: look at every file
            events.request_full_scan()

    def _reload_locked(self, *, force: bool) -> bool:
        """Reload with ``self.loader.lock`` held (see :meth:`reload`)."""
        due = self.current.snapshot.next_change_at
        found = self.loader.find_changes()  # always taken: inotify's events are consumed here
        if not force and (due is None or self.clock() < due) and not found:
            return False
        now = self.clock()
        old = self.current
        snapshot = self.loader.load(now, found)
        log_problems(self.loader.new_problems)
        self.last_reload_at = now
        if snapshot.version == old.snapshot.version:
            # Same feeds; keep the catalog (and its cached variants), refresh problems.
            self.current = refreshed_catalog(old, snapshot)
            return False
        names = self.served.remember(snapshot.tags, now)
        new = make_catalog(self._next_seq(), snapshot, now, previous=old, served=names)
        self._prewarm(new, old)
        # Ledger entries of vanished feeds are kept: a tag that comes back
        # must not restart its Last-Modified from an earlier date.
        self.current = new
        self.reloads += 1
        for listener in self.listeners:
            try:
                listener(old, new)
            except Exception:  # a listener (e.g. WebSub) must never break reloads
                log.exception("reload listener %r failed", listener)
        log.info(
            "content reloaded: %d articles, %d tags (version %s)",
            len(snapshot.articles),
            len(snapshot.tags),
            snapshot.version[:12],
        )
        return True
