"""Feed writer processes: a decided document spelled out as bytes outside the server's GIL.

Why: a cold feed (a tag combination, an older page) is decided
in the server (:func:`~feedsvc.feeds.document.feed_document`: the snapshot,
the bodies) and then *written* (feedgen and lxml for RSS and Atom, ``json``
for JSON Feed), which is most of its CPU and all in Python holding the GIL.
While a worker thread holds the GIL, the event loop that answers every
cached feed waits for it on each wake-up (accept, recv, send, close), and
under a flood of cold URLs a reader's poll met a 3-10 ms wait once in ~100
(``bench/abuse.py``): the kernel cannot preempt a thread that holds the GIL
in favour of one waiting for it. In another process it can: a writer is
niced like the worker threads (:data:`WRITER_NICENESS`), and whenever the
loop wakes, the kernel runs the loop first.

How: :class:`WriterPool` keeps up to ``size`` long-lived writer processes,
each :func:`~feedsvc.feeds.writerprocess.main` in a new interpreter
(:mod:`.writerprocess`: no fork of a threaded server, nothing inherited
but two pipes). A render sends the decided
:class:`~feedsvc.feeds.document.FeedDocument` and the formats wanted to an
idle writer and waits on its pipe with the GIL released; the writer
answers with the bytes of :func:`~feedsvc.feeds.render.write_document`, the
very function used in the server, so the bytes are the same either way.
Writers are stateless (no snapshot, lock, state or cache): a reload
changes nothing for them.

Never a failure for the reader: a writer is used only once it has started
(until then, and whenever every writer is gone, the server writes the
feed itself); one that dies, hangs past :data:`WRITE_TIMEOUT` or fails is
killed (by its process id) and replaced, and that feed is written in the
server. :meth:`WriterPool.close` ends them all (their input closed, then
killed if still there); a writer whose server died sees its input end and
exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence

from feedsvc.feeds.document import FeedDocument
from feedsvc.feeds.render import write_document
from feedsvc.feeds.writerprocess import Writer, WriterGone

log = logging.getLogger("feedsvc")

WRITER_NICENESS = 10  # nice levels below the server, as its worker threads (web/priority.py)
WRITE_TIMEOUT = 30.0  # seconds a writer may take for one document before it is replaced


class WriterPool:
    """Up to ``size`` writer processes, started in the background, replaced when they fail.

    :meth:`write` is what :func:`~feedsvc.feeds.render.render_feed` calls (see
    :func:`~feedsvc.feeds.render.use_writer`): an idle writer writes the
    document; with none started yet (or every one gone), the server writes it.
    """

    def __init__(self, size: int, niceness: int | None = None) -> None:
        self.size = max(1, size)
        base = os.getpriority(os.PRIO_PROCESS, os.getpid()) if niceness is None else 0
        self.niceness = min(19, base + (WRITER_NICENESS if niceness is None else niceness))
        self.written = 0  # documents written by a writer process
        self.written_here = 0  # documents written in the server (no writer was ready)
        self.replaced = 0  # writers that died or failed and were replaced
        self._idle: list[Writer] = []
        self._live: dict[int, Writer] = {}  # every writer started and not stopped, by pid
        self._starting = 0  # of those, started and not yet ready
        self._changed = threading.Condition()
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """Process ids of the writers running now (started or starting)."""
        with self._changed:
            return sorted(self._live)

    def start(self) -> None:
        """Start the first writer (in the background; :meth:`write` works meanwhile).

        More start only while every one is busy (renders are serialised, so
        one is usually all there is), up to ``size``.
        """
        with self._changed:
            if not self._closed and not self._live:
                self._start_one()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until a writer is idle and ready (tests, benchmarks); whether one is."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(self._idle) or self._closed, timeout) and (
                bool(self._idle)
            )

    def write(self, doc: FeedDocument, formats: Sequence[str]) -> dict[str, bytes]:
        """``doc`` in ``formats``: by an idle writer, else here (same bytes either way)."""
        writer = self._take()
        if writer is None:
            self.written_here += 1
            return write_document(doc, formats)
        try:
            bodies = writer.write(doc, formats, WRITE_TIMEOUT)
        except WriterGone as exc:
            log.warning("feed writer replaced: %s", exc)
            self._replace(writer)
            self.written_here += 1
            return write_document(doc, formats)
        self._give_back(writer)
        self.written += 1
        return bodies

    def close(self) -> None:
        """Stop every writer (their input closed; killed by process id if still running)."""
        with self._changed:
            self._closed = True
            writers, idle = list(self._live.values()), set(self._idle)
            self._live.clear()
            self._idle.clear()
            self._changed.notify_all()
        for writer in writers:  # a busy one's output is closed by the thread reading it
            writer.stop(close_output=writer in idle)

    def _take(self) -> Writer | None:
        """An idle writer, waiting for one while every live one is busy; ``None``: none ready."""
        with self._changed:
            grow = not self._idle and not self._starting and len(self._live) < self.size
            if grow and not self._closed:
                self._start_one()  # every writer busy (or none left): one more, up to size
            while not self._idle and not self._closed:
                ready = len(self._live) - self._starting
                if ready <= 0:
                    return None  # none started yet, or all gone: written here
                self._changed.wait()
            return self._idle.pop() if self._idle else None

    def _start_one(self) -> None:
        """Start one writer and a thread that makes it idle once it is ready (lock held)."""
        try:
            writer = Writer(self.niceness)
        except OSError as exc:  # no processes to be had (limits, sandbox): write here
            log.warning("no feed writer process (%s); feeds are written in the server", exc)
            self._closed = True
            return
        self._live[writer.pid] = writer
        self._starting += 1
        threading.Thread(
            target=self._await_ready, args=(writer,), name="feedsvc-writer-start", daemon=True
        ).start()

    def _await_ready(self, writer: Writer) -> None:
        """The start thread: wait (GIL released) for the writer's first byte, then make it idle."""
        ready = writer.wait_ready(WRITE_TIMEOUT)
        with self._changed:
            self._starting -= 1
            taken = ready and not self._closed and writer.pid in self._live
            if taken:
                self._idle.append(writer)
                log.info("feed writer ready (pid %d, nice %d)", writer.pid, self.niceness)
            else:
                self._live.pop(writer.pid, None)
            self._changed.notify_all()
        if not taken:  # it failed to start, or the pool closed meanwhile
            if not ready and not self._closed:
                log.warning("feed writer %d did not start; feeds are written here", writer.pid)
            with contextlib.suppress(OSError):
                writer.process.kill()
            writer.stop()

    def _give_back(self, writer: Writer) -> None:
        with self._changed:
            if writer.pid in self._live:
                self._idle.append(writer)
                self._changed.notify()
                return
        writer.stop()  # the pool was closed while it wrote

    def _replace(self, writer: Writer) -> None:
        """Kill a failed writer by its process id and start another in its place."""
        with contextlib.suppress(OSError):
            writer.process.kill()
        writer.stop()
        with self._changed:
            if self._live.pop(writer.pid, None) is not None:
                self.replaced += 1
                if not self._closed:
                    self._start_one()
            self._changed.notify_all()
