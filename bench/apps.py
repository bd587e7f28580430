"""The Python baselines the benchmark compares feedsvc with, each on waitress.

``python -m bench.apps KIND --port P --threads T --body FILE --content DIR --public-url U``

* ``bare``: a WSGI callable returning the prebuilt bytes with only
  Content-Type and Content-Length. Nothing can answer faster on waitress, so
  this is the Python-server ceiling.
* ``flask``: a Flask route returning the prebuilt bytes with ETag,
  Last-Modified and Cache-Control and Werkzeug's conditional check; what a
  careful Flask app costs per request (the reason feedsvc answers feed URLs in
  front of Flask).
* ``naive``: a Flask route that builds the feed with feedgen on every request,
  as most small feed services do. It reuses feedsvc's own item preparation
  and feedgen calls (Markdown results stay cached), so it produces exactly the
  bytes feedsvc serves and pays only for building one feed in one format per
  request: the strongest fair version of the naive peer.

Every kind serves the main RSS feed at ``/rss.xml``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from waitress import create_server

from feedsvc.web.server import RateLimit, serve_until_terminated


def bare_app(body: bytes, content_type: str):
    """The ceiling: prebuilt bytes, two headers, no routing."""
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    payload = [body]

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", headers)
        return payload

    return app


def flask_prebuilt_app(body: bytes, content_type: str, last_modified: datetime):
    """Flask routing + request context + Werkzeug conditional, on prebuilt bytes."""
    from flask import Flask, Response, request

    app = Flask("bench_flask")
    etag = hashlib.blake2b(body, digest_size=12).hexdigest()

    @app.get("/rss.xml")
    def rss() -> Response:
        response = Response(body, content_type=content_type)
        response.set_etag(etag)
        response.last_modified = last_modified
        response.headers["Cache-Control"] = "public, max-age=300"
        return response.make_conditional(request)

    return app


def naive_app(content_dir: Path, public_url: str):
    """Flask + feedgen on every request (the naive peer), same bytes as feedsvc."""
    from flask import Flask, Response

    from feedsvc.content.loader import ContentLoader
    from feedsvc.feeds.cache import fill_base
    from feedsvc.feeds.document import feed_document
    from feedsvc.feeds.render import rss_feed
    from feedsvc.feeds.spec import main_feed
    from feedsvc.feeds.urls import FORMATS

    snapshot = ContentLoader(content_dir).load()
    spec = main_feed(snapshot)
    app = Flask("bench_naive")

    @app.get("/rss.xml")
    def rss() -> Response:
        body = fill_base(rss_feed(feed_document(snapshot, spec)), "rss", public_url)
        return Response(body, content_type=FORMATS["rss"].content_type)

    return app


def main(argv: list[str] | None = None) -> int:
    """Serve one baseline until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("bare", "flask", "naive"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--body", type=Path, help="prebuilt bytes (bare, flask)")
    parser.add_argument("--content-type", default="application/rss+xml; charset=utf-8")
    parser.add_argument("--content", type=Path, help="content directory (naive)")
    parser.add_argument("--public-url", default="http://127.0.0.1")
    args = parser.parse_args(argv)
    if args.kind == "naive":
        app = naive_app(args.content, args.public_url)
    else:
        body = args.body.read_bytes()
        if args.kind == "bare":
            app = bare_app(body, args.content_type)
        else:
            modified = datetime.fromtimestamp(int(args.body.stat().st_mtime), UTC)
            app = flask_prebuilt_app(body, args.content_type, modified)
    # The same quiet queue log as feedsvc serve, so the ceiling is not slowed by logging.
    logging.getLogger("waitress.queue").addFilter(RateLimit())
    server = create_server(app, host="127.0.0.1", port=args.port, threads=args.threads)

    print(f"{args.kind} listening on {args.port}", flush=True)
    serve_until_terminated(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
