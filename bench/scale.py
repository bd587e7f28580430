"""feedsvc at 10k and 100k articles: ``python bench/scale.py [--sizes 10k,100k]``.

For each size, synthetic content (:mod:`bench.generate`, cached between runs
in ``--data-dir``) is served and measured:

Over HTTP, ``feedsvc serve`` as shipped, with default settings (its watcher
on: inotify on Linux, else polling every 2 s; a real process on 127.0.0.1):

* **start**: from launching the process to the first ``200`` for ``/rss.xml``;
* **memory**: the server's resident set (VmRSS) once serving, after its
  background prewarm, and again after a sweep of cold tag feeds;
* **cold tag feed**: the first request of tag feeds never requested (nor
  prewarmed) before, median and worst of a sample of rarely used tags:
  right after a first start on an empty state folder, again (other tags)
  once the background pre-render of bodies is done (with ``/rss.xml``
  latency while it ran), and after a restart on that state
  (:mod:`bench.coldfeeds`);
* **one-file edit, end to end**: save an edited article (one of the newest,
  so in the main feed) and request ``/rss.xml`` every 2 ms until the edit is
  in it, through the real watcher: nothing but the save triggers the reload.
  Alternately saved in place (truncate and write) and as editors do (a
  temporary file renamed over it); median and worst of the rounds, with the
  server's CPU time per round (which includes answering the polling);
* **idle**: the server's CPU time per second over a quiet period (no
  requests, no changes): the watcher's steady cost.

In-process (the same :class:`~feedsvc.service.FeedService` the server runs,
so its counters can be read):

* **one-file edit, explicit reload**: save an edited article, call
  ``reload()``, and serve the main feed until the edit is in it; reports the
  time, the CPU time, how many files were read (``ContentLoader.files_read``)
  and feeds rendered (``FeedCache.renders``). Without a watcher a reload
  cannot know which file changed, so this includes comparing every file;
* **no-change poll**: a reload when nothing changed, i.e. a comparison of
  every file's signature: what polling costs on every interval, and what
  the inotify watcher's safety scan costs once a minute;
* **full reload**: every article file changed (e.g. a checkout), all re-read;
* **cache bound**: a sweep over many rarely read tag feeds keeps the rendered
  feed cache within ``FEEDSVC_CACHE_MB`` (evictions counted).

Targets are printed next to the figures; nothing is asserted. The edited
content is restored afterwards. Results are also written as JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import coldfeeds
from bench.coldfeeds import cold_feeds, measure_prerender, wait_prerendered
from bench.generate import tag_names, write_content
from bench.servers import REPO, feedsvc_server

SIZES = {"10k": (10_000, 1_000), "100k": (100_000, 5_000), "1k": (1_000, 100)}
TARGETS = {
    "start_s": {"10k": 2.0, "100k": 10.0},  # issue 14: a cold start, no parse cache
    "restart_s": {"100k": 3.0},  # issue 14: a restart with the parse cache
    "full_reload_s": {"100k": 8.0},
    "rss_mb": {"100k": 200.0},  # issue 14: after 1,800 cold feeds too
    "cold_tag_ms": {"10k": 20.0, "100k": 10.0},  # issue 14: worst of 20
    "edit_ms": {"10k": 100.0, "100k": 100.0},
    "poll_ms": {"100k": 150.0},
}
RESULTS_DIR = REPO / "bench" / "results"


def ensure_content(data_dir: Path, size: str, seed: int) -> Path:
    """The content for ``size``, generated once and reused while its stamp matches."""
    articles, tags = SIZES[size]
    root = data_dir / f"content-{size}-seed{seed}"
    stamp = root / ".generated"
    expected = f"{articles} {tags} {seed}"
    if not (stamp.exists() and stamp.read_text() == expected):
        started = time.perf_counter()
        write_content(root, articles, tags, seed=seed)
        stamp.write_text(expected)
        print(f"  generated {size} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return root


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its reaped children (its load workers).

    On a shared machine wall time includes waiting for a CPU; CPU time does not,
    so both are reported.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def vm_rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def timed_get(conn: http.client.HTTPConnection, path: str) -> tuple[int, float, bytes]:
    """Status, milliseconds and body of one GET on an open connection."""
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    return response.status, (time.perf_counter() - started) * 1000, body


def rare_tag_paths(size: str, seed: int, count: int, skip: int = 0) -> list[str]:
    """URL paths of rarely used tags (Zipf tail), never prewarmed; ``skip`` the first ones."""
    import random
    from urllib.parse import quote

    from feedsvc.text import tag_slug

    _, tags = SIZES[size]
    names = tag_names(tags, random.Random(seed))
    tail = names[len(names) // 3 :]
    step = max(1, len(tail) // (count + skip))
    chosen = tail[::step][skip : skip + count]
    return [f"/tags/{quote(tag_slug(name))}/rss.xml" for name in chosen]


def other_rare_tag_paths(size: str, seed: int, batch: int) -> list[str]:
    """Batch 0, 1, 2 of 20 rare tags, none in another batch nor among the first 20 measured."""
    first = set(rare_tag_paths(size, seed, 20))
    pool = [path for path in rare_tag_paths(size, seed, 80) if path not in first]
    return pool[batch * 20 : batch * 20 + 20]


def wait_for_renders_to_settle(conn: http.client.HTTPConnection, limit: float = 120) -> None:
    """Poll /healthz until its render count stops moving (the background prewarm is done)."""
    deadline = time.monotonic() + limit
    last = -1
    while time.monotonic() < deadline:
        _, _, body = timed_get(conn, "/healthz")
        renders = json.loads(body)["renders"]
        if renders == last:
            return
        last = renders
        time.sleep(0.5)


def newest_slugs(conn: http.client.HTTPConnection, count: int) -> list[str]:
    """Slugs of the newest articles, as a reader sees them (the JSON feed's ids)."""
    _, _, body = timed_get(conn, "/feed.json")
    return [item["id"].rsplit("/", 1)[1] for item in json.loads(body)["items"][:count]]


def retitled(original: bytes, title: str) -> bytes:
    """An article file's bytes with another title."""
    return re.sub(rb"^title: .*$", f'title: "{title}"'.encode(), original, count=1, flags=re.M)


def save(path: Path, data: bytes, atomic: bool) -> None:
    """Save as a script does (truncate and write in place) or as editors do (rename over)."""
    if not atomic:
        path.write_bytes(data)
        return
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def wait_until_served(
    conn: http.client.HTTPConnection, marker: bytes, present: bool = True, limit: float = 30
) -> float:
    """Seconds until ``/rss.xml`` does (or does not) contain ``marker``; polls every 2 ms."""
    started = time.perf_counter()
    while True:
        _, _, body = timed_get(conn, "/rss.xml")
        if (marker in body) == present:
            return time.perf_counter() - started
        if time.perf_counter() - started > limit:
            raise RuntimeError(f"edit not served within {limit} s")
        time.sleep(0.002)


def measure_edit_http(
    conn: http.client.HTTPConnection, pid: int, content: Path, rounds: int
) -> dict[str, object]:
    """Save one article at a time and wait for the running server to serve it."""
    timings, cpu = [], []
    for index, slug in enumerate(newest_slugs(conn, rounds)):
        path = content / "articles" / f"{slug}.yaml"
        original = path.read_bytes()
        marker = f"Edited {time.time_ns()}"
        try:
            time.sleep(0.2)  # apart from the previous round
            before = cpu_seconds(pid)
            saved = time.perf_counter()
            save(path, retitled(original, marker), atomic=bool(index % 2))
            wait_until_served(conn, marker.encode())
            timings.append((time.perf_counter() - saved) * 1000)
            cpu.append((cpu_seconds(pid) - before) * 1000)
        finally:
            path.write_bytes(original)
            wait_until_served(conn, marker.encode(), present=False)
    return {
        "edit_http_ms_median": round(statistics.median(timings), 1),
        "edit_http_ms_max": round(max(timings), 1),
        "edit_http_cpu_ms_median": round(statistics.median(cpu), 1),
        "edit_http_rounds": len(timings),
    }


def measure_http(
    content: Path, size: str, seed: int, sweep: int, edits: int, idle: float, full: bool = True
) -> dict[str, object]:
    """Start, memory, cold tag feeds, edits and idle cost against a real ``feedsvc serve``."""
    # FEEDSVC_RELOAD and FEEDSVC_WATCH unset: the watcher runs as it does for users.
    # A state folder of its own, empty: the first start has no parse cache (a cold
    # start, which fills it), the restart after it finds every file in it.
    with tempfile.TemporaryDirectory(prefix="feedsvc-scale-state-") as state:
        unset = {"FEEDSVC_RELOAD": None, "FEEDSVC_WATCH": None, "FEEDSVC_STATE_DIR": state}
        if full:
            result = measure_first_server(content, size, seed, sweep, edits, idle, unset)
        else:  # --parts start: the cold start (no parse cache) and the restart only
            result = measure_restart(content, size, seed, unset)
            result = {"start_s": result["restart_s"], "start_cpu_s": result["restart_cpu_s"],
                      "rss_mb_serving": result["restart_rss_mb_serving"]}  # fmt: skip
        result.update(measure_restart(content, size, seed, unset))
        result["state_db_mb"] = round(os.path.getsize(Path(state, "state.db")) / 2**20, 1)
    return result


def started_server(
    content: Path, size: str, env: dict[str, str | None], log_name: str
) -> tuple[Any, float]:
    """A real ``feedsvc serve`` on ``content``, started; seconds to its first ``/rss.xml``."""
    server = feedsvc_server(content, reload=None, env=env, ready="/rss.xml", timeout=300,
                            log_path=RESULTS_DIR / f"scale-{size}-{log_name}.log")  # fmt: skip
    started = time.perf_counter()
    server.start()  # returns on the first answer to /rss.xml
    return server, round(time.perf_counter() - started, 3)


def measure_first_start(content: Path, size: str, seed: int) -> dict[str, object]:
    """Only the first start on an empty state folder and its 20 cold tag feeds (``--parts first``).

    The moment item 3 of issue 14 finds hardest, alone: a minute a run, so
    that it can be alternated often enough to tell a change from the noise.
    """
    with tempfile.TemporaryDirectory(prefix="feedsvc-scale-state-") as state:
        env = {"FEEDSVC_RELOAD": None, "FEEDSVC_WATCH": None, "FEEDSVC_STATE_DIR": state}
        server, seconds = started_server(content, size, env, "first")
        result: dict[str, object] = {"start_s": seconds}
        try:
            result["start_cpu_s"] = round(cpu_seconds(server.pid), 2)
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            wait_for_renders_to_settle(conn)  # the background prewarm, as in the full part
            result.update(cold_feeds(conn, rare_tag_paths(size, seed, 20), "cold_tag"))
            conn.close()
        finally:
            server.stop(timeout=20)
    return result


def measure_restart(
    content: Path, size: str, seed: int, env: dict[str, str | None]
) -> dict[str, object]:
    """A restart on the state the first server left (parse cache, rendered bodies).

    Start and RSS, then cold tag feeds while the walk over kept bodies runs
    and once it is done.
    """
    server, seconds = started_server(content, size, env, "restart")
    result: dict[str, object] = {"restart_s": seconds}
    try:
        result["restart_cpu_s"] = round(cpu_seconds(server.pid), 2)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        wait_for_renders_to_settle(conn)
        result["restart_rss_mb_serving"] = round(vm_rss_mb(server.pid), 1)
        result.update(
            cold_feeds(conn, other_rare_tag_paths(size, seed, 1), "cold_tag_restart_early")
        )
        result["restart_prerender_s"] = wait_prerendered(server.log_path)  # all kept: a walk
        result.update(cold_feeds(conn, other_rare_tag_paths(size, seed, 2), "cold_tag_restart"))
        conn.close()
    finally:
        server.stop(timeout=20)
    return result


def measure_first_server(
    content: Path, size: str, seed: int, sweep: int, edits: int, idle: float,
    unset: dict[str, str | None],
) -> dict[str, object]:  # fmt: skip
    """The first start (empty state: no parse cache, no rendered bodies) and what follows."""
    server, seconds = started_server(content, size, unset, "server")
    result: dict[str, object] = {"start_s": seconds}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        status, _, _ = timed_get(conn, "/rss.xml")
        if status != 200:
            raise RuntimeError(f"/rss.xml answered {status}")
        result["start_cpu_s"] = round(cpu_seconds(server.pid), 2)
        result["rss_mb_first_response"] = round(vm_rss_mb(server.pid), 1)
        wait_for_renders_to_settle(conn)  # the background prewarm
        result["rss_mb_serving"] = round(vm_rss_mb(server.pid), 1)
        samples = []
        for path in rare_tag_paths(size, seed, 20):
            status, ms, _ = timed_get(conn, path)
            if status != 200:
                raise RuntimeError(f"{path}: {status}")
            samples.append(ms)
        # The same feeds again: now they are cached (for comparison).
        warm = [timed_get(conn, p)[1] for p in rare_tag_paths(size, seed, 20)]
        result["cold_tag_ms_median"] = round(statistics.median(samples), 2)
        result["cold_tag_ms_max"] = round(max(samples), 2)
        result["warm_tag_ms_median"] = round(statistics.median(warm), 2)
        # Once the bodies are pre-rendered in the background: other rare tags.
        result.update(measure_prerender(conn, server.log_path))
        result.update(cold_feeds(conn, other_rare_tag_paths(size, seed, 0), "cold_tag_later"))
        # Two sweeps over different rare tags, all formats: if rendered feeds were
        # pinned, the second sweep would grow memory as much as the first did.
        for key, skip in (("rss_mb_after_sweep", 0), ("rss_mb_after_second_sweep", sweep)):
            for path in rare_tag_paths(size, seed, sweep, skip):
                for fmt in ("rss.xml", "atom.xml", "feed.json"):
                    timed_get(conn, path.replace("rss.xml", fmt))
            result[key] = round(vm_rss_mb(server.pid), 1)
        result["sweep_feeds"] = sweep * 3
        _, _, body = timed_get(conn, "/healthz")
        result["watch"] = json.loads(body).get("watch", "poll")
        result.update(measure_edit_http(conn, server.pid, content, edits))
        # Quiet: no requests, no changes. What the watcher costs while nothing happens.
        before = cpu_seconds(server.pid)
        time.sleep(idle)
        result["idle_cpu_ms_per_s"] = round((cpu_seconds(server.pid) - before) * 1000 / idle, 1)
        result["idle_s"] = idle
        result["rss_mb_end"] = round(vm_rss_mb(server.pid), 1)
        conn.close()
    finally:
        server.stop(timeout=20)
    return result


def measure_edit_reload(service: Any, client: Any, content: Path) -> dict[str, object]:
    """Save the newest article, call ``reload()`` until the main feed serves it."""
    newest = service.catalog.snapshot.articles[0]
    path = content / "articles" / f"{newest.slug}.yaml"
    original = path.read_bytes()
    marker = f"Edited {time.time_ns()}"
    reads, renders = service.loader.files_read, service.cache.renders
    try:
        time.sleep(0.05)  # a distinct mtime
        saved = time.perf_counter()
        cpu = time.process_time()
        path.write_bytes(retitled(original, marker))
        service.reload()
        while marker.encode() not in client.get("/rss.xml").data:
            if time.perf_counter() - saved > 30:
                raise RuntimeError("edit never served")
            service.reload()
        return {
            "edit_ms": round((time.perf_counter() - saved) * 1000, 1),
            "edit_cpu_ms": round((time.process_time() - cpu) * 1000, 1),
            "edit_files_read": service.loader.files_read - reads,
            "edit_renders": service.cache.renders - renders,
            "edit_tags": len(newest.tags),
        }
    finally:
        path.write_bytes(original)
        time.sleep(0.05)
        service.reload()


def measure_no_change_poll(service: Any) -> dict[str, object]:
    """Median of 5 reloads when nothing changed."""
    timings, cpu_times = [], []
    for _ in range(5):
        poll, cpu = time.perf_counter(), time.process_time()
        service.reload()
        timings.append(time.perf_counter() - poll)
        cpu_times.append(time.process_time() - cpu)
    return {
        "no_change_poll_ms": round(statistics.median(timings) * 1000, 1),
        "no_change_poll_cpu_ms": round(statistics.median(cpu_times) * 1000, 1),
    }


def measure_reloads(service: Any, client: Any, content: Path) -> dict[str, object]:
    """One-file edit and no-change poll, comparing every file (polling), then again
    with inotify events attached as ``feedsvc serve``'s watcher does (Linux)."""
    result = measure_edit_reload(service, client, content)
    result.update(measure_no_change_poll(service))
    try:
        from feedsvc.content.events import ContentEvents

        events = ContentEvents(service.loader.content_dir, service.loader.articles_dir)
    except OSError as exc:  # no inotify here: polling is what runs
        print(f"  no inotify ({exc}): reload figures with events left out", file=sys.stderr)
        return result
    service.loader.events = events
    try:
        service.reload()  # the first look once watches exist compares every file
        inotify = measure_edit_reload(service, client, content)
        inotify.update(measure_no_change_poll(service))
        result.update({f"inotify_{key}": value for key, value in inotify.items()})
    finally:
        service.loader.events = None
        events.close()
    return result


def measure_in_process(content: Path, size: str, seed: int, sweep: int) -> dict[str, object]:
    """Edits and no-change polls (both watch modes), full reload and the cache bound."""
    from feedsvc.settings import ServiceSettings

    state = tempfile.mkdtemp(prefix="feedsvc-scale-state-")  # a parse cache, as serve keeps
    settings = ServiceSettings(content_dir=content, reload_interval=0, state_dir=state)
    try:
        return _measure_in_process(content, size, seed, sweep, settings)
    finally:
        shutil.rmtree(state, ignore_errors=True)


def measure_full_reload(content: Path) -> dict[str, object]:
    """Only the full reload of the in-process part: a service with a state folder,
    every file touched (same bytes, new times: a checkout), ``reload()`` timed."""
    from feedsvc.service.core import FeedService
    from feedsvc.settings import ServiceSettings

    state = tempfile.mkdtemp(prefix="feedsvc-scale-state-")
    settings = ServiceSettings(content_dir=content, reload_interval=0, state_dir=state)
    try:
        service = FeedService(settings)
        service.wait_prewarmed(timeout=300)
        reads = service.loader.files_read
        now = time.time() + 5
        for entry in os.scandir(content / "articles"):
            os.utime(entry.path, (now, now))
        started, cpu = time.perf_counter(), time.process_time()
        service.reload()
        result: dict[str, object] = {
            "full_reload_s": round(time.perf_counter() - started, 3),
            "full_reload_cpu_s": round(time.process_time() - cpu, 2),  # this process only
            "full_reload_files_read": service.loader.files_read - reads,
        }
        service.close()
        return result
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _measure_in_process(
    content: Path, size: str, seed: int, sweep: int, settings: Any
) -> dict[str, object]:
    from feedsvc.service.core import FeedService
    from feedsvc.web.app import create_app

    started = time.perf_counter()
    service = FeedService(settings)
    load_s = time.perf_counter() - started
    service.wait_prewarmed(timeout=300)  # an edit made once the service has settled
    app = create_app(settings, service=service, watch=False)
    client = app.test_client()
    assert client.get("/rss.xml").status_code == 200
    result: dict[str, object] = {"service_init_s": round(load_s, 3)}
    result.update(measure_reloads(service, client, content))

    reads = service.loader.files_read
    now = time.time() + 5
    for entry in os.scandir(content / "articles"):
        os.utime(entry.path, (now, now))
    full = time.perf_counter()
    service.reload()
    result["full_reload_s"] = round(time.perf_counter() - full, 3)
    result["full_reload_files_read"] = service.loader.files_read - reads

    cache = service.cache
    evictions = cache.templates.evictions + cache.variants.evictions
    for tag_path in rare_tag_paths(size, seed, sweep):
        for fmt in ("rss.xml", "atom.xml", "feed.json"):
            client.get(tag_path.replace("rss.xml", fmt))
    result["cache_limit_mb"] = round(settings.cache_bytes / 2**20, 1)
    result["cache_used_mb"] = round(
        (cache.templates.size_bytes + cache.variants.size_bytes) / 2**20, 1
    )
    result["cache_evictions_in_sweep"] = (
        cache.templates.evictions + cache.variants.evictions - evictions
    )
    service.close()
    return result


def verdict(metric: str, size: str, value: float) -> str:
    """``met``/``MISSED`` against the issue's target, or empty when there is none."""
    target = TARGETS.get(metric, {}).get(size)
    if target is None:
        return ""
    return f"(target ≤ {target:g}: {'met' if value <= target else 'MISSED'})"


def main(argv: list[str] | None = None) -> int:
    """Measure each size and print a report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k", help="comma list of 1k, 10k, 100k")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/feedsvc-scale"))
    parser.add_argument("--sweep", type=int, default=300, help="rare tags in the cache sweep")
    parser.add_argument("--edits", type=int, default=6, help="edits saved to the running server")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of quiet measured")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--content",
        type=Path,
        help="serve this content folder (e.g. made once by bench/generate.py) instead of "
        "generating into --data-dir; needs exactly one size, the one it was generated for",
    )
    parser.add_argument(
        "--parts",
        default="http,in-process",
        help="comma list of http (a real server), in-process (reload, poll, cache bound) "
        "and start (only the cold start and the restart of a real server), reload "
        "(only the in-process part's full reload), first (only the first start on an empty "
        "state and its 20 cold tag feeds)",
    )
    parser.add_argument("--prerender-limit", type=float, default=coldfeeds.PRERENDER_LIMIT_S,
                        help="seconds to wait for the background pre-render of bodies (a few "
                        "for code without one: the figures of cold feeds 'pre-rendered' then "
                        "come after that wait)")  # fmt: skip
    args = parser.parse_args(argv)
    coldfeeds.PRERENDER_LIMIT_S = args.prerender_limit
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "sizes": {},
    }
    parts = set(args.parts.split(","))
    sizes = args.sizes.split(",")
    if args.content is not None and len(sizes) != 1:
        parser.error("--content needs exactly one --sizes")
    for size in sizes:
        articles, tags = SIZES[size]
        print(f"{size}: {articles} articles, {tags} tags", file=sys.stderr)
        content = args.content or ensure_content(args.data_dir, size, args.seed)
        figures: dict[str, object] = {"articles": articles, "tags": tags}
        if parts == {"first"}:
            figures.update(measure_first_start(content, size, args.seed))
        if parts & {"http", "start"}:
            figures.update(measure_http(content, size, args.seed, args.sweep, args.edits,
                                        args.idle, full="http" in parts))  # fmt: skip
        if "in-process" in parts:
            figures.update(measure_in_process(content, size, args.seed, args.sweep))
        elif "reload" in parts:
            figures.update(measure_full_reload(content))
        report["sizes"][size] = figures  # type: ignore[index]
        print_figures(size, articles, tags, figures)
    report["load_average_after"] = os.getloadavg()
    target = args.json or RESULTS_DIR / (
        f"scale-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    )
    target.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults: {target}")
    return 0


def print_figures(size: str, articles: int, tags: int, figures: dict[str, Any]) -> None:
    """The report of one size: the lines of the parts that were measured."""
    print(f"\n{size} ({articles} articles, {tags} tags)")
    if "sweep_feeds" in figures:
        print_http_figures(size, figures)
    elif "restart_s" in figures:
        print(f"  start to first /rss.xml     {figures['start_s']:>8} s   "
              f"(CPU {figures['start_cpu_s']} s; no parse cache) "
              f"{verdict('start_s', size, figures['start_s'])}")  # fmt: skip
        print(f"  restart, parse cache warm   {figures['restart_s']:>8} s   "
              f"(CPU {figures['restart_cpu_s']} s; RSS once serving "
              f"{figures['restart_rss_mb_serving']} MB; state.db {figures['state_db_mb']} MB) "
              f"{verdict('restart_s', size, figures['restart_s'])}")  # fmt: skip
    elif "cold_tag_ms" in figures:  # --parts first
        print(f"  first start, empty state    {figures['start_s']:>8} s   "
              f"(CPU {figures['start_cpu_s']} s)")  # fmt: skip
        print(f"  cold tag feed (median/max)  {figures['cold_tag_ms_median']:>8} / "
              f"{figures['cold_tag_ms_max']} ms  "
              f"{verdict('cold_tag_ms', size, figures['cold_tag_ms_max'])}")  # fmt: skip
    if "edit_ms" in figures:
        print_in_process_figures(size, figures)
    elif "full_reload_s" in figures:
        print(f"  full reload (all touched)   {figures['full_reload_s']:>8} s   "
              f"(CPU {figures['full_reload_cpu_s']} s here; "
              f"{figures['full_reload_files_read']} files read) "
              f"{verdict('full_reload_s', size, figures['full_reload_s'])}")  # fmt: skip


def print_http_figures(size: str, figures: dict[str, Any]) -> None:
    """The lines measured against a real server."""
    print(f"  start to first /rss.xml     {figures['start_s']:>8} s   "
          f"(CPU {figures['start_cpu_s']} s) "
          f"{verdict('start_s', size, figures['start_s'])}")  # fmt: skip
    if "restart_s" in figures:
        print(f"  restart, parse cache warm   {figures['restart_s']:>8} s   "
              f"(CPU {figures['restart_cpu_s']} s; RSS once serving "
              f"{figures['restart_rss_mb_serving']} MB; state.db {figures['state_db_mb']} MB) "
              f"{verdict('restart_s', size, figures['restart_s'])}")  # fmt: skip
    print(f"  RSS once serving            {figures['rss_mb_serving']:>8} MB  "
          f"{verdict('rss_mb', size, figures['rss_mb_serving'])}")  # fmt: skip
    swept = f"RSS after {figures['sweep_feeds']} cold feeds"
    print(
        f"  {swept:<27} {figures['rss_mb_after_sweep']:>8} MB, after "
        f"{figures['sweep_feeds']} more {figures['rss_mb_after_second_sweep']} MB "
        f"{verdict('rss_mb', size, figures['rss_mb_after_second_sweep'])}"
    )
    print(f"  cold tag feed (median/max)  {figures['cold_tag_ms_median']:>8} / "
          f"{figures['cold_tag_ms_max']} ms  "
          f"{verdict('cold_tag_ms', size, figures['cold_tag_ms_max'])}")  # fmt: skip
    print(f"  same feed again (cached)    {figures['warm_tag_ms_median']:>8} ms")
    print_cold_feed_figures(size, figures)
    print(f"  one-file edit served, HTTP  {figures['edit_http_ms_median']:>8} ms  "
          f"(max {figures['edit_http_ms_max']} ms, server CPU "
          f"{figures['edit_http_cpu_ms_median']} ms; watcher: {figures['watch']}, "
          f"{figures['edit_http_rounds']} saves) "
          f"{verdict('edit_ms', size, figures['edit_http_ms_median'])}")  # fmt: skip
    print(f"  server idle                 {figures['idle_cpu_ms_per_s']:>8} ms CPU/s "
          f"(over {figures['idle_s']:g} s; RSS then {figures['rss_mb_end']} MB)")  # fmt: skip


def print_cold_feed_figures(size: str, figures: dict[str, Any]) -> None:
    """The lines of the background pre-render and the later cold tag feeds."""
    print(f"  pre-render of bodies        {figures['prerender_s']:>8} s   (after the prewarm)")
    if "hot_during_prerender_ms_median" in figures:
        print(f"  /rss.xml meanwhile (med/p99) {figures['hot_during_prerender_ms_median']:>7} / "
              f"{figures['hot_during_prerender_ms_p99']} ms "
              f"({figures['hot_during_prerender_requests']} requests); after: "
              f"{figures['hot_after_prerender_ms_median']} / "
              f"{figures['hot_after_prerender_ms_p99']} ms")  # fmt: skip
    for key, label in (("cold_tag_later", "cold tag feed, pre-rendered"),
                       ("cold_tag_restart_early", "… restarted, during walk"),
                       ("cold_tag_restart", "… restarted, walk done")):  # fmt: skip
        print(f"  {label:<27} {figures[key + '_ms_median']:>8} / {figures[key + '_ms_max']} ms  "
              f"{verdict('cold_tag_ms', size, figures[key + '_ms_max'])}")  # fmt: skip


def print_in_process_figures(size: str, figures: dict[str, Any]) -> None:
    """The lines measured in-process (reloads and the cache bound)."""
    print(f"  one-file edit, reload()     {figures['edit_ms']:>8} ms  "
          f"(CPU {figures['edit_cpu_ms']} ms; {figures['edit_files_read']} file read, "
          f"{figures['edit_renders']} feeds rendered) "
          f"{verdict('edit_ms', size, figures['edit_ms'])}")  # fmt: skip
    print(f"  no-change poll (all files)  {figures['no_change_poll_ms']:>8} ms  "
          f"(CPU {figures['no_change_poll_cpu_ms']} ms) "
          f"{verdict('poll_ms', size, figures['no_change_poll_ms'])}")  # fmt: skip
    if "inotify_edit_ms" in figures:
        print(f"  same, with inotify events   {figures['inotify_edit_ms']:>8} ms  "
              f"(CPU {figures['inotify_edit_cpu_ms']} ms) "
              f"{verdict('edit_ms', size, figures['inotify_edit_ms'])}")  # fmt: skip
        print(f"  no-change poll, inotify     {figures['inotify_no_change_poll_ms']:>8} ms  "
              f"(CPU {figures['inotify_no_change_poll_cpu_ms']} ms) "
              f"{verdict('poll_ms', size, figures['inotify_no_change_poll_ms'])}")  # fmt: skip
    print(f"  full reload (all changed)   {figures['full_reload_s']:>8} s   "
          f"({figures['full_reload_files_read']} files read) "
          f"{verdict('full_reload_s', size, figures['full_reload_s'])}")  # fmt: skip
    print(
        f"  feed cache after sweep      {figures['cache_used_mb']:>8} MB of "
        f"{figures['cache_limit_mb']} MB ({figures['cache_evictions_in_sweep']} evictions)"
    )


if __name__ == "__main__":
    sys.exit(main())
