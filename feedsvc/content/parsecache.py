"""The parse cache: articles as last read, kept in the state store across restarts.

Parsing is nearly all of a start (100k articles: ~10 s over two cores); a
restart usually finds every file as it was. The cache keeps the load
workers' chunks (:mod:`feedsvc.content.chunks`: the articles, their
problems, lines and texts) in table ``parsecache_chunks`` of the state store
(``state.db`` in ``FEEDSVC_STATE_DIR``), and the first load takes from it
every file whose *identity* is the one it had when it was read.

What is trusted, and why:

* **A file's identity** is its folder's device and real path, its name, and
  its inode, size, mtime_ns and ctime_ns (the loader's stat signature, exact
  to the nanosecond). Any write, rename over it, ``touch``, or copy with
  ``cp -p`` changes ctime, which no program can set back, so a file edited,
  replaced or renamed while the service was stopped is read again. A file
  that changed less than :data:`~.settled.SETTLED_SECONDS` before it was
  read is not cached then (a second write within one tick of the file-system
  clock would leave the same identity): :mod:`.keeper` writes its row later.
* **The code and settings** that made a row: a hash of the content package's
  and leaf modules' sources and the Python version (``code``), and of the
  size budget, the names messages use and the folders links may lead into
  (``context``). Rows of another code version are dropped, and logged.
* **The bytes**: a CRC-32 per row over all of it; a row that does not match
  is dropped and logged, and its files read. A database that cannot be read
  at all is moved aside by the state store at start; one that fails later
  only turns the cache off for the run (logged).

Rows are pickles, which is fine for data this service wrote itself in its own
state folder, behind the checksum and the code version. With
``FEEDSVC_STATE_DIR=none`` (in-memory state) there is no cache. To clear it,
stop the service and ``DELETE FROM parsecache_chunks`` in ``state.db`` (or
remove ``state.db`` and forget the rest of the state too).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import sqlite3
import sys
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from itertools import filterfalse
from pathlib import Path

import feedsvc.problems
import feedsvc.text
import feedsvc.version
from feedsvc.content.cacherows import Row, RowPrefetch, file_list, row_uses, stored_rows
from feedsvc.content.chunks import Chunk, LoadResult, unpack_at
from feedsvc.content.signatures import Signature
from feedsvc.memory import cap_malloc_arenas
from feedsvc.state.store import StateStore, connect_file

log = logging.getLogger("feedsvc")

OWNER = "parsecache"
SCHEMA_VERSION = 1
TABLE = """CREATE TABLE IF NOT EXISTS parsecache_chunks (
    id INTEGER PRIMARY KEY,
    folder TEXT NOT NULL,     -- device:real path of the articles folder
    code TEXT NOT NULL,       -- code version that wrote it
    context TEXT NOT NULL,    -- load settings it was read with
    files TEXT NOT NULL,      -- JSON ["name/name/...", "identity identity ..."] (hex; 0: none)
    texts BLOB NOT NULL,
    results BLOB NOT NULL,
    checksum INTEGER NOT NULL -- CRC-32 of all of the above
)"""
INDEX = "CREATE INDEX IF NOT EXISTS parsecache_chunks_folder ON parsecache_chunks (folder)"


@cache
def code_version() -> str:
    """A hash of what turns a file into an article: this package's sources, the
    leaf modules it uses, the package version and the interpreter's version."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(
        f"{sys.version}\0{pickle.HIGHEST_PROTOCOL}\0{feedsvc.version.__version__}".encode()
    )
    sources = sorted(Path(__file__).parent.glob("*.py"))
    sources += [Path(str(m.__file__)) for m in (feedsvc.problems, feedsvc.text, feedsvc.version)]
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def _checksum(
    folder: str, code: str, context: str, files: str, texts: bytes, results: bytes
) -> int:
    crc = zlib.crc32(f"{folder}\0{code}\0{context}\0{files}\0".encode("utf-8", "surrogatepass"))
    return zlib.crc32(results, zlib.crc32(texts, crc))


class ParseCache:
    """The cached chunks of one articles folder, read with one set of settings.

    Used by the loader under its lock: not thread-safe by itself.
    """

    def __init__(self, state: StateStore, articles_dir: str, settings: str) -> None:
        self._state = state
        real = os.path.realpath(articles_dir)
        try:
            device = os.stat(real).st_dev
        except OSError:
            device = -1
        self.folder = f"{device}:{real}"
        self.code = code_version()
        self.context = hashlib.blake2b(settings.encode(), digest_size=16).hexdigest()
        self.hits = self.rows_dropped = 0
        self._prefetch: RowPrefetch | None = None
        state.schema(OWNER, SCHEMA_VERSION, [TABLE, INDEX])

    @property
    def state(self) -> StateStore:
        """The state store the rows are kept in."""
        return self._state

    @classmethod
    def open(cls, state: StateStore | None, articles_dir: str, settings: str) -> ParseCache | None:
        """The cache, if the state outlives this process (else ``None``: no cache),
        already reading its rows for the first load (:meth:`prefetch`)."""
        if state is None or not state.durable:
            return None
        cache = cls(state, articles_dir, settings)
        cache.prefetch()
        return cache

    # -- reading (the first load) --------------------------------------------

    def prefetch(self) -> None:
        """Start reading this folder's rows in a thread, for the first load to take
        once its scan is done (:mod:`feedsvc.content.cacherows`)."""
        if self._prefetch is None and self._state.path is not None:
            cap_malloc_arenas()  # before the thread takes an arena of its own
            key = (self.folder, self.code, self.context)
            self._prefetch = RowPrefetch(str(self._state.path), key, _checksum)

    def take(self, wanted: Mapping[str, Signature]) -> dict[str, LoadResult]:
        """The cached results of the files in ``wanted`` (name -> identity now) that
        have that identity; drops rows no file needs any more, and untrusted ones."""
        started = time.perf_counter()
        found: dict[str, LoadResult] = {}
        useless: list[int] = []
        taken: set[str] = set()
        prefetch, self._prefetch = self._prefetch, None
        try:
            useless += self._other_code()
            for row_id, files, chunk in self._rows(prefetch, bool(wanted)):
                listed = file_list(files)
                uses = None if listed is None else row_uses(*listed, wanted, taken)
                results = None
                if listed is not None and uses is not None:
                    results = self._results(row_id, listed[0], chunk, uses)
                if results is None:
                    useless.append(row_id)
                else:
                    found.update(results)
        except (sqlite3.Error, ValueError) as exc:  # unreadable under us: read the files
            log.error("parse cache: unreadable (%s); reading the files", exc)
        finally:
            if prefetch is not None:
                prefetch.cancel()  # ended already, unless this stopped early
        self._forget(useless)
        self.hits = len(found)
        log.info("parse cache: %d of %d files taken in %.2f s (%d rows dropped)",
                 len(found), len(wanted), time.perf_counter() - started,
                 len(useless))  # fmt: skip
        return found

    def _other_code(self) -> list[int]:
        """Rows of this folder written by another code version (dropped, and logged)."""
        with self._state.reading() as db:
            rows = db.execute(
                "SELECT id FROM parsecache_chunks WHERE folder = ? AND code != ?",
                (self.folder, self.code),
            ).fetchall()
        if rows:
            log.info("parse cache: %d rows written by another code version ignored", len(rows))
        return [row_id for (row_id,) in rows]

    def _rows(self, prefetch: RowPrefetch | None, wanted: bool) -> Iterator[Row]:
        """This folder's rows for this code and settings, newest first: as the
        prefetch read them, or here; without files wanted, only their file lists."""
        key = (self.folder, self.code, self.context)
        if prefetch is not None and wanted:
            yield from prefetch.rows()
            return
        with self._state.reading() as db:
            if wanted:
                yield from stored_rows(db, key, _checksum)
                return
            query = "SELECT id, files FROM parsecache_chunks WHERE folder = ? AND code = ? "
            query += "AND context = ? ORDER BY id DESC"
            for row_id, files in db.execute(query, key).fetchall():
                yield row_id, files, None  # every row is useless (no file to take)

    def _results(
        self, row_id: int, names: list[str], chunk: tuple[int, bytes] | None, uses: list[int]
    ) -> dict[str, LoadResult] | None:
        """The results at ``uses`` in one row, by name; ``None`` if it is not intact
        (``chunk`` is ``None`` when it failed its checksum; not looked at without uses)."""
        if not uses:
            return {}
        if chunk is None:
            self.rows_dropped += 1
            log.warning("parse cache: row %d does not match its checksum; ignored", row_id)
            return None
        results = unpack_at(*chunk)
        if len(results) != len(names):
            self.rows_dropped += 1
            log.warning("parse cache: row %d is inconsistent; ignored", row_id)
            return None
        if len(uses) == len(names):
            return dict(zip(names, results, strict=True))
        return {names[i]: results[i] for i in uses}

    def _forget(self, row_ids: list[int]) -> None:
        if row_ids:
            self._state.attempt("dropping parse cache rows", lambda db: db.executemany(
                "DELETE FROM parsecache_chunks WHERE id = ?", [(i,) for i in row_ids]
            ))  # fmt: skip

    # -- writing -------------------------------------------------------------

    def writer(self) -> RowWriter | None:
        """What keeps the chunks read from now on (``None``: the state has no file)."""
        if self._state.path is None:
            return None
        return RowWriter(str(self._state.path), self.folder, self.code, self.context)


@dataclass(frozen=True, slots=True)
class RowWriter:
    """Writes chunks as rows, from whichever process read them (it pickles: load
    workers write their own chunks, in parallel, instead of the parent writing
    ~300 MB at 100k articles while it waits for them). Each process opens its
    own connection to the state file; a failure is logged, never raised."""

    path: str
    folder: str
    code: str
    context: str

    def __call__(self, names: list[str], identities: dict[str, int], chunk: Chunk) -> None:
        """Keep a chunk read from ``names`` (in order), with their identities then;
        files without one (changed too recently) are not taken from it later."""
        files = json.dumps(  # ASCII: names that are not UTF-8 stay escaped surrogates
            ["/".join(names), " ".join(format(identities.get(name, 0), "x") for name in names)]
        )
        texts, packed = chunk
        checksum = _checksum(self.folder, self.code, self.context, files, texts, packed)
        row = (self.folder, self.code, self.context, files, texts, packed, checksum)
        try:
            with _writing(self.path) as db:
                db.execute(
                    "INSERT INTO parsecache_chunks (folder, code, context, files, texts, "
                    "results, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
        except sqlite3.Error as exc:
            if self.path not in _FAILED:
                _FAILED.add(self.path)
                log.error(
                    "parse cache: writing to %s failed (%s); going on without", self.path, exc
                )


_CONNECTIONS: dict[tuple[int, str], sqlite3.Connection] = {}  # (process, file): its connection
_FAILED: set[str] = set()
_WRITE_LOCK = threading.Lock()


def close_writers() -> None:
    """Close this process's writing connections (after a load: the state's own
    connection, closed last, then folds the write-ahead log into the file)."""
    with _WRITE_LOCK:
        for key in [key for key in _CONNECTIONS if key[0] == os.getpid()]:
            _CONNECTIONS.pop(key).close()


@contextmanager
def _writing(path: str) -> Iterator[sqlite3.Connection]:
    """This process's connection to ``path``, in a transaction (one writer at a time here)."""
    with _WRITE_LOCK:
        key = (os.getpid(), path)
        db = _CONNECTIONS.get(key)
        if db is None:
            db = connect_file(path, busy_ms=30_000)  # workers take turns on a long write
            _CONNECTIONS[key] = db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.rollback()
            raise
        db.commit()


def merged(
    names: list[str], taken: Mapping[str, LoadResult], read: list[str], results: list[LoadResult]
) -> list[LoadResult]:
    """The results of ``names``, in order: those ``taken`` from the cache and those
    of the files ``read`` (``results``, in their order)."""
    if not taken:
        return results
    if not read:  # all taken (a restart): in C
        return list(map(taken.__getitem__, names))
    every = {**taken, **dict(zip(read, results, strict=True))}
    return list(map(every.__getitem__, names))


def not_taken(names: list[str], taken: Mapping[str, LoadResult]) -> list[str]:
    """``names`` without those ``taken`` from the cache, in order (in C)."""
    if len(taken) == len(names):  # every one (taken only holds names asked for)
        return []
    return list(filterfalse(taken.__contains__, names)) if taken else names
