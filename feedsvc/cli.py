"""Command line: ``feedsvc serve``, ``feedsvc check``.

Thin on purpose: argument parsing and printing only; the work is done by the
loader, the service and the web app.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import ServiceSettings
from .feeds import FORMATS
from .loader import ContentLoader
from .problems import ContentError, Problem

EXIT_OK, EXIT_PROBLEMS, EXIT_UNUSABLE = 0, 1, 2


def _default_content_dir() -> str:
    return os.environ.get("FEEDSVC_CONTENT_DIR") or "content"


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a content directory; exit 1 on errors (warnings alone pass)."""
    loader = ContentLoader(Path(args.content_dir))
    try:
        snapshot = loader.load()
        problems: list[Problem] = list(snapshot.problems)
        # Drafts and future articles are valid, but a future date is worth a word.
        for article in (a for a in loader.all_articles() if a.published > snapshot.built_at):
            problems.append(
                Problem(article.source, "published", "is in the future; not in feeds until then",
                        severity="warning")
            )  # fmt: skip
    except ContentError as exc:
        problems = exc.problems
        snapshot = None
    problems.sort(key=lambda p: (p.path, p.line or 0, p.field))
    errors = [p for p in problems if p.severity == "error"]
    if args.format == "json":
        print(json.dumps({
            "content_dir": str(args.content_dir),
            "articles": len(snapshot.articles) if snapshot else 0,
            "errors": [p.to_dict() for p in errors],
            "warnings": [p.to_dict() for p in problems if p.severity == "warning"],
        }, indent=2, ensure_ascii=False))  # fmt: skip
    else:
        for problem in problems:
            print(problem)
        if snapshot is not None:
            print(
                f"{len(snapshot.articles)} articles, {len(snapshot.tags)} tags: "
                f"{len(errors)} errors, {len(problems) - len(errors)} warnings",
                file=sys.stderr,
            )
    if snapshot is None:
        return EXIT_UNUSABLE
    return EXIT_PROBLEMS if errors else EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the app on waitress until SIGINT/SIGTERM."""
    from waitress import create_server

    from .web import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = ServiceSettings.from_env(
        content_dir=args.content_dir, public_url=args.public_url, proxy_hops=args.proxy_hops
    )
    try:
        app = create_app(settings)
    except ContentError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print("feedsvc: cannot start without a usable site.yaml", file=sys.stderr)
        return EXIT_UNUSABLE
    server = create_server(
        app, host=args.host, port=args.port, threads=args.threads, ident="feedsvc",
        clear_untrusted_proxy_headers=False,
    )  # fmt: skip
    host, port = server.effective_host, server.effective_port  # type: ignore[attr-defined]
    shown = f"[{host}]" if ":" in str(host) else host
    base = settings.public_url or f"http://{shown}:{port}"
    print(f"feedsvc serving {settings.content_dir} on http://{shown}:{port}/", flush=True)
    print(f"  directory  {base}/", flush=True)
    for fmt in FORMATS.values():
        print(f"  main       {base}/{fmt.filename}", flush=True)
    print(f"  popular    {base}/popular/rss.xml", flush=True)
    print(f"  tags       {base}/tags/", flush=True)
    print(f"  health     {base}/healthz", flush=True)

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        app.extensions["feedsvc"].stop()
        app.extensions["feedsvc.websub"].stop()
        print("feedsvc stopped", flush=True)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The ``feedsvc`` argument parser."""
    parser = argparse.ArgumentParser(prog="feedsvc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the feeds with waitress")
    serve.add_argument("--host", default=os.environ.get("FEEDSVC_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("FEEDSVC_PORT", "8080")))
    serve.add_argument("--threads", type=int, default=int(os.environ.get("FEEDSVC_THREADS", "8")))
    serve.add_argument("--content-dir", default=_default_content_dir())
    serve.add_argument("--public-url", default=None, help="overrides $FEEDSVC_PUBLIC_URL")
    serve.add_argument("--proxy-hops", type=int, default=None, help="trusted X-Forwarded hops")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check", help="validate content; exit 1 on errors")
    check.add_argument("content_dir", nargs="?", default=_default_content_dir())
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``feedsvc`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # bad settings from the environment
        print(f"feedsvc: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
