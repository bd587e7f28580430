"""Feed writer processes: a decided document spelled out as bytes outside the server's GIL.

Why: a cold feed (a tag combination, an older page, a new Host) is decided
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
each this module's :func:`main` in a new interpreter (``subprocess``: no fork
of a threaded server, nothing inherited but two pipes). A render sends the
pickled :class:`~feedsvc.feeds.document.FeedDocument` and the formats wanted
to an idle writer and waits on its pipe with the GIL released; the writer
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
import pickle
import select
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import IO

from feedsvc.feeds.document import FeedDocument
from feedsvc.feeds.render import write_document

log = logging.getLogger("feedsvc")

WRITER_NICENESS = 10  # nice levels below the server, as its worker threads (web/priority.py)
WRITE_TIMEOUT = 30.0  # seconds a writer may take for one document before it is replaced
FRAME = struct.Struct("!I")  # each message: its length, then a pickle
READY = b"R"  # a writer's first byte: imported, ready for documents
# The writer's program: this module's main(), found where the server found it.
# It lowers its priority first, so that even its imports cost the server nothing.
PROGRAM = (
    "import os, sys; os.setpriority(os.PRIO_PROCESS, 0, int(sys.argv[2])); "
    "sys.path.insert(0, sys.argv[1]); "
    "from feedsvc.feeds.writers import main; sys.exit(main())"
)


class WriterGone(Exception):
    """A writer died, hung or failed: it is replaced and the server writes the feed itself."""


class Writer:
    """One writer process and its two pipes (unbuffered: reads and writes release the GIL)."""

    def __init__(self, niceness: int) -> None:
        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # feedsvc/
        self.process = subprocess.Popen(
            [sys.executable, "-c", PROGRAM, os.path.dirname(package), str(niceness)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
        )  # fmt: skip
        self.pid = self.process.pid

    def wait_ready(self, timeout: float) -> bool:
        """Block (GIL released) until the writer says it is ready; False if it never will."""
        try:
            return self._read(len(READY), timeout) == READY
        except WriterGone:
            return False

    def write(self, doc: FeedDocument, formats: Sequence[str], timeout: float) -> dict[str, bytes]:
        """The bytes of ``doc`` in ``formats``, written by this process."""
        payload = pickle.dumps((doc, tuple(formats)), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            _write_all(self.process.stdin, FRAME.pack(len(payload)) + payload)
        except (OSError, ValueError) as exc:  # broken pipe: the writer is gone
            raise WriterGone(f"writer {self.pid}: {exc}") from exc
        (length,) = FRAME.unpack(self._read(FRAME.size, timeout))
        ok, answer = pickle.loads(self._read(length, timeout))
        if not ok:
            raise WriterGone(f"writer {self.pid} failed: {answer}")
        bodies: dict[str, bytes] = answer
        return bodies

    def _read(self, size: int, timeout: float) -> bytes:
        """Exactly ``size`` bytes from the writer, within ``timeout`` seconds for each part."""
        pipe = self.process.stdout
        if pipe is None:
            raise WriterGone(f"writer {self.pid}: closed")
        parts, left = [], size
        poller = select.poll()
        poller.register(pipe.fileno(), select.POLLIN)
        while left:
            if not poller.poll(timeout * 1000):
                raise WriterGone(f"writer {self.pid}: no answer within {timeout:.0f} s")
            part = os.read(pipe.fileno(), left)
            if not part:
                raise WriterGone(f"writer {self.pid}: exited")
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    def stop(self, timeout: float = 2.0) -> None:
        """Close its input (it exits), wait briefly, then kill it by its process id."""
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _write_all(pipe: IO[bytes] | None, data: bytes) -> None:
    if pipe is None:
        raise ValueError("closed")
    view = memoryview(data)
    while view:
        view = view[os.write(pipe.fileno(), view) :]


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
            writers = list(self._live.values())
            self._live.clear()
            self._idle.clear()
            self._changed.notify_all()
        for writer in writers:
            writer.stop()

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
        ready = writer.wait_ready(WRITE_TIMEOUT)
        with self._changed:
            self._starting -= 1
            if ready and not self._closed and writer.pid in self._live:
                self._idle.append(writer)
                log.info("feed writer ready (pid %d, nice %d)", writer.pid, self.niceness)
            else:
                self._live.pop(writer.pid, None)
            self._changed.notify_all()
        if not ready:
            log.warning("feed writer %d did not start; feeds are written in the server", writer.pid)
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


def serve_documents(requests: IO[bytes], answers: IO[bytes]) -> int:
    """The writer's loop: each document it is sent, written and sent back; returns how many."""
    answers.write(READY)
    answers.flush()
    count = 0
    while True:
        head = requests.read(FRAME.size)
        if len(head) < FRAME.size:
            return count
        (length,) = FRAME.unpack(head)
        payload = requests.read(length)
        if len(payload) < length:
            return count
        try:
            doc, formats = pickle.loads(payload)
            reply: tuple[bool, object] = (True, write_document(doc, formats))
        except Exception as exc:  # a bug: the server writes this one itself, and logs why
            reply = (False, f"{type(exc).__name__}: {exc}")
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        answers.write(FRAME.pack(len(data)) + data)
        answers.flush()
        count += 1


def main() -> int:
    """A writer process: write documents until the server closes its input."""
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):  # the server went away
        serve_documents(sys.stdin.buffer, sys.stdout.buffer)
    return 0
