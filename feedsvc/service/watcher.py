"""The thread that applies content changes as they happen, and scheduled ones when due.

With a positive reload interval it watches the content folder: inotify
events where available (a saved file is live within milliseconds), else
polling every interval. With live editing off (interval 0) it only follows
the schedule: it sleeps until the next scheduled article or update falls
due and reloads then. Either way, reloads happen here (or in
an explicit :meth:`~feedsvc.service.core.FeedService.reload`), never inside
a request.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
import threading
import time
from collections.abc import Callable

from feedsvc.content.events import ContentEvents
from feedsvc.content.loader import ContentLoader
from feedsvc.settings import ServiceSettings

log = logging.getLogger("feedsvc")

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
# Without live editing: the longest sleep between looks at the schedule (a due
# time brought in by an explicit reload is seen within this), and the pause
# after a failed reload.
SCHEDULE_RECHECK = 60.0


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


class Watcher:
    """A daemon thread calling ``reload`` when content changed or falls due.

    ``until_due`` gives the seconds until the served content's next
    scheduled change (``None`` if there is none).
    """

    def __init__(
        self,
        settings: ServiceSettings,
        loader: ContentLoader,
        reload: Callable[[], object],
        until_due: Callable[[], float | None],
    ) -> None:
        self.settings = settings
        self.interval = settings.reload_interval
        self.loader = loader
        self._reload = reload
        self._until_due = until_due
        self.polls = 0  # wake-ups (tests wait for polls, not for time)
        self.reload_errors = 0
        self.thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake: tuple[int, int] | None = None  # a pipe that interrupts an inotify wait

    @property
    def mode(self) -> str:
        """How content changes are found: ``inotify``, ``poll``, or ``off``."""
        if self.thread is None or self.interval <= 0:
            return "off"
        return "inotify" if self.loader.events is not None else "poll"

    def start(self) -> None:
        """Start the thread: watching the files, or only the schedule (interval 0)."""
        if self.thread is not None:
            return
        if self.interval > 0:
            events = self.loader.events = self._open_events()
            if events is not None:
                self._wake = os.pipe()
                log.info("watching %s with inotify", self.settings.content_dir)
            self.thread = threading.Thread(
                target=self._watch, args=(events,), name="feedsvc-reload", daemon=True
            )
        else:
            self.thread = threading.Thread(
                target=self._follow_schedule, name="feedsvc-schedule", daemon=True
            )
        self.thread.start()

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
                self.interval,
            )
            return None

    def _apply(self) -> bool:
        """Reload once; a failure is counted and logged, never raised (nor fatal)."""
        try:
            self._reload()
        except Exception:  # a reload must never kill the watcher
            self.reload_errors += 1
            log.exception("content reload failed; still serving the previous content")
            return False
        return True

    def _watch(self, events: ContentEvents | None) -> None:
        """Sleep until a change (inotify) or the next poll, then reload.

        With inotify the thread wakes every interval only to check that the
        watched folders are still the ones the paths name; every
        :data:`SAFETY_SCAN_SECONDS` it compares every file anyway. Polling
        compares every file every interval. The first look (with inotify: a
        full comparison, for changes made before the watches existed) comes
        one interval after start, as the first poll.
        """
        interval = self.interval
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
            if not self._apply() and self._stop.wait(interval):  # never spin on failures
                return
            if self.loader.keeper.due():  # quiet for a while: keep what a restart reads
                self.loader.keeper.keep()
            wait = self._next_wait(interval)

    def _follow_schedule(self) -> None:
        """Live editing off: reload only when a scheduled article or update falls due."""
        while True:
            until = self._until_due()
            wait = SCHEDULE_RECHECK if until is None else min(SCHEDULE_RECHECK, until + MIN_WAIT)
            if self._stop.wait(max(MIN_WAIT, wait)):
                return
            self.polls += 1
            until = self._until_due()
            due = until is not None and until <= 0
            if due and not self._apply() and self._stop.wait(SCHEDULE_RECHECK):
                return

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
        until = self._until_due()
        if until is not None:
            wait = min(wait, until + MIN_WAIT)
        return max(MIN_WAIT, wait)

    def stop(self) -> None:
        """Stop the thread (waiting for it briefly) and close the inotify descriptors."""
        self._stop.set()
        if self._wake is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"x")  # interrupt the watcher's wait at once
        if self.thread is not None:
            self.thread.join(timeout=5)
            if self.thread.is_alive():
                return  # stuck in a reload: leave its descriptors to the process's exit
            self.thread = None
        events, self.loader.events = self.loader.events, None
        if events is not None:
            events.close()
        if self._wake is not None:
            for fd in self._wake:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._wake = None
