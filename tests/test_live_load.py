"""Proof under load, bounded: ``bench/live_load.py`` against the real server.

A few seconds of concurrent readers (all formats, many tags, validators and
gzip) while an editor rewrites, breaks, truncates, fixes, slowly writes and
deletes files; then a comparison with a fresh load and a SIGTERM under load.
Loopback only; the run is bounded in time and requests; the server is
stopped by its PID. The full-length run is ``python bench/live_load.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("live_load", REPO / "bench" / "live_load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["live_load"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.load
def test_readers_never_see_a_broken_feed_while_editors_churn_content(tmp_path: Path):
    bench = load_bench()
    report = bench.run(
        duration=6.0,
        clients=4,
        reload_interval=0.2,
        protected=8,
        churn=8,
        max_requests_per_client=20_000,
        stop_timeout=5.0,
        work_dir=tmp_path,
    )
    print(report)  # shown with -s or on failure: the figures of this run
    assert report["failures"] == {}, report["failure_examples"]
    # The run really exercised what it claims to.
    assert report["requests"] >= 1000
    assert report["statuses"].get(200, 0) > 0 and report["statuses"].get(304, 0) > 0
    assert report["gzip_responses"] > 0 and report["conditional_requests"] > 0
    assert not [s for s in report["statuses"] if s >= 500]
    assert report["edits"] >= 50
    assert {"break", "empty", "cut", "slow", "fix", "delete"} <= set(report["edits_by_kind"])
    assert report["reloads"] >= 5
    assert report["feeds_compared_at_end"] >= 6
    assert report["sigterm_stop_s"] < 5.0
