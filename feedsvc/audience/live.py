"""Counting in-process, when readers reach feedsvc directly (no proxy log to ingest).

A request only appends a small tuple to a bounded buffer (one lock, no I/O);
a background thread counts the buffer into the state every few seconds
through the same :class:`~feedsvc.audience.tally.Tally` as log ingest. When
the buffer is full (the store is slow or gone), further requests are not
counted (:attr:`LiveRecorder.dropped` says how many): serving always wins.

``feedsvc serve`` wraps the whole WSGI app (fast path and Flask alike) in
:class:`RecordingMiddleware`, which calls :meth:`LiveRecorder.record_environ`
once per response, when the status line is sent. Anything else that answers
feeds can call :meth:`~LiveRecorder.record_environ` itself.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from feedsvc.audience import store
from feedsvc.audience.accesslog import Hit
from feedsvc.audience.tally import COUNTED_STATUSES, Tally
from feedsvc.feeds.urls import FORMATS

log = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0
MAX_BUFFER = 50_000  # about 10 MB of pending hits at most
COMMIT_EVERY = 500  # distinct hits per write transaction (a few milliseconds of lock)
EXTENSION = "feedsvc.audience"  # the recorder's key in a Flask app's extensions
FEED_FILES = tuple(fmt.filename for fmt in FORMATS.values())
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RecordingMiddleware:
    """Records each response's status, path, client and User-Agent for the audience.

    Outermost, so it sees the fast path's answers too; it reads the environ
    when the status is sent, after ProxyFix has put the real client address in.
    """

    def __init__(self, app: WSGIApp, recorder: LiveRecorder) -> None:
        self.app = app
        self.recorder = recorder

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            if status[:3].isdigit():
                self.recorder.record_environ(environ, int(status[:3]))
            return start_response(status, headers, exc_info)

        return self.app(environ, recording_start_response)


# A response waiting to be counted: (Unix time, path, User-Agent, address, status, method).
Pending = tuple[float, str, str, str, int, str]
DAY_SECONDS = 86_400


def _grouped(pending: list[Pending]) -> list[tuple[Hit, int]]:
    """The same client's repeated fetches of one path on one day, counted once with a tally.

    A reader polling every minute, or a benchmark, is thousands of identical
    hits between flushes; each is one row either way, so it is looked at once.
    """
    groups: Counter[tuple[int, str, str, str, int, str]] = Counter(
        (int(when // DAY_SECONDS), path, agent, address, status, method)
        for when, path, agent, address, status, method in pending
    )
    return [
        (Hit(datetime.fromtimestamp(day * DAY_SECONDS, UTC), address, method, path, status, agent),
         times)
        for (day, path, agent, address, status, method), times in groups.items()
    ]  # fmt: skip


class LiveRecorder:
    """Buffers feed responses and counts them into the state from its own thread."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        interval: float = FLUSH_SECONDS,
        max_buffer: int = MAX_BUFFER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._connect = connect
        self.interval = interval
        self.max_buffer = max_buffer
        self.clock = clock
        self.dropped = 0
        self.flushed = 0
        self._buffer: list[Pending] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, path: str, agent: str, address: str, status: int, method: str = "GET") -> None:
        """One response: kept for the next flush if it may be a feed answer a reader keeps.

        Only a status check and a file-name check here (the request path pays
        for this); which feed it was is worked out at flush time.
        """
        if status not in COUNTED_STATUSES or not path.lower().endswith(FEED_FILES):
            return
        pending = (self.clock(), path, agent, address, status, method)
        with self._lock:
            if len(self._buffer) >= self.max_buffer:
                self.dropped += 1
                return
            self._buffer.append(pending)

    def record_environ(self, environ: Mapping[str, Any], status: int) -> None:
        """:meth:`record` from a WSGI environ (the fast path calls this per feed response).

        ``PATH_INFO`` alone: a proxy's mount prefix (``SCRIPT_NAME``) is not ours.
        """
        path = str(environ.get("PATH_INFO", ""))
        self.record(
            path.encode("latin-1", errors="replace").decode("utf-8", errors="replace"),
            str(environ.get("HTTP_USER_AGENT", "")),
            str(environ.get("REMOTE_ADDR", "")),
            status,
            str(environ.get("REQUEST_METHOD", "GET")),
        )

    def stats(self) -> dict[str, int]:
        """Hits waiting for a flush, counted so far, and dropped (buffer full, state down)."""
        with self._lock:
            buffered = len(self._buffer)
        return {"buffered": buffered, "counted": self.flushed, "dropped": self.dropped}

    def start(self) -> None:
        """Start the flushing thread (a daemon: it never holds the process up)."""
        self._thread = threading.Thread(target=self._run, name="audience-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and count what is still buffered."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        else:
            self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
        self.flush()

    def flush(self) -> int:
        """Count the buffered hits into the state now; how many were counted."""
        with self._lock:
            hits, self._buffer = self._buffer, []
        if not hits:
            return 0
        try:
            conn = self._connect()
            try:
                tally = Tally(conn, prefix="")
                for n, (hit, times) in enumerate(_grouped(hits), 1):
                    tally.add(hit, times)
                    if n % COMMIT_EVERY == 0:
                        conn.commit()  # short write locks: the service writes this file too
                store.forget_old_keys(conn, datetime.fromtimestamp(self.clock(), UTC).date())
                conn.commit()
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            log.warning("audience: %d live hits not counted: %s", len(hits), exc)
            self.dropped += len(hits)
            return 0
        self.flushed += len(hits)
        return len(hits)
