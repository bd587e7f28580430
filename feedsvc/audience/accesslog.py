"""One access-log line to one :class:`Hit`: nginx's ``combined`` format, or JSON.

Logs are written by other programs and rotated, truncated and hand-edited:
a line that does not parse (a torn write, a stray message, binary junk) is
skipped and counted, never an error that stops an ingest.

JSON lines are one object each, as nginx writes them with
``log_format ... escape=json`` (Caddy's nested ``request`` object and
Traefik's field names are read too); field names are matched loosely (README
"Audience" shows a format): the time (``time_iso8601``, ``time``,
``timestamp``, ``@timestamp`` or ``time_local``), the client
(``remote_addr``...), the request (``request`` or ``request_uri`` with
``request_method``), ``status`` and ``http_user_agent``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["combined", "json"]
FORMATS: tuple[LogFormat, ...] = ("combined", "json")
MAX_LINE_BYTES = 16 * 1024  # longer lines are junk (nginx cuts its own much shorter)


@dataclass(frozen=True, slots=True)
class Hit:
    """One request as a log line tells it."""

    time: datetime  # aware, UTC
    address: str
    method: str
    target: str  # path and query, as requested
    status: int
    agent: str


_COMBINED = re.compile(  # an Apache vhost_combined "host:port " prefix is allowed
    r'(?:\S+ )?(?P<addr>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r'(?P<status>\d{3}) \S+ "(?:[^"\\]|\\.)*" "(?P<agent>(?:[^"\\]|\\.)*)"'
)
_LOCAL_TIME = "%d/%b/%Y:%H:%M:%S %z"
_UNIX_TIME = re.compile(r"\d{9,11}(?:\.\d{1,6})?")
_TIME_KEYS = (
    "time_iso8601",
    "time",
    "timestamp",
    "@timestamp",
    "time_local",
    "ts",
    "msec",
    "StartUTC",
)
# nginx (escape=json), generic, and Traefik's access-log field names.
_ADDRESS_KEYS = ("remote_addr", "client", "client_ip", "remote_ip", "ip", "addr", "ClientHost")
_AGENT_KEYS = ("http_user_agent", "user_agent", "agent", "ua", "request_User-Agent")
_TARGET_KEYS = ("request_uri", "uri", "path", "RequestPath")
_METHOD_KEYS = ("request_method", "method", "RequestMethod")
_STATUS_KEYS = ("status", "DownstreamStatus", "OriginStatus")


def parse_line(raw: bytes, fmt: LogFormat) -> Hit | None:
    """The hit one line records, or ``None`` for a line that is not one."""
    if len(raw) > MAX_LINE_BYTES:
        return None
    line = raw.decode("utf-8", errors="replace").strip()
    if not line:
        return None
    try:
        return _combined(line) if fmt == "combined" else _json(line)
    except (ValueError, TypeError, OverflowError):
        return None


def _combined(line: str) -> Hit | None:
    match = _COMBINED.match(line)
    if match is None:
        return None
    method, target = _request(_unescape(match.group("request")))
    if not target:
        return None
    when = datetime.strptime(match.group("time"), _LOCAL_TIME).astimezone(UTC)
    agent = _unescape(match.group("agent"))
    return Hit(when, match.group("addr"), method, target, int(match.group("status")), agent)


def _unescape(text: str) -> str:
    r"""nginx's escaping of ``"`` and ``\`` (``\x22``, ``\"``) undone, enough to match on."""
    return text.replace("\\x22", '"').replace('\\"', '"').replace("\\x5C", "\\")


def _request(request: str) -> tuple[str, str]:
    """``GET /rss.xml HTTP/1.1`` as (method, target); ("", "") when it is not a request."""
    parts = request.split(" ")
    if len(parts) < 2:
        return "", ""
    target = parts[1]
    if target.lower().startswith(("http://", "https://")):  # absolute-form (a proxy request)
        target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
    return (parts[0].upper(), target) if target.startswith("/") else ("", "")


def _json(line: str) -> Hit | None:
    data = json.loads(line)
    if not isinstance(data, Mapping):
        return None
    if isinstance(data.get("request"), Mapping):
        data = _flatten_caddy(data)
    when = _json_time(_first(data, _TIME_KEYS))
    method, target = _request(str(data.get("request", "")))
    if not target:
        target = str(_first(data, _TARGET_KEYS) or "")
        method = str(_first(data, _METHOD_KEYS) or "GET").upper()
    if when is None or not target.startswith("/"):
        return None
    status = int(str(_first(data, _STATUS_KEYS)))
    address = str(_first(data, _ADDRESS_KEYS) or "")
    return Hit(when, address, method, target, status, str(_first(data, _AGENT_KEYS) or ""))


def _flatten_caddy(data: Mapping[str, Any]) -> dict[str, Any]:
    """Caddy's nested ``request`` object as flat fields (its ``ts`` and ``status`` stay)."""
    request: Mapping[str, Any] = data["request"]
    headers = request.get("headers")
    agents = headers.get("User-Agent") if isinstance(headers, Mapping) else None
    return {
        **{k: v for k, v in data.items() if k != "request"},
        "request_method": request.get("method"),
        "request_uri": request.get("uri"),
        "remote_addr": request.get("client_ip") or request.get("remote_ip"),
        "http_user_agent": agents[0] if isinstance(agents, list) and agents else agents,
    }


def _first(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    return next((data[key] for key in keys if data.get(key) not in (None, "")), None)


def _json_time(value: Any) -> datetime | None:
    """ISO 8601 (nginx ``$time_iso8601``), ``$time_local``, or Unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        return None
    if _UNIX_TIME.fullmatch(value):  # nginx $msec, as a string
        return datetime.fromtimestamp(float(value), UTC)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        when = datetime.strptime(value, _LOCAL_TIME)
    if when.tzinfo is None:
        return None  # a time without an offset names no instant
    return when.astimezone(UTC)
