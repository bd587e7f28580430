"""A thread writing queued rows on a SQLite connection of its own, after renders end.

Why a thread and a connection of its own: a request must never wait for
the file's write lock (the pre-render helper, another process, takes it
too) nor for a checkpoint; it queues its rows and goes on. Why after
renders end: packing and writing take the GIL in turns with the next cold
feed's render and stretch it (:mod:`feedsvc.state.foreground`). Used by
the rendered-body store (:mod:`.rendered`), which packs its rows on this
thread (``prepare``).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from feedsvc.state.foreground import FOREGROUND

log = logging.getLogger("feedsvc")

WRITE_BATCH = 64  # queued writes per transaction
# Writes wait for renders to end, this long at most: under a steady stream of
# cold feeds they are written a second late, in larger batches.
DEFER_LONGEST_S = 1.0

Write = tuple[str, list[Any]]  # a statement and its rows (executemany)
_Work = Write | None


class RowWriter:
    """A daemon thread running queued writes on a connection of its own, a batch at a time.

    Woken by a write, it first lets renders finish (at most
    :data:`DEFER_LONGEST_S`; :meth:`flush` and :meth:`close` do not wait),
    then writes everything queued by then, :data:`WRITE_BATCH` per transaction.
    The thread starts with the first write, not before: the service is made
    (and this with it) before the first load, which forks its parse workers
    only while the process has a single thread (content/parallel.py); a
    thread started here made a 100k cold start take the slower path.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        prepare: Callable[[str, list[Any]], Write],
        name: str,
    ) -> None:
        self.connection = connection
        self.prepare = prepare  # run on the thread, just before writing (packing rows)
        self.name = name  # what the rows are: the thread's name, the logged failure
        self.work: queue.Queue[_Work] = queue.Queue()
        self._failed = False
        thread_name = f"feedsvc-{name}-writer"
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._start_lock = threading.Lock()
        self._hurry = threading.Event()  # set: write now, without waiting for renders to end

    def put(self, item: _Work) -> None:
        """Queue ``item`` for the writer thread, starting it the first time."""
        if not self._thread.is_alive():
            with self._start_lock:
                if self._thread.ident is None:
                    self._thread.start()
        self.work.put(item)

    def _run(self) -> None:
        while True:
            first = self.work.get()
            if first is not None:  # a render running or just over: it goes first
                FOREGROUND.wait_quiet(DEFER_LONGEST_S, give_up=self._hurry.is_set)
            items = [first]
            while not self.work.empty():  # all that came meanwhile: the queue stays bounded
                items.append(self.work.get())
            try:
                writes = [work for work in items if work is not None]
                for start in range(0, len(writes), WRITE_BATCH):
                    self._write(writes[start : start + WRITE_BATCH])
            finally:
                for _ in items:
                    self.work.task_done()
            if None in items:
                return

    def _write(self, batch: list[tuple[str, list[Any]]]) -> None:
        if not batch:
            return
        try:
            batch = [self.prepare(statement, values) for statement, values in batch]
            self.connection.execute("BEGIN IMMEDIATE")
            for statement, values in batch:
                self.connection.executemany(statement, values)
            self.connection.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self.connection.execute("ROLLBACK")
            if not self._failed:
                self._failed = True
                log.error("%s: writing failed (%s); made again when needed", self.name, exc)

    def flush(self) -> None:
        """Wait until every queued write is done, without waiting for renders to end."""
        self._hurry.set()
        FOREGROUND.wake()
        try:
            self.work.join()
        finally:
            self._hurry.clear()

    def close(self) -> None:
        if self._thread.ident is not None:
            self._hurry.set()
            FOREGROUND.wake()
            self.work.put(None)
            self._thread.join(10)
        with contextlib.suppress(sqlite3.Error):
            self.connection.close()
