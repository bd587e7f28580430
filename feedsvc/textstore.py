"""Article text kept off the Python heap, in an append-only spill file.

Summaries and Markdown bodies are nearly all of an archive's memory (2–3 KB
per article, 250 MB at 100k articles) and almost all of it is never needed:
a feed shows 20 articles, and only a rendered feed (cached) reads their text.
So :func:`put_text` appends the two (UTF-8, uncompressed: compressing cost
a sixth of the load time and would only save disk) to one file; the article
keeps an integer reference, and :func:`get_text` reads them back with
``pread`` (a few µs, from the page cache). The file lives in ``/var/tmp``
(disk, unlike a tmpfs ``/tmp``) or ``$FEEDSVC_TEXT_DIR``, and is deleted
when the process exits.

Safe with threads (appends are serialised, reads are ``pread``) and with
the loader's forked workers: every process appends through its own
``O_APPEND`` descriptor, so each write lands whole at the end of the file and
its offset is known from that descriptor alone. The file only grows, by the
text of each file (re)read; a restart starts a fresh one.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading

_LENGTH_BITS = 28  # up to 256 MiB per entry (files are capped far lower); offsets up to 2^35 GiB
_SEPARATOR = b"\x00"  # clean_text removes NUL from content, so it cannot occur in a summary


class TextStore:
    """An append-only file of texts, addressed by integer references."""

    def __init__(self, directory: str | None = None) -> None:
        parent = directory or os.environ.get("FEEDSVC_TEXT_DIR") or _default_parent()
        self._folder = tempfile.mkdtemp(prefix="feedsvc-text-", dir=parent)
        self.path = os.path.join(self._folder, "texts")
        self._owner = os.getpid()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._append_pid = self._owner
        self._append_fd = self._fd
        self._lock = threading.Lock()
        atexit.register(self.close)

    def put(self, data: bytes) -> int:
        """Append ``data``; returns its reference."""
        with self._lock:
            if self._append_pid != os.getpid():  # a forked worker: its own descriptor
                self._append_fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
                self._append_pid = os.getpid()
            written = os.write(self._append_fd, data)
            if written != len(data):
                raise OSError(f"short write to {self.path}")
            end = os.lseek(self._append_fd, 0, os.SEEK_CUR)
        return ((end - written) << _LENGTH_BITS) | written

    def get(self, reference: int) -> bytes:
        """The bytes stored under ``reference``."""
        length = reference & ((1 << _LENGTH_BITS) - 1)
        return os.pread(self._fd, length, reference >> _LENGTH_BITS) if length else b""

    def size(self) -> int:
        """Bytes in the file."""
        return os.fstat(self._fd).st_size

    def close(self) -> None:
        """Delete the file (only the process that created it does)."""
        if os.getpid() != self._owner or self._fd < 0:
            return
        os.close(self._fd)
        self._fd = -1
        shutil.rmtree(self._folder, ignore_errors=True)


def _default_parent() -> str | None:
    """``/var/tmp`` when writable (on disk almost everywhere), else the system default."""
    return "/var/tmp" if os.access("/var/tmp", os.W_OK) else None


_store: TextStore | None = None
_store_lock = threading.Lock()


def ensure_store() -> TextStore:
    """The process's text store, created on first use (call before forking workers)."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                _store = TextStore()
    return _store


def put_text(summary: str, body: str) -> int:
    """Store an article's summary and body; returns the reference articles keep."""
    return ensure_store().put(summary.encode("utf-8") + _SEPARATOR + body.encode("utf-8"))


def get_text(reference: int) -> tuple[str, str]:
    """``(summary, body)`` stored under ``reference``."""
    summary, _, body = ensure_store().get(reference).partition(_SEPARATOR)
    return summary.decode("utf-8"), body.decode("utf-8")
