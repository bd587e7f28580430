"""A file's stat signature: how the loader tells that a file changed.

A file is re-read only when its signature (mtime, ctime, size, inode)
differs from the one applied, so that a reload of 100k articles after one
edit stats them all but parses one. Signatures are compared exactly.
"""

from __future__ import annotations

import os
from stat import S_ISREG

# mtime_ns, ctime_ns, size and inode packed exactly into one int (see ``signature_of``).
Signature = int

RACY_SECONDS = 0.05  # well above file-time granularity (1-10 ms) on local file systems

_MASK64 = (1 << 64) - 1
# Where mtime_ns and ctime_ns sit in a signature (unsigned, under TIME_MASK).
MTIME_SHIFT, CTIME_SHIFT, TIME_MASK = 193, 129, _MASK64
_RACY = 1  # the low bit: "read too soon after its change to be trusted"; no stat sets it


def signature_of(stat: os.stat_result) -> Signature:
    """mtime, ctime, size and inode, exactly, in one int.

    ctime too: ``cp -p`` or a checkout can rewrite a file keeping mtime and
    size. One int of ~260 bits is 60 bytes where the tuple of four ints it
    replaces was ~180, and two compare with one operation. The lowest bit
    is zero (see :func:`recorded`).
    """
    packed = (stat.st_mtime_ns & _MASK64) << 64 | (stat.st_ctime_ns & _MASK64)
    return ((packed << 64 | stat.st_size) << 64 | stat.st_ino) << 1


def stat_signature(path: str) -> Signature | None:
    """A regular file's signature, or ``None`` (missing, a folder, unreadable)."""
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return None
    return signature_of(stat) if S_ISREG(stat.st_mode) else None


def _signed(value: int) -> int:
    return value - (1 << 64) if value >> 63 else value


def changed_at(sig: Signature) -> float:
    """Wall-clock time of a file's last change (write, rename, copy)."""
    mtime_ns = _signed(sig >> 193 & _MASK64)
    ctime_ns = _signed(sig >> 129 & _MASK64)
    return max(mtime_ns, ctime_ns) / 1e9


def unchanged_since(sig: Signature, cutoff_ns: int) -> bool:
    """Whether a file's last change (mtime and ctime) is before ``cutoff_ns``.

    :func:`changed_at` for the checks that run for every file at start, without
    its float: times compared unsigned, so a file dated before 1970 counts as
    changed (re-read, never trusted as settled).
    """
    return sig >> MTIME_SHIFT & TIME_MASK < cutoff_ns and sig >> CTIME_SHIFT & TIME_MASK < cutoff_ns


def recorded(sig: Signature, now: float) -> Signature:
    """The signature to remember for a file read at ``now`` (wall clock).

    File times are coarse (a clock tick, milliseconds): a second write of
    the same size within one tick of the first leaves the signature as it
    was, and would never be read. A file read within :data:`RACY_SECONDS`
    of its last change is therefore remembered with a mark no stat
    gives, so the next comparison reads it once more ("racy clean", as
    git calls it). With settling on, reads happen later than that and
    this never fires. A file read on an inotify close event needs no
    mark: a later write would be an event of its own.
    """
    if now - changed_at(sig) < RACY_SECONDS:
        return sig | _RACY
    return sig
