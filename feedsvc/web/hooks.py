"""What every Flask response goes through: CORS preflight, policy headers, errors.

* ``OPTIONS`` on any URL that names something is a CORS preflight (204).
* Every response gets the headers of :mod:`feedsvc.web.policy` it did not
  set itself (HTML pages their CSP; only the embed blueprint may be framed)
  and is counted for ``/metrics``.
* Errors are a short ``text/plain`` line, never an HTML error page, and
  never a 500 for input a client controls.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from feedsvc.feeds import urls
from feedsvc.feeds.routing import resolve
from feedsvc.web import embed, policy
from feedsvc.web.directory import ALIAS_ENDPOINT
from feedsvc.web.respond import pages_counter, service

blueprint = Blueprint("hooks", __name__)


@blueprint.before_app_request
def cors_preflight() -> BaseResponse | None:
    """Answer OPTIONS (CORS preflight) on every URL that names something."""
    if request.method != "OPTIONS" or request.routing_exception is not None:
        return None
    if (
        request.endpoint == ALIAS_ENDPOINT
        and urls.tag_index_number(request.path) is None
        and resolve(service().catalog, request.path) is None
    ):
        abort(404)
    response = Response(status=204)
    del response.headers["Content-Type"]
    requested = request.environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "")
    for name, value in policy.preflight(requested):
        response.headers[name] = value
    return response


@blueprint.after_app_request
def policy_headers(response: BaseResponse) -> BaseResponse:
    """Count the response; add every policy header it does not carry yet."""
    rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
    pages_counter().add((rule, str(response.status_code)))
    headers = policy.EVERY_RESPONSE
    if response.mimetype == "text/html":
        headers = headers + policy.html_page(framable=request.blueprint == embed.blueprint.name)
    for name, value in headers:
        response.headers.setdefault(name, value)
    return response


@blueprint.app_errorhandler(HTTPException)
def http_error(error: HTTPException) -> BaseResponse:
    """``<code> <reason>`` as plain text (the description for 400 and 404)."""
    text = error.description if error.code in (400, 404) and error.description else error.name
    if error.code == 404 and "requested URL was not found" in (error.description or ""):
        text = "not found"
    response = Response(f"{error.code} {text}\n", status=error.code, mimetype="text/plain")
    if error.code == 405:
        for name, value in policy.ALLOW:
            response.headers[name] = value
    return response
