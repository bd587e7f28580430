"""run_beside: a job in a forked process while another runs here, and its fall-backs.

Run in a fresh interpreter where the fork itself is tested: a pytest process
may have threads of earlier tests running, and then the job runs here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from support import REPO

from feedsvc.content.beside import run_beside

_SINGLE_THREADED = """
import os
from feedsvc.content.beside import run_beside
order = []
pid = run_beside(os.getpid, lambda: order.append("here"))
assert pid != os.getpid(), "not forked"
assert order == ["here"]
def fails():
    if os.getpid() != parent:
        raise RuntimeError("only in the fork")
    return "ran here"
parent = os.getpid()
assert run_beside(fails, lambda: None) == "ran here"
print("ok")
"""


def test_the_job_runs_in_a_fork_and_a_failure_there_runs_it_here():
    result = subprocess.run(
        [sys.executable, "-c", _SINGLE_THREADED],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_with_threads_running_both_jobs_run_here_one_after_the_other():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        order: list[str] = []
        pid = run_beside(lambda: (order.append("forked"), os.getpid())[1],
                         lambda: order.append("here"))  # fmt: skip
        assert pid == os.getpid()
        assert order == ["here", "forked"]
    finally:
        stop.set()
        thread.join()
