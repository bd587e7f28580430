"""The process's memory around a big first load: GC pauses, freezing, trimming.

A first load of 100k articles creates a few million objects in seconds and
keeps most of them for the life of the process. CPython's defaults suit
neither half of that: the cyclic collector runs again and again while the
objects are made (each full pass walks all of them), and afterwards every
full pass still walks them, holding the GIL while requests wait. None of
them is in a reference cycle, so the collector has nothing to find there.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
from collections.abc import Iterator

# Below this many articles a full collection costs a few milliseconds, and
# freezing is not worth pinning whatever cyclic garbage exists at that moment
# (a test run makes many small services in one process).
FREEZE_MIN_ARTICLES = 10_000


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while many objects are created at once.

    Reference counting still frees everything as usual; the collector
    resumes afterwards (and finds any cycle made meanwhile then).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze_loaded_objects(articles: int) -> bool:
    """Move everything alive now out of the collector's sight, on a big site.

    After a first load of 100k articles a full collection walks ~2 million
    objects (~0.3 s with the GIL held: a stall for every request in flight).
    :func:`gc.freeze` leaves them to reference counting alone: they are
    still freed when a reload drops them. Returns whether it froze.
    """
    if articles < FREEZE_MIN_ARTICLES:
        return False
    gc.freeze()
    return True


# glibc's mallopt() parameter for the most malloc arenas a process may have.
M_ARENA_MAX = -8
# Two: the feed cache's bytes are made by whichever thread renders, and each
# extra arena keeps its own free space. At 100k articles, after 1,800 cold
# feeds with FEEDSVC_CACHE_MB=64, glibc's default (8 per core) left RSS at
# ~280 MB and two arenas at ~241 MB (bench/README.md, "Speed at 100k").
MALLOC_ARENAS = 2


def cap_malloc_arenas() -> None:
    """Let this process's threads share at most :data:`MALLOC_ARENAS` malloc arenas
    (glibc only; elsewhere, and if called again, nothing changes).

    By default glibc gives threads up to eight arenas per core, each holding
    freed memory the others cannot reuse: the rendered feeds a bounded cache
    evicts were freed in one arena and the next ones allocated in another, so
    memory grew well past the cache's bound. An arena already in use stays,
    so this is called before the first load (whose pool threads unpickle the
    articles) and again after it.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, MALLOC_ARENAS)


def release_free_memory() -> None:
    """After a first load: hand the parser's garbage back to the OS (glibc only),
    with the malloc arenas capped for the serving threads that follow.

    Parsing 100k YAML files leaves tens of MB of freed-but-kept heap; glibc's
    ``malloc_trim`` returns those pages. Elsewhere this does nothing.
    """
    cap_malloc_arenas()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
