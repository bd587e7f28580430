"""Reading the content directory into a :class:`~feedsvc.content.model.Snapshot`.

The loader is incremental and forgiving on purpose:

* Each file is re-read only when its stat signature changes
  (:mod:`feedsvc.content.signatures`), so a reload of 100k articles after one
  edit parses one file.
* A file that stops parsing or validating keeps its *last good* article; the
  problem is reported instead. Only deleting the file removes its article
  (:mod:`feedsvc.content.files`).
* A change must *settle* before it is applied (:mod:`feedsvc.content.scan`):
  a file still being written, or a rename seen half-way, is not applied yet.
* At start, a bad article is skipped with the same message; a bad or missing
  ``site.yaml`` is a :class:`~feedsvc.problems.ContentError` because there is
  nothing sensible to serve without it (:mod:`feedsvc.content.specials`).

This module only orchestrates: find the changes, apply them to the files,
patch the snapshot indexes and the problem list, cut a snapshot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from feedsvc.content import indexcache, parsecache
from feedsvc.content.budgets import POPULARITY, SITE, article_budget
from feedsvc.content.cachefill import CacheFill, Kept, kept_unchanged
from feedsvc.content.changes import SITE_KEY, VIEWS_KEY
from feedsvc.content.events import ContentEvents
from feedsvc.content.files import LINT_FIELDS, ArticleFiles, same_bytes_same_article
from feedsvc.content.index import SnapshotBuilder
from feedsvc.content.keeper import Keeper, ReadWith
from feedsvc.content.lint import CrossArticleIndex, future_problems
from feedsvc.content.model import Article, Snapshot
from feedsvc.content.parallel import LoadResult, load_article_files
from feedsvc.content.problemset import ProblemSet
from feedsvc.content.reading import display_path
from feedsvc.content.scan import ChangeScanner, Findings
from feedsvc.content.settled import cacheable, first_signatures
from feedsvc.content.signatures import Signature
from feedsvc.content.specials import PopularityFile, SiteFile
from feedsvc.content.textstore import compact_if_mostly_dead, ensure_store, text_length
from feedsvc.content.yamlfile import YamlRead, read_yaml_file
from feedsvc.memory import cap_malloc_arenas
from feedsvc.problems import Problem
from feedsvc.settings import max_article_kb_from_env
from feedsvc.state.store import StateStore

# Above this share of the articles changed in one reload (a checkout), the
# snapshot and lint indexes are rebuilt rather than patched one by one.
REBUILD_SHARE = 16
REBUILD_MIN = 256

Change = tuple[Article | None, Article | None]  # a served article before and after


class ContentLoader:
    """Incremental loader of one content directory.

    ``settle`` (seconds) is how long a change must be quiet before it is
    applied (see :mod:`feedsvc.content.scan`); after reading, a file is
    stat-ed again and, if it changed meanwhile, the result is discarded. A
    file that is still broken after settling keeps its last good article.
    ``settle=0`` (the default, and what ``feedsvc check`` uses) applies
    every change at once. :attr:`events`, when the service's watcher sets
    it, names the changed files instead of a comparison of every file.
    With a durable ``state``, the parse cache (:mod:`.parsecache`) keeps what
    was read, and a first load takes the files unchanged since from it.

    A reload's work after an edit is proportional to the edit: changed files
    are compared on the fly (no second table of every file), the snapshot
    (:class:`~feedsvc.content.index.SnapshotBuilder`), the slug table, the
    cross-article lint (:class:`~feedsvc.content.lint.CrossArticleIndex`) and the
    problem list are patched for the articles that changed.

    Not thread-safe by itself: the service calls :meth:`find_changes` and
    :meth:`load` from one thread at a time (guarded by ``self.lock``).
    """

    def __init__(
        self,
        content_dir: Path,
        env: Mapping[str, str] | None = None,
        *,
        settle: float = 0.0,
        wall_clock: Callable[[], float] = time.time,
        display_prefix: str | None = None,
        state: StateStore | None = None,
    ) -> None:
        self.content_dir = Path(content_dir)
        self.articles_dir = self.content_dir / "articles"
        self.display_prefix = display_prefix
        self.lock = threading.Lock()
        self.files_read = 0
        self.new_problems: list[Problem] = []  # problems that appeared in the last load
        self._loaded = False
        self._scanner = ChangeScanner(
            self.content_dir, self.articles_dir, settle=settle, wall_clock=wall_clock
        )
        self._articles_display = self._display(self.articles_dir)
        self._article_budget = article_budget(max_article_kb_from_env(env))
        # Symlinks are followed only into these (see feedsvc.content.reading).
        self._roots = (str(self.content_dir), str(self.articles_dir))
        self._problems = ProblemSet()
        self._files = ArticleFiles(self._articles_display, self._problems)
        self._site = SiteFile(self._display(Path(self._scanner.site_path)), env)
        self._views = PopularityFile(self._display(Path(self._scanner.views_path)))
        self._misc_problems: list[Problem] = []
        self._builder: SnapshotBuilder | None = None
        self.text_compactions = 0  # text store compactions (see SnapshotBuilder's text_epoch)
        self._text_written = 0  # bytes of text this loader appended since it last compacted
        self._stale = False  # True while a load runs, and after one that failed half-way
        self._lint = CrossArticleIndex(self._files.served_articles, self._files.line_of)
        self._wall_clock = wall_clock
        # What changes how a file reads: its budget, how messages name it, where links lead.
        read_with = (self._article_budget, self._articles_display, self._roots, LINT_FIELDS)
        self._cache = parsecache.ParseCache.open(state, str(self.articles_dir), repr(read_with))
        self._indexes = indexcache.IndexCache.beside(self._cache)  # kept with it
        self.cache_fill = CacheFill()  # rows for files a reload kept without a parse
        self.keeper = Keeper(self.lock, self._indexes, self._cache, self.cache_fill, lambda: (
            self._builder, self._lint, self._files, self._views.views,
        ), ReadWith(str(self.articles_dir), self._roots, self._article_budget))  # fmt: skip
        self._fill_later: tuple[parsecache.RowWriter, list[Kept]] | None = None

    @property
    def events(self) -> ContentEvents | None:
        """inotify changes of this folder, set by the service's watcher (``None``: compare)."""
        return self._scanner.events

    @events.setter
    def events(self, events: ContentEvents | None) -> None:
        self._scanner.events = events

    @property
    def full_scans(self) -> int:
        """How many times every file was compared (for metrics)."""
        return self._scanner.full_scans

    def _display(self, path: Path) -> str:
        """How a file is named in messages (see :func:`~.reading.display_path`)."""
        return display_path(path, self.content_dir, self.display_prefix)

    # -- finding changes -------------------------------------------------------

    def _applied(self, key: str) -> Signature | None:
        """The signature of a file as last applied."""
        if key == SITE_KEY:
            return self._site.signature
        if key == VIEWS_KEY:
            return self._views.signature
        entry = self._files.entries.get(key)
        return entry.signature if entry is not None else None

    def find_changes(self) -> Findings:
        """The settled changes a :meth:`load` would apply (stat only, or inotify's list).

        Cheap, and false when there is nothing to do. Pass what it returns to
        :meth:`load`, so that a reload looks at every file once, not twice;
        with inotify the events are taken here, and findings not passed on
        are found again only by the next full comparison.
        """
        return self._scanner.find(self._applied, self._files.entries, loaded=self._loaded)

    def next_settle_at(self) -> float | None:
        """Wall-clock time when a pending change may be ready (for the watcher)."""
        return self._scanner.next_settle_at()

    # -- loading -----------------------------------------------------------------

    def load(self, now: datetime | None = None, found: Findings | None = None) -> Snapshot:
        """Apply ``found`` (by default, what :meth:`find_changes` finds now) and
        build a new snapshot.

        The first load reads everything at once. Raises :class:`ContentError`
        only when there has never been a usable ``site.yaml``; every other
        problem is carried in the snapshot (and so in ``/healthz``).
        """
        now = now or datetime.now(UTC)
        if not self._loaded:
            cap_malloc_arenas()  # before the first load's threads take arenas of their own
        found = self.find_changes() if found is None else found
        stale, self._stale = self._stale, True  # until this load has finished
        if stale:  # a load failed half-way: rebuild what is patched from the files
            self._recover()
        if not self._loaded or SITE_KEY in found.ready:
            self._apply_site(found)
        views_changed = VIEWS_KEY in found.ready
        if views_changed:
            self._apply_views(found)
        # Articles: remember what each touched slug served, apply the files,
        # choose again, and pass on only the articles that changed.
        names = found.article_names()
        first = not self._loaded and not self._files.entries  # nothing to compare with
        before = {} if first else self._files.before_change(names)
        self._builder = None if first else self._builder  # then indexed from scratch
        self._apply_articles(found, names)
        self._compact_texts()
        self._scanner.forget_pending(found.ready)
        builder = self._index(self._files.after_change(before), views_changed)
        self._loaded = True
        snapshot = builder.build(now, self._current_problems(builder, now))
        ensure_store().pin(snapshot, self._files.generations())  # its texts stay readable
        self._stale = False
        if self._fill_later is not None:
            self.cache_fill.start(*self._fill_later)
            self._fill_later = None
        return snapshot

    def all_articles(self) -> list[Article]:
        """Every currently loaded article, drafts and future ones included."""
        return self._files.all_articles()

    def _compact_texts(self) -> None:
        """When most of the text store is dead, move the live texts to a new file.

        Every article becomes a copy with its new reference, so the indexes
        are rebuilt from the files (as after a checkout); snapshots built
        before keep reading the old file until they are gone.
        """
        if not self._loaded:
            return
        live = self._files.text_bytes
        moved = compact_if_mostly_dead(self._text_written, live, self._files.text_refs)
        if moved is not None:
            self._files.moved_texts(moved)
            self._text_written = live  # the new file holds the live texts and nothing else
            self._builder = None
            self.text_compactions += 1

    def _recover(self) -> None:
        """After a load that failed half-way: rebuild the patched state from the files."""
        self._builder = None
        self._lint = CrossArticleIndex(self._files.served_articles, self._files.line_of)
        self._problems = ProblemSet()
        self._files.report_to(self._problems)
        self._misc_problems = []

    def _read_special(
        self, key: str, display: str, found: Findings
    ) -> tuple[YamlRead, Signature] | None:
        """Read ``site.yaml`` or ``popularity.yaml``; ``None`` if it changed while read."""
        self.files_read += 1
        budget = SITE if key == SITE_KEY else POPULARITY
        result = read_yaml_file(self._scanner.path_of(key), display, budget, self._roots[:1])
        kept = self._scanner.signature_to_keep(found, key, self._scanner.rewritten(found, [key]))
        return None if kept is None else (result, kept)

    def _apply_site(self, found: Findings) -> None:
        if found.ready.get(SITE_KEY) is None:
            return self._site.missing(self.content_dir.is_dir())
        if (read := self._read_special(SITE_KEY, self._site.display, found)) is not None:
            self._site.read(*read)

    def _apply_views(self, found: Findings) -> None:
        if found.ready[VIEWS_KEY] is None:
            self._views.missing()
            return
        read = self._read_special(VIEWS_KEY, self._views.display, found)
        if read is not None:
            self._views.read(*read)

    def _apply_articles(self, found: Findings, names: list[str]) -> None:
        """Forget deleted article files, read changed ones (those that changed again
        while being read wait for the next reload)."""
        changed = sorted(names)
        for name in changed:
            if found.ready[name] is None:
                self._files.forget(name)  # deleted: its article goes
        to_read = [name for name in changed if found.ready[name] is not None]
        if not to_read:
            return
        loaded, cached = self._read_articles(found, to_read)
        self._text_written += sum(text_length(result[0]) for result in loaded)
        if not self._loaded and not self._files.entries:  # a first load: all stored at once
            first = first_signatures(found.ready, to_read, cached, self._wall_clock())
            self._files.store_first(to_read, first, loaded)
            return
        rewritten = self._scanner.rewritten(found, to_read)
        entries = self._files.entries
        for name, result in zip(to_read, loaded, strict=True):
            kept = self._scanner.signature_to_keep(found, name, rewritten)
            if kept is not None:
                self._files.store(name, kept, same_bytes_same_article(entries.get(name), result))

    def _read_articles(
        self, found: Findings, names: list[str]
    ) -> tuple[list[LoadResult], Mapping[str, Signature]]:
        """The results of reading ``names``: from the parse cache at the first load
        (files as they were when cached), else read (and kept in the cache); and the
        identities of the files settled long enough to be cached."""
        folder = str(self.articles_dir)
        cache = self._cache
        identities = cacheable(found.ready, names, self._wall_clock()) if cache else {}
        taken = cache.take(identities) if cache is not None and not self._loaded else {}
        to_read = parsecache.not_taken(names, taken)
        revisions = self._files.revisions(to_read) if self._loaded else {}  # hashed, not parsed
        writer = cache.writer() if cache else None
        loaded = load_article_files(
            folder, self._articles_display, to_read, LINT_FIELDS, self._article_budget,
            self._roots, writer, identities, revisions,
        )  # fmt: skip
        parsecache.close_writers()
        self.files_read += len(to_read)
        if cache is not None and len(identities) < len(names):  # kept once settled
            self.keeper.read_too_soon(name for name in to_read if name not in identities)
        if writer is not None and revisions:  # rows for files kept unparsed, once loaded
            self._fill_later = (writer, kept_unchanged(to_read, loaded, identities, self._files))
        return parsecache.merged(names, taken, to_read, loaded), identities

    def _index(self, changes: list[Change], views_changed: bool) -> SnapshotBuilder:
        """The snapshot indexes (and the lint index) brought up to date with ``changes``."""
        site = self._site.settings
        assert site is not None  # SiteFile raised otherwise
        views = self._views.views
        builder = self._builder
        if builder is None or len(changes) > max(REBUILD_MIN, len(builder) // REBUILD_SHARE):
            served = list(self._files.served_articles())
            builder = self._builder = builder or SnapshotBuilder(
                site, views, text_epoch=self.text_compactions
            )
            builder.set_site(site)
            builder.set_views_override(views)
            indexcache.reset_indexes(self._indexes, builder, self._lint, served, views)
            return builder
        builder.set_site(site)
        self.keeper.patch(builder, self._lint, changes, views if views_changed else None)
        return builder

    def _current_problems(self, builder: SnapshotBuilder, now: datetime) -> tuple[Problem, ...]:
        """Every problem now, sorted; those new since the last load go to :attr:`new_problems`."""
        gone, new_lint = self._lint.changes()
        self._problems.remove(gone)
        self._problems.add(new_lint)
        misc = [*self._site.problems, *self._views.problems]
        if not self.articles_dir.is_dir():
            misc.append(
                Problem(self._display(self.articles_dir), "(dir)", "is missing", None, "warning")
            )
        future = builder.future(now)
        if future:
            misc += future_problems(future, now, self._files.line_of)
        self._problems.replace(self._misc_problems, misc)
        self._misc_problems = misc
        self.new_problems = self._problems.take_born()
        return self._problems.snapshot()
