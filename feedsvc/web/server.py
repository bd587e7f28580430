"""waitress, with keep-alive for bodiless responses and a quiet overload log.

Two waitress behaviours cost feed serving dearly and are fixed here, without
touching waitress itself:

* waitress closes the connection after every response that has no
  ``Content-Length``, and it strips that header from 304, 204 and 1xx
  responses (rightly: RFC 9110 forbids a body there). So every ``304 Not
  Modified``, the answer to most feed polls and every proxy revalidation,
  ended its keep-alive connection and the next request paid for a new TCP
  connection. A bodiless status ends with its header section (RFC 9112 §6.3),
  so nothing requires the close: :class:`KeepAliveTask` keeps the connection
  open for them unless the client or waitress had another reason to close.
* waitress logs ``Task queue depth is N`` at WARNING for every request that
  waits for a worker thread, i.e. on every request under load: tens of
  thousands of lines a minute, and the logging itself slows the server down
  when it is busiest. It is lowered to once a minute (:class:`RateLimit`).
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any, Protocol, cast

import waitress
from waitress.channel import HTTPChannel
from waitress.task import WSGITask

_CLOSE_HEADER = b"\r\nConnection: close"


class Server(Protocol):
    """What feedsvc uses of a waitress server (waitress ships no type information)."""

    effective_host: str  # a single listener's; several listeners have none
    effective_port: int

    def run(self) -> None:
        """Serve until interrupted."""

    def close(self) -> None:
        """Close the listening sockets."""


# waitress is untyped: its classes are ``Any`` to mypy, hence the ignores on the
# two subclasses below; the attributes this module touches are declared here.
class KeepAliveTask(WSGITask):  # type: ignore[misc]
    """A WSGI task that keeps HTTP/1.1 connections open after 1xx/204/304."""

    close_on_finish: bool

    def build_response_header(self) -> bytes:
        """waitress's header, minus the close it adds only for a missing Content-Length."""
        keep_alive_allowed = (
            not self.has_body
            and self.version == "1.1"
            and not self.close_on_finish
            and self.request.headers.get("CONNECTION", "").lower() != "close"
        )
        header: bytes = super().build_response_header()
        if keep_alive_allowed and self.close_on_finish:
            # Applications cannot set Connection (hop-by-hop, waitress refuses it),
            # so the only Connection header is the one set_close_on_finish added.
            self.close_on_finish = False
            header = header.replace(_CLOSE_HEADER, b"", 1)
        return header


class KeepAliveChannel(HTTPChannel):  # type: ignore[misc]
    """waitress's channel running :class:`KeepAliveTask`."""

    task_class = KeepAliveTask


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


def create_server(app: Any, **settings: Any) -> Server:
    """``waitress.create_server`` with :class:`KeepAliveChannel` and a rate-limited queue log."""
    queue_logger = logging.getLogger("waitress.queue")
    if _queue_limit not in queue_logger.filters:
        queue_logger.addFilter(_queue_limit)
    server = waitress.create_server(app, **settings)
    # One listener: the server itself; several (MultiSocketServer): those in its map.
    listeners = [server] if hasattr(server, "channel_class") else list(server.map.values())
    for listener in listeners:
        if hasattr(listener, "channel_class"):
            listener.channel_class = KeepAliveChannel
    return cast(Server, server)


def serve_until_terminated(server: Server) -> None:
    """Run ``server`` until SIGINT or SIGTERM, then close its sockets.

    SIGTERM (what systemd and ``kill`` send) is turned into the same
    KeyboardInterrupt as Ctrl-C, so both stop the server the same clean way.
    """

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
