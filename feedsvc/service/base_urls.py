"""The base URLs readers reach the service under, most recent last, bounded.

Without a fixed public URL a feed's self link depends on the request's host
(and scheme and mount point), so rendered variants are per base URL. Every
feed request notes its base here; reloads prewarm the variants of the most
recent ones and WebSub pings them. A client inventing Host headers must not
grow this list, so only the ``limit`` most recent are kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class BaseURLs:
    """Thread-safe, bounded record of recently seen base URLs (least recent first).

    Request threads note while others list; every change and every read
    holds one lock, so no thread sees an entry half moved or the list over
    its bound. A base noted again and again (one host, the usual case) costs
    one comparison and no lock.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._bases: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._last: str | None = None  # the base noted last: already the most recent

    def note(self, base_url: str) -> None:
        """Mark ``base_url`` as the most recently seen; forget the oldest beyond the limit."""
        if base_url == self._last:
            return
        with self._lock:
            bases = self._bases
            if base_url in bases:
                bases.move_to_end(base_url)
            else:
                bases[base_url] = None
                while len(bases) > self.limit:
                    bases.popitem(last=False)
            self._last = base_url

    def recent(self, count: int | None = None) -> list[str]:
        """The ``count`` most recently seen bases (all if ``None``), least recent first."""
        with self._lock:
            bases = list(self._bases)
        return bases if count is None else bases[max(0, len(bases) - count) :]
