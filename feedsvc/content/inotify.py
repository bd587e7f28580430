"""Linux inotify through ctypes: the three system calls and the event records.

The standard library has no binding. This one is small enough to own:
``inotify_init1``, ``inotify_add_watch`` and ``inotify_rm_watch`` from libc,
and ``os.read`` for the events. A well-kept library (inotify_simple) does
the same in about as many lines; owning them spares a dependency for what
a service needs from it. Anything unavailable (another OS, no libc symbol,
the per-user instance or watch limit reached) raises :class:`OSError`, and
the caller falls back to polling.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
from dataclasses import dataclass

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000

IN_CLOEXEC = 0o2000000
IN_NONBLOCK = 0o4000

_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of NUL-padded name)
READ_SIZE = 64 * 1024  # room for ~2,000 events per read


@dataclass(frozen=True, slots=True)
class Event:
    """One inotify event: the watch it came from, what happened, to which name."""

    wd: int
    mask: int
    cookie: int
    name: str  # "" for events about the watched directory itself


def _libc() -> ctypes.CDLL:
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name, use_errno=True)
    for symbol in ("inotify_init1", "inotify_add_watch", "inotify_rm_watch"):
        if not hasattr(libc, symbol):
            raise OSError(errno.ENOSYS, f"libc has no {symbol}")
    libc.inotify_init1.argtypes = [ctypes.c_int]
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    return libc


def parse_events(data: bytes) -> list[Event]:
    """Split a buffer read from an inotify descriptor into events."""
    events = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        wd, mask, cookie, length = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        raw = data[offset : offset + length].split(b"\0", 1)[0]
        offset += length
        events.append(Event(wd, mask, cookie, os.fsdecode(raw)))
    return events


class Inotify:
    """One inotify instance (non-blocking, close-on-exec)."""

    def __init__(self) -> None:
        try:
            self._libc = _libc()
        except (OSError, AttributeError, TypeError) as exc:
            raise OSError(errno.ENOSYS, f"inotify is not available: {exc}") from exc
        fd = self._libc.inotify_init1(IN_CLOEXEC | IN_NONBLOCK)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_init1: {os.strerror(code)}")
        self.fd: int | None = fd

    def fileno(self) -> int:
        """The descriptor, for ``select``."""
        if self.fd is None:
            raise ValueError("inotify instance is closed")
        return self.fd

    def add_watch(self, path: str, mask: int) -> int:
        """Watch ``path``; returns the watch descriptor (ENOSPC: the watch limit)."""
        wd: int = self._libc.inotify_add_watch(self.fileno(), os.fsencode(path), mask)
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_add_watch {path}: {os.strerror(code)}")
        return wd

    def rm_watch(self, wd: int) -> None:
        """Stop a watch (already gone, e.g. its directory was deleted: ignored)."""
        self._libc.inotify_rm_watch(self.fileno(), wd)

    def read(self) -> list[Event]:
        """Every event queued now; never blocks."""
        events: list[Event] = []
        while True:
            try:
                data = os.read(self.fileno(), READ_SIZE)
            except BlockingIOError:
                return events
            if not data:
                return events
            events += parse_events(data)

    def close(self) -> None:
        """Close the descriptor (its watches go with it)."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)
