"""Which files have settled long enough to be cached (content/settled.py).

The check runs for every file of a first load, in C over the packed
signatures; it must say what :func:`unchanged_since` says file by file, for
real files' signatures and for mtime or ctime alone being new, or before 1970.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from feedsvc.content.settled import SETTLED_SECONDS, cacheable
from feedsvc.content.signatures import signature_of, unchanged_since

NS = 1_000_000_000


def packed(mtime_ns: int, ctime_ns: int, size: int = 10, ino: int = 7) -> int:
    class Stat:
        st_mtime_ns, st_ctime_ns, st_size, st_ino = mtime_ns, ctime_ns, size, ino

    return signature_of(Stat())  # type: ignore[arg-type]


def by_file(ready: dict[str, int], now: float) -> dict[str, int]:
    cutoff = int((now - SETTLED_SECONDS) * 1e9)
    return {name: sig for name, sig in ready.items() if unchanged_since(sig, cutoff)}


def test_every_file_at_once_says_what_each_file_says(tmp_path: Path):
    now = time.time()
    old = int((now - 3600) * NS)
    cases = {
        "all old": {f"f{i}": packed(old + i, old + 2 * i, i, i) for i in range(50)},
        "one new mtime": {"a": packed(old, old), "b": packed(int(now * NS), old)},
        "one new ctime": {"a": packed(old, old), "b": packed(old, int(now * NS))},
        "mtime in the future": {"a": packed(old, old), "b": packed(int((now + 99) * NS), old)},
        "before 1970": {"a": packed(old, old), "b": packed(-5 * NS, old)},
        "ctime before 1970": {"a": packed(old, old), "b": packed(old, -5 * NS)},
        "none": {},
    }
    for path in (tmp_path / "x.yaml", tmp_path / "y.yaml"):
        path.write_text("title: x\n")
    real = {p.name: signature_of(os.stat(p)) for p in tmp_path.iterdir()}
    cases["real, just written"] = real
    for what, ready in cases.items():
        got = cacheable(ready, list(ready), now)  # type: ignore[arg-type]
        assert got == by_file(ready, now), what
    assert cacheable(real, list(real), now + 10) == real
