"""State writes taken off the request: queued, then run by one thread, a batch at a time.

Why: a request that records something small (a feed's ``Last-Modified``
row) used to write it itself, in a transaction on the state's one
connection. Usually 0.1 ms; but SQLite lets one writer at a time use the
file, and the rendered-body writer and the pre-render helper (another
process, at the lowest priority) take that lock too, so now and then a
request waited 1-34 ms for it (issue 14: a cold feed on a first start).
What a request decides stays decided in memory at once; only the row is
written a moment later, by :class:`DeferredWrites`'s thread, which does the
waiting instead, and lets a render running then finish first
(:mod:`.foreground`). :meth:`DeferredWrites.close` (called by the service before
it closes the state) writes whatever is still queued, so a clean stop
keeps every row; a crash loses at most the rows of the last moment, the
same as a crash just before the request.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from feedsvc.state.foreground import FOREGROUND
from feedsvc.state.store import StateStore

log = logging.getLogger("feedsvc.state")

Write = Callable[[sqlite3.Connection], object]
BATCH = 256  # writes run in one transaction at most
DEFER_LONGEST_S = 1.0  # the longest the writes wait for renders to end (state/foreground.py)


class DeferredWrites:
    """Writes to ``state`` run in order by a thread that lives while any are queued.

    Each write is ``work(connection)`` inside a transaction through
    :meth:`StateStore.attempt` (a failure is logged there, never raised), so
    a broken state costs durability, as it did when requests wrote.
    """

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self._queue: list[tuple[str, Write]] = []
        self._changed = threading.Condition()
        self._busy = False
        self._closed = False
        self._flushing = 0  # callers waiting in flush(): the thread writes without waiting
        self._thread: threading.Thread | None = None

    def submit(self, what: str, work: Write) -> None:
        """Queue ``work`` (``what`` names it in a logged failure); run inline once closed."""
        with self._changed:
            if not self._closed:
                self._queue.append((what, work))
                if self._thread is None:
                    # A thread for as long as there is something to write, then gone:
                    # a first load forks its parse workers only while the process has
                    # a single thread, and a service nobody closed leaves none behind.
                    self._thread = threading.Thread(
                        target=self._run, name="feedsvc-state-writes", daemon=True
                    )
                    self._thread.start()
                return
        self.state.attempt(what, work)

    def _run(self) -> None:
        # A render running or just over goes first (this thread lives only while writes
        # are queued, so each burst of writes waits once); closing or flushing never waits.
        FOREGROUND.wait_quiet(DEFER_LONGEST_S, give_up=self._in_a_hurry)
        while True:
            with self._changed:
                if not self._queue:
                    self._thread = None
                    self._changed.notify_all()
                    return
                batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
                self._busy = True
            try:
                self._write(batch)
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    def _write(self, batch: list[tuple[str, Write]]) -> None:
        """One transaction for the batch; if it fails, each write in its own (failures logged)."""

        def run_all(connection: sqlite3.Connection) -> None:
            for _, work in batch:
                work(connection)

        try:
            with self.state.transaction() as connection:
                run_all(connection)
        except sqlite3.Error:
            for what, work in batch:
                self.state.attempt(what, work)

    def _in_a_hurry(self) -> bool:
        return self._closed or self._flushing > 0

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every write queued so far has run; whether it did within ``timeout``."""
        with self._changed:
            self._flushing += 1
        FOREGROUND.wake()
        try:
            with self._changed:
                return self._changed.wait_for(lambda: not self._queue and not self._busy, timeout)
        finally:
            with self._changed:
                self._flushing -= 1

    def close(self, timeout: float = 10.0) -> None:
        """Wait for what is queued to be written; later writes run inline."""
        with self._changed:
            self._closed = True
            thread = self._thread
        FOREGROUND.wake()
        if thread is not None:
            thread.join(timeout)
