"""What abusive clients cost a reader: /rss.xml latency while others flood cache misses.

One ``feedsvc serve`` on 127.0.0.1 (a synthetic site from bench/generate.py,
or ``--content DIR``). A *reader* polls ``/rss.xml`` on a fresh connection
per request, as a feed reader does, for ``--seconds`` per row; its p50/p99
are reported as ratios against a quiet baseline measured in the same run.
Each row floods the server from ``--flood-connections`` keep-alive
connections in a separate process (so the flood does not share the reader's
GIL) with one kind of request that misses every cache: random tag
combinations, older pages, random Hosts, random query strings, the HTML
pages and embeds; one row instead holds ``--idle`` idle connections open.

Per row: flood requests/s and 5xx, reader p50/p99 and their ratios, the
server's CPU per request (the /proc ticks of the server and its feed writer
processes over all requests answered), and
whether the hot feeds were still cached afterwards (cache misses counted by
``/metrics`` while they are fetched once more; 0 is what should stay).

The reader connects from 127.0.0.2 and the flood from 127.0.0.1 (Linux routes
all of 127/8 to the loopback), as a real reader comes from another address
than an attacker: feedsvc shares its worker threads per client address.

Every process is stopped by PID; all traffic stays on the loopback.
``--quick`` runs a few seconds per row (about half a minute in all).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cpuwatch import TICKS, process_ticks, with_descendants
from bench.generate import write_content
from bench.servers import HOST, REPO, feedsvc_server, fetch

READER = "127.0.0.2"  # the reader's source address; the flood comes from 127.0.0.1
KINDS = ("tags", "pages", "hosts", "queries", "html")
HOT = ("/rss.xml", "/atom.xml", "/feed.json", "/popular/rss.xml")


def flood_paths(kind: str, tags: list[str], rng: random.Random) -> tuple[str, dict[str, str]]:
    """One request of ``kind`` that no cache has seen: (path, extra headers)."""
    if kind == "tags":
        return f"/tags/{'+'.join(rng.sample(tags, rng.randint(2, 3)))}/rss.xml", {}
    if kind == "pages":
        prefix = rng.choice(["", f"/tags/{rng.choice(tags)}"])
        return f"{prefix}/page/{rng.randint(2, 60)}/{rng.choice(['rss.xml', 'atom.xml'])}", {}
    if kind == "hosts":
        return "/rss.xml", {"Host": f"h{rng.getrandbits(48):x}.example"}
    if kind == "queries":
        return f"/rss.xml?x={rng.getrandbits(48):x}", {}
    page = rng.choice(["/", "/tags/", f"/embed/tags/{rng.choice(tags)}/", "/embed/"])
    query = f"limit={rng.randint(1, 20)}&theme={rng.choice(['auto', 'light', 'dark'])}"
    return (f"{page}?{query}" if page.startswith("/embed") else f"{page}?v={rng.random()}"), {}


def flood(
    port: int, kind: str, seconds: float, connections: int, tags: list[str]
) -> dict[str, int]:
    """Send requests of ``kind`` from ``connections`` threads for ``seconds``: counts."""
    import threading

    counts = {"requests": 0, "5xx": 0, "errors": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(seed: int) -> None:
        rng, conn = random.Random(seed), http.client.HTTPConnection(HOST, port, timeout=10)
        done = fivexx = errors = 0
        while time.monotonic() < stop:
            path, headers = flood_paths(kind, tags, rng)
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                done, fivexx = done + 1, fivexx + (response.status >= 500)
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
        conn.close()
        with lock:
            counts["requests"] += done
            counts["5xx"] += fivexx
            counts["errors"] += errors

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts


def read_feed(port: int, seconds: float, interval: float) -> dict[str, float]:
    """The reader: GET /rss.xml from 127.0.0.2, a fresh connection each time, for ``seconds``.

    One request every ``interval`` seconds (at once if the last took longer):
    a reader that waits between polls, as real ones do, rather than one more
    process spinning on the CPU it is measured on.
    """
    latencies, errors, stop = [], 0, time.perf_counter() + seconds
    while (started := time.perf_counter()) < stop:
        try:
            status = fetch(port, "/rss.xml", timeout=10, source=READER)[0]
        except (OSError, http.client.HTTPException):
            status = 0
        latencies.append(time.perf_counter() - started)
        errors += status != 200
        time.sleep(max(0.0, started + interval - time.perf_counter()))
    latencies.sort()

    def pick(fraction: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(fraction * len(latencies)))]

    return {"reads": len(latencies), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "errors": errors}


def server_ticks(pid: int) -> int:
    """CPU ticks of the server and of every process below it (its feed writers)."""
    return sum(process_ticks(each) for each in with_descendants([pid]))


def cache_misses(port: int) -> int | None:
    """Cache misses so far, summed over /metrics' ``feedsvc_cache_lookups_total``."""
    text = fetch(port, "/metrics")[2].decode()
    found = re.findall(r'^feedsvc_cache_lookups_total\{[^}]*result="miss"[^}]*\} (\d+)', text, re.M)
    return sum(int(n) for n in found) if found else None


def hot_misses(port: int) -> int | None:
    """How many cache misses fetching every hot feed once more causes (0: still cached)."""
    before = cache_misses(port)
    for path in HOT:
        fetch(port, path)
        fetch(port, path, headers={"Accept-Encoding": "gzip"})
    after = cache_misses(port)
    return None if before is None or after is None else after - before


def settle(server_pid: int, port: int, timeout: float = 120.0) -> None:
    """Wait (bounded) until the server is idle and the hot feeds are cached: the
    quiet row must not measure the prewarm after start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticks = server_ticks(server_pid)
        time.sleep(0.5)
        if server_ticks(server_pid) - ticks <= TICKS * 0.02 and hot_misses(port) == 0:
            return


def measure_row(name: str, server_pid: int, port: int, args: argparse.Namespace,
                tags: list[str]) -> dict[str, object]:  # fmt: skip
    """One row: the reader while ``name`` floods (or holds idle sockets, or nothing)."""
    idle: list[socket.socket] = []
    flooder = None
    ticks = server_ticks(server_pid)
    if name == "idle":
        idle = [socket.create_connection((HOST, port), timeout=10) for _ in range(args.idle)]
    elif name != "quiet":
        flooder = subprocess.Popen(
            [*args.client_prefix, sys.executable, __file__, "--flood", name, "--port", str(port),
             "--seconds", str(args.seconds + 1), "--flood-connections", str(args.flood_connections),
             "--tags", ",".join(tags)],
            stdout=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
        time.sleep(0.5)  # let the flood get going
    try:
        reader = read_feed(port, args.seconds, args.reader_interval / 1000)
        counts = {"requests": 0, "5xx": 0, "errors": 0}
        if flooder is not None:
            out, _ = flooder.communicate(timeout=args.seconds + 60)
            counts = json.loads(out)
    finally:
        if flooder is not None and flooder.poll() is None:
            flooder.kill()  # by its own PID
            flooder.wait()
        for sock in idle:
            sock.close()
    cpu_ms = (server_ticks(server_pid) - ticks) * 1000 / TICKS
    served = counts["requests"] + reader["reads"]
    return {"row": name, **reader, "flood_requests": counts["requests"],
            "flood_rps": counts["requests"] / (args.seconds + 1), "flood_5xx": counts["5xx"],
            "flood_errors": counts["errors"], "cpu_ms_per_request": cpu_ms / max(served, 1),
            "hot_misses_after": hot_misses(port)}  # fmt: skip


def table(rows: list[dict[str, object]]) -> str:
    """The rows as a Markdown table, latencies as ratios against the quiet row."""
    base = rows[0]
    head = ("row", "flood req/s", "flood 5xx", "reader p50 ms", "p99 ms", "p50 x", "p99 x",
            "reader errors", "server CPU ms/req", "hot misses after")  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        p50 = float(row["p50_ms"]) / max(float(base["p50_ms"]), 1e-9)  # type: ignore[arg-type]
        p99 = float(row["p99_ms"]) / max(float(base["p99_ms"]), 1e-9)  # type: ignore[arg-type]
        lines.append(
            f"| {row['row']} | {row['flood_rps']:.0f} | {row['flood_5xx']} | {row['p50_ms']:.1f} "
            f"| {row['p99_ms']:.1f} | {p50:.1f} | {p99:.1f} | {row['errors']} "
            f"| {row['cpu_ms_per_request']:.2f} | {row['hot_misses_after']} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    """Start the server, measure every row, stop the server."""
    with tempfile.TemporaryDirectory(prefix="feedsvc-abuse-") as tmp:
        content = args.content or write_content(Path(tmp) / "content", args.articles, args.tags)
        server_cpu = 0 if args.pin else None
        with feedsvc_server(content, env={"FEEDSVC_RELOAD": "0"}, cpu=server_cpu) as server:
            if args.pin:  # the reader (this process) and the flood share the other core
                os.sched_setaffinity(0, {1})
            opml = fetch(server.port, "/feeds.opml")[2].decode()
            tags = sorted(set(re.findall(r"/tags/([^/\"+]+)/rss\.xml", opml)))[:200]
            settle(server.pid, server.port)  # the hot feeds are what must stay cached
            rows = [measure_row(name, server.pid, server.port, args, tags)
                    for name in ("quiet", *args.kinds, "idle")]  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command line (also the flood subprocess's, with ``--flood``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per row")
    parser.add_argument("--seconds", type=float, help="seconds per row (default 10, quick 3)")
    parser.add_argument("--content", type=Path, help="content folder (default: generated)")
    parser.add_argument("--articles", type=int, default=2000, help="generated articles")
    parser.add_argument("--tags", default="200", help="generated tags (flood: the tag list)")
    parser.add_argument("--flood-connections", type=int, default=8)
    parser.add_argument("--idle", type=int, default=500, help="idle connections of the idle row")
    parser.add_argument("--kinds", type=lambda s: s.split(","), default=list(KINDS))
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--flood", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--reader-interval",
        type=float,
        default=5.0,
        help="ms between the reader's polls (default 5)",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the server to CPU 0 and the clients to CPU 1",
    )
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.pin = args.pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    args.client_prefix = ["taskset", "-c", "1"] if args.pin else []
    if args.flood:
        counts = flood(args.port, args.flood, args.seconds, args.flood_connections,
                       args.tags.split(","))  # fmt: skip
        print(json.dumps(counts))
        return 0
    args.tags = int(args.tags)
    rows = run(args)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), "utf-8")
    return 1 if any(row["flood_5xx"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
