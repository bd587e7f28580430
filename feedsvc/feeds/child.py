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

# argv after -c: the folder holding feedsvc, the niceness, the module; then the module's own.
PROGRAM = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from feedsvc.feeds.child import run; sys.exit(run())"
)


def start_child(
    module: str, niceness: int, *args: str, bufsize: int = -1
) -> subprocess.Popen[bytes]:
    """``module.main()`` in a new interpreter at ``niceness`` (absolute), pipes on stdin and stdout.

    ``args`` are the module's own: its ``sys.argv[1:]``.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # feedsvc/
    command = [sys.executable, "-c", PROGRAM, os.path.dirname(package), str(niceness), module]
    return subprocess.Popen(
        [*command, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=bufsize
    )


def run() -> int:
    """In the child: lower the priority, then hand over to the module's ``main()``."""
    niceness, module = int(sys.argv[2]), sys.argv[3]
    del sys.argv[1:4]  # the module sees only its own arguments
    with contextlib.suppress(OSError):  # no priority change: correct, only less polite
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    main = importlib.import_module(module).main
    code: int = main()
    return code
