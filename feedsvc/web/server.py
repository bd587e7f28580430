"""waitress for ``feedsvc serve``: fair threads, connection limits, a quiet overload log.

The server around :mod:`feedsvc.web.channel`'s connections:

* Connections: :class:`~feedsvc.settings.ConnectionSettings` become
  waitress's ``connection_limit`` (waitress stops *accepting* when it is
  reached, so its default of 100 let 100 idle sockets lock every reader out),
  ``channel_timeout`` and the request size limits.
* Worker threads are shared per client address
  (:class:`~feedsvc.web.fairqueue.FairDispatcher`) and each address is held
  to a share of the CPU (:mod:`feedsvc.web.cpushare`).
* waitress logs ``Task queue depth is N`` at WARNING for every request that
  waits for a worker thread, i.e. on every request under load: tens of
  thousands of lines a minute, and the logging itself slows the server down
  when it is busiest. It is lowered to once a minute (:class:`RateLimit`).
"""

from __future__ import annotations

import logging
import resource
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

import waitress
from waitress.adjustments import Adjustments

from feedsvc.settings import ConnectionSettings
from feedsvc.web.channel import KeepAliveChannel
from feedsvc.web.cpushare import BURST_SECONDS, CpuBudgets
from feedsvc.web.fairqueue import FairDispatcher
from feedsvc.web.fastpath import FastPath
from feedsvc.web.priority import favour_event_loop
from feedsvc.web.wake import LoopWaker

AnswersFromMemory = Callable[[dict[str, Any]], bool]


class Server(Protocol):
    """What feedsvc uses of a waitress server (waitress ships no type information)."""

    effective_host: str  # a single listener's; several listeners have none
    effective_port: int

    def run(self) -> None:
        """Serve until interrupted."""

    def close(self) -> None:
        """Close the listening sockets."""


class RateLimit(logging.Filter):
    """Let one record through per ``interval`` seconds, counting the ones dropped."""

    def __init__(self, interval: float = 60.0) -> None:
        super().__init__()
        self.interval = interval
        self._next = 0.0
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now < self._next:
            self.dropped += 1
            return False
        if self.dropped:
            record.msg = f"{record.msg} (and {self.dropped} similar messages)"
            self.dropped = 0
        self._next = now + self.interval
        return True


_queue_limit = RateLimit()
logging.getLogger("feedsvc.connections").addFilter(RateLimit())  # web/channel.py's evictions


def waitress_adjustments(connections: ConnectionSettings) -> dict[str, Any]:
    """The waitress settings that carry ``connections``."""
    return {
        "connection_limit": connections.connection_limit,
        "channel_timeout": connections.idle_timeout,
        # How often waitress looks for timed-out channels: a fraction of the
        # timeout, so one is closed within 1.25 x timeout (waitress: every 30 s).
        "cleanup_interval": max(1, connections.idle_timeout // 4),
        "max_request_header_size": connections.max_header_bytes,
        "max_request_body_size": connections.max_body_bytes,
        # select() cannot watch descriptors above 1023; poll() has no such limit.
        "asyncore_use_poll": True,
    }


def raise_file_limit(connections: ConnectionSettings, spare: int = 64) -> None:
    """Raise the soft open-file limit to hold every connection (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections.connection_limit + spare
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < wanted:
            logging.getLogger("feedsvc").warning(
                "open-file limit %d is below connection_limit %d + %d spare; "
                "raise LimitNOFILE or lower FEEDSVC_CONNECTION_LIMIT",
                new, connections.connection_limit, spare,
            )  # fmt: skip


def create_server(
    app: Any,
    connections: ConnectionSettings | None = None,
    proxy_hops: int = 0,
    answers_from_memory: AnswersFromMemory | None = None,
    cpu_burst: float = BURST_SECONDS,
    fast_path: bool = True,
    **settings: Any,
) -> Server:
    """``waitress.create_server`` with :class:`KeepAliveChannel`, connection limits, a quiet log.

    Worker threads are shared fairly between client addresses
    (:class:`~feedsvc.web.fairqueue.FairDispatcher`), each capped at
    ``connections.per_client_cap`` and held to ``connections.client_cpu_share``
    of a core (:mod:`~feedsvc.web.cpushare`; neither with trusted ``proxy_hops``).
    Requests for which ``answers_from_memory(environ)`` is true are answered
    on the event loop (see :meth:`KeepAliveChannel.claim_for_loop`); plain
    reads of cached feeds there in raw bytes (:mod:`~feedsvc.web.fastpath`;
    ``fast_path=False`` sends them through WSGI too, for comparisons).
    """
    queue_logger = logging.getLogger("waitress.queue")
    if _queue_limit not in queue_logger.filters:
        queue_logger.addFilter(_queue_limit)
    connections = connections or ConnectionSettings()
    raise_file_limit(connections)
    threads = int(settings.get("threads", Adjustments.threads))
    share = connections.client_cpu_share(proxy_hops)
    budgets = CpuBudgets(share, cpu_burst) if share else None
    dispatcher = FairDispatcher(connections.per_client_cap(threads, proxy_hops), budgets)
    dispatcher.set_thread_count(threads)
    adjustments = {**waitress_adjustments(connections), **settings}
    try:
        server = waitress.create_server(app, _dispatcher=dispatcher, **adjustments)
    except BaseException:
        dispatcher.shutdown(timeout=1)  # waitress would not stop threads it did not start
        raise
    # One listener: the server itself; several (MultiSocketServer): those in its map.
    listeners = [server] if hasattr(server, "channel_class") else list(server.map.values())
    for listener in listeners:
        if hasattr(listener, "channel_class"):
            listener.channel_class = KeepAliveChannel
            listener.answers_from_memory = answers_from_memory
            listener.fast_path = (
                FastPath.for_app(app, listener.adj) if answers_from_memory and fast_path else None
            )
            listener.cpu_budgets = budgets
            listener.cpu_waker = LoopWaker(listener.pull_trigger)
    return cast(Server, server)


# How long a thread may hold the GIL while another waits for it (Python: 5 ms).
# The event loop answers cached feeds itself (web/channel.py) and needs the GIL
# back after every poll; with the default a reader's request waited up to 5 ms
# per hand-over behind a thread rendering for someone else (bench/abuse.py).
# Switching more often costs CPU only while threads contend, and little then.
SWITCH_INTERVAL = 0.0005


def tune_interpreter() -> None:
    """Hand the GIL over more often, for the loop's sake (:data:`SWITCH_INTERVAL`)."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def serve_until_terminated(server: Server) -> None:
    """Run ``server`` until SIGINT or SIGTERM, then close its sockets.

    The kernel is first asked to run the loop ahead of the worker threads
    (:func:`~feedsvc.web.priority.favour_event_loop`).

    SIGTERM (what systemd and ``kill`` send) is turned into the same
    KeyboardInterrupt as Ctrl-C, so both stop the server the same clean way.
    """

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    logging.getLogger(__name__).info("scheduling: %s", favour_event_loop().describe())
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
