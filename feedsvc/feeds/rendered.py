"""Rendered body HTML kept in the state store: Markdown rendered once per article version.

Why: rendering a 2 KB body (markdown-it-py, then nh3) cost ~0.45 ms, three
quarters of the first render of a tag feed at 100k articles, and it was
done again after every restart (cmark, then nh3: ~0.12 ms). The result depends on nothing but the
Markdown source, the URL it is made absolute against and the renderer, so
a row keyed by a hash of those three is right by construction: an edit
gives a new source (a new key), a new cmarkgfm, markdown-it-py, nh3 or ``text.py``
gives a new :func:`renderer_version` (new keys), and nothing is ever
invalidated by hand. Rows no current article uses are pruned by the
background pre-render (:mod:`feedsvc.feeds.prerender`).

Table ``feeds_rendered_bodies``: ``key`` (BLAKE2b of version, URL and
source), ``html`` (the sanitised HTML, zlib-compressed: a third of the
disk), ``check`` (BLAKE2b of key and HTML: a row whose bytes were damaged,
or copied under the wrong key, is never served but rendered again) and
``made`` (Unix time of the write in milliseconds, for pruning).

Only a durable state is used: with ``FEEDSVC_STATE_DIR=none`` (or a state
that fell back to memory) bodies are rendered as before, and only
:mod:`feedsvc.feeds.body`'s in-memory LRU keeps them.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import sqlite3
import threading
import time
import zlib
from collections.abc import Container, Sequence
from importlib import metadata
from typing import Any

import feedsvc.text
from feedsvc.feeds import markdown
from feedsvc.feeds.markdown import render_body
from feedsvc.feeds.rowwriter import RowWriter
from feedsvc.state.store import StateStore

TABLE_NAME = "feeds_rendered_bodies"
SCHEMA_VERSION = 1
TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE_NAME} ("
    " key BLOB PRIMARY KEY, html BLOB NOT NULL, check_hash BLOB NOT NULL, made INTEGER NOT NULL"
    ") WITHOUT ROWID"
)
LOOKUP_BATCH = 500  # keys per lookup query (well under SQLite's bound on parameters)
KEY_BYTES = 20
CHECK_BYTES = 16
log = logging.getLogger("feedsvc")
# One compressed row: (key, zlib(html), check).
Row = tuple[bytes, bytes, bytes]


def renderer_version() -> str:
    """What the rendered HTML depends on besides its input: libraries and our code.

    ``text.py`` and ``feeds/markdown.py`` are hashed whole (allowlists, URL
    rules, which renderer renders what), so a change there can never serve
    HTML rendered by the code before it, and nobody has to remember to
    bump a number.
    """
    try:
        code = inspect.getsource(feedsvc.text) + inspect.getsource(markdown)
    except (OSError, TypeError):  # no source (a zipped install): the package version
        code = metadata.version("feedsvc")
    digest = hashlib.blake2b(code.encode("utf-8"), digest_size=8).hexdigest()
    names = ("cmarkgfm", "markdown-it-py", "nh3")
    libraries = (f"{name} {metadata.version(name)}" for name in names)
    return "; ".join((*libraries, f"feedsvc.text {digest}"))


def body_key(version: str, url: str, source: str) -> bytes:
    """The row key of ``source`` rendered against ``url`` by renderer ``version``."""
    digest = hashlib.blake2b(digest_size=KEY_BYTES)
    for part in (version, url):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    digest.update(source.encode("utf-8", "surrogatepass"))
    return digest.digest()


def row_check(key: bytes, html: bytes) -> bytes:
    """What a row's ``check_hash`` must be: ties the HTML to the key it was made for."""
    return hashlib.blake2b(key + html, digest_size=CHECK_BYTES).digest()


def pack_row(key: bytes, html: str) -> Row:
    """A row to store: the HTML compressed, with its check."""
    data = html.encode("utf-8", "surrogatepass")
    return key, zlib.compress(data, 1), row_check(key, data)


def unpack_html(key: bytes, blob: bytes, check: bytes) -> str | None:
    """The HTML of a stored row, or ``None`` if it is damaged (never served)."""
    try:
        data = zlib.decompress(blob)
    except zlib.error:
        return None
    if row_check(key, data) != check:
        return None
    return data.decode("utf-8", "surrogatepass")


class RenderedBodies:
    """Rendered bodies by key, kept in ``store`` when it is durable.

    Why connections of its own: a request looking a body up must never wait
    behind a write (SQLite's WAL lets readers run beside a writer, but not
    two uses of one connection), and storing 100k rows must not hold the
    lock the other owners' writes take while its checkpoints ``fsync``.
    So reads go through a reader connection and writes are queued to a
    writer thread with its own; :meth:`flush` waits for them.

    ``hits``, ``renders`` and ``rejected`` (damaged rows) count what
    :meth:`html` did, for tests and benchmarks.
    """

    def __init__(self, store: StateStore, version: str | None = None) -> None:
        self.store = store
        self.version = version or renderer_version()
        self.hits = self.renders = self.rejected = 0
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._writer: RowWriter | None = None
        if store.durable and store.schema(TABLE_NAME, SCHEMA_VERSION, [TABLE]) >= 0:
            try:
                self._reader, writer = store.another_connection(), store.another_connection()
            except sqlite3.Error as exc:
                log.error("rendered bodies: cannot open the state (%s); not kept", exc)
            else:
                self._writer = None if writer is None else RowWriter(writer, _packed, "bodies")
        self.kept = self._reader is not None and self._writer is not None

    def key(self, url: str, source: str) -> bytes:
        """The row key of ``source`` rendered against ``url`` by this renderer."""
        return body_key(self.version, url, source)

    def html(self, url: str, source: str) -> str:
        """``render_body(source, url)``, from the store when it has it (kept when not)."""
        if not self.kept:
            return render_body(source, url)
        key = self.key(url, source)
        found = self.get(key)
        if found is not None:
            self.hits += 1
            return found
        html = render_body(source, url)
        self.renders += 1
        self.put_rendered([(key, html)])
        return html

    def many(self, wanted: Sequence[tuple[str, str]]) -> list[str]:
        """:meth:`html` of each (URL, source), with one query for all of them.

        A cold feed's first render looked its 10-50 bodies up one query at a
        time (~75 us each at 100k rows); one ``IN`` query costs about two.
        """
        if not self.kept or not wanted:
            return [self.html(url, source) for url, source in wanted]
        keys = [self.key(url, source) for url, source in wanted]
        stored = self.get_many(keys)
        found: list[str] = []
        rendered: list[tuple[bytes, str]] = []
        for key, (url, source) in zip(keys, wanted, strict=True):
            html = stored.get(key)
            if html is None:
                html = render_body(source, url)
                self.renders += 1
                rendered.append((key, html))
            else:
                self.hits += 1
            found.append(html)
        self.put_rendered(rendered)
        return found

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, str]:
        """The stored HTML of those of ``keys`` that have an undamaged row (one query)."""
        found: dict[bytes, str] = {}
        for start in range(0, len(keys), LOOKUP_BATCH):
            chunk = tuple(keys[start : start + LOOKUP_BATCH])
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT key, html, check_hash FROM {TABLE_NAME} WHERE key IN ({marks})"
            for key, blob, check in self._read(sql, chunk) or ():
                key = bytes(key)
                html = unpack_html(key, bytes(blob), bytes(check))
                if html is None:
                    self.rejected += 1
                    self._queue(DELETE, [(key,)])
                else:
                    found[key] = html
        return found

    def _read(self, sql: str, parameters: tuple[Any, ...]) -> list[Any] | None:
        """Rows of a query on the reader connection; ``None`` if the state cannot be read."""
        if self._reader is None:
            return None
        try:
            with self._read_lock:
                return self._reader.execute(sql, parameters).fetchall()
        except sqlite3.Error:  # the state broke under us: render, never fail a request
            return None

    def get(self, key: bytes) -> str | None:
        """The stored HTML of ``key``; ``None`` if absent, damaged (then dropped) or unreadable."""
        rows = self._read(f"SELECT html, check_hash FROM {TABLE_NAME} WHERE key = ?", (key,))
        if not rows:
            return None
        html = unpack_html(key, bytes(rows[0][0]), bytes(rows[0][1]))
        if html is None:
            self.rejected += 1
            self._queue(DELETE, [(key,)])
        return html

    def missing(self, keys: Sequence[bytes]) -> set[bytes]:
        """Which of ``keys`` have no row (all of them if the state cannot be read)."""
        marks = ",".join("?" * len(keys))
        rows = self._read(f"SELECT key FROM {TABLE_NAME} WHERE key IN ({marks})", tuple(keys))
        return set(keys) - {bytes(row[0]) for row in rows or ()}

    def put_rendered(self, rendered: Sequence[tuple[bytes, str]]) -> None:
        """Queue (key, HTML) pairs to be packed (:func:`pack_row`) and stored by the writer
        (a failure costs only durability: logged once).

        Packing (zlib, the check hash) is ~50 us a body: on a cold feed's
        request it was ~1 ms of its 20 bodies; on the writer thread it runs
        beside the next request (zlib and hashlib let go of the GIL).
        """
        self._queue(INSERT, list(rendered))

    def prune(self, current: Container[bytes], before: int, batch: int = 500) -> int:
        """Delete rows whose key is not in ``current`` made before ``before`` (Unix ms).

        Returns how many. Rows made since are spared: a request may have
        rendered an article that a reload added after ``current`` was taken.
        """
        rows = self._read(f"SELECT key FROM {TABLE_NAME} WHERE made < ?", (before,))
        stale = [(bytes(r[0]),) for r in rows or () if bytes(r[0]) not in current]
        for start in range(0, len(stale), batch):
            self._queue(DELETE, stale[start : start + batch])
        return len(stale)

    def _queue(self, statement: str, values: list[Any]) -> None:
        if self._writer is not None and values:
            self._writer.put((statement, values))

    def flush(self) -> None:
        """Wait until every queued write is done."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Finish the queued writes and close both connections."""
        if self._writer is not None:
            self._writer.close()
        if self._reader is not None:
            with self._read_lock:
                self._reader.close()
        self.kept = False


INSERT = f"INSERT OR REPLACE INTO {TABLE_NAME} (key, html, check_hash, made) VALUES (?, ?, ?, ?)"
DELETE = f"DELETE FROM {TABLE_NAME} WHERE key = ?"


def _packed(statement: str, values: list[Any]) -> tuple[str, list[Any]]:
    """A queued write as SQL: the (key, HTML) pairs queued to insert, packed into rows."""
    if statement != INSERT:
        return statement, values
    made = time.time_ns() // 1_000_000
    return INSERT, [(*pack_row(key, html), made) for key, html in values]
