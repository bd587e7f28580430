"""Wake the event loop when a throttled client may be read again.

Why: a client over its CPU budget (:mod:`feedsvc.web.cpushare`) is simply
not read, so nothing on its socket can wake the loop when its debt has
drained. It waited for some other client's traffic or for waitress's poll
timeout (one second): a client that asked for ~40 cold feeds in a row got
its next answer ~1,010 ms late though its debt drained in a few
milliseconds (bench/README.md, "coldfeed2"). :class:`LoopWaker` pulls the
server's trigger when the earliest such debt is due, so a throttled client
waits for its own debt and nothing else.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

SLACK_S = 0.001  # a wake this close after the one pending is served by it


class LoopWaker:
    """One thread that pulls the loop's trigger at the earliest time anyone asked for.

    One long-lived thread, not a timer per ask: every poll asks again for
    each channel still throttled, and under a flood from many addresses a
    thread per ask would cost the loop more than the wait it saves. An ask
    later than the wake already due is covered by it; an earlier one moves
    it. A wake that finds a client still over its budget just asks again
    (:meth:`~feedsvc.web.channel.KeepAliveChannel.readable`). The thread
    starts with the first ask, after start-up (a 100k first load forks its
    parse workers while the process has a single thread).
    """

    def __init__(self, pull: Callable[[], None]) -> None:
        self._pull = pull  # the server's pull_trigger: makes its poll return
        self._due: float | None = None  # time.monotonic() of the next wake
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self.moves = 0  # asks that moved the wake earlier (tests; a check under floods)
        self.wakes = 0  # times the trigger was pulled

    def after(self, seconds: float) -> None:
        """Make sure the loop wakes at most ``seconds`` from now."""
        when = time.monotonic() + max(seconds, SLACK_S)
        with self._changed:
            if self._due is not None and self._due <= when + SLACK_S:
                return
            self._due = when
            self.moves += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="feedsvc-loop-waker", daemon=True
                )
                self._thread.start()
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._due is None:
                    self._changed.wait()
                delay = self._due - time.monotonic()
                if delay > 0:
                    self._changed.wait(delay)  # or an earlier ask moved it
                    continue
                self._due = None
                self.wakes += 1
            with contextlib.suppress(OSError, ValueError):  # the server closed meanwhile
                self._pull()
