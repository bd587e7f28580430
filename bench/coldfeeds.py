"""Cold tag feeds and the background pre-render, for ``bench/scale.py``.

A cold tag feed is the first request of a tag feed nobody requested (nor
the start-up prewarm rendered): its bodies may have to be rendered. With a
state folder, feedsvc keeps rendered bodies there and pre-renders the ones
it lacks in a niced helper process after the prewarm
(``feedsvc/feeds/prerender.py``), so three moments are measured:

* right after a first start with an empty state folder (the helper running);
* once the helper is done, with what reading ``/rss.xml`` costs meanwhile;
* after a restart on the state the first server left (nothing to render).

The end of the pre-render is read from the server's log (the line
``pre-rendered N article bodies …``).
"""

from __future__ import annotations

import http.client
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HOT_PATH = "/rss.xml"
POLL_S = 0.01  # between two requests of the hot feed while the helper runs
PRERENDER_LIMIT_S = 900.0  # --prerender-limit: e.g. a few seconds for code without one
DONE_LINE = "pre-rendered "  # what feedsvc/feeds/prerender.py logs when it is done


def get_ms(conn: http.client.HTTPConnection, path: str) -> tuple[int, float]:
    """Status and milliseconds of one GET on an open connection."""
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return response.status, (time.perf_counter() - started) * 1000


def cold_feeds(conn: http.client.HTTPConnection, paths: list[str], name: str) -> dict[str, Any]:
    """Median and worst milliseconds of the first request of each of ``paths``."""
    conn.close()  # reopened by the next request: the server may have closed it, idle
    samples = []
    for path in paths:
        status, ms = get_ms(conn, path)
        if status != 200:
            raise RuntimeError(f"{path}: {status}")
        samples.append(ms)
    return {
        f"{name}_ms_median": round(statistics.median(samples), 2),
        f"{name}_ms_max": round(max(samples), 2),
        f"{name}_ms": [round(ms, 2) for ms in samples],  # in request order, with the paths
        f"{name}_paths": paths,
    }


def hot_latency(conn: http.client.HTTPConnection, keep_going: Callable[[], bool]) -> list[float]:
    """Milliseconds of ``/rss.xml`` requests, one every 10 ms, while ``keep_going()``."""
    samples = []
    while keep_going():
        samples.append(get_ms(conn, HOT_PATH)[1])
        time.sleep(POLL_S)
    return samples


def percentile(samples: list[float], share: float) -> float:
    """The ``share`` (0-1) quantile of ``samples``, nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def prerender_done(log_path: Path) -> bool:
    """Whether the server logged the end of its pre-render (``pre-rendered N article bodies``)."""
    return DONE_LINE in log_path.read_text(errors="replace")


def wait_prerendered(log_path: Path, limit_s: float | None = None) -> float:
    """Wait (up to the limit) for the server to log the end of its pre-render; seconds waited."""
    limit_s = PRERENDER_LIMIT_S if limit_s is None else limit_s
    started = time.monotonic()
    while not prerender_done(log_path) and time.monotonic() - started < limit_s:
        time.sleep(0.1)
    return round(time.monotonic() - started, 1)


def measure_prerender(
    conn: http.client.HTTPConnection, log_path: Path, limit_s: float | None = None
) -> dict[str, float]:
    """Wait for the pre-render to end; ``/rss.xml`` latency meanwhile and after."""
    conn.close()  # reopened by the next request: the server may have closed it, idle
    limit_s = PRERENDER_LIMIT_S if limit_s is None else limit_s
    started = time.monotonic()
    checked = [started]

    def running() -> bool:
        now = time.monotonic()
        if now - started > limit_s:
            return False
        if now - checked[0] < 0.25:
            return True
        checked[0] = now
        return not prerender_done(log_path)

    during = hot_latency(conn, running)
    result = {"prerender_s": round(time.monotonic() - started, 1)}
    after: list[float] = []  # the same polling with the helper gone: the baseline
    for _ in range(max(100, min(len(during), 1000))):
        after.append(get_ms(conn, HOT_PATH)[1])
        time.sleep(POLL_S)
    for name, samples in (("during", during), ("after", after)):
        if samples:
            result[f"hot_{name}_prerender_ms_median"] = round(statistics.median(samples), 2)
            result[f"hot_{name}_prerender_ms_p99"] = round(percentile(samples, 0.99), 2)
            result[f"hot_{name}_prerender_requests"] = len(samples)
    return result
