"""A thread-safe segmented LRU bounded by bytes: the feed, template and page caches' store.

Why its own module: :mod:`.cache` keeps what is cached (templates, variants,
validators); this keeps how much and which entries go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from feedsvc.memory import release_free_memory

V = TypeVar("V")
PROBATION_SHARE = 0.25  # of each cache's bound: entries not yet read twice
# Evicted this much, free memory is handed back to the system (malloc_trim): a
# sweep of cold feeds otherwise leaves the bytes it evicted held by malloc.
TRIM_AFTER_BYTES = 16 * 1024 * 1024


class BoundedLRU(Generic[V]):
    """Thread-safe segmented LRU (SLRU) bounded by the summed size of its values.

    A new entry enters *probation* (the last :data:`PROBATION_SHARE` of the
    bound); read again there, it moves to *protected*, whose least recently
    used entries step back to probation when it is full. Only probation
    evicts. A flood of URLs read once each (made-up tag combinations, pages,
    hosts) churns probation alone, so feeds read again and again stay cached.
    Prewarmed entries (the likeliest feeds) go straight to protected.
    """

    def __init__(self, max_bytes: int, size_of: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self.protected_max = max_bytes - int(max_bytes * PROBATION_SHARE)
        self._size_of = size_of
        self._protected: OrderedDict[Hashable, V] = OrderedDict()
        self._probation: OrderedDict[Hashable, V] = OrderedDict()
        # Each entry's size as counted: a value that grows (a variant given its
        # gzip copy) is counted anew by resize(), and is uncounted exactly.
        self._sizes: dict[Hashable, int] = {}
        self._protected_bytes = 0
        self._probation_bytes = 0
        self._lock = threading.Lock()
        self.evictions = 0
        self._evicted_bytes = 0  # since memory was last handed back to the system
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        """The value for ``key`` (now most recent; promoted if on probation), or ``None``."""
        value = self._protected.get(key)
        if value is not None:
            self.hits += 1
            try:  # noqa: SIM105 - contextlib.suppress costs more than the lookup itself
                self._protected.move_to_end(key)
            except KeyError:  # stepped back to probation meanwhile; the value is still valid
                pass
            return value
        value = self._probation.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        with self._lock:  # read a second time: worth keeping
            if self._probation.pop(key, None) is not None:
                size = self._sizes[key]
                self._probation_bytes -= size
                self._protected[key] = value
                self._protected_bytes += size
                self._rebalance()
        return value

    def put(self, key: Hashable, value: V, *, protected: bool = False) -> V:
        """Store ``value`` on probation (``protected``: among the kept); evict beyond the bound."""
        size = self._size_of(value)
        with self._lock:
            self._remove(key)
            self._sizes[key] = size
            if protected:
                self._protected[key] = value
                self._protected_bytes += size
            else:
                self._probation[key] = value
                self._probation_bytes += size
            self._rebalance()
        if self._evicted_bytes >= TRIM_AFTER_BYTES:  # outside the lock: a trim takes ms
            self._evicted_bytes = 0
            release_free_memory()
        return value

    def swap(self, key: Hashable, value: V) -> V:
        """Replace ``key``'s value where it stands (same segment and rank), or put it.

        For a value that grew (a template given another format): its bytes
        are counted anew, and the bound evicts others if it must.
        """
        with self._lock:
            for segment in (self._protected, self._probation):
                if key in segment:
                    segment[key] = value
                    self._recount(key, segment)
                    return value
        return self.put(key, value)

    def resize(self, key: Hashable) -> None:
        """Count ``key``'s value anew (it grew in place); nothing if it is gone."""
        with self._lock:
            for segment in (self._protected, self._probation):
                if key in segment:
                    self._recount(key, segment)
                    return

    def _recount(self, key: Hashable, segment: OrderedDict[Hashable, V]) -> None:
        """Count ``key`` (in ``segment``) at its value's size now, then rebalance (locked)."""
        size = self._size_of(segment[key])
        grown = size - self._sizes[key]
        self._sizes[key] = size
        if segment is self._protected:
            self._protected_bytes += grown
        else:
            self._probation_bytes += grown
        self._rebalance()

    def _rebalance(self) -> None:
        """Step protected entries back to probation, then evict probation's oldest (locked)."""
        while self._protected_bytes > self.protected_max and len(self._protected) > 1:
            key, value = self._protected.popitem(last=False)
            size = self._sizes[key]
            self._protected_bytes -= size
            self._probation[key] = value  # a last chance: read again, it is back
            self._probation_bytes += size
        while self.size_bytes > self.max_bytes and len(self) > 1:
            if len(self._probation) > 1 or not self._protected:
                key, _ = self._probation.popitem(last=False)
                size = self._sizes.pop(key)
                self._probation_bytes -= size
            else:  # one entry bigger than probation's share: it is kept alone, as in an LRU
                key, _ = self._protected.popitem(last=False)
                size = self._sizes.pop(key)
                self._protected_bytes -= size
            self.evictions += 1
            self._evicted_bytes += size

    def _remove(self, key: Hashable) -> V | None:
        """Take ``key`` out of whichever segment holds it (locked)."""
        value = self._protected.pop(key, None)
        if value is not None:
            self._protected_bytes -= self._sizes.pop(key)
            return value
        value = self._probation.pop(key, None)
        if value is not None:
            self._probation_bytes -= self._sizes.pop(key)
        return value

    def pop(self, key: Hashable) -> V | None:
        """Remove and return the value for ``key`` (``None`` if absent)."""
        with self._lock:
            return self._remove(key)

    def rekey(self, old: Hashable, new: Hashable) -> bool:
        """Move a value to another key, in the segment it was in; False if absent."""
        with self._lock:
            if old not in self or old == new:
                return old in self
            self._remove(new)
            for segment in (self._protected, self._probation):
                value = segment.pop(old, None)
                if value is not None:
                    segment[new] = value
                    self._sizes[new] = self._sizes.pop(old)
                    return True
        return False

    def discard(self, doomed: Callable[[Hashable], bool]) -> int:
        """Remove every entry whose key ``doomed`` names; returns how many."""
        with self._lock:
            # One C-level copy each, never a Python loop over a segment: get() moves
            # protected keys without the lock, and a loop the GIL switches out of
            # meanwhile raised 'OrderedDict mutated during iteration' mid-reload.
            keys = [*self._protected, *self._probation]
            gone = [key for key in keys if doomed(key)]
            for key in gone:
                self._remove(key)
        return len(gone)

    def values(self) -> list[V]:
        """Every stored value (a copy of the list): tests and metrics."""
        with self._lock:
            return [*self._protected.values(), *self._probation.values()]

    def all_keys(self) -> list[Hashable]:
        """Every stored key (a copy of the list): tests and metrics."""
        with self._lock:
            return [*self._protected, *self._probation]

    def peek(self, key: Hashable) -> V | None:
        """The value for ``key`` without counting a hit or moving it, or ``None``."""
        value = self._protected.get(key)
        return value if value is not None else self._probation.get(key)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._protected or key in self._probation

    def __len__(self) -> int:
        return len(self._protected) + len(self._probation)

    @property
    def size_bytes(self) -> int:
        """Sum of the sizes of the stored values."""
        return self._protected_bytes + self._probation_bytes

    @property
    def protected_keys(self) -> list[Hashable]:
        """Keys of the protected segment (least recently used first): tests and metrics."""
        with self._lock:
            return list(self._protected)
