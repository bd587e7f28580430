"""Cached feeds answered on the event loop in raw bytes: one prebuilt header block, one send.

The event loop already answered cached feeds itself (:mod:`feedsvc.web.channel`),
but through the whole WSGI machinery: waitress's full environ, its task,
``start_response``, a header section rebuilt from the header list on every
request (each name re-capitalised, the list sorted) and two socket sends,
header and body. For an 11 KB feed that was a quarter of the server's time
(issue 14 item 5). :class:`FastPath` answers the same requests with what
they really need: the request's headers (already parsed), the endpoint's
decision (:meth:`~feedsvc.web.endpoint.FeedEndpoint.cached_answer`, the very
code the WSGI path runs), a header block built once per variant and answer
in waitress's exact spelling (:func:`wire_header`) with only ``Date`` filled
in (once a second), and a single send of status line, headers and body.

Byte for byte what the WSGI path sends (tests/test_web_fastpath.py compares
them on a real server), so it only takes requests whose answer it can
spell without waitress's help: HTTP/1.1 GET or HEAD, no ``Connection``
header (keep-alive, no ``Connection`` in the answer), none of the rarer
conditional or range headers, the app serving feeds through
:class:`~feedsvc.web.endpoint.FeedEndpoint` directly or under the audience
recorder alone (no proxy hops: ProxyFix would rewrite the environ). Anything
else (HTTP/1.0, ``Connection: close``, pages, renders, errors) is ``None``
here and takes the WSGI path, as before.

What the WSGI path does per request happens here too: the request counter
(``/metrics``), the audience recorder
(:meth:`~feedsvc.audience.live.LiveRecorder.record_environ`) and, around
the loop's reads, the client's CPU-share charge (the channel's ``handle_read``).
"""

from __future__ import annotations

import time
from typing import Any

from waitress.utilities import build_http_date

from feedsvc.audience.live import LiveRecorder, RecordingMiddleware
from feedsvc.web.endpoint import FeedAnswer, FeedEndpoint, Headers
from feedsvc.web.respond import ENDPOINT

# Request headers (waitress's parsed names) whose answers are left to the WSGI
# path: hop-by-hop and framing rules live in waitress (KeepAliveTask), and the
# rarer conditionals are evaluated there by Werkzeug.
WSGI_ONLY = frozenset(
    {"CONNECTION", "RANGE", "IF_RANGE", "IF_MATCH", "IF_UNMODIFIED_SINCE", "EXPECT", "UPGRADE"}
)
_SET_BY_WAITRESS = ("Connection", "Date", "Server", "Via", "Transfer-Encoding")
WireHeader = tuple[bytes, bytes]  # the header section before and after the Date value


def waitress_name(name: str) -> str:
    """A header name as waitress writes it (``ETag`` becomes ``Etag``)."""
    return "-".join(part.capitalize() for part in name.split("-"))


def wire_header(status_line: str, headers: Headers, ident: str) -> WireHeader | None:
    """waitress's header section of a keep-alive HTTP/1.1 answer, split where the date goes.

    The same steps as waitress's ``build_response_header`` for such an
    answer: names re-capitalised, ``Server`` added (``ident``), then
    ``Date``, all sorted by name (stably). ``None`` if the application set a
    header waitress would treat specially: then only waitress may spell it.
    """
    named = [(waitress_name(name), value) for name, value in headers]
    if any(name in _SET_BY_WAITRESS for name, _ in named):
        return None
    if ident:
        named.append(("Server", ident))
    named.append(("Date", ""))
    named.sort(key=lambda header: header[0])
    lines = [f"HTTP/1.1 {status_line}", *(f"{name}: {value}" for name, value in named)]
    text = "\r\n".join(lines) + "\r\n\r\n"
    before, after = text.split("\r\nDate: \r\n", 1)
    return f"{before}\r\nDate: ".encode("latin-1"), f"\r\n{after}".encode("latin-1")


class FastPath:
    """Raw answers to plain reads of cached feeds, for one listener of one app."""

    def __init__(self, app: Any, endpoint: FeedEndpoint, ident: str) -> None:
        self.app = app
        self.endpoint = endpoint
        self.ident = ident
        self._memo_key = f"wire:{ident}"  # per server: the ident is part of the bytes
        self._second = -1
        self._date = b""
        self.answered = 0  # responses sent by this path (tests, diagnostics)

    @classmethod
    def for_app(cls, app: Any, adj: Any) -> FastPath | None:
        """The fast path for a feedsvc Flask app on a listener, or ``None`` for other apps."""
        extensions = getattr(app, "extensions", None)
        endpoint = extensions.get(ENDPOINT) if isinstance(extensions, dict) else None
        if not isinstance(endpoint, FeedEndpoint) or adj.url_prefix:
            return None
        return cls(app, endpoint, adj.ident or "")

    def recorder(self) -> tuple[bool, LiveRecorder | None]:
        """Whether the app still serves feeds straight from the endpoint, and its recorder.

        Read on every request: the recorder is wrapped around the app after
        the server is made (``feedsvc serve`` starts it last), and any other
        middleware (ProxyFix with trusted proxy hops) sends requests the WSGI way.
        """
        chain = self.app.wsgi_app
        if chain is self.endpoint:
            return True, None
        if type(chain) is RecordingMiddleware and chain.app is self.endpoint:
            return True, chain.recorder
        return False, None

    def respond(self, request: Any, environ: dict[str, Any]) -> bytes | None:
        """The whole response (status line, headers, body) to send, or ``None``: WSGI path.

        ``request`` is waitress's parsed request and ``environ`` the light
        environ made from it (:func:`feedsvc.web.channel.request_environ`).
        """
        if request.version != "1.1" or not WSGI_ONLY.isdisjoint(request.headers):
            return None
        direct, recorder = self.recorder()
        if not direct:
            return None
        answer = self.endpoint.cached_answer(environ)
        if answer is None:
            return None
        wire = self.wire(answer)
        if wire is None:
            return None
        before, after = wire
        self.endpoint.counter.add(answer.labels)
        if recorder is not None:
            recorder.record_environ(environ, int(answer.key[:3]))
        self.answered += 1
        head = before + self.date() + after
        return head if request.command == "HEAD" else head + answer.body

    def wire(self, answer: FeedAnswer) -> WireHeader | None:
        """The answer's header block, built on first use and kept with its variant."""
        extra = answer.variant.extra
        blocks = extra.get(self._memo_key)
        if not isinstance(blocks, dict):
            blocks = extra[self._memo_key] = {}
        if answer.key not in blocks:
            blocks[answer.key] = wire_header(answer.status_line, answer.headers, self.ident)
        found: WireHeader | None = blocks[answer.key]
        return found

    def date(self) -> bytes:
        """``Date`` as waitress writes it, formatted once a second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._date = build_http_date(second).encode("latin-1")
            self._second = second
        return self._date
