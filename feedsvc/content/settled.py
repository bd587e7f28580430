"""Which files have settled: long enough to be cached, or to be remembered as read.

Both are decided for every file of a first load (100k at start), so they
share one pass: a file settled long enough for the parse cache
(:data:`SETTLED_SECONDS`) is settled for :func:`~.signatures.recorded` too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import repeat

from feedsvc.content.signatures import (
    CTIME_SHIFT,
    MTIME_SHIFT,
    RACY_SECONDS,
    TIME_MASK,
    Signature,
    recorded,
    unchanged_since,
)  # fmt: skip

# A file changed more recently than this when read is not cached (see
# :mod:`feedsvc.content.parsecache`: a second write within one tick of the
# file-system clock would leave the same identity).
SETTLED_SECONDS = 2.0


def cacheable(
    ready: Mapping[str, Signature | None], names: Iterable[str], now: float
) -> dict[str, Signature]:
    """The identities of ``names`` to cache them under: only files that have not
    changed for :data:`SETTLED_SECONDS` (``now``: the wall clock before reading)."""
    cutoff = int((now - SETTLED_SECONDS) * 1e9)
    names = list(names)
    signatures = list(map(ready.__getitem__, names))
    if None not in signatures and _all_before(signatures, cutoff):  # a restart: in C
        return dict(zip(names, signatures, strict=True))  # type: ignore[arg-type]
    identities: dict[str, Signature] = {}
    for name in names:
        signature = ready[name]
        if signature and unchanged_since(signature, cutoff):
            identities[name] = signature
    return identities


_BELOW_MTIME = (1 << MTIME_SHIFT) - 1  # a signature without its mtime: ctime on top


def _all_before(signatures: list[Signature | None], cutoff_ns: int) -> bool:
    """:func:`unchanged_since` for every one of ``signatures`` (no ``None``), in C over
    100k files: mtime is a signature's top field, so the largest signature holds
    the newest mtime; without it, ctime is the top field."""
    if not signatures:
        return True
    newest_mtime = max(signatures) >> MTIME_SHIFT  # type: ignore[type-var, operator]
    if newest_mtime >= cutoff_ns:
        return False
    below = map(int.__and__, signatures, repeat(_BELOW_MTIME))  # type: ignore[arg-type]
    return max(below) >> CTIME_SHIFT & TIME_MASK < cutoff_ns


def first_signatures(
    ready: Mapping[str, Signature | None],
    names: list[str],
    settled_long: Mapping[str, Signature],
    now: float,
) -> Iterator[Signature]:
    """What a first load remembers of each file: :func:`recorded` as is, for 100k
    files (those settled long enough to be cached are settled for it too)."""
    if len(settled_long) == len(names):  # every one (a restart): as they are, in C
        return map(settled_long.__getitem__, names)
    return _first_signatures(ready, names, settled_long, now)


def _first_signatures(
    ready: Mapping[str, Signature | None],
    names: list[str],
    settled_long: Mapping[str, Signature],
    now: float,
) -> Iterator[Signature]:
    settled = int((now - RACY_SECONDS) * 1e9)
    for name in names:
        signature = ready[name]
        assert signature is not None  # only files that exist are read
        if name in settled_long or unchanged_since(signature, settled):
            yield signature
        else:
            yield recorded(signature, now)
