"""Two jobs of a start at once: one in a forked process, the other here.

A restart from the parse cache is two independent jobs on one core: stat
every article file (~0.5 s at 100k files, nearly all of it in the kernel)
and read and unpack the cache's rows (~0.8 s, nearly all of it Python). A
thread would not overlap them: each ``stat`` would wait for the GIL the
unpickling holds. So the stat-ing runs in a process forked for it, on the
other core, and sends back what it found (a few MB, pickled) while this
process unpacks.

Only forked while this process has a single thread (at start), as the load
workers are (:mod:`feedsvc.content.parallel`); otherwise, or if the process
cannot be had or fails, the job simply runs here after the other one.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TypeVar

log = logging.getLogger("feedsvc")

T = TypeVar("T")


def _child(job: Callable[[], object], connection: Connection) -> None:
    try:
        connection.send((True, job()))
    except BaseException as exc:
        connection.send((False, repr(exc)))
    finally:
        connection.close()


def run_beside(forked: Callable[[], T], here: Callable[[], object]) -> T:
    """Run ``forked`` in a forked process while ``here`` runs in this one; the
    result of ``forked`` (which must pickle, and must have no effect this
    process needs: it happens in a copy)."""
    if threading.active_count() != 1 or "fork" not in multiprocessing.get_all_start_methods():
        here()
        return forked()
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    try:
        process = context.Process(target=_child, args=(forked, sender), daemon=True)
        process.start()
    except OSError:  # no process to be had: one after the other
        here()
        return forked()
    finally:
        sender.close()
    try:
        here()
        try:
            ok, result = receiver.recv()
        except (EOFError, OSError):
            ok, result = False, "it ended without an answer"
    finally:
        receiver.close()
        process.join()
    if not ok:
        log.warning("forked job failed (%s); running it here", result)
        return forked()
    return result  # type: ignore[no-any-return]
