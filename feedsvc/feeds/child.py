"""Helper processes of this very feedsvc: a module's ``main()`` in a new interpreter.

Why one place: the pre-render helper (:mod:`.prerender`) and the feed
writers (:mod:`.writerprocess`) are both started this way: ``python -c``
with ``subprocess``, so no threaded server is forked and nothing is
inherited but the pipes; both import the feedsvc the server runs
(wherever ``sys.path`` found it); and both lower their CPU priority before
importing anything else, so that even their imports cost the server nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys

# argv after -c: the folder holding feedsvc, the niceness (IDLE_MARK after it: also
# SCHED_IDLE), the module; then the module's own.
IDLE_MARK = "i"
PROGRAM = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from feedsvc.feeds.child import run; sys.exit(run())"
)


def start_child(
    module: str, niceness: int, *args: str, bufsize: int = -1, idle: bool = False
) -> subprocess.Popen[bytes]:
    """``module.main()`` in a new interpreter at ``niceness`` (absolute), pipes on stdin and stdout.

    ``args`` are the module's own: its ``sys.argv[1:]``. ``idle``: also under
    Linux's ``SCHED_IDLE`` policy, for work that may wait for any amount of
    time. A niced process still keeps a core for the rest of its time slice
    when a request's thread wakes (~1-3 ms with EEVDF, several times per cold
    feed); one under ``SCHED_IDLE`` gives it up at once.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # feedsvc/
    priority = f"{niceness}{IDLE_MARK if idle else ''}"
    command = [sys.executable, "-c", PROGRAM, os.path.dirname(package), priority, module]
    return subprocess.Popen(
        [*command, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=bufsize
    )


def run() -> int:
    """In the child: lower the priority, then hand over to the module's ``main()``."""
    priority, module = sys.argv[2], sys.argv[3]
    del sys.argv[1:4]  # the module sees only its own arguments
    with contextlib.suppress(OSError):  # no priority change: correct, only less polite
        os.setpriority(os.PRIO_PROCESS, 0, int(priority.removesuffix(IDLE_MARK)))
    if priority.endswith(IDLE_MARK) and hasattr(os, "SCHED_IDLE"):  # Linux only
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    main = importlib.import_module(module).main
    code: int = main()
    return code
