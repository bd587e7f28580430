"""Ask the kernel to run the event loop first: worker threads niced, the loop's slice short.

The event loop answers every cached feed itself (:mod:`feedsvc.web.fastpath`)
and needs the CPU for a moment after each ``poll``, while worker threads may
be busy for tens of milliseconds rendering a cache miss for someone else.
The GIL hands over every :data:`~feedsvc.web.server.SWITCH_INTERVAL`, but a
thread that is handed the GIL still has to be *scheduled*: on a busy core
the kernel let a render (or its GIL-free gzip) finish its slice first, and
a reader's poll waited 5-10 ms behind a flood of cold tag combinations
(``bench/abuse.py``).

Two requests to the scheduler, both allowed to an unprivileged process:

* every thread but the loop runs :data:`WORKER_NICE_STEP` nice levels lower
  (renders, reloads, pre-warming, the body writer): the loop wins the core
  whenever it is runnable, the workers still have every cycle it leaves;
* the loop asks for a short scheduler slice (Linux 6.12+ EEVDF custom
  slices, ``sched_setattr``): a waking task with a shorter slice preempts
  the running one instead of waiting for that one's slice to end.

Threads started later inherit their creator's settings: the workers start
the threads they need (the body writer) niced; the loop starts none. Both
requests are best effort: elsewhere than Linux, or where the calls are
refused, the server runs as before and :func:`favour_event_loop` says so.
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading
from dataclasses import dataclass

WORKER_NICE_STEP = 10  # nice levels below the loop (weight 1024 → 110, ~9 %: the loop first)
LOOP_SLICE_NS = 100_000  # the kernel's minimum custom slice; the default is ~0.75-3 ms
SCHED_OTHER = 0
_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}  # syscall numbers (no libc wrapper in glibc)


class _SchedAttr(ctypes.Structure):
    """``struct sched_attr`` (include/uapi/linux/sched/types.h, first version)."""

    _fields_ = [
        ("size", ctypes.c_uint32),
        ("sched_policy", ctypes.c_uint32),
        ("sched_flags", ctypes.c_uint64),
        ("sched_nice", ctypes.c_int32),
        ("sched_priority", ctypes.c_uint32),
        ("sched_runtime", ctypes.c_uint64),
        ("sched_deadline", ctypes.c_uint64),
        ("sched_period", ctypes.c_uint64),
        ("sched_util_min", ctypes.c_uint32),
        ("sched_util_max", ctypes.c_uint32),
    ]


@dataclass(frozen=True)
class Favoured:
    """What :func:`favour_event_loop` got from the kernel (logged at start)."""

    niced_threads: int
    short_slice: bool

    def describe(self) -> str:
        """One line for the start-up log."""
        slice_part = "short slice for the loop" if self.short_slice else "default slice"
        return f"{self.niced_threads} worker threads niced +{WORKER_NICE_STEP}, {slice_part}"


def short_slice_for_this_thread(slice_ns: int = LOOP_SLICE_NS) -> bool:
    """Ask for a ``slice_ns`` scheduler slice for the calling thread, keeping its policy and nice.

    Returns whether the call succeeded. Kernels before 6.12 have no custom
    slices (nothing changes there); architectures without a known syscall
    number are skipped.
    """
    number = _SCHED_SETATTR.get(platform.machine())
    if number is None or not hasattr(os, "getpriority"):
        return False
    attr = _SchedAttr(
        size=ctypes.sizeof(_SchedAttr),
        sched_policy=SCHED_OTHER,
        sched_nice=os.getpriority(os.PRIO_PROCESS, 0),  # 0: the calling thread
        sched_runtime=slice_ns,
    )
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.syscall(number, 0, ctypes.byref(attr), 0)) == 0
    except (OSError, AttributeError):
        return False


def lower_thread(native_id: int, step: int = WORKER_NICE_STEP) -> bool:
    """Lower one thread's priority by ``step`` nice levels (at most to 19); whether it worked."""
    try:
        current = os.getpriority(os.PRIO_PROCESS, native_id)
        os.setpriority(os.PRIO_PROCESS, native_id, min(19, current + step))
    except (OSError, AttributeError):  # the thread ended, or no setpriority on this platform
        return False
    return True


def favour_event_loop() -> Favoured:
    """Called on the loop's thread just before it runs: nice every other thread, shorten its slice.

    Only the main thread of a process that has started its workers should
    call this: the niceness of the threads alive now is lowered once, so
    calling it twice would lower them twice.
    """
    loop = threading.current_thread()
    niced = sum(
        lower_thread(thread.native_id)
        for thread in threading.enumerate()
        if thread is not loop and thread.native_id is not None
    )
    return Favoured(niced_threads=niced, short_slice=short_slice_for_this_thread())
