"""The private admin listener: ``/stats``, ``/metrics`` and the detailed ``/healthz``.

A second, small Flask app on its own waitress server (``FEEDSVC_ADMIN_ADDR``,
loopback by default), so that nothing private depends on a proxy rule to
stay private: the public listener answers only a minimal ``/healthz`` and
404 for the rest (:mod:`feedsvc.web.health`). It shares the public app's
service and counters, and reads the audience from the state.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app
from flask.json.provider import DefaultJSONProvider
from waitress import create_server, wasyncore
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from feedsvc.audience import dashboard, estimate
from feedsvc.audience.db import connect_state
from feedsvc.audience.estimate import Estimate
from feedsvc.audience.live import EXTENSION, LiveRecorder, RecordingMiddleware
from feedsvc.audience.store import SchemaError
from feedsvc.feeds import urls
from feedsvc.settings import AdminSettings
from feedsvc.web import health, policy
from feedsvc.web.html import render
from feedsvc.web.respond import ENDPOINT, PAGES_COUNTER, SERVICE, service

log = logging.getLogger(__name__)

STATE_DIR = "feedsvc.admin.state_dir"  # app.extensions key: the state folder
CLOCK = "feedsvc.admin.clock"  # app.extensions key: today's date for /stats
ADMIN_THREADS = 2  # a person and a scraper; never the public load
stats_blueprint = Blueprint("stats", __name__)


def _folder(state_dir: str | Path | None) -> Path | None:
    return None if state_dir is None else Path(state_dir)


def share_with_public(public: Flask, state_dir: str | Path | None) -> None:
    """``FEEDSVC_ADMIN_ADDR=public``: the public app serves ``/stats`` and full ``/metrics``."""
    public.extensions[STATE_DIR] = _folder(state_dir)
    public.extensions[CLOCK] = lambda: datetime.now(UTC)
    public.extensions[health.AUDIENCE_ESTIMATES] = _estimates(_folder(state_dir))
    public.extensions[health.AUDIENCE_HEALTH] = _audience_health(public, _folder(state_dir))
    public.register_blueprint(stats_blueprint)


def create_admin_app(
    public: Flask, state_dir: str | Path | None, clock: Callable[[], datetime] | None = None
) -> Flask:
    """The admin app over ``public``'s service and counters, with the state in ``state_dir``."""
    app = Flask(__name__, static_folder=None)
    if isinstance(app.json, DefaultJSONProvider):
        app.json.sort_keys = False
    for key in (SERVICE, ENDPOINT, PAGES_COUNTER):
        app.extensions[key] = public.extensions[key]
    app.extensions[STATE_DIR] = _folder(state_dir)
    app.extensions[CLOCK] = clock or (lambda: datetime.now(UTC))
    app.extensions[health.AUDIENCE_ESTIMATES] = _estimates(_folder(state_dir))
    app.extensions[health.AUDIENCE_HEALTH] = _audience_health(public, _folder(state_dir))
    app.register_blueprint(health.blueprint)
    app.register_blueprint(stats_blueprint)
    app.after_request(_policy)
    app.register_error_handler(HTTPException, _error)
    return app


def _read(state_dir: Path | None, query: Callable[[Any], Any], fallback: Any = None) -> Any:
    """``query`` over the state; ``fallback`` (logged) when the state cannot be read.

    A missing, locked or corrupt state file makes the audience pages say so;
    it never takes ``/metrics`` or the detailed ``/healthz`` down with it.
    """
    if state_dir is None:  # FEEDSVC_STATE_DIR=none: nothing is kept
        return fallback
    try:
        conn = connect_state(state_dir)
        try:
            return query(conn)
        finally:
            conn.close()
    except (sqlite3.Error, OSError, SchemaError) as exc:
        log.warning("audience state in %s unreadable: %s", state_dir, exc)
        return fallback


def _estimates(state_dir: Path | None) -> Callable[[], list[Estimate]]:
    return lambda: cast("list[Estimate]", _read(state_dir, estimate.latest, []))


def _audience_health(public: Flask, state_dir: Path | None) -> Callable[[], dict[str, Any]]:
    """The audience part of the detailed ``/healthz``: the state, the live recorder."""

    def report() -> dict[str, Any]:
        day = _read(state_dir, estimate.last_day, "unreadable")
        recorder = public.extensions.get(EXTENSION)
        live = None if recorder is None else recorder.stats()
        return {"state": "unreadable" if day == "unreadable" else "ok",
                "last_day_counted": None if day == "unreadable" else day, "live": live}  # fmt: skip

    return report


@stats_blueprint.get(urls.STATS)
def stats() -> BaseResponse:
    """The audience page: numbers, SVG charts and tables, never cached."""
    today = current_app.extensions[CLOCK]().date()
    state_dir = current_app.extensions[STATE_DIR]
    board = _read(state_dir, lambda c: dashboard.build(c, today))
    site = service().catalog.snapshot.site
    error = (
        None if board is not None
        else "No state folder (FEEDSVC_STATE_DIR=none): the audience is not counted."
        if state_dir is None else f"The audience state in {state_dir} cannot be read."
    )  # fmt: skip
    board = board or dashboard.Dashboard(None)
    html = render("stats.html", site=site, board=board, error=error, paths={"metrics": urls.METRICS,
                  "health": urls.HEALTHZ, "stats": urls.STATS})  # fmt: skip
    return Response(html, mimetype="text/html", headers=policy.UNCACHED)


def _policy(response: BaseResponse) -> BaseResponse:
    headers = policy.NOSNIFF + policy.UNCACHED
    if response.mimetype == "text/html":
        headers = headers + policy.html_page(framable=False)
    for name, value in headers:
        response.headers.setdefault(name, value)
    return response


def _error(error: HTTPException) -> BaseResponse:
    return Response(f"{error.code} {error.name}\n", status=error.code, mimetype="text/plain")


class AdminListener:
    """The admin app on its own waitress server, in a daemon thread."""

    def __init__(self, app: Flask, settings: AdminSettings) -> None:
        assert settings.host is not None
        self.server: Any = create_server(
            app,
            host=settings.host,
            port=settings.port,
            threads=ADMIN_THREADS,
            ident="feedsvc-admin",
        )
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="admin", daemon=True)

    @property
    def address(self) -> str:
        """``host:port`` as bound (the port is known after binding port 0)."""
        host = str(self.server.effective_host)
        return (
            f"[{host}]:{self.server.effective_port}"
            if ":" in host
            else f"{host}:{self.server.effective_port}"
        )

    def start(self) -> AdminListener:
        """Serve until :meth:`stop`."""
        self._thread.start()
        return self

    def _serve(self) -> None:
        """waitress's loop one poll at a time, closed by this thread (see tests/servers.py)."""
        socket_map = self.server._map
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=0.2, map=socket_map, count=1)
        finally:
            self.server.task_dispatcher.shutdown()
            wasyncore.close_all(socket_map)

    def stop(self) -> None:
        """Stop serving and close every connection."""
        self._stopping.set()
        self._thread.join(timeout=5)


def start_admin(
    public: Flask, settings: AdminSettings, state_dir: str | Path | None
) -> AdminListener | None:
    """The admin listener started, or ``None`` when off or (default address only) busy.

    An address set in ``$FEEDSVC_ADMIN_ADDR`` that cannot be bound raises
    :class:`OSError`; the default one being taken (another feedsvc on this
    machine) only logs, so a second instance still serves its readers.
    """
    if settings.host is None:
        return None
    try:
        listener = AdminListener(create_admin_app(public, state_dir), settings)
    except OSError as exc:
        if settings.explicit:
            raise
        log.warning("admin listener not started on %s:%s: %s", settings.host, settings.port, exc)
        return None
    return listener.start()


def start_private(app: Any, admin: AdminSettings, state_dir: str | None) -> list[Any]:
    """Live audience counting and the admin listener; what to stop at exit.

    The public app then answers only a minimal ``/healthz`` (no ``/metrics``),
    unless ``FEEDSVC_ADMIN_ADDR=public`` shares the private pages with it.
    Without a state folder (``FEEDSVC_STATE_DIR=none``) nothing is counted.
    """
    if admin.shared:
        share_with_public(app, state_dir)
    else:
        app.extensions[health.PUBLIC_ONLY] = True
    parts: list[Any] = []
    if state_dir is not None:
        folder = state_dir
        recorder = LiveRecorder(lambda: connect_state(folder))
        app.extensions[EXTENSION] = recorder
        app.wsgi_app = RecordingMiddleware(app.wsgi_app, recorder)  # the fast path's answers too
        recorder.start()
        parts.append(recorder)
    listener = start_admin(app, admin, state_dir)
    if listener is not None:
        print(f"  admin      http://{listener.address}{urls.STATS} "
              f"(and {urls.METRICS}, {urls.HEALTHZ}; private)", flush=True)  # fmt: skip
        parts.insert(0, listener)
    return parts
