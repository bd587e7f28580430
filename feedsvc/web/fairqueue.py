"""A waitress task dispatcher that shares the worker threads fairly between clients.

waitress queues every ready connection in one FIFO: eight keep-alive
connections flooding cache misses keep every worker thread busy, and a
reader's request waits behind all of them (then competes for the GIL with
every one of them). :class:`FairDispatcher` instead queues tasks per client
(the peer address), lets worker threads take them round-robin across
clients, and runs at most ``per_client`` tasks of one client at a time
(nginx's ``limit_conn`` keyed by ``$binary_remote_addr``, except that the
excess waits instead of getting a 503). A client alone still gets every
thread up to its cap; a flood from one address costs other clients at most
the cap's share of the threads.

Behind a reverse proxy every request comes from the proxy's address, so a
cap there would throttle every reader as one client: with trusted proxy
hops the cap is off (``per_client=None``) and the proxy does the limiting.

A waitress task is the channel (the connection) itself; its ``addr`` is
the peer's ``(host, port)``, or a string for a UNIX socket.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Any

from waitress.task import ThreadedTaskDispatcher

from feedsvc.feeds.writerprocess import cpu_spent_elsewhere
from feedsvc.web.cpushare import CpuBudgets


def client_key(task: Any) -> object:
    """The client a task belongs to: its peer's host (the whole address if not a pair)."""
    addr = getattr(task, "addr", None)
    if addr is None:
        addr = getattr(getattr(task, "channel", None), "addr", None)
    if isinstance(addr, tuple) and addr:
        return addr[0]
    return addr


class FairDispatcher(ThreadedTaskDispatcher):  # type: ignore[misc]
    """waitress's thread pool, taking tasks round-robin per client, ``per_client`` at once.

    ``per_client=None`` takes them round-robin without a cap. Shutdown,
    thread counts, cancelling and the queue-depth warning are waitress's.
    """

    threads: set[int]
    lock: threading.Lock
    queue_cv: threading.Condition
    thread_exit_cv: threading.Condition
    stop_count: int
    active_count: int
    logger: Any
    queue_logger: Any

    def __init__(self, per_client: int | None = None, budgets: CpuBudgets | None = None) -> None:
        super().__init__()
        if per_client is not None and per_client < 1:
            raise ValueError(f"per_client must be at least 1 or None, got {per_client}")
        self.per_client = per_client
        self.budgets = budgets  # charged with each task's CPU time, per client
        # Clients with queued tasks, in round-robin order (the next served first).
        self.waiting: OrderedDict[object, deque[Any]] = OrderedDict()
        self.running: dict[object, int] = {}  # tasks being serviced, per client
        self.queued = 0

    def _eligible(self, key: object) -> bool:
        return self.per_client is None or self.running.get(key, 0) < self.per_client

    def _take(self) -> tuple[object, Any] | None:
        """The next task, round-robin over clients under their cap (call with the lock)."""
        for key, tasks in self.waiting.items():
            if self._eligible(key):
                task = tasks.popleft()
                if tasks:
                    self.waiting.move_to_end(key)  # its next task waits for the others
                else:
                    del self.waiting[key]
                self.queued -= 1
                self.running[key] = self.running.get(key, 0) + 1
                return key, task
        return None

    def _done(self, key: object) -> None:
        with self.lock:
            left = self.running[key] - 1
            if left:
                self.running[key] = left
            else:
                del self.running[key]
            if key in self.waiting:
                self.queue_cv.notify()  # its next task may run now

    def handler_thread(self, thread_no: int) -> None:
        """One worker: service tasks as :meth:`_take` hands them out until told to stop."""
        while True:
            with self.lock:
                taken = None
                while self.stop_count == 0:
                    taken = self._take()
                    if taken is not None:
                        break
                    self.active_count -= 1  # idle while waiting, as waitress counts
                    self.queue_cv.wait()
                    self.active_count += 1
                if taken is None:
                    self.active_count -= 1
                    self.stop_count -= 1
                    self.threads.discard(thread_no)
                    self.thread_exit_cv.notify()
                    break
            key, task = taken
            started = time.thread_time()
            try:
                task.service()
            except BaseException:
                self.logger.exception("Exception when servicing %r", task)
            finally:
                if self.budgets is not None:  # with what writer processes spent for it
                    spent = time.thread_time() - started + cpu_spent_elsewhere()
                    self.budgets.charge(key, spent)
                self._done(key)

    def add_task(self, task: Any) -> None:
        """Queue ``task`` behind its client's earlier ones; warn (rate-limited) on a backlog.

        A task that claims itself for the event loop (``claim_for_loop``, see
        :mod:`feedsvc.web.server`) is not queued: the loop answers it at once.
        """
        claim = getattr(task, "claim_for_loop", None)
        if claim is not None and claim():
            return
        with self.lock:
            key = client_key(task)
            self.waiting.setdefault(key, deque()).append(task)
            self.queued += 1
            self.queue_cv.notify()
            idle_threads = len(self.threads) - self.stop_count - self.active_count
            if self.queued > idle_threads:
                self.queue_logger.warning("Task queue depth is %d", self.queued - idle_threads)

    def shutdown(self, cancel_pending: bool = True, timeout: float = 5) -> bool:
        """Stop the threads (waiting up to ``timeout``), then cancel every queued task."""
        with self.lock:
            # waitress's shutdown cancels ``self.queue``: hand it ours, in order.
            while self.waiting:
                key, tasks = next(iter(self.waiting.items()))
                del self.waiting[key]
                self.queue.extend(tasks)
            self.queued = 0
        return bool(super().shutdown(cancel_pending, timeout))
