#!/usr/bin/env python3
"""Proof under load: readers never see a broken feed while editors churn content.

Starts the real server (``feedsvc serve``, waitress) on 127.0.0.1 with a short
reload interval, then for ``--duration`` seconds:

* ``--clients`` threads request every feed (main, popular, many tags) in every
  format, with and without validators (If-None-Match, If-Modified-Since),
  with and without gzip, on keep-alive connections;
* one editor thread rewrites, breaks (invalid YAML, zero bytes, a cut file),
  fixes, slowly writes (two chunks with a pause), deletes and recreates
  article files, and now and then breaks and fixes ``site.yaml`` and
  ``popularity.yaml``.

Every response is checked: no 5xx; every 200 body parses (XML or JSON); its
ETag is the service's hash of the bytes (gzip: of the identity bytes, with a
``-gz`` suffix; computed here independently); 304s only answer validators;
the main feed always holds every *protected* article (files that are broken
and fixed but never deleted: their last good version must survive); no item
is ever a half-written file (each body ends with a marker the slow writer
writes last). At the end the editor leaves valid files, and the server's
feeds must equal, byte for byte, a fresh load of the folder. Finally SIGTERM
must stop the server within a few seconds, while clients are still sending.

Only 127.0.0.1 is contacted; every loop is bounded in time and count; the
server is stopped by its PID. Prints figures; exit status 1 if any check failed.

    python bench/live_load.py                       # 30 s, 8 clients
    python bench/live_load.py --duration 10 --clients 4 --json
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import json
import logging
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import yaml

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import feedsvc_server

FORMATS = ("rss.xml", "atom.xml", "feed.json")
TAG_POOL = [f"Topic {n}" for n in range(24)] + ["North Korea", "북한", "Ünïcødé & <Co>"]
END_MARKER = "END-OF-ARTICLE"
ATOM = "{http://www.w3.org/2005/Atom}"


# -- content -------------------------------------------------------------------


def article_yaml(slug: str, version: int, tags: list[str], rng: random.Random) -> str:
    """A valid article; its body is last and ends with :data:`END_MARKER`."""
    published = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 8000))
    document = {
        "title": f"{slug} v{version} & <i>more</i> ]]>",
        "published": published.isoformat(),
        "summary": f"Summary of {slug}, version {version}: a < b & c.",
        "tags": tags,
        "views": rng.randrange(0, 10_000),
        "image": f"https://img.example.test/{slug}.jpg",
    }
    body = "\n".join(
        f"Paragraph {n} of {slug} v{version} with [a link](/rel/{n}) and `code`.\n"
        for n in range(rng.randrange(3, 12))
    )
    head = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    indented = "\n".join("  " + line if line else "" for line in (body + END_MARKER).splitlines())
    return f"{head}body: |\n{indented}\n"


SITE = {
    "title": "Load Times",
    "site_url": "https://news.example.test",
    "id_authority": "news.example.test,2025",
    "items_per_feed": 200,  # every article in the main feed: "nothing lost" is checkable
    "popular": {"items": 10},
}


@dataclass
class Content:
    """The content folder and which articles must never disappear."""

    root: Path
    protected: dict[str, list[str]]  # slug -> its (fixed) tags
    churn: list[str]


def make_content(root: Path, protected: int, churn: int, rng: random.Random) -> Content:
    articles = root / "articles"
    articles.mkdir(parents=True)
    (root / "site.yaml").write_text(yaml.safe_dump(SITE, allow_unicode=True), encoding="utf-8")
    kept: dict[str, list[str]] = {}
    for n in range(protected):
        slug = f"kept-{n:02d}"
        kept[slug] = rng.sample(TAG_POOL, 3)
        (articles / f"{slug}.yaml").write_text(article_yaml(slug, 0, kept[slug], rng), "utf-8")
    churned = [f"churn-{n:02d}" for n in range(churn)]
    for slug in churned:
        text = article_yaml(slug, 0, rng.sample(TAG_POOL, 2), rng)
        (articles / f"{slug}.yaml").write_text(text, "utf-8")
    return Content(root, kept, churned)


# -- checks ------------------------------------------------------------------------


def etag_of(body: bytes, suffix: str = "") -> str:
    """The service's ETag scheme, recomputed here: blake2b-96 of the identity bytes."""
    return f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}{suffix}"'


def item_ids_and_bodies(fmt: str, body: bytes) -> list[tuple[str, str]]:
    """(id, content html) of each item; raises if the body is not well-formed."""
    if fmt == "feed.json":
        document = json.loads(body)
        return [(i["id"], i.get("content_html", "")) for i in document["items"]]
    root = ElementTree.fromstring(body)
    if fmt == "atom.xml":
        return [
            (e.findtext(f"{ATOM}id") or "", e.findtext(f"{ATOM}content") or "")
            for e in root.iter(f"{ATOM}entry")
        ]
    encoded = "{http://purl.org/rss/1.0/modules/content/}encoded"
    return [(i.findtext("guid") or "", i.findtext(encoded) or "") for i in root.iter("item")]


@dataclass
class Stats:
    """Shared counters (guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    gzip_responses: int = 0
    conditional_requests: int = 0
    mutations: Counter[str] = field(default_factory=Counter)

    def fail(self, kind: str, detail: str) -> None:
        with self.lock:
            self.failures[kind] += 1
            self.examples.setdefault(kind, detail[:500])


def client_loop(
    port: int,
    paths: list[str],
    protected_ids: set[str],
    stats: Stats,
    stop: threading.Event,
    stopping: threading.Event,
    seed: int,
    max_requests: int,
) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    validators: dict[tuple[str, bool], tuple[str, str]] = {}  # (path, gzip) -> (etag, lm)
    count = 0
    while not stop.is_set() and count < max_requests:
        count += 1
        path = rng.choice(paths)
        use_gzip = rng.random() < 0.5
        headers = {"Accept-Encoding": "gzip"} if use_gzip else {"Accept-Encoding": "identity"}
        known = validators.get((path, use_gzip))
        mode = rng.choice(("none", "etag", "ims", "both")) if known else "none"
        if mode in ("etag", "both"):
            headers["If-None-Match"] = known[0]  # type: ignore[index]
        if mode in ("ims", "both"):
            headers["If-Modified-Since"] = known[1]  # type: ignore[index]
        started = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            if not stopping.is_set():
                stats.fail("connection", f"{path}: {exc!r}")
            continue
        elapsed = time.perf_counter() - started
        status = response.status
        with stats.lock:
            stats.statuses[status] += 1
            stats.latencies.append(elapsed)
            stats.conditional_requests += mode != "none"
        if status >= 500:
            stats.fail("5xx", f"{status} {path}")
            continue
        etag = response.getheader("ETag") or ""
        if status == 304:
            if mode == "none":
                stats.fail("304 without validators", path)
            continue
        if status == 404 and path.startswith("/tags/"):
            continue  # a churned tag can vanish for a while; main/popular never may
        if status != 200:
            stats.fail("unexpected status", f"{status} {path}")
            continue
        fmt = path.rsplit("/", 1)[1]
        encoding = response.getheader("Content-Encoding")
        body = raw
        if use_gzip and encoding == "gzip":
            with stats.lock:
                stats.gzip_responses += 1
            try:
                body = gzip.decompress(raw)
            except OSError as exc:
                stats.fail("malformed body", f"{path}: bad gzip {exc}")
                continue
            if etag != etag_of(body, "-gz"):
                stats.fail("etag mismatch", f"{path} gzip: {etag}")
        elif encoding is not None:
            stats.fail("unexpected encoding", f"{path}: {encoding}")
        elif etag != etag_of(body):
            stats.fail("etag mismatch", f"{path}: {etag}")
        try:
            items = item_ids_and_bodies(fmt, body)
        except (ValueError, KeyError, ElementTree.ParseError) as exc:
            stats.fail("malformed body", f"{path}: {exc!r}")
            continue
        for item_id, content in items:
            if END_MARKER not in content:
                stats.fail("half-written article served", f"{path}: {item_id}")
        if path.rsplit("/", 1)[0] == "":
            missing = protected_ids - {item_id for item_id, _ in items}
            if missing:
                stats.fail("protected article lost", f"{path}: {sorted(missing)[:3]}")
        validators[(path, use_gzip)] = (etag, response.getheader("Last-Modified") or "")
    conn.close()


def editor_loop(
    content: Content, stats: Stats, stop: threading.Event, seed: int, pause: float
) -> None:
    """Rewrite, break, fix, slowly write, delete and recreate files until stopped."""
    rng = random.Random(seed)
    articles = content.root / "articles"
    version = 0
    site_text = (content.root / "site.yaml").read_text(encoding="utf-8")
    while not stop.is_set():
        version += 1
        if rng.random() < 0.6:
            slug = rng.choice(sorted(content.protected))
            tags = content.protected[slug]
            actions = ["rewrite", "break", "empty", "cut", "slow", "fix"]
        else:
            slug = rng.choice(content.churn)
            tags = rng.sample(TAG_POOL, 2)
            actions = ["rewrite", "break", "empty", "slow", "delete", "rename", "fix"]
        action = rng.choice(actions)
        if rng.random() < 0.03:
            action = rng.choice(["site-break", "site-fix", "popularity"])
        path = articles / f"{slug}.yaml"
        text = article_yaml(slug, version, tags, rng)
        if action in ("rewrite", "fix"):
            path.write_text(text, encoding="utf-8")
        elif action == "break":
            path.write_text(f'title: "{slug} being edited\npublished: [\n', encoding="utf-8")
        elif action == "empty":
            path.write_bytes(b"")
        elif action == "cut":  # a save cut short inside the YAML structure
            path.write_text(text[: text.index("published")] + 'published: "2025-', "utf-8")
        elif action == "slow":  # a slow writer: the first chunk parses, the marker comes last
            cut = text.index(END_MARKER) - 5
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text[:cut])
                handle.flush()
                stop.wait(rng.uniform(0.005, 0.03))
                handle.write(text[cut:])
        elif action == "delete":
            path.unlink(missing_ok=True)
        elif action == "rename":
            other = articles / f"{rng.choice(content.churn)}.yaml"
            if path.exists() and other != path:
                path.replace(other)
        elif action == "site-break":
            (content.root / "site.yaml").write_text("title: [broken\n", encoding="utf-8")
        elif action == "site-fix":
            (content.root / "site.yaml").write_text(site_text, encoding="utf-8")
        elif action == "popularity":
            counts = {s: rng.randrange(0, 100_000) for s in [*content.protected, *content.churn]}
            (content.root / "popularity.yaml").write_text(yaml.safe_dump(counts), "utf-8")
        with stats.lock:
            stats.mutations[action] += 1
        stop.wait(rng.uniform(pause / 2, pause * 1.5))


def settle_content(content: Content, rng: random.Random) -> None:
    """Leave every file valid (the state a fresh load is compared against)."""
    articles = content.root / "articles"
    (content.root / "site.yaml").write_text(
        yaml.safe_dump(SITE, allow_unicode=True), encoding="utf-8"
    )
    for slug, tags in content.protected.items():
        (articles / f"{slug}.yaml").write_text(article_yaml(slug, 10**6, tags, rng), "utf-8")
    for path in articles.glob("churn-*.yaml"):
        text = article_yaml(path.stem, 10**6, rng.sample(TAG_POOL, 2), rng)
        path.write_text(text, encoding="utf-8")


def fresh_feeds(root: Path, base: str) -> tuple[str, dict[str, bytes]]:
    """Content version and every feed's bytes from a fresh in-process load."""
    from feedsvc.feeds.urls import FORMATS as SERVICE_FORMATS
    from feedsvc.service.core import FeedService
    from feedsvc.settings import ServiceSettings

    quiet = logging.getLogger("feedsvc")  # the server logs problems; this copy need not
    quiet.propagate, quiet.handlers = False, [logging.NullHandler()]

    service = FeedService(ServiceSettings(content_dir=root, reload_interval=0))
    view = service.catalog
    feeds = {
        spec.url_path(fmt): service.variant(view, base, spec, fmt).body
        for spec in view.feeds.values()
        for fmt in SERVICE_FORMATS.values()
    }
    return view.snapshot.version, feeds


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- the run ---------------------------------------------------------------------------


def run(
    *,
    duration: float = 30.0,
    clients: int = 8,
    reload_interval: float = 0.2,
    protected: int = 12,
    churn: int = 12,
    editor_pause: float = 0.03,
    max_requests_per_client: int = 200_000,
    stop_timeout: float = 5.0,
    seed: int = 1,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the whole scenario; returns figures and failures (empty = passed)."""
    rng = random.Random(seed)
    own_dir = work_dir is None
    folder = Path(tempfile.mkdtemp(prefix="feedsvc-live-load-")) if own_dir else work_dir
    assert folder is not None
    content = make_content(folder / "content", protected, churn, rng)
    server = feedsvc_server(content.root, "--threads", "8", reload=reload_interval,
                            log_path=folder / "server.log").start()  # fmt: skip
    base = f"http://127.0.0.1:{server.port}"
    stats = Stats()
    report: dict[str, Any] = {}
    try:
        from feedsvc.text import tag_slug

        tag_slugs = sorted({tag_slug(t) for t in TAG_POOL})
        _, initial = fresh_feeds(content.root, base)
        paths = sorted(initial) + [f"/tags/{quote(s)}/{f}" for s in tag_slugs for f in FORMATS]
        paths = sorted(set(paths))
        protected_ids = {
            f"tag:news.example.test,2025:articles/{slug}" for slug in content.protected
        }
        start_health = json.loads(server.get("/healthz")[2])

        stop_clients, stopping, stop_editor = (
            threading.Event(),
            threading.Event(),
            threading.Event(),
        )
        client_threads = [
            threading.Thread(
                target=client_loop,
                args=(
                    server.port,
                    paths,
                    protected_ids,
                    stats,
                    stop_clients,
                    stopping,
                    seed * 1000 + n,
                    max_requests_per_client,
                ),
                name=f"client-{n}",
            )
            for n in range(clients)
        ]
        editor = threading.Thread(
            target=editor_loop, args=(content, stats, stop_editor, seed, editor_pause)
        )
        started = time.monotonic()
        for thread in [*client_threads, editor]:
            thread.start()
        stop_editor.wait(duration)
        stop_editor.set()
        editor.join(timeout=30)

        # The editor is done: leave valid files and wait for the server to agree.
        settle_content(content, rng)
        deadline = time.monotonic() + max(10.0, 20 * reload_interval)
        server_version = ""
        while time.monotonic() < deadline:
            expected_version, expected = fresh_feeds(content.root, base)
            health = json.loads(server.get("/healthz")[2])
            server_version = health["version"]
            if server_version == expected_version and health["content_valid"]:
                break
            time.sleep(reload_interval / 2)
        else:
            stats.fail("final state", f"server at {server_version}, fresh {expected_version}")
        mismatched = [path for path, body in expected.items() if server.get(path)[2] != body]
        if mismatched:
            stats.fail("final state", f"{len(mismatched)} feeds differ, e.g. {mismatched[:3]}")
        health = json.loads(server.get("/healthz")[2])
        elapsed = time.monotonic() - started

        # SIGTERM while the clients are still sending.
        stopping.set()
        server.stop(stop_timeout)
        stop_seconds = server.stop_seconds
        exit_code = None if server.killed else server.returncode
        stop_clients.set()
        for thread in client_threads:
            thread.join(timeout=30)
        if exit_code != 0:
            stats.fail("sigterm", f"exit code {exit_code} after {stop_seconds:.2f}s")
        if stop_seconds > stop_timeout:
            stats.fail("sigterm", f"took {stop_seconds:.2f}s")
        if "feedsvc stopped" not in server.log():
            stats.fail("sigterm", "no clean shutdown message")
        if "Traceback" in server.log():
            stats.fail("server traceback", server.log()[-2000:])

        total = sum(stats.statuses.values())
        report = {
            "duration_s": round(elapsed, 1),
            "clients": clients,
            "reload_interval_s": reload_interval,
            "requests": total,
            "requests_per_s": round(total / elapsed, 1) if elapsed else 0,
            "statuses": dict(sorted(stats.statuses.items())),
            "conditional_requests": stats.conditional_requests,
            "gzip_responses": stats.gzip_responses,
            "latency_ms": {
                "p50": round(percentile(stats.latencies, 0.50) * 1000, 2),
                "p99": round(percentile(stats.latencies, 0.99) * 1000, 2),
                "max": round(max(stats.latencies, default=0) * 1000, 2),
                "mean": round(statistics.fmean(stats.latencies) * 1000, 2)
                if stats.latencies
                else 0,
            },
            "edits": sum(stats.mutations.values()),
            "edits_by_kind": dict(sorted(stats.mutations.items())),
            "reloads": health.get("reloads", 0) - start_health.get("reloads", 0),
            "feeds_compared_at_end": len(expected),
            "sigterm_stop_s": round(stop_seconds, 2),
            "failures": dict(stats.failures),
            "failure_examples": stats.examples,
        }
        return report
    finally:
        server.stop(stop_timeout)
        if own_dir:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of churn")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--reload", type=float, default=0.2, help="FEEDSVC_RELOAD seconds")
    parser.add_argument("--protected", type=int, default=12, help="articles never deleted")
    parser.add_argument("--churn", type=int, default=12, help="articles deleted and recreated")
    parser.add_argument("--editor-pause", type=float, default=0.03, help="seconds between edits")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = run(
        duration=args.duration,
        clients=args.clients,
        reload_interval=args.reload,
        protected=args.protected,
        churn=args.churn,
        editor_pause=args.editor_pause,
        seed=args.seed,
    )
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        latency = report["latency_ms"]
        print(
            f"duration        {report['duration_s']} s, {report['clients']} clients, "
            f"FEEDSVC_RELOAD={report['reload_interval_s']}"
        )
        print(
            f"requests        {report['requests']} ({report['requests_per_s']}/s), "
            f"statuses {report['statuses']}"
        )
        print(
            f"                {report['conditional_requests']} conditional, "
            f"{report['gzip_responses']} gzip 200s"
        )
        print(
            f"latency         p50 {latency['p50']} ms, p99 {latency['p99']} ms, "
            f"max {latency['max']} ms"
        )
        print(f"edits           {report['edits']} {report['edits_by_kind']}")
        print(f"reloads         {report['reloads']}")
        print(f"final state     {report['feeds_compared_at_end']} feeds compared with a fresh load")
        print(f"SIGTERM         stopped in {report['sigterm_stop_s']} s")
        print(f"failures        {report['failures'] or 'none'}")
        for kind, example in report["failure_examples"].items():
            print(f"  {kind}: {example}")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
