"""Command line: ``feedsvc serve``, ``check``, ``build``, ``audience``, ``popularity``.

Thin on purpose: argument parsing and printing only; the work is done by the
loader, the service and the web app.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from feedsvc.audience.commands import add_audience_commands
from feedsvc.content.loader import ContentLoader
from feedsvc.content.model import Snapshot
from feedsvc.feeds import urls
from feedsvc.feeds.profiles import PROFILES, profile_problems, site_file
from feedsvc.feeds.served_tags import ServedTags, tag_rule_warnings, vanished_tags
from feedsvc.feeds.urls import FORMATS
from feedsvc.problems import ContentError, Problem
from feedsvc.settings import (
    AdminSettings,
    ConnectionSettings,
    ListenSettings,
    ServiceSettings,
    content_dir_from_env,
    public_url_from_env,
    state_dir_from_env,
)
from feedsvc.state.store import open_state

EXIT_OK, EXIT_PROBLEMS, EXIT_UNUSABLE = 0, 1, 2


def check_report(
    content_dir: str, profiles: Sequence[str] = ()
) -> tuple[int, dict[str, object], list[Problem]]:
    """Lint a content directory: (exit code, JSON-ready report, problems in file order).

    The problems are exactly those the server logs and lists in ``/healthz``
    (the same loader builds them), paths named as the user named the folder,
    plus a warning per tag served before that has vanished (the state in
    ``$FEEDSVC_STATE_DIR`` knows them; this run's tags are added to it);
    ``profiles`` (names in :data:`~feedsvc.feeds.profiles.PROFILES`) add
    warnings where a platform's published rules are not met.
    """
    loader = ContentLoader(Path(content_dir), display_prefix=content_dir)
    snapshot: Snapshot | None
    try:
        snapshot = loader.load()
    except ContentError as exc:
        problems, snapshot = list(exc.problems), None
    else:
        problems = list(snapshot.problems) + _tag_warnings(
            snapshot, str(Path(content_dir) / "site.yaml")
        )
        for name in dict.fromkeys(profiles):
            problems += profile_problems(snapshot, PROFILES[name], site_file(content_dir))
    problems.sort(key=lambda p: (p.path, p.line or 0, p.field, p.severity, p.message))
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    code = EXIT_UNUSABLE if snapshot is None else EXIT_PROBLEMS if errors else EXIT_OK
    report: dict[str, object] = {
        "content_dir": content_dir,
        "exit_code": code,
        "valid": not errors,
        "articles": len(snapshot.articles) if snapshot else 0,
        "tags": len(snapshot.tags) if snapshot else 0,
        "summary": {"errors": len(errors), "warnings": len(warnings)},
        "errors": [p.to_dict() for p in errors],
        "warnings": [p.to_dict() for p in warnings],
    }
    return code, report, problems


def _tag_warnings(snapshot: Snapshot, site_path: str) -> list[Problem]:
    """Tags the state remembers that the content no longer has (recording today's),
    and tag rules that may not do what the editor means."""
    lines = _top_level_lines(Path(site_path))
    line = lines.get("tag_redirects")
    state = open_state(state_dir_from_env())
    try:
        served = ServedTags(state)
        before = dict(served.names)
        served.remember(snapshot.tags, snapshot.built_at)
    finally:
        state.close()
    return vanished_tags(before, snapshot, site_path, line) + tag_rule_warnings(
        before, snapshot, site_path, lines
    )


def _top_level_lines(path: Path) -> dict[str, int]:
    """The line of each top-level key of a YAML file (the first one), for messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        key, colon, _ = line.partition(":")
        if colon and key and key[0] not in " \t#-" and key.strip() == key:
            lines.setdefault(key, number)
    return lines


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a content directory; exit 1 on errors (warnings alone pass), 2 if unusable."""
    code, report, problems = check_report(args.content_dir, args.profile or ())
    if args.format == "json":
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return code
    for problem in problems:
        print(problem)
    summary = report["summary"]
    assert isinstance(summary, dict)
    if code == EXIT_UNUSABLE:
        print("feedsvc: site.yaml is unusable; nothing can be served", file=sys.stderr)
    else:
        print(
            f"{report['articles']} articles, {report['tags']} tags: "
            f"{summary['errors']} errors, {summary['warnings']} warnings",
            file=sys.stderr,
        )
    return code


def exposure_warning(host: str, settings: ServiceSettings) -> str | None:
    """The warning ``serve`` prints when other machines can reach it and name its links.

    Listening beyond loopback without ``FEEDSVC_PUBLIC_URL`` (nor
    ``FEEDSVC_ALLOWED_HOSTS``), every client's Host header ends up in self
    links, pages and OPML, which a shared cache in front may keep.
    """
    if settings.public_url or settings.allowed_hosts:
        return None
    if host == "localhost" or host.startswith("127.") or host in ("::1", "[::1]"):
        return None
    return (
        f"feedsvc: WARNING: listening on {host} without FEEDSVC_PUBLIC_URL: links in feeds, "
        "pages and OPML follow each request's Host header, which any client can forge "
        "(a cache in front may keep them). Set FEEDSVC_PUBLIC_URL (or FEEDSVC_ALLOWED_HOSTS)."
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the app on waitress until SIGINT/SIGTERM (and the admin listener beside it)."""
    from feedsvc.web.admin import start_private
    from feedsvc.web.app import create_app
    from feedsvc.web.respond import ENDPOINT
    from feedsvc.web.server import create_server, serve_until_terminated, tune_interpreter

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    tune_interpreter()
    settings = ServiceSettings.from_env(
        content_dir=args.content_dir,
        public_url=args.public_url,
        proxy_hops=args.proxy_hops,
        render_slots=max(1, args.threads - 1),  # one thread always left for cached answers
    )
    connections = ConnectionSettings.from_env(
        connection_limit=args.connection_limit, idle_timeout=args.idle_timeout,
        max_header_bytes=args.max_header_bytes, max_body_bytes=args.max_body_bytes,
    )  # fmt: skip

    admin_settings = AdminSettings.from_env()  # a bad address stops here (ValueError)
    warning = exposure_warning(args.host, settings)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        app = create_app(settings)
    except ContentError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        site_file = settings.content_dir / "site.yaml"
        print(f"feedsvc: cannot start without a usable site.yaml ({site_file})", file=sys.stderr)
        return EXIT_UNUSABLE
    server = create_server(
        app, connections, settings.proxy_hops, app.extensions[ENDPOINT].answers_from_memory,
        host=args.host, port=args.port, threads=args.threads, ident="feedsvc",
        clear_untrusted_proxy_headers=False,
    )  # fmt: skip
    host, port = server.effective_host, server.effective_port
    shown = f"[{host}]" if ":" in str(host) else host
    base = settings.public_url or f"http://{shown}:{port}"
    print(f"feedsvc serving {settings.content_dir} on http://{shown}:{port}/", flush=True)
    print(f"  directory  {base}{urls.DIRECTORY}", flush=True)
    for fmt in FORMATS.values():
        print(f"  main       {base}{urls.feed_path(urls.MAIN, fmt)}", flush=True)
    print(f"  popular    {base}{urls.feed_path(urls.POPULAR, FORMATS['rss'])}", flush=True)
    print(f"  tags       {base}{urls.TAG_INDEX}", flush=True)
    print(f"  health     {base}{urls.HEALTHZ}", flush=True)
    try:
        private = start_private(app, admin_settings, settings.state_dir)
    except OSError as exc:  # an explicit FEEDSVC_ADMIN_ADDR that cannot be bound
        return _admin_unavailable(exc, server, app)
    try:
        serve_until_terminated(server)
    finally:
        for part in private:
            part.stop()
        app.extensions["feedsvc.service.websub"].stop()  # unsent pings stay in the state
        app.extensions["feedsvc"].close()  # then the state itself
        print("feedsvc stopped", flush=True)
    return EXIT_OK


def _admin_unavailable(exc: OSError, server: Any, app: Any) -> int:
    """Stop what ``serve`` started when the admin address it was given cannot be bound."""
    print(f"feedsvc: admin listener ($FEEDSVC_ADMIN_ADDR): {exc}", file=sys.stderr)
    server.close()
    app.extensions["feedsvc"].close()
    return EXIT_UNUSABLE


def cmd_build(args: argparse.Namespace) -> int:
    """Write the static export (every feed, page and OPML as files) for one public URL."""
    from feedsvc.export import build_site

    public_url = args.public_url or public_url_from_env()
    if not public_url:
        print("feedsvc build: a public URL is required (--public-url or $FEEDSVC_PUBLIC_URL): "
              "every link in the files is absolute", file=sys.stderr)  # fmt: skip
        return EXIT_UNUSABLE
    try:
        result = build_site(
            Path(args.content_dir), Path(args.out), public_url, state_dir_from_env()
        )
    except ContentError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print("feedsvc build: cannot build without a usable site.yaml", file=sys.stderr)
        return EXIT_UNUSABLE
    removed = f"; removed {len(result.removed)} stale files" if result.removed else ""
    print(
        f"feedsvc build: {result.feeds} feeds, {len(result.files)} files in {result.out} "
        f"for {result.public_url}{removed}",
        flush=True,
    )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The ``feedsvc`` argument parser."""
    parser = argparse.ArgumentParser(prog="feedsvc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the feeds with waitress")
    listen = ListenSettings.from_env()
    serve.add_argument("--host", default=listen.host)
    serve.add_argument("--port", type=int, default=listen.port)
    serve.add_argument("--threads", type=int, default=listen.threads)
    serve.add_argument("--content-dir", default=content_dir_from_env())
    serve.add_argument("--public-url", default=None, help="overrides $FEEDSVC_PUBLIC_URL")
    serve.add_argument("--proxy-hops", type=int, default=None, help="trusted X-Forwarded hops")
    # Connection limits: defaults from $FEEDSVC_* (feedsvc.settings.ConnectionSettings).
    serve.add_argument("--connection-limit", type=int, default=None, help="open connections")
    serve.add_argument("--idle-timeout", type=int, default=None, help="seconds idle or per request")
    serve.add_argument("--max-header-bytes", type=int, default=None)
    serve.add_argument("--max-body-bytes", type=int, default=None)
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check", help="validate content; exit 1 on errors")
    check.add_argument("content_dir", nargs="?", default=content_dir_from_env())
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--profile", action="append", choices=sorted(PROFILES),
                       help="also warn where a platform's published feed rules are not met "
                       "(repeatable; warnings do not change the exit code)")  # fmt: skip
    check.set_defaults(func=cmd_check)

    build = sub.add_parser("build", help="write every feed, page and OPML as static files")
    build.add_argument("--out", required=True, help="output folder (served as the web root)")
    build.add_argument("--content-dir", default=content_dir_from_env())
    build.add_argument("--public-url", default=None, help="overrides $FEEDSVC_PUBLIC_URL")
    build.set_defaults(func=cmd_build)
    add_audience_commands(sub, content_dir_from_env(), state_dir_from_env())
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``feedsvc`` console script."""
    args = build_parser().parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.func
    try:
        return command(args)
    except ValueError as exc:  # bad settings from the environment
        print(f"feedsvc: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
