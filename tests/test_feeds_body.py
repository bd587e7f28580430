"""The in-memory LRU of rendered bodies (feeds/body.py) is bounded by bytes."""

from __future__ import annotations

from feedsvc.feeds.body import ENTRY_OVERHEAD, _Bodies


def test_the_lru_keeps_the_most_recent_bodies_within_its_bytes():
    bodies = _Bodies(max_bytes=3 * (1000 + ENTRY_OVERHEAD))
    for n in range(5):
        bodies.put((n, "u"), "x" * 1000)
    assert [n for n in range(5) if bodies.get((n, "u")) is not None] == [2, 3, 4]
    assert bodies.used == 3 * (1000 + ENTRY_OVERHEAD)
    assert bodies.get((2, "u")) is not None  # now the most recent: 3 goes next
    bodies.put((9, "u"), "y" * 1000)
    assert bodies.get((3, "u")) is None and bodies.get((2, "u")) is not None


def test_a_replaced_body_is_counted_once_and_a_huge_one_never_kept():
    bodies = _Bodies(max_bytes=10_000)
    bodies.put((1, "u"), "a" * 500)
    bodies.put((1, "u"), "b" * 700)
    assert bodies.used == 700 + ENTRY_OVERHEAD and bodies.get((1, "u")) == "b" * 700
    bodies.put((2, "u"), "c" * 20_000)  # bigger than the whole bound: rendered, not kept
    assert bodies.get((2, "u")) is None and bodies.get((1, "u")) == "b" * 700
    assert bodies.used == 700 + ENTRY_OVERHEAD
