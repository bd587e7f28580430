"""Every article's body rendered ahead of its first feed, by a niced helper process.

Why: the rendered-body store (:mod:`feedsvc.feeds.rendered`) makes a
restart render nothing, but a state without the bodies (the first start, a
new cmarkgfm, nh3 or ``text.py``, a checkout that changed every body)
would still render each tag feed's bodies on its first request: ~0.1 ms a
body with cmark (0.45 with markdown-it-py), 2–5 ms a feed at 100k articles.
So once the start-up prewarm is done, :class:`Prerender` walks the catalog,
newest first, and has the bodies the state lacks rendered in the background.
A complete walk is recorded under the content version (a row keyed by it),
so a restart on unchanged content does not walk at all: a walk reads and
hashes every body (~13 s at 100k) and competes with requests for the GIL.

How, and why so: a thread of the service reads each article's Markdown
(``pread`` from the text store), computes its key and asks the state which
keys are missing; only those are sent to a child process (this module's
:func:`main` in a new interpreter at nice 19: no fork of a threaded
process, no SQLite connection carried over), which renders
them and stores the rows itself, over a connection of its own, in small
transactions. The rendering and storing, nearly all the CPU, compete with
readers' requests only at the lowest priority and never hold our GIL.
When every current body is stored, rows no current article uses are
pruned. With a state in memory nothing is started.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from feedsvc.content.model import Snapshot
from feedsvc.content.textstore import get_text
from feedsvc.feeds.body import body_url
from feedsvc.feeds.child import start_child
from feedsvc.feeds.markdown import render_body
from feedsvc.feeds.rendered import INSERT, KEY_BYTES, RenderedBodies, Row, pack_row
from feedsvc.state.foreground import FOREGROUND
from feedsvc.state.store import connect_file

log = logging.getLogger("feedsvc")

# Service -> helper: key, URL length, source length, then the two (UTF-8).
REQUEST = struct.Struct(f"!{KEY_BYTES}sII")
# Helper -> service, once its input ends: how many rows it stored.
STORED = struct.Struct("!Q")
CHUNK = 16  # articles whose keys are looked up at once (~0.25 ms of work) ...
PAUSE_S = 0.00125  # ... then a pause: requests never queue behind the walk for our GIL,
PAUSE_PER_WORK = 9  # nine times as long as the chunk took (the walk holds it <= 10% of the time)
WALK_DEFER_S = 1.0  # and before each chunk it waits this long at most for renders to end
# The key of the row saying that every body of a content version is kept (its
# "source" is the snapshot's version): a restart on unchanged content walks nothing.
WALKED = "feedsvc:every-body-kept"
SKIPPED = "pre-rendered 0 article bodies in 0.0 s (content version %s: every body kept; no walk)"
STORE_BATCH = 32  # rows per write transaction: a request writing meanwhile waits ~1 ms
NICENESS = 19


class Prerender:
    """The background pre-render of one service; :meth:`start` once, :meth:`stop` at the end.

    ``sent`` counts the bodies sent to be rendered, ``stored`` those stored,
    ``pruned`` the stale rows deleted; :meth:`wait` returns once it is done.
    """

    def __init__(
        self,
        bodies: RenderedBodies,
        current: Callable[[], Snapshot],
        ready: Callable[[float | None], bool] | None = None,
    ) -> None:
        self.bodies = bodies
        self.current = current
        self.ready = ready
        self.sent = self.stored = self.pruned = 0
        self.walked = True  # False: a complete walk of this content version was recorded
        self._failed = False
        self.helper: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the walk in a daemon thread (nothing at all with a state in memory)."""
        if not self.bodies.kept:
            self._done.set()
            return
        self._thread = threading.Thread(target=self._run, name="feedsvc-prerender", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the pre-render to finish; True once it has."""
        return self._done.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop: the helper killed (by its process id), the thread joined briefly."""
        self._stopping.set()
        helper = self.helper
        if helper is not None and helper.poll() is None:
            helper.kill()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            if self.ready is not None:
                self.ready(None)  # the start-up prewarm first: it renders the likeliest feeds
            if self._stopping.is_set():
                return
            started = time.time()
            snapshot = self.current()
            done = self.bodies.key(WALKED, snapshot.version)
            if self.bodies.get(done) is not None:
                self.walked = False
                log.info(SKIPPED, snapshot.version[:12])
                return
            current = self._render_missing(snapshot)
            if not self._stopping.is_set():
                self.bodies.flush()  # stored, before saying so
                self.pruned = self.bodies.prune(current, before=int(started * 1000))
                if not self._failed and self.stored == self.sent:
                    self.bodies.put_rendered([(done, "")])
                self.bodies.flush()
                log.info("pre-rendered %d article bodies in %.1f s (%d were kept already; "
                         "%d rows no article uses pruned)", self.stored, time.time() - started,
                         len(current) - self.sent, self.pruned)  # fmt: skip
        except Exception:  # a background nicety: log it, never take the service down
            log.exception("pre-rendering article bodies failed")
        finally:
            self._done.set()

    def _render_missing(self, snapshot: Snapshot) -> KeyPrefixes:
        """Send every body the state lacks to the helper; returns every current key."""
        current = KeyPrefixes()
        try:
            for entries in self._keyed(snapshot):
                current.add(key for key, _, _ in entries)
                missing = self.bodies.missing([key for key, _, _ in entries])
                for key, url, source in entries:
                    if key not in missing or self._stopping.is_set():
                        continue
                    if self.helper is None:
                        self.helper = start_helper(str(self.bodies.store.path))
                    send(self.helper.stdin, key, url, source)  # type: ignore[arg-type]
                    self.sent += 1
        except OSError as exc:  # the helper died (killed, out of memory): stop quietly
            self._failed = True
            if not self._stopping.is_set():
                log.warning("pre-rendering article bodies stopped: %s", exc)
        finally:
            self._finish()
        return current

    def _keyed(self, snapshot: Snapshot) -> Iterator[list[tuple[bytes, str, str]]]:
        """The articles' (key, URL, source), newest first, in chunks, paced.

        Why paced: a restart after an edit finds nearly every body kept, and
        an unpaced walk (reading and hashing 100k texts, ~2 s) would hold the
        GIL in 5 ms slices against every request meanwhile, doubling a cold
        feed's time. Why small chunks: a request that wants the GIL while a
        chunk runs waits for the chunk's end, each time it wants it (after
        every query, read or send); 64 bodies (~1 ms) kept a cold feed near
        10 ms. Why a pause after the work: a first start sends nearly every
        body to the helper too, and since cmark the helper no longer holds
        the walk back, so the pause, not the helper, must bound its share.
        Why it waits for renders to end: even 10% of the GIL, taken in turns
        with a cold feed, stretches that feed (:mod:`feedsvc.state.foreground`).
        """
        articles = snapshot.articles
        pause = 0.0
        for start in range(0, len(articles), CHUNK):
            if self._stopping.wait(pause):
                return
            FOREGROUND.wait_quiet(WALK_DEFER_S, give_up=self._stopping.is_set)
            began = time.perf_counter()
            entries = []
            for article in articles[start : start + CHUNK]:
                url, source = body_url(snapshot, article), get_text(article.text_ref)[1]
                entries.append((self.bodies.key(url, source), url, source))
            yield entries  # the caller looks them up and sends the missing ones: work too
            pause = max(PAUSE_S, PAUSE_PER_WORK * (time.perf_counter() - began))

    def _finish(self) -> None:
        """Close the helper's input, read how many rows it stored, reap it."""
        helper = self.helper
        if helper is None:
            return
        with contextlib.suppress(OSError):  # already broken: the helper is gone
            helper.stdin.close()  # type: ignore[union-attr]
        report = helper.stdout.read()  # type: ignore[union-attr]
        if helper.wait() == 0 and len(report) == STORED.size:
            self.stored = STORED.unpack(report)[0]
        else:
            self._failed = True


class KeyPrefixes:
    """The keys of every current body, for the prune, as 8-byte prefixes in an array.

    Why not a set of the keys: it lives for the whole walk (minutes, paced),
    and at 100k articles a set of 20-byte keys is ~8 MB of the server's
    memory against ~0.8 MB here. A prefix shared by a stale key (one in
    2**64 per pair) only spares that row from the prune; lookups still
    compare whole keys, so it never serves anything.
    """

    def __init__(self) -> None:
        self._prefixes = array("Q")
        self._sorted = True

    def add(self, keys: Iterable[bytes]) -> None:
        self._prefixes.extend(int.from_bytes(key[:8], "big") for key in keys)
        self._sorted = False

    def __len__(self) -> int:
        return len(self._prefixes)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, bytes):
            return False
        if not self._sorted:
            self._prefixes = array("Q", sorted(self._prefixes))
            self._sorted = True
        prefix = int.from_bytes(key[:8], "big")
        at = bisect.bisect_left(self._prefixes, prefix)
        return at < len(self._prefixes) and self._prefixes[at] == prefix


def start_helper(database: str) -> subprocess.Popen[bytes]:
    """The helper process (at :data:`NICENESS`), importing this very feedsvc."""
    return start_child("feedsvc.feeds.prerender", NICENESS, database, idle=True)


def send(pipe: BinaryIO, key: bytes, url: str, source: str) -> None:
    """One body to render, framed."""
    url_data, source_data = url.encode("utf-8"), source.encode("utf-8", "surrogatepass")
    pipe.write(REQUEST.pack(key, len(url_data), len(source_data)) + url_data + source_data)


def store_rows(connection: sqlite3.Connection, rows: list[Row]) -> int:
    """Store ``rows`` in one short transaction; returns how many."""
    made = time.time_ns() // 1_000_000
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(INSERT, [(key, blob, check, made) for key, blob, check in rows])
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return len(rows)


def serve_requests(requests: BinaryIO, connection: sqlite3.Connection) -> int:
    """The helper's loop: render each body it is sent and store its row; returns how many.

    Why the helper stores them itself (its own connection; WAL lets the
    service read meanwhile): sending the rows back for the service to store
    cost the service a thread and the GIL for every row, against requests.
    """
    stored = 0
    rows: list[Row] = []
    while True:
        head = requests.read(REQUEST.size)
        if len(head) < REQUEST.size:
            break
        key, url_length, source_length = REQUEST.unpack(head)
        url = requests.read(url_length).decode("utf-8")
        source = requests.read(source_length).decode("utf-8", "surrogatepass")
        rows.append(pack_row(key, render_body(source, url)))
        if len(rows) >= STORE_BATCH:
            stored += store_rows(connection, rows)
            rows = []
    return stored + (store_rows(connection, rows) if rows else 0)


def main() -> int:
    """The helper process (niced by :func:`~.child.run`): render and store until its input ends.

    Exits 0 having written how many rows it stored, or 1 if the state failed it.
    """
    try:
        connection = connect_file(sys.argv[1])
        stored = serve_requests(sys.stdin.buffer, connection)
        connection.close()
    except sqlite3.Error as exc:
        print(f"feedsvc pre-render helper: the state failed: {exc}", file=sys.stderr)
        return 1
    except (BrokenPipeError, KeyboardInterrupt):  # the service went away
        return 0
    sys.stdout.buffer.write(STORED.pack(stored))
    return 0


if __name__ == "__main__":
    sys.exit(main())
