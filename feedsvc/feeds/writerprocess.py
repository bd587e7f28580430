"""One feed writer process: the wire between the server and a writer, and both its ends.

A writer is this module's :func:`main` in a new interpreter (``python -c``,
started by :class:`Writer` with ``subprocess``: no fork of a threaded
server, nothing inherited but two pipes). It lowers its own CPU priority
before it imports anything, says it is ready (:data:`READY`), then reads
documents and writes their bytes until its input ends, which is also how
it notices that its server has gone, however that happened.

On the wire each message is its length (:data:`FRAME`) then a pickle: to
the writer, a document as plain tuples and the formats wanted
(:func:`encode`); back, whether it worked, the bytes (or why not) and the
CPU seconds spent, which the server charges to the client that asked
(:func:`cpu_spent_elsewhere`). The pool around writers is :mod:`.writers`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import operator
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO

from feedsvc.feeds.child import start_child
from feedsvc.feeds.document import FeedDocument, FeedItem
from feedsvc.feeds.render import write_document

FRAME = struct.Struct("!I")  # each message: its length, then a pickle
READY = b"R"  # a writer's first byte: imported, ready for documents


_DOC_FIELDS = tuple(field.name for field in dataclasses.fields(FeedDocument))
_ITEMS = _DOC_FIELDS.index("items")
_doc_parts = operator.attrgetter(*_DOC_FIELDS)
_item_parts = operator.attrgetter(*(field.name for field in dataclasses.fields(FeedItem)))


def encode(doc: FeedDocument, formats: Sequence[str]) -> bytes:
    """What a writer is sent: the document as plain tuples, and the formats, pickled.

    Tuples, not the dataclasses: pickling a slotted dataclass calls back into
    Python for every item (its ``__getstate__``), and this is the server's
    GIL time; tuples pickle in C, about twice as fast.
    """
    parts = list(_doc_parts(doc))
    parts[_ITEMS] = [_item_parts(item) for item in doc.items]
    return pickle.dumps((parts, tuple(formats)), protocol=pickle.HIGHEST_PROTOCOL)


def decode(payload: bytes) -> tuple[FeedDocument, tuple[str, ...]]:
    """The document and formats :func:`encode` packed (in the writer)."""
    parts, formats = pickle.loads(payload)
    parts[_ITEMS] = [FeedItem(*item) for item in parts[_ITEMS]]
    return FeedDocument(*parts), formats


class _Spent(threading.local):
    seconds = 0.0


_spent = _Spent()


def cpu_spent_elsewhere() -> float:
    """CPU seconds writer processes spent for this thread since the last call (then 0).

    A worker thread's own CPU time misses what a writer spent on its
    request; the per-client CPU share (:mod:`feedsvc.web.cpushare`) adds
    this, so a flood of cold feeds is held to its share however they are
    written.
    """
    seconds, _spent.seconds = _spent.seconds, 0.0
    return seconds


class WriterGone(Exception):
    """A writer died, hung or failed: it is replaced and the server writes the feed itself."""


class Writer:
    """One writer process and its two pipes (unbuffered: reads and writes release the GIL)."""

    def __init__(self, niceness: int) -> None:
        self.process = start_child("feedsvc.feeds.writerprocess", niceness, bufsize=0)
        self.pid = self.process.pid

    def wait_ready(self, timeout: float) -> bool:
        """Block (GIL released) until the writer says it is ready; False if it never will."""
        try:
            return self._read(len(READY), timeout) == READY
        except WriterGone:
            return False

    def write(self, doc: FeedDocument, formats: Sequence[str], timeout: float) -> dict[str, bytes]:
        """The bytes of ``doc`` in ``formats``, written by this process."""
        payload = encode(doc, formats)
        try:
            _write_all(self.process.stdin, FRAME.pack(len(payload)) + payload)
        except (OSError, ValueError) as exc:  # broken pipe: the writer is gone
            raise WriterGone(f"writer {self.pid}: {exc}") from exc
        (length,) = FRAME.unpack(self._read(FRAME.size, timeout))
        ok, answer, cpu = pickle.loads(self._read(length, timeout))
        _spent.seconds += cpu
        if not ok:
            raise WriterGone(f"writer {self.pid} failed: {answer}")
        bodies: dict[str, bytes] = answer
        return bodies

    def _read(self, size: int, timeout: float) -> bytes:
        """Exactly ``size`` bytes from the writer, within ``timeout`` seconds for each part."""
        parts, left = [], size
        try:
            fd = self.process.stdout.fileno()  # type: ignore[union-attr]
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            while left:
                if not poller.poll(timeout * 1000):
                    raise WriterGone(f"writer {self.pid}: no answer within {timeout:.0f} s")
                part = os.read(fd, left)
                if not part:
                    raise WriterGone(f"writer {self.pid}: exited")
                parts.append(part)
                left -= len(part)
        except (OSError, ValueError, AttributeError) as exc:  # its pipe closed meanwhile
            raise WriterGone(f"writer {self.pid}: {exc}") from exc
        return b"".join(parts)

    def stop(self, timeout: float = 2.0, *, close_output: bool = True) -> None:
        """Close its input (it exits), wait briefly, then kill it by its process id.

        ``close_output=False`` while another thread may still be reading its
        answer (a pool closing under a busy writer): that thread sees the
        writer's output end, and closes it when it replaces the writer.
        """
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if close_output and self.process.stdout is not None:
            self.process.stdout.close()


def _write_all(pipe: IO[bytes] | None, data: bytes) -> None:
    if pipe is None:
        raise ValueError("closed")
    view = memoryview(data)
    while view:
        view = view[os.write(pipe.fileno(), view) :]


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
        started = time.process_time()
        answer: object
        try:
            ok, answer = True, write_document(*decode(payload))
        except Exception as exc:  # a bug: the server writes this one itself, and logs why
            ok, answer = False, f"{type(exc).__name__}: {exc}"
        reply = (ok, answer, time.process_time() - started)  # the CPU, charged to the client
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        answers.write(FRAME.pack(len(data)) + data)
        answers.flush()
        count += 1


def main() -> int:
    """A writer process: write documents until the server closes its input."""
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):  # the server went away
        serve_documents(sys.stdin.buffer, sys.stdout.buffer)
    return 0
