"""What the next start reads, brought up to date while the service runs.

A restart takes every file from the parse cache (:mod:`.parsecache`) and the
indexes from the index cache (:mod:`.indexcache`) when both are current.
Two things fall behind while the service runs, each costing the next
restart time it need not spend:

* **The index row.** Reloads patch the indexes in memory (a one-file edit
  must not wait for a 4 MB row), and new ``popularity.yaml`` counts sort the
  popularity order again; the row kept still describes the content before.
  A restart would index every article again (~0.5 s at 100k).
* **Parse cache rows of files read soon after their change**, which is every
  edit the watcher applies: a row is trusted only for a file whose identity
  had settled (:data:`~.settled.SETTLED_SECONDS`) when it was read, so each
  edited file would be parsed again at the next start, and after a checkout
  while the service runs, every file.

Once the content has been quiet for :data:`QUIET_SECONDS`, the watcher calls
:meth:`Keeper.keep`: under the loader's lock it copies the indexes (30-50 ms
at 100k articles) and notes each such file's entry; a thread of its own then
writes the index row (unless the row kept already holds these articles and
counts), and a parse cache row for each such file that still has the
identity it was read under, now settled, and still the bytes its article
was made from (the hash of the bytes is the article's revision): exactly
what a parse of it now would keep. At a graceful shutdown the same is done
and waited for. Nothing here runs on a request, nor holds the lock while
it writes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from feedsvc.content.article import revision_of
from feedsvc.content.budgets import Budget
from feedsvc.content.cachefill import CacheFill, Kept
from feedsvc.content.files import ArticleFiles
from feedsvc.content.index import SnapshotBuilder
from feedsvc.content.indexcache import Captured, IndexCache
from feedsvc.content.lint import CrossArticleIndex
from feedsvc.content.model import Article
from feedsvc.content.parsecache import ParseCache
from feedsvc.content.reading import Refused, read_content_file
from feedsvc.content.settled import SETTLED_SECONDS
from feedsvc.content.signatures import stat_signature, unchanged_since
from feedsvc.content.textstore import ensure_store, generation_of

log = logging.getLogger("feedsvc")

QUIET_SECONDS = 10.0  # no change applied for this long: what changed is kept
# The loader's parts a keep reads, under its lock: the snapshot index (None before
# the first load), the lint index, the files, popularity.yaml's counts.
Parts = tuple[SnapshotBuilder | None, CrossArticleIndex, ArticleFiles, Mapping[str, int]]
Change = tuple[Article | None, Article | None]
# A file read too soon to cache: its name, identity, revision and the result it keeps.
Unsettled = tuple[str, int, str, Kept]


@dataclass(frozen=True, slots=True)
class ReadWith:
    """How the loader reads an article file (for the check that its bytes are the same)."""

    folder: str
    roots: tuple[str, ...]
    budget: Budget


class Keeper:
    """Keeps the index row and the parse cache rows current (module docstring)."""

    def __init__(
        self,
        lock: threading.Lock,
        indexes: IndexCache | None,
        cache: ParseCache | None,
        fill: CacheFill,
        parts: Callable[[], Parts],
        read_with: ReadWith,
    ) -> None:
        self._lock = lock
        self._indexes = indexes
        self._cache = cache
        self._fill = fill
        self._parts = parts
        self._read_with = read_with
        self._unsettled: set[str] = set()  # files read too soon after their change
        self._changed_at = 0.0  # monotonic time of the last change noted
        self._thread: threading.Thread | None = None
        self.keeps = 0  # for tests: keeps that found something to do

    # -- noted by the loader, under its lock -------------------------------------

    def read_too_soon(self, names: Iterable[str]) -> None:
        """Files just read without an identity to cache them under (too new)."""
        if self._cache is not None:
            before = len(self._unsettled)
            self._unsettled.update(names)
            if len(self._unsettled) != before:
                self._changed_at = time.monotonic()

    def patch(
        self,
        builder: SnapshotBuilder,
        lint: CrossArticleIndex,
        changes: Sequence[Change],
        views: Mapping[str, int] | None,
    ) -> None:
        """Patch the indexes with ``changes`` and new counts (``views``, if they
        changed); the row kept is behind them from now on."""
        if views is not None:
            builder.set_views_override(views)
        for old, new in changes:
            if old is not None:
                builder.remove(old)
            if new is not None:
                builder.add(new)
            lint.replace(old, new)
        if self._indexes is not None and (changes or views is not None):
            self._indexes.behind = True
            self._changed_at = time.monotonic()

    # -- keeping -----------------------------------------------------------------

    @property
    def behind(self) -> bool:
        """Whether anything is left to keep."""
        return bool(self._unsettled) or (self._indexes is not None and self._indexes.behind)

    def due(self) -> bool:
        """Whether something is behind and no change was applied for :data:`QUIET_SECONDS`."""
        return self.behind and time.monotonic() - self._changed_at >= QUIET_SECONDS

    def keep(self, *, wait: bool = False) -> bool:
        """Copy what is behind (under the loader's lock) and write it in a thread;
        with ``wait``, here, after any keep still running (a graceful shutdown)."""
        previous = self._thread
        if wait and previous is not None:
            previous.join()
        with self._lock:
            work = self._capture()
        if work is None:
            return False
        self.keeps += 1
        if wait:
            work()
            self._fill.wait(timeout=30)
            return True
        self._thread = threading.Thread(target=work, name="feedsvc-keep", daemon=True)
        self._thread.start()
        return True

    def _capture(self) -> Callable[[], None] | None:
        """What to write, copied now (under the loader's lock); ``None``: nothing."""
        builder, lint, files, views = self._parts()
        indexes = self._indexes
        captured: Captured | None = None
        if indexes is not None and indexes.behind and builder is not None:
            served = list(files.served_articles())
            captured = indexes.capture(builder, lint, served, views)
        unsettled = self._entries(files)
        if captured is None and not unsettled:
            return None
        generations = {generation_of(kept[2][0].text_ref) for *_, kept in unsettled
                       if kept[2][0] is not None}  # fmt: skip
        ensure_store().hold(generations)  # their texts stay readable until copied

        def work() -> None:
            try:
                self._write_rows(unsettled)
            finally:
                ensure_store().release(generations)
            if captured is not None and indexes is not None:
                indexes.keep(captured)

        return work

    def _entries(self, files: ArticleFiles) -> list[Unsettled]:
        """Each file read too soon, as its entry keeps it now (served articles only)."""
        names, self._unsettled = sorted(self._unsettled), set()
        revisions = files.revisions(names)
        found: list[Unsettled] = []
        for name in names:
            entry = files.entries.get(name)
            revision = revisions.get(name)
            if entry is None or revision is None or entry.signature & 1:  # racy: read again
                continue
            result = (entry.article, entry.problems, entry.lines)
            found.append((name, entry.signature, revision, (name, entry.signature, result)))
        return found

    def _write_rows(self, unsettled: list[Unsettled]) -> None:
        """Parse cache rows for the files that still have the identity and the bytes
        they were read with, now settled (module docstring)."""
        if not unsettled or self._cache is None:
            return
        writer = self._cache.writer()
        if writer is None:
            return
        cutoff = int((time.time() - SETTLED_SECONDS) * 1e9)
        kept = [entry for name, identity, revision, entry in unsettled
                if self._same(name, identity, revision, cutoff)]  # fmt: skip
        if kept:
            self._fill.start(writer, kept)

    def _same(self, name: str, identity: int, revision: str, cutoff_ns: int) -> bool:
        """Whether ``name`` still has ``identity``, settled before ``cutoff_ns``, and
        the bytes of ``revision``, read as the loader reads it."""
        path = os.path.join(self._read_with.folder, name)
        if stat_signature(path) != identity or not unchanged_since(identity, cutoff_ns):
            return False
        try:
            raw = read_content_file(path, self._read_with.roots, self._read_with.budget.max_bytes)
        except (OSError, Refused):
            return False
        return revision_of(raw) == revision and stat_signature(path) == identity
