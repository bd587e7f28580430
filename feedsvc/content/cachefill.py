"""Parse cache rows for files kept without a parse, written after the reload.

A checkout or ``touch`` of every file gives each a new identity with the
bytes it had: the reload hashes each file and keeps its article
(:data:`~feedsvc.content.chunks.UNCHANGED`), and the load workers write no
row for it, having parsed nothing. Without new rows the next restart would
find no file in the cache and parse everything again, so the kept results
are packed (their texts copied from the text store) and written under the
new identities here, on a thread of their own once the reload has swapped:
at 100k files that is ~2 s of packing and SQLite writes the reload no
longer waits for. A failure only costs the next restart its cache (logged).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from feedsvc.content.chunks import LoadResult, is_unchanged, pack
from feedsvc.content.files import ArticleFiles
from feedsvc.content.parallel import LOAD_CHUNK
from feedsvc.content.parsecache import RowWriter, close_writers
from feedsvc.content.textstore import ensure_store, generation_of

log = logging.getLogger("feedsvc")

# (file name, its identity now, the result kept for it)
Kept = tuple[str, int, LoadResult]


def kept_unchanged(
    names: list[str], results: list[LoadResult], identities: Mapping[str, int], files: ArticleFiles
) -> list[Kept]:
    """The files of ``names`` found unchanged (``results``, in order) that have an
    identity to cache them under, each with the result its entry keeps."""
    entries = files.entries
    kept: list[Kept] = []
    for name, result in zip(names, results, strict=True):
        entry = entries.get(name)
        if entry is not None and name in identities and is_unchanged(result):
            kept.append((name, identities[name], (entry.article, entry.problems, entry.lines)))
    return kept


class CacheFill:
    """Writes rows for kept results in the background, one batch after another."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self.rows_written = 0

    def start(self, writer: RowWriter, kept: list[Kept]) -> None:
        """Write ``kept`` as rows of :data:`~feedsvc.content.parallel.LOAD_CHUNK`
        files, after any batch still being written."""
        if not kept:
            return
        # Their texts stay readable until copied, whatever a compaction does meanwhile.
        generations = {generation_of(r[0].text_ref) for _, _, r in kept if r[0] is not None}
        ensure_store().hold(generations)
        previous = self._thread
        self._thread = threading.Thread(
            target=self._run, args=(writer, kept, generations, previous),
            name="feedsvc-parsecache-fill", daemon=True,
        )  # fmt: skip
        self._thread.start()

    def _run(
        self,
        writer: RowWriter,
        kept: list[Kept],
        generations: set[int],
        previous: threading.Thread | None,
    ) -> None:
        try:
            if previous is not None:
                previous.join()
            for start in range(0, len(kept), LOAD_CHUNK):
                part = kept[start : start + LOAD_CHUNK]
                names = [name for name, _, _ in part]
                writer(names, {name: identity for name, identity, _ in part},
                       pack([result for _, _, result in part]))  # fmt: skip
                self.rows_written += 1
        except Exception:  # never raised into the service: the next restart parses instead
            log.exception("parse cache: keeping unchanged files failed")
        finally:
            ensure_store().release(generations)
            close_writers()
        log.info("parse cache: %d files kept unparsed written to the cache", len(kept))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the rows being written; True once none are."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True
