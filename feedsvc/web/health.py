"""``/healthz`` (JSON status for load balancers and people) and ``/metrics`` (Prometheus).

On the public listener of ``feedsvc serve`` (:data:`PUBLIC_ONLY` set in the
app's extensions) ``/healthz`` says only ``{"status": ...}`` (no paths, no
reasons, no counts) and ``/metrics`` is 404: both are served in full by the
private admin listener (:mod:`feedsvc.web.admin`). An app built without the
flag (tests, embedding) keeps the full views.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app
from werkzeug.sansio.response import Response as BaseResponse

from feedsvc.feeds import urls
from feedsvc.service.core import FeedService
from feedsvc.web import policy
from feedsvc.web.metrics import CONTENT_TYPE, collect
from feedsvc.web.respond import feed_endpoint, pages_counter, service

blueprint = Blueprint("health", __name__)

# app.extensions key: this app is a public listener; private detail stays off it.
PUBLIC_ONLY = "feedsvc.public_only"
# app.extensions keys (admin only): callables giving the audience gauges' estimates,
# and the audience part of the detailed health report.
AUDIENCE_ESTIMATES = "feedsvc.audience.estimates"
AUDIENCE_HEALTH = "feedsvc.audience.health"


def public_only() -> bool:
    """Whether this app answers on the public listener (detail kept to the admin one)."""
    return bool(current_app.extensions.get(PUBLIC_ONLY))


def health_report(service: FeedService, http: dict[str, int]) -> dict[str, Any]:
    """Status, counts, content version and the current content problems.

    "degraded" when content has errors or the last reload failed
    (``reload_error`` says why; the content served is the last good one), or
    while state that should be kept is not (``state`` says why: a folder that
    cannot hold it, writes failing). A state started fresh after a broken
    ``state.db`` was moved aside is shown in ``state`` but is not "degraded":
    the service keeps everything from then on.
    """
    catalog = service.catalog
    snapshot = catalog.snapshot
    errors = [p.to_dict() for p in snapshot.errors]
    last_reload = service.last_reload_at
    failure = service.reload_failure
    return {
        "status": "degraded" if errors or failure or service.state.degraded else "ok",
        "content_valid": not errors,
        "reload_error": failure,
        "state": service.state.status,
        "version": snapshot.version,
        "articles": len(snapshot.articles),
        "tags": len((catalog.loaded or snapshot).tags),  # with articles (not kept empty ones)
        "feeds": len(catalog.feeds),
        "loaded_at": catalog.loaded_at.isoformat(),
        "last_reload_at": last_reload.isoformat() if last_reload else None,
        "reloads": service.reloads,
        "watch": service.watch_mode,
        "files_read": service.loader.files_read,
        "renders": service.cache.renders,
        "http": http,
        "errors": errors,
        "warnings": [p.to_dict() for p in snapshot.problems if p.severity == "warning"],
    }


@blueprint.get(urls.HEALTHZ)
def healthz() -> BaseResponse:
    """The health report (only its status on the public listener), never cached."""
    report = health_report(service(), feed_endpoint().stats())
    if public_only():
        report = {"status": report["status"]}
    elif (audience := current_app.extensions.get(AUDIENCE_HEALTH)) is not None:
        report["audience"] = audience()
    response = current_app.json.response(report)
    response.headers.update(policy.UNCACHED)
    return response


@blueprint.get(urls.METRICS)
def metrics() -> BaseResponse:
    """Request, cache, reload, content and audience metrics (Prometheus text format)."""
    if public_only():
        abort(404)
    estimates = current_app.extensions.get(AUDIENCE_ESTIMATES)
    body = collect(service(), feed_endpoint().counter, pages_counter(), estimates)
    return Response(body, content_type=CONTENT_TYPE, headers=policy.UNCACHED)
