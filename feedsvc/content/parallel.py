"""Reading many article files at once: forked workers for a first load.

Reading 100k articles is YAML parsing bound (~0.1 ms a file), so a first
load of many files is spread over one forked worker per CPU; articles come
back pickled, which costs a fraction of parsing them. Forking is only safe
while the process has a single thread, i.e. at start-up: later (watcher and
server threads running) and for small batches, files are read here.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from datetime import timezone
from multiprocessing.reduction import ForkingPickler
from typing import Any

from feedsvc.content.article import load_article_file
from feedsvc.content.budgets import ARTICLE, Budget
from feedsvc.content.fields import shared
from feedsvc.content.model import Article, Tag
from feedsvc.content.textstore import MemoryTextStore, TextStore, ensure_store
from feedsvc.memory import paused_gc
from feedsvc.problems import Problem

log = logging.getLogger("feedsvc")

# Below this many files to read, worker processes cost more than they save.
PARALLEL_MIN_FILES = 2000
LOAD_CHUNK = 500  # files per task sent to a worker
# (article or None, its problems, the lines of the requested fields)
LoadResult = tuple[Article | None, tuple[Problem, ...], tuple[int | None, ...]]
# What a worker is sent: the folder, how it is named in messages, the fields
# whose lines to report, the file names of one chunk, the budget of each file
# and the folders symlinks may lead into.
_Batch = tuple[str, str, tuple[str, ...], list[str], Budget, tuple[str, ...]]


def _load_batch(batch: _Batch) -> list[LoadResult]:
    """Worker side of :func:`load_article_files`: one chunk, in order.

    Results are packed here (problems as a tuple, the usual empty one shared;
    lines as a tuple of the requested fields): the parent keeps the articles
    for good, and every short-lived object unpickled between them would leave
    a hole in its heap (tens of MB at 100k articles).
    """
    folder, display_folder, fields, names, budget, roots = batch
    results: list[LoadResult] = []
    for name in names:
        path, display = os.path.join(folder, name), os.path.join(display_folder, name)
        try:
            article, problems, lines = load_article_file(path, display, budget, roots)
        except Exception:  # a bug must not take every other article down with this one
            log.exception("reading %s failed", display)
            article, lines = None, {}
            problems = [Problem(display, "(file)", "could not be read (internal error; see log)")]
        results.append((article, tuple(problems), tuple(lines.get(key) for key in fields)))
    return results


def _shared_tag(name: str, slug: str) -> Tag:
    return shared(Tag(name=name, slug=slug))


def _shared_zone(*args: Any) -> timezone:
    return shared(timezone(*args))


def _reduce_tag(tag: Tag) -> tuple[Any, tuple[str, str]]:
    return _shared_tag, (tag.name, tag.slug)


def _reduce_zone(zone: timezone) -> tuple[Any, tuple[Any, ...]]:
    reduced = zone.__reduce__()  # as pickle rebuilds a zone: (type, its arguments, ...)
    assert isinstance(reduced, tuple)
    return _shared_zone, reduced[1]


def load_article_files(
    folder: str,
    display_folder: str,
    names: list[str],
    line_fields: tuple[str, ...],
    budget: Budget = ARTICLE,
    roots: tuple[str, ...] | None = None,
) -> list[LoadResult]:
    """:func:`load_article_file` for the files ``names`` in ``folder``, in order.

    ``display_folder`` is how messages name the folder; each result carries
    the lines of ``line_fields`` (for later messages) instead of every key's;
    ``budget`` and ``roots`` are as for :func:`load_article_file`.
    Spread over forked workers when that pays and is safe (module docstring).
    """
    store = ensure_store()  # created before any fork, so workers append to the same file
    workers = min(os.cpu_count() or 1, 8)
    chunks: list[_Batch] = [
        (folder, display_folder, line_fields, names[i : i + LOAD_CHUNK], budget, roots or (folder,))
        for i in range(0, len(names), LOAD_CHUNK)
    ]
    with paused_gc():
        return _load_files(chunks, len(names), store, workers)


def _load_files(
    chunks: list[_Batch], count: int, store: TextStore | MemoryTextStore, workers: int
) -> list[LoadResult]:
    def here() -> list[LoadResult]:
        return [result for chunk in chunks for result in _load_batch(chunk)]

    try:
        if (
            count < PARALLEL_MIN_FILES
            or workers < 2
            or not store.forkable
            or threading.active_count() > 1
            or "fork" not in multiprocessing.get_all_start_methods()
        ):
            return here()
        # Tags and time zones come back as the parent's shared instances.
        ForkingPickler.register(Tag, _reduce_tag)
        ForkingPickler.register(timezone, _reduce_zone)
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                parts = pool.map(_load_batch, chunks, chunksize=1)
        except OSError:  # no processes to be had (limits, sandbox): read them here
            return here()
        return [result for part in parts for result in part]
    finally:
        store.seal()  # no more forks: the file's name goes, the kernel frees it at exit
