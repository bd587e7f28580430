"""Read an access log from where the last run stopped, across rotations.

A position is (inode, offset, hash of the first line). On the next run:

* same inode, same first line, not shorter: go on from the offset;
* same inode but shorter, or another first line: the file was truncated
  in place (logrotate ``copytruncate``). The lines past the offset were
  copied to ``FILE.1`` first: finish them there (found by its first line),
  then read the file again from 0;
* another inode: the file was renamed and a new one created (logrotate's
  default, nginx reopened it). Finish the old file from the offset (found as
  ``FILE.1`` or by inode in the same folder), then read the new one from 0.

Only whole lines are read: a line nginx is still writing is left for next
time. A rotated file that is gone (deleted, compressed) cannot be
finished: its unread tail is lost, and :attr:`LogTail.lost` says so.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 256 * 1024  # a batch: counted and committed in one short write transaction
HEAD_BYTES = 4096  # the first line is hashed up to this many bytes
MAX_LINE_BYTES = 64 * 1024  # longer lines are skipped unread (nginx writes far shorter)


@dataclass(frozen=True, slots=True)
class Position:
    """Where reading stopped: which file (inode and first line) and how far."""

    inode: int
    offset: int
    head: str  # hash of the first line ("" when the file had no whole line yet)


def head_hash(path: Path) -> str:
    """Hash of the first whole line of ``path`` ("" if it has none yet)."""
    with path.open("rb") as handle:
        start = handle.read(HEAD_BYTES)
    line, newline, _ = start.partition(b"\n")
    if not newline and len(start) < HEAD_BYTES:
        return ""
    return hashlib.sha256(line).hexdigest()[:32]


class LogTail:
    """The new whole lines of one log file since ``position``, in batches."""

    def __init__(self, path: Path, position: Position | None) -> None:
        self.path = path
        self.position = position
        self.lost = False  # a rotated file with unread lines could not be found

    def batches(self) -> Iterator[tuple[list[bytes], Position]]:
        """(lines, position after them); save the position with what the lines counted."""
        stat = self.path.stat()
        current = Position(stat.st_ino, 0, head_hash(self.path))
        old = self.position
        if old is None:
            yield from _read(self.path, current)
            return
        same_file = old.inode == stat.st_ino and (not old.head or old.head == current.head)
        if same_file and stat.st_size >= old.offset:
            yield from _read(self.path, Position(old.inode, old.offset, current.head))
            return
        rotated = self._rotated(old, renamed=old.inode != stat.st_ino)
        if rotated is not None:
            # Positions inside the rotated file keep its inode and first line, so
            # a run stopped half-way through it finds it again next time.
            yield from _read(rotated, old)
        elif old.offset > 0:
            self.lost = True
        yield from _read(self.path, current)

    def _rotated(self, old: Position, *, renamed: bool) -> Path | None:
        """The file holding the lines after ``old``: ``FILE.1``, or the old inode nearby."""
        candidates = [self.path.with_name(self.path.name + ".1")]
        if renamed:
            folder = self.path.parent
            prefix = self.path.name
            candidates += sorted(p for p in folder.iterdir() if p.name.startswith(prefix))
        for candidate in candidates:
            try:
                stat = candidate.stat()
            except OSError:
                continue
            if candidate == self.path or stat.st_size < old.offset:
                continue
            by_inode = renamed and stat.st_ino == old.inode
            if by_inode or (old.head and head_hash(candidate) == old.head):
                return candidate
        return None


def _read(path: Path, start: Position) -> Iterator[tuple[list[bytes], Position]]:
    """Whole lines of ``path`` from ``start.offset``, with the position after each batch.

    A "line" longer than :data:`MAX_LINE_BYTES` (binary junk, a file that is
    not a log) is skipped as it streams by, never held in memory whole.
    """
    offset = start.offset
    with path.open("rb") as handle:
        handle.seek(offset)
        rest, skipping = b"", False
        while chunk := handle.read(CHUNK_BYTES):
            data = rest + chunk
            end = data.rfind(b"\n") + 1
            lines, rest = data[: end - 1].split(b"\n") if end else [], data[end:]
            offset += end
            if skipping and end:
                lines, skipping = lines[1:], False  # the tail of the overlong line
            if len(rest) > MAX_LINE_BYTES:
                offset, rest, skipping = offset + len(rest), b"", True
            if lines or skipping:
                yield lines, Position(start.inode, offset, start.head or head_hash(path))


def file_inode(path: Path) -> int:
    """The inode of ``path`` (tests and the CLI name files by it)."""
    return os.stat(path).st_ino
