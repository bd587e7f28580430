"""Reading many article files at once: worker processes for big batches.

Reading 100k articles is YAML parsing bound (~0.1 ms a file), so a batch of
many files (a first load, a checkout changing every file) is spread over one
worker process per CPU. Workers send their results back as chunks
(:mod:`feedsvc.content.chunks`: texts and pickled articles), which is also
what the parse cache keeps, so the caller can store them as they come; a
forked worker appends the texts to the text store itself and sends only
the pickled articles and where their texts went.

Workers are forked directly while the process has a single thread (at
start: cheapest). Once threads run (the server, the watcher), forking could
copy a lock some other thread holds, so workers then come from a forkserver:
a small process started once, single-threaded, that forks them on demand
(a full reload at 100k took 17 s on one core). Small batches are read here.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping
from multiprocessing.context import BaseContext
from typing import Protocol

from feedsvc.content.article import load_article_file, revision_of
from feedsvc.content.budgets import ARTICLE, Budget
from feedsvc.content.chunks import (
    UNCHANGED,
    Chunk,
    LoadResult,
    TextCollector,
    is_unchanged,
    pack,
    unpack,
    unpack_at,
)
from feedsvc.content.reading import Refused, read_content_file
from feedsvc.content.textstore import ensure_store, put_chunk, put_text
from feedsvc.memory import paused_gc
from feedsvc.problems import Problem

__all__ = ["UNCHANGED", "LoadResult", "is_unchanged", "load_article_files"]

log = logging.getLogger("feedsvc")

# Below this many files to read, worker processes cost more than they save.
PARALLEL_MIN_FILES = 2000
LOAD_CHUNK = 500  # files per task sent to a worker (and per parse cache row)


class ChunkSink(Protocol):
    """Keeps each chunk (the parse cache): called with its files' names, their
    identities (by name) and the chunk, in whichever process read them, so
    it must pickle (workers get it with their batch)."""

    def __call__(self, names: list[str], identities: dict[str, int], chunk: Chunk) -> None: ...


# What a worker is sent: the folder, how it is named in messages, the fields
# whose lines to report, the file names of one chunk, the budget of each file,
# the folders symlinks may lead into, where to keep the chunk with the
# identities of its files, the revision (hash of the bytes) each file's
# served article was made from, for files that need no parse if they still
# have those bytes, and whether the worker stores the chunk's texts itself.
_Batch = tuple[
    str, str, tuple[str, ...], list[str], Budget, tuple[str, ...], ChunkSink | None,
    dict[str, int], dict[str, str], bool,
]  # fmt: skip
# What a worker sends back: its chunk, or (when it stored the texts itself) where
# they went in the text store and the pickled results.
_Sent = Chunk | tuple[int, bytes]


def _same_bytes(path: str, roots: tuple[str, ...], budget: Budget, revision: str) -> bool:
    """Whether ``path`` still holds the bytes whose :func:`revision_of` is ``revision``,
    read under the same policy as a real read."""
    try:
        raw = read_content_file(path, roots, budget.max_bytes)
    except (OSError, Refused):  # the real read words the problem
        return False
    return revision_of(raw) == revision


def _read_batch(batch: _Batch, put: Callable[[str, str], int]) -> list[LoadResult]:
    """One batch, in order; each text kept by ``put``.

    Results are packed (problems as a tuple, lines as a tuple of the
    requested fields): the parent keeps the articles for good, and every
    short-lived object made between them would leave a hole in its heap.
    """
    folder, display_folder, fields, names, budget, roots = batch[:6]
    revisions = batch[8]
    results: list[LoadResult] = []
    # os.path.join for names from a listing (no separator in them), without a call per file
    in_folder, in_display = os.path.join(folder, ""), os.path.join(display_folder, "")
    for name in names:
        path, display = in_folder + name, in_display + name
        revision = revisions.get(name)
        if revision is not None and _same_bytes(path, roots, budget, revision):
            results.append(UNCHANGED)  # a checkout or touch: the caller keeps its article
            continue
        try:
            article, problems, lines = load_article_file(path, display, budget, roots, put)
        except Exception:  # a bug must not take every other article down with this one
            log.exception("reading %s failed", display)
            article, lines = None, {}
            problems = [Problem(display, "(file)", "could not be read (internal error; see log)")]
        results.append((article, tuple(problems), tuple(map(lines.get, fields))))
    return results


def _load_batch(batch: _Batch) -> _Sent:
    """Worker side of :func:`load_article_files`: one batch, as a chunk (kept by the
    sink here, in parallel, rather than by the parent).

    A forked worker appends the chunk's texts to the text store itself and sends
    only where they went: 1.2 MB a chunk (240 MB at 100k articles) no longer goes
    through a pipe to be copied, unpickled and written again by the parent, the
    one process every worker's results wait on.
    """
    texts = TextCollector()
    results = _read_batch(batch, texts.put)
    chunk = pack(results, texts)
    _keep(batch, results, chunk)
    if batch[9]:
        return (put_chunk(chunk[0]) if chunk[0] else 0), chunk[1]
    return chunk


def _received(sent: _Sent) -> list[LoadResult]:
    """The results a worker sent (:func:`_load_batch`), their texts stored."""
    first, packed = sent
    return unpack_at(first, packed) if isinstance(first, int) else unpack((first, packed))


def _keep(batch: _Batch, results: list[LoadResult], chunk: Chunk) -> None:
    """Hand a chunk to the sink; files found :data:`UNCHANGED` go without an identity
    (the chunk holds no article for them; the caller keeps theirs in the cache)."""
    sink, identities = batch[6], batch[7]
    if sink is None or not identities:
        return
    if batch[8]:
        pairs = zip(batch[3], results, strict=True)
        same = {name for name, result in pairs if is_unchanged(result)}
        identities = {name: identity for name, identity in identities.items() if name not in same}
    sink(batch[3], identities, chunk)


def load_article_files(
    folder: str,
    display_folder: str,
    names: list[str],
    line_fields: tuple[str, ...],
    budget: Budget = ARTICLE,
    roots: tuple[str, ...] | None = None,
    sink: ChunkSink | None = None,
    identities: Mapping[str, int] | None = None,
    revisions: Mapping[str, str] | None = None,
) -> list[LoadResult]:
    """:func:`load_article_file` for the files ``names`` in ``folder``, in order.

    ``display_folder`` is how messages name the folder; each result carries
    the lines of ``line_fields`` (for later messages) instead of every key's;
    ``budget`` and ``roots`` are as for :func:`load_article_file`. ``sink``,
    if given, gets every chunk of results with the ``identities`` of its files
    (the parse cache keeps them; files without one are not kept). A file
    named in ``revisions`` that still has the bytes of that revision is not
    parsed: its result is :data:`UNCHANGED` (a checkout touching every file
    then costs a read and a hash per file, not a parse).
    Spread over worker processes when that pays (module docstring).
    """
    store = ensure_store()
    workers = min(os.cpu_count() or 1, 8)
    known, same = identities or {}, revisions or {}
    batches: list[_Batch] = []
    for start in range(0, len(names), LOAD_CHUNK):
        part = names[start : start + LOAD_CHUNK]
        ids = {name: known[name] for name in part if name in known} if sink else {}
        revs = {name: same[name] for name in part if name in same} if same else {}
        batches.append((folder, display_folder, line_fields, part, budget, roots or (folder,),
                        sink, ids, revs, False))  # fmt: skip
    try:
        with paused_gc():
            if len(names) < PARALLEL_MIN_FILES or workers < 2:
                return _load_here(batches)
            return _load_in_workers(batches, workers)
    finally:
        store.seal()  # the file's name goes (nothing else opens it); the kernel frees it at exit


def _load_here(batches: list[_Batch]) -> list[LoadResult]:
    results: list[LoadResult] = []
    for batch in batches:
        part = _read_batch(batch, put_text)
        if batch[6] is not None and batch[7]:
            _keep(batch, part, pack(part))
        results += part
    return results


def _load_in_workers(batches: list[_Batch], workers: int) -> list[LoadResult]:
    context = _worker_context()
    if context is None:
        return _load_here(batches)
    if context.get_start_method() == "fork" and ensure_store().forkable:
        batches = [(*batch[:9], True) for batch in batches]  # they inherit the store (above)
    results: list[LoadResult] = []
    try:
        with context.Pool(min(workers, len(batches))) as pool:
            for sent in pool.imap(_load_batch, batches):
                results += _received(sent)  # as each arrives: one chunk's bytes alive at a time
    except OSError:  # no processes to be had (limits, sandbox): read them here
        log.warning("no worker processes for reading articles; reading them in one")
        return _load_here(batches)
    return results


def _worker_context() -> BaseContext | None:
    """Fork while single-threaded, else a forkserver (``None``: neither exists here)."""
    methods = multiprocessing.get_all_start_methods()
    if threading.active_count() == 1 and "fork" in methods:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return None
