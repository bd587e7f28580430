"""The benchmark suite runs and reports sane numbers (no timing is asserted here).

``bench/run.py --quick`` is run as a person would run it, against real
servers on 127.0.0.1; the test checks that the table is complete and every
number is a real measurement. Whether feedsvc is *fast enough* is the
suite's report, read by people, never a test verdict on a shared 2-core box.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import REPO

from bench.cpuwatch import TICKS, CpuWatch, process_ticks
from bench.load import parse_wrk, run_python_client
from bench.nginx import NGINX_LEVERS, NGINX_SERVERS, nginx_path, write_nginx_conf
from bench.pages import measure as measure_pages
from bench.servers import feedsvc_server

pytestmark = pytest.mark.bench

PYTHON_VARIANTS = {
    "feedsvc 200", "feedsvc 200 gzip", "feedsvc 304", "bare WSGI", "Flask prebuilt",
    "Flask+feedgen",
}  # fmt: skip
NGINX_VARIANTS = {"nginx static", "nginx cache→feedsvc"}


@pytest.mark.slow
def test_quick_suite_produces_a_complete_table(tmp_path: Path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    expected = PYTHON_VARIANTS | (NGINX_VARIANTS if nginx_path() else set())
    rows = {row["variant"]: row for row in result["variants"]}
    assert set(rows) == expected
    assert result["feed"]["items"] == 50
    assert abs(result["feed"]["rss_bytes"] - 134_000) < 134_000 * 0.01
    for name, row in rows.items():
        assert len(row["rounds"]) == result["settings"]["rounds"] == 2, name
        for measured in row["rounds"]:
            assert measured["requests"] > 0 and measured["rps"] > 0, name
            assert 0 < measured["p50_ms"] <= measured["p99_ms"], name
            assert measured["errors"] == 0, name
        assert row["x_bare"] is not None and math.isfinite(row["x_bare"]) and row["x_bare"] > 0
        assert name in done.stdout
    # Every variant was checked to serve the same bytes (or an empty 304) before measuring.
    assert result["checks"]["feedsvc 304"] == "304, empty"
    assert all(result["checks"][n] == "same bytes" for n in expected - {"feedsvc 304"})
    verdicts = {t["target"]: t["verdict"] for t in result["targets"]}
    assert len(verdicts) == 5 and "targets (reported, not asserted):" in done.stdout
    if nginx_path():
        assert all(v in ("met", "MISSED") for v in verdicts.values())


@pytest.mark.slow
def test_fallback_client_measures_a_real_server(bundled_content: Path):
    with feedsvc_server(bundled_content) as server:
        result = run_python_client(
            f"http://127.0.0.1:{server.port}/rss.xml", {"Accept-Encoding": "gzip"}, seconds=0.5,
            connections=4,
        )  # fmt: skip
    assert result.client == "python"
    assert result.requests > 0 and result.errors == 0
    assert 0 < result.p50_ms <= result.p99_ms


@pytest.mark.slow
def test_fallback_client_counts_errors_and_refuses_other_hosts(bundled_content: Path):
    with feedsvc_server(bundled_content) as server:
        result = run_python_client(
            f"{server.base_url}/tags/no-such-tag/rss.xml", {}, seconds=0.3, connections=2
        )
    assert result.errors == result.requests > 0
    with pytest.raises(ValueError, match="loopback"):
        run_python_client("http://example.com/", {}, seconds=0.1, connections=1)


WRK_OUTPUT = """\
Running 1s test @ http://127.0.0.1:40000/rss.xml
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.61ms    2.07ms  31.42ms   88.40%
    Req/Sec     4.52k   241.14     4.80k    80.00%
  Latency Distribution
     50%    3.13ms
     75%    3.96ms
     90%    5.21ms
     99%   11.02ms
  4496 requests in 1.00s, 589.82MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   4493.11
Transfer/sec:    589.32MB
"""


def test_wrk_report_is_read_with_units_and_errors():
    result = parse_wrk(WRK_OUTPUT, 1)
    assert (result.requests, result.rps, result.errors) == (4496, 4493.11, 3)
    assert (result.p50_ms, result.p99_ms) == (3.13, 11.02)
    with pytest.raises(ValueError):
        parse_wrk("garbage", 1)


@pytest.mark.slow
def test_scale_smoke_run_reads_one_file_per_edit_and_stays_in_its_cache(tmp_path: Path):
    out = tmp_path / "scale.json"
    done = subprocess.run(
        [sys.executable, "bench/scale.py", "--sizes", "1k", "--sweep", "30", "--edits", "2",
         "--idle", "1", "--data-dir", str(tmp_path / "data"), "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())["sizes"]["1k"]
    assert figures["articles"] == 1000
    # An edit re-reads exactly the edited file and renders only feeds it is in.
    assert figures["edit_files_read"] == 1
    assert 1 <= figures["edit_renders"] <= 2 + figures["edit_tags"]
    assert figures["full_reload_files_read"] == 1000
    assert figures["cache_used_mb"] <= figures["cache_limit_mb"]
    for name in ("start_s", "rss_mb_serving", "cold_tag_ms_median", "edit_ms", "edit_http_ms_max"):
        assert figures[name] > 0, name
    # Edits saved to the running server were served through its own watcher.
    assert figures["edit_http_rounds"] == 2
    assert figures["watch"] == ("inotify" if sys.platform.startswith("linux") else "poll")
    assert "one-file edit served" in done.stdout


@pytest.mark.slow
def test_cpu_watch_tells_the_benchmarks_processes_from_others():
    # A busy child is someone else's load unless its PID is given. Both
    # watches see the same second, so other jobs on the machine cancel out of
    # the difference, which must be the child's own CPU time in that second.
    busy = subprocess.Popen(
        [sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<2: pass"]
    )
    try:
        time.sleep(0.3)  # past interpreter start-up
        child_before, started = process_ticks(busy.pid), time.monotonic()
        with CpuWatch([]) as anyone, CpuWatch([busy.pid]) as ours:
            time.sleep(1.0)
        child_cpus = (process_ticks(busy.pid) - child_before) / TICKS / (time.monotonic() - started)
    finally:
        busy.wait(timeout=10)
    if anyone.other_cpus is None:
        pytest.skip("no /proc/stat here")
    assert ours.other_cpus is not None and child_cpus > 0.2
    assert abs((anyone.other_cpus - ours.other_cpus) - child_cpus) < 0.15


@pytest.mark.skipif(nginx_path() is None, reason="nginx not installed")
def test_every_nginx_row_of_the_benchmark_is_a_valid_config(tmp_path: Path):
    servers = {key: (20000 + i, server) for i, (key, server) in enumerate(NGINX_SERVERS.items())}
    servers |= {
        key: (20100 + i, server) for i, (key, (_, server)) in enumerate(NGINX_LEVERS.items())
    }
    (tmp_path / "static").mkdir()
    conf = write_nginx_conf(tmp_path, tmp_path / "static", 20999, servers)
    text = conf.read_text()
    # One cache per proxy row; each lever row changes one setting of its main row.
    assert text.count("proxy_cache_path") == 4 and text.count("tcp_nopush off;") == 5
    assert text.count("tcp_nopush on;") == 3 and text.count("open_file_cache max=") == 5
    done = subprocess.run(
        [nginx_path(), "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "e.log")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cache1").is_dir()  # one cache directory per proxy row


@pytest.mark.slow
def test_abuse_bench_runs_every_row_and_sees_no_5xx(tmp_path: Path):
    """bench/abuse.py as `make bench` runs it, shortened: every flood kind and the
    idle row are measured against the quiet baseline (no timing asserted)."""
    out = tmp_path / "abuse.json"
    done = subprocess.run(
        [sys.executable, "bench/abuse.py", "--seconds", "0.5", "--articles", "200", "--tags", "30",
         "--idle", "50", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    rows = {row["row"]: row for row in json.loads(out.read_text())}
    assert list(rows) == ["quiet", "tags", "pages", "hosts", "queries", "html", "idle"]
    for name, row in rows.items():
        assert row["reads"] > 0 and row["errors"] == 0 and row["flood_5xx"] == 0, name
        assert 0 < row["p50_ms"] <= row["p99_ms"], name
        assert row["flood_requests"] > 0 or name in ("quiet", "idle"), name
        assert name in done.stdout


def test_page_costs_table_has_a_row_per_page_and_every_304_answers(bundled_content: Path):
    lines = measure_pages(bundled_content, ["/tags/?q=korea"])
    assert lines[0].split()[:3] == ["path", "status", "bytes"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert {"/", "/tags/", "/feeds.opml", "/embed/", "/rss.xml", "/tags/?q=korea"} <= set(rows)
    assert all(row[1] == "200" and "(" not in " ".join(row) for row in rows.values())
