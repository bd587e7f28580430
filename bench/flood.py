"""A flood of one-off URLs against a real ``feedsvc serve``: do the hot feeds stay cached?

``python bench/flood.py --content /tmp/c10k`` (content from ``bench/generate.py``):

1. starts ``feedsvc serve`` (``FEEDSVC_CACHE_MB``, ``--threads``) and reads the
   main, popular and the 50 biggest tag feeds twice (the *warm* feeds);
2. floods random 4-tag combinations from ``--connections`` keep-alive
   connections for ``--seconds``;
   meanwhile one more connection reads a warm tag feed every 50 ms (its
   latency is what a reader polling during the flood sees);
3. reads the warm feeds again and counts, from ``/metrics``, how many of them
   missed the variant cache (evicted by the flood) and how many renders the
   flood caused; reports the server's RSS (``/proc/PID/status``) before and
   after, against ``FEEDSVC_CACHE_MB``.

``--repo DIR`` runs the server from another checkout (e.g. ``git archive``
of the base commit) to compare before and after. Nothing here asserts a
timing: it prints figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.servers import HOST, feedsvc_server  # noqa: E402


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def metric(port: int, name: str, labels: str = "") -> float:
    """One sample of ``/metrics`` (0 when absent)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    pattern = re.escape(name + (("{" + labels + "}") if labels else "")) + r" ([0-9.e+]+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def warm_paths(port: int) -> tuple[list[str], list[str]]:
    """The warm feed paths (main, popular, 50 biggest tags) and every tag slug."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("GET", "/healthz")
    conn.getresponse().read()
    conn.request("GET", "/feeds.opml")
    opml = conn.getresponse().read().decode()
    conn.close()
    slugs = re.findall(r'/tags/([^/"]+)/rss\.xml', opml)
    return ["/rss.xml", "/popular/rss.xml", *(f"/tags/{s}/rss.xml" for s in slugs[:50])], slugs


def read_all(port: int, paths: list[str]) -> Counter[int]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    statuses: Counter[int] = Counter()
    for path in paths:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        statuses[response.status] += 1
    conn.close()
    return statuses


def probe(port: int, path: str, until: float) -> list[float]:
    """Read a warm feed every 50 ms until ``until``: latencies in ms (what a reader sees)."""
    latencies = []
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    while time.monotonic() < until:
        started = time.perf_counter()
        conn.request("GET", path)
        conn.getresponse().read()
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.05)
    conn.close()
    return latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1) if ordered else 0.0


def flood(port: int, slugs: list[str], seconds: float, connections: int) -> Counter[int]:
    """Random 4-tag combinations from ``connections`` threads for ``seconds``."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        while time.monotonic() < deadline:
            combo = "+".join(sorted(rng.sample(slugs, 4)))
            conn.request("GET", f"/tags/{combo}/rss.xml")
            response = conn.getresponse()
            response.read()
            with lock:
                statuses[response.status] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return statuses


def run(args: argparse.Namespace) -> dict[str, object]:
    env = {"FEEDSVC_CACHE_MB": str(args.cache_mb)}
    with feedsvc_server(args.content, "--threads", str(args.threads), env=env,
                        cwd=args.repo, timeout=120) as server:  # fmt: skip
        port = server.port
        warm, slugs = warm_paths(port)
        read_all(port, warm)
        read_all(port, warm)
        rss_warm = rss_mb(server.pid)
        renders = metric(port, "feedsvc_renders_total")
        started = time.monotonic()
        latencies: list[float] = []
        prober = threading.Thread(
            target=lambda: latencies.extend(probe(port, warm[2], started + args.seconds))
        )
        prober.start()
        statuses = flood(port, slugs, args.seconds, args.connections)
        elapsed = time.monotonic() - started
        prober.join(timeout=120)
        flood_renders = metric(port, "feedsvc_renders_total") - renders
        rss_after = rss_mb(server.pid)
        misses = metric(port, "feedsvc_cache_lookups_total", 'cache="variant",result="miss"')
        recheck = read_all(port, warm)
        evicted = metric(port, "feedsvc_cache_lookups_total", 'cache="variant",result="miss"')
        cache_bytes = metric(port, "feedsvc_cache_bytes", 'cache="variant"') + metric(
            port, "feedsvc_cache_bytes", 'cache="template"'
        )
        return {
            "repo": str(args.repo),
            "warm_feeds": len(warm),
            "warm_still_cached": len(warm) - int(evicted - misses),
            "flood_requests": sum(statuses.values()),
            "flood_statuses": dict(statuses),
            "recheck_statuses": dict(recheck),
            "renders_per_second": round(flood_renders / elapsed, 1),
            "warm_read_ms_p50_p99_max": [
                percentile(latencies, 0.5),
                percentile(latencies, 0.99),
                round(max(latencies, default=0.0), 1),
            ],
            "rss_mb_warm": round(rss_warm, 1),
            "rss_mb_after": round(rss_after, 1),
            "cache_mb_setting": args.cache_mb,
            "cache_mb_held": round(cache_bytes / 2**20, 1),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, required=True)
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--cache-mb", type=int, default=64)
    args = parser.parse_args(argv)
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
