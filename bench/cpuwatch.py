"""How much CPU did *other* processes use while a row was measured?

On a shared machine other jobs come and go, and a 2-second measurement taken
while one of them held a core says more about that job than about the server
(the nginx rows swung from 0.5x to 1.1x of each other from round to round
that way). This reads the machine's CPU time from ``/proc/stat`` and
subtracts what the benchmark's own processes used (its servers and their
children from ``/proc/PID/stat``, itself and the load generator it waited
for from :func:`os.times`); what is left is someone else's. The runner
re-measures a row when that share is too high, waits for a quiet moment
first, and records the share with every measurement.

Linux only; elsewhere every figure is ``None`` and nothing is retried.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine since boot, all CPUs summed."""
    try:
        fields = [int(f) for f in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    # user, nice, system, idle, iowait, irq, softirq, steal. irq and softirq
    # count as busy: the network stack's work for our own processes is
    # charged to them in /proc/PID/stat and shows up here under those two.
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
    return busy, sum(fields[:8])


def process_ticks(pid: int) -> int:
    """User + system ticks of one process (all its threads); 0 if it is gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0


def with_descendants(pids: Iterable[int]) -> set[int]:
    """``pids`` and every process below them (nginx's workers under its master)."""
    parents: dict[int, int] = {}
    for entry in PROC.glob("[0-9]*"):
        try:
            parents[int(entry.name)] = int(
                (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            )
        except (OSError, ValueError, IndexError):
            continue
    found = set(pids)
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in found} - found
        found |= children
        grew = bool(children)
    return found


def _own_ticks() -> float:
    """This process plus the children it has waited for (wrk), in ticks."""
    times = os.times()
    return (times.user + times.system + times.children_user + times.children_system) * TICKS


class CpuWatch:
    """``with CpuWatch(pids) as watch: ...`` then ``watch.other_cpus``.

    ``other_cpus`` is the average number of CPUs kept busy by processes that
    are neither ``pids`` (with their descendants) nor this one and its waited
    children, over the block; ``None`` where ``/proc`` cannot tell.
    """

    def __init__(self, pids: Iterable[int]) -> None:
        self.pids = with_descendants(pids)
        self.other_cpus: float | None = None

    def _snapshot(self) -> tuple[int, int, float] | None:
        machine = machine_ticks()
        if machine is None:
            return None
        own = sum(process_ticks(pid) for pid in self.pids) + _own_ticks()
        return machine[0], machine[1], own

    def __enter__(self) -> CpuWatch:
        self._start = self._snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._snapshot()
        if self._start is None or end is None:
            return
        busy, total, own = (b - a for a, b in zip(self._start, end, strict=True))
        cpus = os.cpu_count() or 1
        if total > 0:
            self.other_cpus = max(0.0, (busy - own) / (total / cpus))


def busy_cpus(seconds: float = 0.3) -> float | None:
    """CPUs busy on the whole machine over ``seconds`` (call while idle yourself)."""
    before = machine_ticks()
    time.sleep(seconds)
    after = machine_ticks()
    if before is None or after is None or after[1] == before[1]:
        return None
    cpus = os.cpu_count() or 1
    return (after[0] - before[0]) / ((after[1] - before[1]) / cpus)


def wait_until_quiet(limit_cpus: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) until the machine is below ``limit_cpus``; returns the wait."""
    started = time.monotonic()
    while time.monotonic() - started < max_wait:
        busy = busy_cpus()
        if busy is None or busy <= limit_cpus:
            break
        time.sleep(0.5)
    return time.monotonic() - started
