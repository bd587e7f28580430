"""Every current content problem, sorted, patched by what changed.

Sorting every problem on every reload is O(n log n) in the problems, which
a site where every article has a warning makes O(articles). The loader
instead tells this set which problems went and came with each change.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

from feedsvc.problems import Problem, problem_order

NO_PROBLEMS: tuple[Problem, ...] = ()  # shared by the (many) files without problems


class ProblemSet:
    """A multiset of problems kept sorted by bisection.

    A multiset because the same problem may come from two places; ``born``
    collects the problems that appeared since :meth:`take_born`, so the
    service logs each one once, when it appears.
    """

    def __init__(self) -> None:
        self._counts: dict[Problem, int] = {}
        self._sorted: list[Problem] = []
        self._tuple: tuple[Problem, ...] | None = ()
        self._born: set[Problem] = set()
        self._vanished: set[Problem] = set()

    def add(self, problems: Iterable[Problem]) -> None:
        """Count these problems in (each once more)."""
        for problem in problems:
            count = self._counts.get(problem, 0)
            self._counts[problem] = count + 1
            if count:
                continue
            insort(self._sorted, problem, key=problem_order)
            self._tuple = None
            if problem in self._vanished:
                self._vanished.discard(problem)
            else:
                self._born.add(problem)

    def remove(self, problems: Iterable[Problem]) -> None:
        """Count these problems out (each added before)."""
        for problem in problems:
            count = self._counts[problem] - 1
            if count:
                self._counts[problem] = count
                continue
            del self._counts[problem]
            index = bisect_left(self._sorted, problem_order(problem), key=problem_order)
            del self._sorted[index]
            self._tuple = None
            if problem in self._born:
                self._born.discard(problem)
            else:
                self._vanished.add(problem)

    def replace(self, old: Iterable[Problem], new: Iterable[Problem]) -> None:
        """One source's problems changed from ``old`` to ``new``."""
        if old is not new:
            self.remove(old)
            self.add(new)

    def snapshot(self) -> tuple[Problem, ...]:
        """All problems, sorted (the same tuple while nothing changed)."""
        if self._tuple is None:
            self._tuple = tuple(self._sorted)
        return self._tuple

    def take_born(self) -> list[Problem]:
        """Problems that appeared since the last call, sorted."""
        born = sorted(self._born, key=problem_order)
        self._born, self._vanished = set(), set()
        return born
