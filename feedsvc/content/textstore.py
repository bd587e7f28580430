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
warning.

The file grows by the text of each file (re)read. When most of it is dead
(texts of articles since rewritten or deleted: more dead bytes than live,
and at least :data:`COMPACT_MIN_DEAD`), the loader has the live texts copied
to a new file, a new *generation* (:meth:`TextStore.compact`), and its
articles point there. A reference names its generation, so the articles of
snapshots built before keep reading the old file; each snapshot pins its
generation (:meth:`TextStore.pin`), as does each loader for the generations
its articles use (:meth:`TextStore.hold`, several loaders may share the
store), and an old file is closed (its disk freed) when nothing holds it. References are never
reused, so caches keyed by them stay right.

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
import weakref
from collections.abc import Callable, Iterable

from feedsvc.settings import text_dir_from_env

log = logging.getLogger("feedsvc")

_LENGTH_BITS = 28  # up to 256 MiB per entry (files are capped far lower)
_GENERATION_SHIFT = 80  # offsets below 2**52 bytes; the generation above
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1
_OFFSET_MASK = (1 << (_GENERATION_SHIFT - _LENGTH_BITS)) - 1
# Compact when dead bytes exceed live ones and this much: a few rewrites of a
# big article, or many of small ones, before a copy of every live text.
COMPACT_MIN_DEAD = 4 * 1024 * 1024


class TextStore:
    """An append-only file of texts, addressed by integer references."""

    def __init__(self, directory: str | None = None) -> None:
        self._parent = directory or text_dir_from_env() or _default_parent()
        self._folder: str | None = tempfile.mkdtemp(prefix="feedsvc-text-", dir=self._parent)
        self.path: str | None = os.path.join(self._folder, "texts")
        self._owner = os.getpid()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._append_pid = self._owner
        self._append_fd = self._fd
        self._lock = threading.Lock()
        self._generation = 0
        self._fds: dict[int, int] = {0: self._fd}  # generation -> its file
        self._pins: dict[int, int] = {0: 0}  # generation -> snapshots alive that use it
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
            generation = self._generation << _GENERATION_SHIFT
        return generation | ((end - written) << _LENGTH_BITS) | written

    def get(self, reference: int) -> bytes:
        """The bytes stored under ``reference``."""
        length = reference & _LENGTH_MASK
        if not length:
            return b""
        offset = (reference >> _LENGTH_BITS) & _OFFSET_MASK
        return os.pread(self._fds[reference >> _GENERATION_SHIFT], length, offset)

    def size(self) -> int:
        """Bytes in the current file, live and dead."""
        return os.fstat(self._fd).st_size

    def compact(self, references: list[int]) -> dict[int, int]:
        """Copy the texts of ``references`` to a new generation's file; old -> new reference.

        Only in the process that owns the store, after start-up (no forked
        writers). The old file stays readable until :meth:`pin`'s snapshots
        of its generation are gone.
        """
        folder = tempfile.mkdtemp(prefix="feedsvc-text-", dir=self._parent)
        try:
            fd = os.open(os.path.join(folder, "texts"), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # unlinked at once, as after seal()
        with self._lock:
            generation = self._generation + 1
            moved: dict[int, int] = {}
            offset = 0
            for reference in references:
                if reference in moved:
                    continue
                data = self.get(reference)
                moved[reference] = (
                    (generation << _GENERATION_SHIFT) | (offset << _LENGTH_BITS) | len(data)
                )
                _write_all(fd, data)
                offset += len(data)
            old = self._generation
            self._generation, self._fd, self._append_fd = generation, fd, fd
            self._fds[generation], self._pins[generation] = fd, 0
            self._retire_if_unused(old)
        return moved

    def hold(self, generations: Iterable[int]) -> None:
        """Keep these generations' files open until :meth:`release` (a loader's articles)."""
        with self._lock:
            for generation in generations:
                self._pins[generation] += 1

    def release(self, generations: Iterable[int]) -> None:
        """Undo one :meth:`hold`; an old generation nothing holds is closed."""
        with self._lock:
            for generation in generations:
                self._pins[generation] -= 1
                self._retire_if_unused(generation)

    def pin(self, holder: object, generations: Iterable[int]) -> None:
        """Hold these generations (and the current one) while ``holder`` (a snapshot) lives."""
        held = {*generations, self._generation}
        self.hold(held)
        weakref.finalize(holder, self.release, held)

    def _retire_if_unused(self, generation: int) -> None:
        """Close an old generation's file once nothing pins it (lock held)."""
        if generation != self._generation and not self._pins.get(generation, 1):
            del self._pins[generation]
            os.close(self._fds.pop(generation))

    @property
    def generations(self) -> int:
        """Files open: the current one and the old ones still pinned (for tests and metrics)."""
        return len(self._fds)

    def seal(self) -> None:
        """Remove the file's name; it stays readable here and goes when the process does."""
        if os.getpid() != self._owner or self._folder is None:
            return
        shutil.rmtree(self._folder, ignore_errors=True)
        self._folder = self.path = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class MemoryTextStore:
    """The fallback where no folder is writable: texts in memory, same interface.

    References have the file's layout (the index of the text, or chunk of
    texts, put in place of the generation), so a chunk of texts put at once
    can be addressed piece by piece (:func:`chunk_base`). Never compacted
    (texts of rewritten articles stay until the process ends).
    """

    forkable = False

    def __init__(self) -> None:
        self._texts: list[bytes] = []
        self._lock = threading.Lock()

    def put(self, data: bytes) -> int:
        """Keep ``data``; returns its reference."""
        with self._lock:
            self._texts.append(data)
            return ((len(self._texts) - 1) << _GENERATION_SHIFT) | len(data)

    def get(self, reference: int) -> bytes:
        """The bytes kept under ``reference``."""
        length = reference & _LENGTH_MASK
        if not length:
            return b""
        offset = (reference >> _LENGTH_BITS) & _OFFSET_MASK
        return self._texts[reference >> _GENERATION_SHIFT][offset : offset + length]

    def seal(self) -> None:
        """Nothing to do."""

    def size(self) -> int:
        """Always 0: there is no file to compact."""
        return 0

    def compact(self, references: list[int]) -> dict[int, int]:
        """Nothing to do."""
        return {reference: reference for reference in references}

    def hold(self, generations: Iterable[int]) -> None:
        """Nothing to do."""

    def release(self, generations: Iterable[int]) -> None:
        """Nothing to do."""

    def pin(self, holder: object, generations: Iterable[int]) -> None:
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


def encode_text(summary: str, body: str) -> bytes:
    """An article's summary and body as the store keeps them (see :func:`get_text`)."""
    head = summary.encode("utf-8", "surrogatepass")
    return len(head).to_bytes(4, "big") + head + body.encode("utf-8", "surrogatepass")


def put_text(summary: str, body: str) -> int:
    """Store an article's summary and body; returns the reference articles keep."""
    return ensure_store().put(encode_text(summary, body))


def generation_of(reference: int) -> int:
    """The store generation a reference points into (0 for the memory store)."""
    return 0 if isinstance(_store, MemoryTextStore) else reference >> _GENERATION_SHIFT


def chunk_reference(offset: int, length: int) -> int:
    """The reference of ``length`` bytes at ``offset`` of a chunk of texts not yet stored.

    Load workers and the parse cache make chunks: many articles' texts in one
    ``bytes``, each article referring to its part this way; :func:`put_chunk`
    stores the chunk with one write and gives what to add to make them real.
    """
    return (offset << _LENGTH_BITS) | length


def put_chunk(chunk: bytes) -> int:
    """Store a chunk of texts at once; returns the base to add to its chunk references."""
    return ensure_store().put(chunk) & ~_LENGTH_MASK


def text_length(article: object) -> int:
    """Bytes an article (anything with a ``text_ref``; ``None``: 0) holds in the store."""
    reference = getattr(article, "text_ref", None)
    return 0 if reference is None else reference & _LENGTH_MASK


def compact_if_mostly_dead(
    written: int, live: int, references: Callable[[], list[int]]
) -> dict[int, int] | None:
    """Compact the store when most of what a loader wrote is dead: more dead bytes
    than live ones, and at least COMPACT_MIN_DEAD.

    ``written`` is what the loader appended since its last compaction (its
    first load's texts included), ``live`` what its articles still use, and
    ``references`` gives every live reference. Only the loader's own texts
    count: loaders of one process share the store (tests make many), and
    counting the file's size instead took another loader's texts, live or
    left by a loader long gone, for this one's dead. Returns old -> new
    references (``None``: not compacted).
    """
    store = ensure_store()
    dead = written - live
    if dead <= max(live, COMPACT_MIN_DEAD) or isinstance(store, MemoryTextStore):
        return None
    moved = store.compact(references())
    log.info("text store compacted: %d dead bytes dropped, %d live kept", dead, live)
    return moved


def get_text(reference: int) -> tuple[str, str]:
    """``(summary, body)`` stored under ``reference``."""
    data = ensure_store().get(reference)
    split = 4 + int.from_bytes(data[:4], "big")
    return (data[4:split].decode("utf-8", "surrogatepass"),
            data[split:].decode("utf-8", "surrogatepass"))  # fmt: skip
