"""Article text kept off the Python heap, in an append-only spill file.

Summaries and Markdown bodies are nearly all of an archive's memory (2–3 KB
per article, 250 MB at 100k articles) and almost all of it is never needed:
a feed shows 20 articles, and only a rendered feed (cached) reads their text.
So :func:`put_text` appends the two (UTF-8, uncompressed: compressing cost
a sixth of the load time and would only save disk) to one file; the article
keeps an integer reference, and :func:`get_text` reads them back with
``pread`` (a few µs, from the page cache).

The file lives in ``/var/tmp`` (disk, unlike a tmpfs ``/tmp``) or
``$FEEDSVC_TEXT_DIR``. Once the first load is done its name is removed
(:meth:`TextStore.seal`): the open descriptor keeps it readable and the
kernel frees it when the process ends, however it ends. Where no folder is
writable (a read-only container) texts stay in memory instead, with a
warning. The file only grows, by the text of each file (re)read; a restart
starts a fresh one.

Safe with threads (appends are serialised, reads are ``pread``) and with
the loader's forked workers: every process appends through its own
``O_APPEND`` descriptor, so each write lands whole at the end of the file and
its offset is known from that descriptor alone.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading

from feedsvc.settings import text_dir_from_env

log = logging.getLogger("feedsvc")

_LENGTH_BITS = 28  # up to 256 MiB per entry (files are capped far lower)


class TextStore:
    """An append-only file of texts, addressed by integer references."""

    def __init__(self, directory: str | None = None) -> None:
        parent = directory or text_dir_from_env() or _default_parent()
        self._folder: str | None = tempfile.mkdtemp(prefix="feedsvc-text-", dir=parent)
        self.path: str | None = os.path.join(self._folder, "texts")
        self._owner = os.getpid()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._append_pid = self._owner
        self._append_fd = self._fd
        self._lock = threading.Lock()
        atexit.register(self.seal)

    @property
    def forkable(self) -> bool:
        """Whether forked workers can still open the file to append to it."""
        return self.path is not None

    def put(self, data: bytes) -> int:
        """Append ``data``; returns its reference."""
        with self._lock:
            if self._append_pid != os.getpid():  # a forked worker: its own descriptor
                if self.path is None:
                    raise RuntimeError("the text store was sealed before this process forked")
                self._append_fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
                self._append_pid = os.getpid()
            written = os.write(self._append_fd, data)
            if written != len(data):
                raise OSError(f"short write to the text store ({written} of {len(data)} bytes)")
            end = os.lseek(self._append_fd, 0, os.SEEK_CUR)
        return ((end - written) << _LENGTH_BITS) | written

    def get(self, reference: int) -> bytes:
        """The bytes stored under ``reference``."""
        length = reference & ((1 << _LENGTH_BITS) - 1)
        return os.pread(self._fd, length, reference >> _LENGTH_BITS) if length else b""

    def seal(self) -> None:
        """Remove the file's name; it stays readable here and goes when the process does."""
        if os.getpid() != self._owner or self._folder is None:
            return
        shutil.rmtree(self._folder, ignore_errors=True)
        self._folder = self.path = None


class MemoryTextStore:
    """The fallback where no folder is writable: texts in a list, same interface."""

    forkable = False

    def __init__(self) -> None:
        self._texts: list[bytes] = []
        self._lock = threading.Lock()

    def put(self, data: bytes) -> int:
        """Keep ``data``; returns its reference."""
        with self._lock:
            self._texts.append(data)
            return len(self._texts) - 1

    def get(self, reference: int) -> bytes:
        """The bytes kept under ``reference``."""
        return self._texts[reference]

    def seal(self) -> None:
        """Nothing to do."""


def _default_parent() -> str | None:
    """``/var/tmp`` when writable (on disk almost everywhere), else the system default."""
    return "/var/tmp" if os.access("/var/tmp", os.W_OK) else None


_store: TextStore | MemoryTextStore | None = None
_store_lock = threading.Lock()


def ensure_store() -> TextStore | MemoryTextStore:
    """The process's text store, created on first use (before forking workers)."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                try:
                    _store = TextStore()
                except OSError as exc:
                    log.warning("no writable folder for article text (%s); keeping it in memory",
                                exc)  # fmt: skip
                    _store = MemoryTextStore()
    return _store


def put_text(summary: str, body: str) -> int:
    """Store an article's summary and body; returns the reference articles keep."""
    head = summary.encode("utf-8", "surrogatepass")
    data = len(head).to_bytes(4, "big") + head + body.encode("utf-8", "surrogatepass")
    return ensure_store().put(data)


def get_text(reference: int) -> tuple[str, str]:
    """``(summary, body)`` stored under ``reference``."""
    data = ensure_store().get(reference)
    split = 4 + int.from_bytes(data[:4], "big")
    return (data[4:split].decode("utf-8", "surrogatepass"),
            data[split:].decode("utf-8", "surrogatepass"))  # fmt: skip
