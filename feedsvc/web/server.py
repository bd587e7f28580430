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

Hardening (what one client can do to the server):

* Connections: :class:`~feedsvc.settings.ConnectionSettings` become
  waitress's ``connection_limit`` (waitress stops *accepting* when it is
  reached, so its default of 100 let 100 idle sockets lock every reader out),
  ``channel_timeout`` and the request size limits. At the limit,
  :class:`KeepAliveChannel` closes the longest-idle connection, so idle
  connections alone never lock a reader out. waitress's idle timeout
  is refreshed by every byte, so a client trickling a header one byte at a
  time was never cut off; :class:`KeepAliveChannel` counts a request's time
  from its first byte (nginx's ``client_header_timeout`` does the same).
* Framing: :class:`StrictParser` answers 400 and closes the connection for
  the ambiguities waitress lets through (Content-Length together with
  Transfer-Encoding: the request smuggling vector; Transfer-Encoding in
  HTTP/1.0; obsolete line folding).
"""

from __future__ import annotations

import logging
import re
import resource
import signal
import time
from collections.abc import Iterable
from typing import Any, Protocol, cast

import waitress
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.task import WSGITask

from feedsvc.settings import ConnectionSettings
from feedsvc.web.fairqueue import FairDispatcher

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


_OBS_FOLD = re.compile(rb"\r\n[ \t]")
_HEADER_NAME = re.compile(rb"\r\n([^:\r\n]*):")


class StrictParser(HTTPRequestParser):  # type: ignore[misc]
    """waitress's request parser, refusing ambiguous framing (RFC 9112 §6.1, §6.3, §5.2).

    A :class:`ParsingError` becomes a 400 and waitress closes the connection
    after it, dropping whatever the client pipelined behind the bad request.
    """

    headers: dict[str, str]

    def parse_header(self, header_plus: bytes) -> None:
        """Reject obs-fold, Content-Length with Transfer-Encoding, and TE in HTTP/1.0."""
        if _OBS_FOLD.search(header_plus):
            raise ParsingError("obsolete line folding in a header")
        names = {name.strip().lower() for name in _HEADER_NAME.findall(header_plus)}
        super().parse_header(header_plus)
        if b"transfer-encoding" in names:
            if b"content-length" in names:
                raise ParsingError("both Content-Length and Transfer-Encoding")
            if "TRANSFER_ENCODING" in self.headers:  # waitress reads (and pops) it in 1.1 only
                raise ParsingError("Transfer-Encoding in an HTTP/1.0 request")


class KeepAliveChannel(HTTPChannel):  # type: ignore[misc]
    """waitress's channel running :class:`KeepAliveTask`, with a whole-request deadline.

    waitress closes a channel idle for ``channel_timeout`` seconds, and every
    byte received counts as activity. While a request is incomplete, its
    activity is pinned to the time its first byte arrived, so the request
    must arrive in full within ``channel_timeout`` however it is trickled.
    """

    task_class = KeepAliveTask
    parser_class = StrictParser
    request: Any
    last_activity: float
    _timed: object = None  # the incomplete request being timed
    _started = 0.0  # when its first byte arrived

    def add_channel(self, map: Any = None) -> None:
        """Register this connection; at the connection limit, close the longest-idle one.

        waitress stops accepting at ``connection_limit``, so idle connections
        alone could lock every reader out until they timed out. Evicting the
        longest-idle connection (an incomplete request counts as idle since
        its first byte) keeps a place for each new client instead.
        """
        super().add_channel(map)
        if len(self._map) >= self.adj.connection_limit:
            evict_longest_idle(self.server.active_channels.values(), self)

    def received(self, data: bytes) -> bool:
        """Parse ``data``; an incomplete request keeps the time it started."""
        result: bool = super().received(data)
        if self.request is None:
            self._timed = None
        elif self.request is not self._timed:
            self._timed, self._started = self.request, self.last_activity
        else:
            self.last_activity = self._started
        return result


def evict_longest_idle(channels: Iterable[Any], keep: object) -> None:
    """Mark the channel idle longest (not serving, nothing to send) to be closed."""
    idle = [
        channel
        for channel in channels
        if channel is not keep
        and not channel.requests
        and not channel.total_outbufs_len
        and not channel.will_close
    ]
    if idle:
        min(idle, key=lambda channel: channel.last_activity).will_close = True
        _evictions.warning("connection limit reached: closing the longest-idle connections")


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
_evictions = logging.getLogger("feedsvc.connections")
_evictions.addFilter(RateLimit())


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
    app: Any, connections: ConnectionSettings | None = None, proxy_hops: int = 0, **settings: Any
) -> Server:
    """``waitress.create_server`` with :class:`KeepAliveChannel`, connection limits, a quiet log.

    Worker threads are shared fairly between client addresses
    (:class:`~feedsvc.web.fairqueue.FairDispatcher`), each capped at
    ``connections.per_client_cap`` (no cap with trusted ``proxy_hops``).
    """
    queue_logger = logging.getLogger("waitress.queue")
    if _queue_limit not in queue_logger.filters:
        queue_logger.addFilter(_queue_limit)
    connections = connections or ConnectionSettings()
    raise_file_limit(connections)
    threads = int(settings.get("threads", Adjustments.threads))
    dispatcher = FairDispatcher(connections.per_client_cap(threads, proxy_hops))
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
