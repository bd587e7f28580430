"""Rendered body HTML kept in the state store: Markdown rendered once per article version.

Why: rendering a 2 KB body (markdown-it-py, then nh3) costs ~0.45 ms, three
quarters of the first render of a tag feed at 100k articles, and it was
done again after every restart. The result depends on nothing but the
Markdown source, the URL it is made absolute against and the renderer, so
a row keyed by a hash of those three is right by construction: an edit
gives a new source (a new key), a new markdown-it-py, nh3 or ``text.py``
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
import sqlite3
import time
import zlib
from collections.abc import Iterable, Sequence
from importlib import metadata

import feedsvc.text
from feedsvc.state.store import StateStore
from feedsvc.text import render_body

TABLE_NAME = "feeds_rendered_bodies"
SCHEMA_VERSION = 1
TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE_NAME} ("
    " key BLOB PRIMARY KEY, html BLOB NOT NULL, check_hash BLOB NOT NULL, made INTEGER NOT NULL"
    ") WITHOUT ROWID"
)
KEY_BYTES = 20
CHECK_BYTES = 16
# One compressed row: (key, zlib(html), check).
Row = tuple[bytes, bytes, bytes]


def renderer_version() -> str:
    """What the rendered HTML depends on besides its input: libraries and our code.

    ``text.py`` is hashed whole (allowlists, URL rules, the Markdown
    options), so a change there can never serve HTML rendered by the
    code before it, and nobody has to remember to bump a number.
    """
    try:
        code = inspect.getsource(feedsvc.text)
    except (OSError, TypeError):  # no source (a zipped install): the package version
        code = metadata.version("feedsvc")
    digest = hashlib.blake2b(code.encode("utf-8"), digest_size=8).hexdigest()
    libraries = (f"{name} {metadata.version(name)}" for name in ("markdown-it-py", "nh3"))
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

    ``hits``, ``renders`` and ``rejected`` (damaged rows) count what
    :meth:`html` did, for tests and benchmarks.
    """

    def __init__(self, store: StateStore, version: str | None = None) -> None:
        self.store = store
        self.version = version or renderer_version()
        self.kept = store.durable
        self.hits = self.renders = self.rejected = 0
        if self.kept:
            store.schema(TABLE_NAME, SCHEMA_VERSION, [TABLE])

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
        self.put([pack_row(key, html)])
        return html

    def get(self, key: bytes) -> str | None:
        """The stored HTML of ``key``; ``None`` if absent, damaged (then dropped) or unreadable."""
        try:
            with self.store.reading() as db:
                row = db.execute(
                    f"SELECT html, check_hash FROM {TABLE_NAME} WHERE key = ?", (key,)
                ).fetchone()
        except sqlite3.Error:  # the state broke under us: render, never fail a request
            return None
        if row is None:
            return None
        html = unpack_html(key, bytes(row[0]), bytes(row[1]))
        if html is None:
            self.rejected += 1
            self.store.attempt("dropping a damaged rendered body", lambda db: db.execute(
                f"DELETE FROM {TABLE_NAME} WHERE key = ?", (key,)))  # fmt: skip
        return html

    def missing(self, keys: Sequence[bytes]) -> set[bytes]:
        """Which of ``keys`` have no row (all of them if the state cannot be read)."""
        if not self.kept or not keys:
            return set(keys)
        marks = ",".join("?" * len(keys))
        try:
            with self.store.reading() as db:
                rows = db.execute(
                    f"SELECT key FROM {TABLE_NAME} WHERE key IN ({marks})", tuple(keys)
                ).fetchall()
        except sqlite3.Error:
            return set(keys)
        return set(keys) - {bytes(row[0]) for row in rows}

    def put(self, rows: Iterable[Row]) -> None:
        """Store rows (a failure costs only durability: logged once by the store)."""
        if not self.kept:
            return
        made = time.time_ns() // 1_000_000
        values = [(key, blob, check, made) for key, blob, check in rows]
        self.store.attempt("keeping rendered bodies", lambda db: db.executemany(
            f"INSERT OR REPLACE INTO {TABLE_NAME} (key, html, check_hash, made)"
            " VALUES (?, ?, ?, ?)", values))  # fmt: skip

    def prune(self, current: set[bytes], before: int, batch: int = 500) -> int:
        """Delete rows whose key is not in ``current`` made before ``before`` (Unix ms).

        Returns how many. Rows made since are spared: a request may have
        rendered an article that a reload added after ``current`` was taken.
        In small transactions, so a request writing meanwhile never waits long.
        """
        if not self.kept:
            return 0
        try:
            with self.store.reading() as db:
                rows = db.execute(f"SELECT key FROM {TABLE_NAME} WHERE made < ?", (before,))
                stale = [(bytes(row[0]),) for row in rows if bytes(row[0]) not in current]
        except sqlite3.Error:
            return 0
        for start in range(0, len(stale), batch):
            self._delete(stale[start : start + batch])
        return len(stale)

    def _delete(self, keys: list[tuple[bytes]]) -> None:
        self.store.attempt("pruning rendered bodies", lambda db: db.executemany(
            f"DELETE FROM {TABLE_NAME} WHERE key = ?", keys))  # fmt: skip
