"""A CPU budget per client address: one client cannot take the server's time from the rest.

Worker-thread caps (:mod:`feedsvc.web.fairqueue`) bound how many requests of
one client run at once, but not how much of the one interpreter they use:
two threads rendering cache misses for a flood, or the event loop answering
thousands of cheap requests a second for it, still make every other
client's request wait for the GIL. nginx answers this with ``limit_req``
per address; counting requests would treat a cached feed (a tenth of a
millisecond) like a cold tag combination (ten or more), so the budget here
is counted in CPU time instead.

Each client address carries a debt in CPU seconds: every request it makes
adds the CPU time spent answering it, and the debt drains at ``share``
seconds per second (a share of one core). While the debt exceeds
``burst``, the server stops *reading* that client's connections (see
``KeepAliveChannel.readable``): its requests wait in its own socket buffers,
nothing is refused, and nobody else waits. A client within its share
never notices the budget.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

BURST_SECONDS = 0.25  # CPU a client may use at once before its share applies
MAX_CLIENTS = 65_536  # addresses remembered; the oldest debts (long drained) go first


class CpuBudgets:
    """CPU debts per client: :meth:`charge` after each request, :meth:`allows` before reading."""

    def __init__(
        self,
        share: float,
        burst: float = BURST_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        if share <= 0:
            raise ValueError(f"share must be positive, got {share}")
        self.share = share
        self.burst = burst
        self.clock = clock
        self.max_clients = max_clients
        self._debts: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()  # (debt, when)
        self._lock = threading.Lock()
        self.throttled = 0  # times a client was found over its budget

    def _debt_now(self, key: Hashable, now: float) -> float:
        found = self._debts.get(key)
        if found is None:
            return 0.0
        debt, when = found
        return max(0.0, debt - (now - when) * self.share)

    def charge(self, key: Hashable, seconds: float) -> None:
        """Add ``seconds`` of CPU spent on ``key``'s request to its debt."""
        now = self.clock()
        with self._lock:
            self._debts[key] = (self._debt_now(key, now) + seconds, now)
            self._debts.move_to_end(key)
            while len(self._debts) > self.max_clients:
                self._debts.popitem(last=False)

    def allows(self, key: Hashable) -> bool:
        """Whether ``key``'s next request may be read now (its debt is within the burst)."""
        if key not in self._debts:  # no lock: a stale answer only shifts one read by a turn
            return True
        if self._debt_now(key, self.clock()) <= self.burst:
            return True
        self.throttled += 1
        return False

    def drains_in(self, key: Hashable) -> float:
        """Seconds until ``key``'s debt is back within the burst (0 if it is)."""
        with self._lock:
            over = self._debt_now(key, self.clock()) - self.burst
        return max(0.0, over / self.share)
