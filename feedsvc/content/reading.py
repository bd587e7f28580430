"""Opening a content file under the file-system policy.

* Only regular files are read. A file is opened with ``O_NONBLOCK`` and
  checked with ``fstat`` *after* opening, so a FIFO, a device or a socket
  swapped in at any moment is refused without blocking (``open()`` on a FIFO
  with no writer would wait for ever, and ``/dev/zero`` never ends).
* A symlink is followed only when its target resolves inside the content
  folder (or the articles folder, which may itself be a link to elsewhere).
  A link out of it (``/etc/passwd``, another site's files), a dangling link
  and a loop are each a problem naming the file; nothing outside is read.
* A file larger than its budget is refused by its size, before reading.

The common case costs one ``open`` and one ``fstat``: the link check runs
only when ``O_NOFOLLOW`` says the name is a link.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_MORE = 64 * 1024  # bytes asked for by each read after the first (usually one, at the end)
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


class Refused(Exception):
    """A content file the policy does not read; the message says why (for a Problem)."""


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root + os.sep) for root in roots)


def _open_link(path: str, roots: tuple[str, ...]) -> int:
    """Open a symlink's target if it resolves inside one of ``roots``."""
    target = os.path.realpath(path)
    if not _inside(target, tuple(os.path.realpath(root) for root in roots)):
        raise Refused("is a symlink to a file outside the content folder; not read")
    try:
        return os.open(target, _FLAGS | _NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise Refused("is a symlink to nothing (dangling); not read") from exc
        if exc.errno == errno.ELOOP:
            raise Refused("is a symlink loop; not read") from exc
        raise


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def read_content_file(path: str, roots: tuple[str, ...], limit: int) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit`` of them).

    Raises :class:`Refused` when the policy forbids reading it (link out of
    ``roots``, not a regular file, larger than ``limit``), :class:`OSError`
    when it cannot be read.
    """
    try:
        fd = os.open(path, _FLAGS | _NOFOLLOW)
    except OSError as exc:
        # ELOOP: the name is a symlink (O_NOFOLLOW); some systems say EMLINK.
        if exc.errno not in (errno.ELOOP, errno.EMLINK) or not _NOFOLLOW:
            raise
        fd = _open_link(path, roots)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"is {_kind(info.st_mode)}, not a regular file; not read")
        if info.st_size > limit:
            raise Refused(f"too large ({info.st_size} bytes, limit {limit})")
        # Ask for the size fstat gave (plus one byte, to see growth at once), not for
        # the limit: os.read allocates what it is asked for, and a 1 MiB buffer cut
        # down to a 4 KB article cost ~10 us of a ~100 us parse (100k files at start).
        data = os.read(fd, min(info.st_size, limit) + 1)
        while len(data) <= limit:  # more than fstat said, or a short read (network file systems)
            more = os.read(fd, min(limit + 1 - len(data), _MORE))
            if not more:
                break
            data += more
    finally:
        os.close(fd)
    if len(data) > limit:  # grew between fstat and read
        raise Refused(f"too large (over {limit} bytes, limit {limit})")
    return data


def display_path(path: Path, content_dir: Path, prefix: str | None) -> str:
    """How a content file is named in messages: as the user named the directory for
    ``check`` (``prefix``), else relative to the content directory's parent."""
    if prefix is not None:
        try:
            relative = path.relative_to(content_dir)
        except ValueError:
            return str(path)
        return os.path.normpath(os.path.join(prefix, relative))
    try:
        return str(path.relative_to(content_dir.parent))
    except ValueError:
        return str(path)
