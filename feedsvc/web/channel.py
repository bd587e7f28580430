"""One client connection on waitress: keep-alive after 304s, strict framing, the loop's share.

What each connection does differently from waitress's own, without
touching waitress itself (the server around them: :mod:`feedsvc.web.server`):

* Keep-alive: waitress closes the connection after every response that has
  no ``Content-Length``, and it strips that header from 304, 204 and 1xx
  responses (rightly: RFC 9110 forbids a body there). So every ``304 Not
  Modified``, the answer to most feed polls and every proxy revalidation,
  ended its keep-alive connection and the next request paid for a new TCP
  connection. A bodiless status ends with its header section (RFC 9112 §6.3),
  so nothing requires the close: :class:`KeepAliveTask` keeps the connection
  open for them unless the client or waitress had another reason to close.
* Idle and slow clients: at the connection limit :class:`KeepAliveChannel`
  closes the longest-idle connection, so idle connections alone never lock
  a reader out. waitress's idle timeout is refreshed by every byte, so a
  client trickling a header one byte at a time was never cut off;
  :class:`KeepAliveChannel` counts a request's time from its first byte
  (nginx's ``client_header_timeout`` does the same).
* Cached feeds are answered on the event loop (:meth:`KeepAliveChannel.claim_for_loop`):
  handing a request to a worker thread means two more trips through the
  GIL, each up to ``sys.getswitchinterval()`` behind whatever the workers
  are rendering for other clients. A request the application says it can
  answer from memory is serviced right where it was parsed, and its bytes
  are sent before the loop polls again; everything else (renders, pages,
  errors) still goes to the worker threads. A plain read of a cached feed
  is not even run through WSGI there: :mod:`feedsvc.web.fastpath` hands
  back the whole response, prebuilt, and :meth:`KeepAliveChannel.send_answer`
  sends it in one piece.
* CPU share: a client over its CPU budget (:mod:`feedsvc.web.cpushare`) is
  not read until its debt drains; the loop's work for it is charged too.
* Framing: :class:`StrictParser` answers 400 and closes the connection for
  the ambiguities waitress lets through (Content-Length together with
  Transfer-Encoding: the request smuggling vector; Transfer-Encoding in
  HTTP/1.0; obsolete line folding).
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterable
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.task import WSGITask

from feedsvc.web.fairqueue import client_key

_CLOSE_HEADER = b"\r\nConnection: close"
# waitress's parsed headers that a WSGI environ carries without the HTTP_ prefix
_UNPREFIXED = {"CONTENT_LENGTH": "CONTENT_LENGTH", "CONTENT_TYPE": "CONTENT_TYPE"}
_evictions = logging.getLogger("feedsvc.connections")  # rate-limited by web/server.py


# waitress is untyped: its classes are ``Any`` to mypy, hence the ignores on the
# subclasses below; the attributes this module touches are declared on them.
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
    requests: list[Any]
    last_activity: float
    total_outbufs_len: int
    connected: bool
    will_close: bool
    close_when_flushed: bool
    server: Any
    socket: socket.socket
    addr: Any
    outbufs: list[Any]
    outbuf_lock: Any
    requests_lock: Any
    current_outbuf_count: int
    sent_continue: bool
    _timed: object = None  # the incomplete request being timed
    _started = 0.0  # when its first byte arrived
    _on_loop = False  # inside received(): on the event loop's thread
    _answer_here = False  # a request claimed by claim_for_loop(), not yet serviced
    _response: bytes | None = None  # the raw path's answer to it (web/fastpath.py)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_if_ready()

    def read_if_ready(self) -> None:
        """Read (and maybe answer) a request that came with the connection, right now.

        A feed reader sends its request as soon as it is connected, so by the
        time the loop accepts, it has usually arrived: reading it here saves
        the loop a whole turn (a poll over every open connection, and the GIL
        to win back) before the reader gets its answer.
        """
        try:
            ready = self.socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except OSError:  # nothing yet (or an error the loop's next turn will see)
            return
        if ready and self.readable():
            self.handle_read()

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
        """Parse ``data``; answer claimed requests here; an incomplete one keeps its start."""
        self._on_loop = True
        try:
            result: bool = super().received(data)
            if self.request is None:
                self._timed = None
            elif self.request is not self._timed:
                self._timed, self._started = self.request, self.last_activity
            else:
                self.last_activity = self._started
            while self._answer_here:  # pipelined requests may be claimed in turn
                self._answer_here = False
                response, self._response = self._response, None
                if response is not None:
                    self.send_answer(response)
                    continue
                self.service()
                self.handle_write()  # send now rather than on the loop's next turn
        finally:
            self._on_loop = False
        return result

    def handle_read(self) -> None:
        """Read, parse and answer what the loop may answer, charged to the client's budget."""
        budgets = self.server.cpu_budgets
        if budgets is None:
            super().handle_read()
            return
        key = client_key(self)
        if not budgets.allows(key):  # readable() said yes before the last charge
            return  # left in the socket; readable() says no until the debt drains
        started = time.thread_time()
        try:
            super().handle_read()
        finally:
            budgets.charge(key, time.thread_time() - started)

    def readable(self) -> bool:
        """waitress's rule, and the client within its CPU budget (:mod:`.cpushare`).

        A client over its budget is simply not read: its next requests wait
        in its socket until its debt has drained, without a thread or an error;
        the loop is woken then (:mod:`.wake`), not at its next poll timeout.
        """
        if not super().readable():
            return False
        budgets = self.server.cpu_budgets
        if budgets is None:
            return True
        key = client_key(self)
        if budgets.allows(key):
            return True
        self.server.cpu_waker.after(budgets.drains_in(key))
        return False

    def claim_for_loop(self) -> bool:
        """Take the first queued request to answer on the event loop, if it is cheap.

        Called by the dispatcher instead of queueing this channel for a
        worker. Only on the loop's thread, and only with nothing left to send:
        a worker may block until a slow client drains its buffer, the loop
        must never (it is the one draining them).
        """
        answers = getattr(self.server, "answers_from_memory", None)
        if answers is None or not self._on_loop or self.total_outbufs_len or not self.connected:
            return False
        request = self.requests[0]
        if request.error:
            return False
        environ = request_environ(request, self.server, self.addr)
        fast = getattr(self.server, "fast_path", None)
        if fast is not None:  # the raw path (web/fastpath.py): the whole response, prebuilt
            self._response = fast.respond(request, environ)
        if self._response is None and not answers(environ):
            return False
        self._answer_here = True
        return True

    def send_answer(self, response: bytes) -> None:
        """Send the raw path's whole response at once; then the next pipelined request.

        What :meth:`service` does around a task, without the task: the
        request is done, the response goes out in one send (what the socket
        does not take waits in the out-buffer like any other), and a request
        queued behind it is dispatched (and maybe answered here in turn).
        """
        with self.requests_lock:
            self.requests.pop(0).close()
        try:
            sent = self.send(response)
        except OSError:  # what waitress's own flush does on a socket error
            self.will_close = True
            return
        if sent < len(response) and self.connected:
            rest = response[sent:]
            with self.outbuf_lock:
                self.outbufs[-1].append(rest)
                self.current_outbuf_count += len(rest)
                self.total_outbufs_len += len(rest)
        self.last_activity = time.time()
        if not self.connected:
            return
        if self.requests:
            self.server.add_task(self)
        elif self.request is not None and self.request.expect_continue:
            self.continue_if_waiting()

    def continue_if_waiting(self) -> None:
        """Send the 100 Continue deferred while an answer was pending, as :meth:`service` does."""
        if self.request.headers_finished and not self.sent_continue:
            self.send_continue()


def request_environ(request: Any, server: Any, addr: Any) -> dict[str, Any]:
    """The parts of the WSGI environ a feed answer reads, from waitress's parsed request.

    Values as waitress's own environ has them (its parser already trimmed
    spaces and tabs), so the raw path (web/fastpath.py) decides as the WSGI
    path would; ``REMOTE_ADDR`` for the loopback rule and the audience.
    """
    path = request.path
    if path.startswith("/"):
        path = "/" + path.lstrip("/")  # as waitress does (its url_prefix is never set here)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.command,
        "PATH_INFO": path,
        "QUERY_STRING": request.query,
        "SERVER_PROTOCOL": f"HTTP/{request.version}",
        "SERVER_NAME": server.server_name,
        "SERVER_PORT": str(server.effective_port),
        "REMOTE_ADDR": addr[0],
        "wsgi.url_scheme": request.url_scheme,
    }
    for key, value in request.headers.items():
        environ.setdefault(_UNPREFIXED.get(key) or f"HTTP_{key}", value)
    return environ


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
