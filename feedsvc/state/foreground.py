"""Background work in the server process waits while a feed is being rendered.

Why: a cold feed's render (a tag feed nobody asked for yet) is a few
milliseconds of Python, and threads of the same process share one GIL,
handed over every half millisecond (``web/server.py``). Anything else
that wants the GIL meanwhile (the rendered-body writer packing and
storing the bodies the previous feed rendered, ``Last-Modified`` rows,
the pre-render walk hashing sources) takes turns with it and stretches
its time: on a first start at 100k articles, twenty cold tag feeds in a
row took 5.5-6.1 ms median, 8.2-10.5 ms worst, with those writes running
between them, and 3.9-4.5 / 7.1-7.8 ms with the writes held until the
burst was over (issue 14, item 3). None of that work is needed by a
reader now: a body written a second later is found a second later.

So renders mark themselves (:meth:`Foreground.busy`) and deferrable work
asks first (:meth:`Foreground.wait_quiet`): it waits until no render has
been running for :data:`QUIET_S`, but never longer than it says, so a
steady stream of cold feeds delays the writes, never starves them. One
gate per process (:data:`FOREGROUND`), because the GIL is one per process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

QUIET_S = 0.05  # no render for this long: the burst (a reader's, a crawler's) is over


class Foreground:
    """How many renders are running, and when the last one ended."""

    def __init__(self, quiet: float = QUIET_S) -> None:
        self.quiet = quiet
        self._changed = threading.Condition()
        self._running = 0
        self._last_end = -float("inf")
        self.waits = 0  # calls of wait_quiet that had to wait (for tests and curiosity)

    @property
    def running(self) -> int:
        """Renders running now."""
        return self._running

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Mark the body of the ``with`` as foreground work (a render)."""
        with self._changed:
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._last_end = time.monotonic()
                self._changed.notify_all()

    def wait_quiet(self, longest: float, give_up: Callable[[], bool] | None = None) -> bool:
        """Wait until no render ran for :attr:`quiet` s, ``longest`` s at most; True if quiet.

        ``give_up`` is asked on every wake (:meth:`wake`): a closing writer
        stops waiting at once and writes what it holds.
        """
        deadline = time.monotonic() + longest
        waited = False
        with self._changed:
            while True:
                now = time.monotonic()
                quiet_at = float("inf") if self._running else self._last_end + self.quiet
                if quiet_at <= now:
                    return True
                if now >= deadline or (give_up is not None and give_up()):
                    return False
                if not waited:
                    waited = True
                    self.waits += 1
                self._changed.wait(min(quiet_at, deadline) - now)

    def wake(self) -> None:
        """Wake every waiter, to ask its ``give_up`` again (a writer closing)."""
        with self._changed:
            self._changed.notify_all()


FOREGROUND = Foreground()
