"""Which files have settled: long enough to be cached, or to be remembered as read.

Both are decided for every file of a first load (100k at start), so they
share one pass: a file settled long enough for the parse cache
(:data:`SETTLED_SECONDS`) is settled for :func:`~.signatures.recorded` too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from feedsvc.content.signatures import RACY_SECONDS, Signature, recorded, unchanged_since

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
    identities: dict[str, Signature] = {}
    for name in names:
        signature = ready[name]
        if signature and unchanged_since(signature, cutoff):
            identities[name] = signature
    return identities


def first_signatures(
    ready: Mapping[str, Signature | None],
    names: list[str],
    settled_long: Mapping[str, Signature],
    now: float,
) -> Iterator[Signature]:
    """What a first load remembers of each file: :func:`recorded` as is, for 100k
    files (those settled long enough to be cached are settled for it too)."""
    settled = int((now - RACY_SECONDS) * 1e9)
    for name in names:
        signature = ready[name]
        assert signature is not None  # only files that exist are read
        if name in settled_long or unchanged_since(signature, settled):
            yield signature
        else:
            yield recorded(signature, now)
