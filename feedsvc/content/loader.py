"""Reading the content directory into a :class:`~feedsvc.content.model.Snapshot`.

The loader is incremental and forgiving on purpose:

* Each file is re-read only when its stat signature (mtime, ctime, size,
  inode) changes, so a reload of 100k articles after one edit parses one file.
* A file that stops parsing or validating keeps its *last good* article; the
  problem is reported instead. Only deleting the file removes its article.
* A change must *settle* before it is applied (see :class:`ContentLoader`):
  a file still being written, or a rename seen half-way, is not applied yet.
* At start, a bad article is skipped with the same message; a bad or missing
  ``site.yaml`` is a :class:`~feedsvc.problems.ContentError` because there is
  nothing sensible to serve without it.

Reading and checking one file is :mod:`feedsvc.content.yamlfile` (YAML) and
:mod:`feedsvc.content.article` (an article's fields); this module decides which
files to read and when.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG

from feedsvc.content import lint
from feedsvc.content.article import load_article_files
from feedsvc.content.changes import (
    ARTICLE_SUFFIXES,
    MOVED_AWAY,
    SITE_KEY,
    VIEWS_KEY,
    WRITTEN,
)
from feedsvc.content.events import ContentEvents
from feedsvc.content.index import SnapshotBuilder
from feedsvc.content.model import Article, Snapshot
from feedsvc.content.site import SiteSettings, parse_site_settings
from feedsvc.content.yamlfile import ParsedYaml, read_yaml_file, shown
from feedsvc.problems import ContentError, Problem, problem_order

RACY_SECONDS = 0.05  # well above file-time granularity (1-10 ms) on local file systems

# A file's stat signature: mtime_ns, ctime_ns, size and inode packed exactly
# into one int (see ``_signature``), so comparisons stay exact.
Signature = int


# -- the incremental loader ------------------------------------------------

_MASK64 = (1 << 64) - 1
_RACY = 1  # the low bit: "read too soon after its change to be trusted"; no stat sets it

# Above this share of the articles changed in one reload (a checkout), the
# snapshot and lint indexes are rebuilt rather than patched one by one.
REBUILD_SHARE = 16
REBUILD_MIN = 256


def _slug_of(name: str) -> str:
    """The slug an article file's name gives it (as ``load_article_file`` derives it)."""
    return name.rsplit(".", 1)[0].lower()


def _signature(stat: os.stat_result) -> Signature:
    """mtime, ctime, size and inode, exactly, in one int.

    ctime too: ``cp -p`` or a checkout can rewrite a file keeping mtime and
    size. One int of ~260 bits is 60 bytes where the tuple of four ints it
    replaces was ~180, and two compare with one operation. The lowest bit
    is zero (see ``_RACY``).
    """
    packed = (stat.st_mtime_ns & _MASK64) << 64 | (stat.st_ctime_ns & _MASK64)
    return ((packed << 64 | stat.st_size) << 64 | stat.st_ino) << 1


def _signed(value: int) -> int:
    return value - (1 << 64) if value >> 63 else value


def _changed_at(signature: Signature) -> float:
    """Wall-clock time of a file's last change (write, rename, copy)."""
    mtime_ns = _signed(signature >> 193 & _MASK64)
    ctime_ns = _signed(signature >> 129 & _MASK64)
    return max(mtime_ns, ctime_ns) / 1e9


@dataclass(slots=True)
class _FileEntry:
    """What the loader remembers about one article file between reloads."""

    signature: Signature
    article: Article | None  # last good version, kept while the file is broken
    problems: list[Problem] | tuple[Problem, ...]
    # Lines of the fields cross-article lint names (LINT_FIELDS), of the served
    # version: a small tuple, not the parser's dict (100k dicts are ~100 MB).
    lines: tuple[int | None, ...] = ()


LINT_FIELDS = ("title", "tags", "published")
_NO_PROBLEMS: tuple[Problem, ...] = ()  # shared by the (many) files without problems


_SHARED_LINES: dict[tuple[int | None, ...], tuple[int | None, ...]] = {}


def _shared_lint_lines(packed: tuple[int | None, ...]) -> tuple[int | None, ...]:
    # Files written by one tool put their fields on the same lines: one shared
    # tuple per layout instead of one per file (6 MB at 100k articles).
    if len(_SHARED_LINES) < 4096:
        return _SHARED_LINES.setdefault(packed, packed)
    return _SHARED_LINES.get(packed, packed)


@dataclass(slots=True)
class _Pending:
    """A change seen but not applied yet, because it has not settled."""

    signature: Signature | None  # None: the file is gone
    changed_at: float
    first_seen: float


class _ProblemSet:
    """Every current problem, sorted, kept up to date by what changed.

    Sorting every problem on every reload is O(n log n) in the problems,
    which a site where every article has a warning makes O(articles).
    A multiset (the same problem may come from two places) and a sorted
    list patched by bisection instead; ``born`` collects the problems that
    appeared since :meth:`take_born` (for logging each one once).
    """

    def __init__(self) -> None:
        self._counts: dict[Problem, int] = {}
        self._sorted: list[Problem] = []
        self._tuple: tuple[Problem, ...] | None = ()
        self._born: set[Problem] = set()
        self._vanished: set[Problem] = set()

    def add(self, problems: Iterable[Problem]) -> None:
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


class ContentLoader:
    """Incremental loader of one content directory.

    ``settle`` (seconds) guards against reading a change half-way: a file
    whose last write, copy or rename is more recent than ``settle`` is left
    for a later poll, and so is a deletion while its folder changed that
    recently. A save that truncates and rewrites a file, a copy in progress,
    or an editor that deletes and recreates a file are then seen whole, and
    both halves of a rename are applied together. After reading, the file is
    stat-ed again; if it changed meanwhile the result is discarded. A file
    that is still broken after settling keeps its last good article.
    ``settle=0`` (the default, and what ``feedsvc check`` uses) applies
    every change at once.

    Changes are found by comparing every file's stat signature with the one
    applied (polling), or, when :attr:`events` is set (the service's
    inotify watcher, :mod:`feedsvc.content.events`), by looking only at the files the
    kernel named; a file it reports closed after writing, or renamed into
    place, is whole and read at once, without settling.

    A reload's work after an edit is proportional to the edit: changed files
    are compared on the fly (no second table of every file), the snapshot
    (:class:`~feedsvc.content.model.SnapshotBuilder`), the slug table, the
    cross-article lint (:class:`~feedsvc.content.lint.CrossArticleIndex`) and the
    problem list are patched for the articles that changed.

    Not thread-safe by itself: the service calls :meth:`load` from one
    thread at a time (guarded by ``self.lock``).
    """

    def __init__(
        self,
        content_dir: Path,
        env: Mapping[str, str] | None = None,
        *,
        settle: float = 0.0,
        wall_clock: Callable[[], float] = time.time,
        display_prefix: str | None = None,
    ) -> None:
        self.content_dir = Path(content_dir)
        self.articles_dir = self.content_dir / "articles"
        self.site_path = str(self.content_dir / "site.yaml")
        self.views_path = str(self.content_dir / "popularity.yaml")
        self.env = env
        self.settle = settle
        self.wall_clock = wall_clock
        self.display_prefix = display_prefix
        self.lock = threading.Lock()
        self.events: ContentEvents | None = None  # inotify changes, set by the watcher
        self.files_read = 0
        self.full_scans = 0
        self.new_problems: list[Problem] = []  # problems that appeared in the last load
        self._loaded = False
        self._articles_path = str(self.articles_dir)
        self._articles_display = self._display(self.articles_dir)
        self._files: dict[str, _FileEntry] = {}  # by file name in articles/
        self._slugs: dict[str, str | list[str]] = {}  # slug -> its file (served first if several)
        self._collisions: dict[str, list[Problem]] = {}
        self._pending: dict[str, _Pending] = {}
        self._ready: tuple[dict[str, Signature | None], set[str]] | None = None
        self._site: SiteSettings | None = None
        self._site_sig: Signature | None = None
        self._site_problems: list[Problem] = []
        self._views: dict[str, int] = {}
        self._views_sig: Signature | None = None
        self._views_problems: list[Problem] = []
        self._misc_problems: list[Problem] = []
        self._problems = _ProblemSet()
        self._builder: SnapshotBuilder | None = None
        self._stale = False  # True while a load runs, and after one that failed half-way
        self._lint = lint.CrossArticleIndex(self._served_articles, self._line_of)

    def _display(self, path: Path) -> str:
        """How a file is named in messages: as the user named the directory for
        ``check``, else relative to the content directory's parent."""
        if self.display_prefix is not None:
            try:
                relative = path.relative_to(self.content_dir)
            except ValueError:
                return str(path)
            return os.path.normpath(os.path.join(self.display_prefix, relative))
        try:
            return str(path.relative_to(self.content_dir.parent))
        except ValueError:
            return str(path)

    def _article_display(self, name: str) -> str:
        # A string join, not a Path per file: pathlib interns every name it
        # parses, and the interning table keeps its size (MBs at 100k files).
        return os.path.join(self._articles_display, name)

    @staticmethod
    def _stat(path: str) -> Signature | None:
        """A regular file's signature, or ``None`` (missing, a folder, unreadable)."""
        try:
            stat = os.stat(path)
        except (OSError, ValueError):
            return None
        return _signature(stat) if S_ISREG(stat.st_mode) else None

    def _path_of(self, key: str) -> str:
        if key == SITE_KEY:
            return self.site_path
        if key == VIEWS_KEY:
            return self.views_path
        return os.path.join(self._articles_path, key)

    def _accepted(self, key: str) -> Signature | None:
        """The signature of a file as last applied."""
        if key == SITE_KEY:
            return self._site_sig
        if key == VIEWS_KEY:
            return self._views_sig
        entry = self._files.get(key)
        return entry.signature if entry is not None else None

    # -- finding changes -------------------------------------------------------

    def _scan(self) -> dict[str, Signature | None]:
        """Every file whose signature differs from the one applied (``None``: gone).

        One pass over the folder comparing as it goes: no list of entries, no
        table of every file's signature (at 100k files those were ~100 MB
        for the length of a poll). Files that were known and not seen are
        found with a second, name-only listing, only when some are missing.
        """
        self.full_scans += 1
        changed: dict[str, Signature | None] = {}
        for key in (SITE_KEY, VIEWS_KEY):
            signature = self._stat(self._path_of(key))
            if signature != self._accepted(key):
                changed[key] = signature
        files = self._files
        find, signature_of = files.get, _signature  # locals: this loop runs over every file
        seen = 0
        try:
            with os.scandir(self._articles_path) as entries:
                for entry in entries:
                    name = entry.name
                    if name[0] == "." or not name.endswith(ARTICLE_SUFFIXES):  # is_article_name
                        continue
                    try:
                        signature = signature_of(entry.stat()) if entry.is_file() else None
                    except OSError:
                        signature = None
                    known = find(name)
                    if known is None:
                        if signature is not None:
                            changed[name] = signature
                        continue
                    seen += 1
                    if known.signature != signature:
                        changed[name] = signature
        except OSError:
            pass
        if seen < len(files):  # some known files were not listed: gone
            try:
                present = set(os.listdir(self._articles_path))
            except OSError:
                present = set()
            for name in files:
                if name not in present:
                    changed[name] = None
        return changed

    def _look(self, keys: Iterable[str], states: Mapping[str, int]) -> dict[str, Signature | None]:
        """:meth:`_scan` for the named files only (inotify said which)."""
        changed: dict[str, Signature | None] = {}
        for key in keys:
            signature = self._stat(self._path_of(key))
            # Closed after a write: read it even if its signature looks the same
            # (a second save within one clock tick, of the same size).
            if signature != self._accepted(key) or (
                signature is not None and states.get(key) == WRITTEN
            ):
                changed[key] = signature
        return changed

    def _folder_changed_at(self, key: str) -> float:
        folder = self.content_dir if key in (SITE_KEY, VIEWS_KEY) else self.articles_dir
        try:
            return _changed_at(_signature(folder.stat()))
        except OSError:
            return 0.0

    def _settled(
        self, changed: Mapping[str, Signature | None], states: Mapping[str, int], settle: float
    ) -> dict[str, Signature | None]:
        """The changes that may be applied now; the others wait in ``_pending``.

        A change is ready when it has settled (by the file's own clock, or,
        with clock skew such as a network file system, after being seen
        unchanged for ``settle`` seconds), or when an event vouches for it.
        """
        now = self.wall_clock()
        ready: dict[str, Signature | None] = {}
        for key, new in changed.items():
            state = states.get(key)
            if (
                settle <= 0
                or (state == WRITTEN and new is not None)
                or (state == MOVED_AWAY and new is None)
            ):
                ready[key] = new
                continue
            # A deletion is dated by its folder's last change.
            changed_at = _changed_at(new) if new is not None else self._folder_changed_at(key)
            pending = self._pending.get(key)
            if pending is None or pending.signature != new:
                pending = self._pending[key] = _Pending(new, changed_at, now)
            if now - changed_at >= settle or now - pending.first_seen >= settle:
                ready[key] = new
        for key in [key for key in self._pending if key not in changed]:
            del self._pending[key]  # changed back, or gone again, before it settled
        return ready

    def _collect(self) -> tuple[dict[str, Signature | None], set[str]]:
        """Ready changes, and the keys among them read on an event's word."""
        settle = self.settle if self._loaded else 0.0
        changes = self.events.take() if self.events is not None and self._loaded else None
        if changes is None:
            return self._settled(self._scan(), {}, settle), set()
        states = changes.states
        if changes.full:  # compare everything; what events vouch for still counts
            changed = self._scan()
            written = [k for k, state in states.items() if state == WRITTEN and k not in changed]
            changed.update(self._look(written, states))
        else:
            changed = self._look(states.keys() | self._pending.keys(), states)
        ready = self._settled(changed, states, settle)
        trusted = {k for k, sig in ready.items() if sig is not None and states.get(k) == WRITTEN}
        return ready, trusted

    def next_settle_at(self) -> float | None:
        """Wall-clock time when a pending change may be ready (for the watcher)."""
        if not self._pending:
            return None
        return min(min(p.changed_at, p.first_seen) for p in self._pending.values()) + self.settle

    def has_changes(self) -> bool:
        """Cheap check (stat only) whether any settled change awaits a :meth:`load`.

        A positive answer keeps what it found for the :meth:`load` that
        follows, so a reload looks at every file once, not twice.
        """
        if self._ready is not None:  # asked twice: what was found still awaits a load
            return True
        ready = self._collect()
        self._ready = ready if ready[0] else None
        return self._ready is not None

    # -- applying changes ----------------------------------------------------

    def _recorded(self, signature: Signature) -> Signature:
        """The signature to remember for a file just read.

        File times are coarse (a clock tick, milliseconds): a second write of
        the same size within one tick of the first leaves the signature as it
        was, and would never be read. A file read within :data:`RACY_SECONDS`
        of its last change is therefore remembered with a mark no stat
        gives, so the next comparison reads it once more ("racy clean", as
        git calls it). With settling on, reads happen later than that and
        this never fires. A file read on an inotify close event needs no
        mark: a later write would be an event of its own.
        """
        if self.wall_clock() - _changed_at(signature) < RACY_SECONDS:
            return signature | _RACY
        return signature

    def _read_settled(
        self, key: str, signature: Signature, verify: bool, trusted: bool
    ) -> tuple[tuple[ParsedYaml | None, bytes, list[Problem]], Signature] | None:
        """Read a changed file; ``None`` if it changed while being read (try later)."""
        path = self._path_of(key)
        self.files_read += 1
        result = read_yaml_file(Path(path), self._display(Path(path)))
        if trusted:
            assert self.events is not None  # only events vouch for a file
            if self.events.touched([key]):
                return None
            return result, signature
        if verify and self._stat(path) != signature:
            return None
        return result, self._recorded(signature)

    def _load_site(self, signature: Signature | None, verify: bool, trusted: bool) -> None:
        path = Path(self.site_path)
        display = self._display(path)
        if signature is None:
            missing = (
                "is missing; the content directory does not exist"
                if not self.content_dir.is_dir()
                else "is missing; it names the site and its URL"
            )
            problem = Problem(display, "(file)", missing)
            if self._site is None:
                raise ContentError([problem])
            self._site_problems = [problem, self._still_serving(display, "settings")]
            self._site_sig = None
            return
        read = self._read_settled(SITE_KEY, signature, verify, trusted)
        if read is None:
            return
        (parsed, _, problems), self._site_sig = read
        site = None
        if parsed is not None:
            site, more = parse_site_settings(parsed.data, display, self.env)
            problems = problems + [
                Problem(p.path, p.field, p.message, parsed.lines.get(p.field), p.severity)
                for p in more
            ]
        if site is None and self._site is None:
            raise ContentError(problems)
        if site is not None:
            self._site = site
        else:
            problems = [*problems, self._still_serving(display, "settings")]
        self._site_problems = problems

    @staticmethod
    def _still_serving(display: str, what: str = "version") -> Problem:
        return Problem(display, "(file)", f"still serving its last good {what}")

    def _load_views(self, signature: Signature | None, verify: bool, trusted: bool) -> None:
        path = Path(self.views_path)
        if signature is None:
            self._views, self._views_sig, self._views_problems = {}, None, []
            return
        read = self._read_settled(VIEWS_KEY, signature, verify, trusted)
        if read is None:
            return
        (parsed, _, problems), self._views_sig = read
        display = self._display(path)
        keep = self._still_serving(display, "view counts")
        if parsed is None:
            self._views_problems = [*problems, keep] if self._views else problems
            return
        if parsed.data is None:
            parsed.data = {}
        if not isinstance(parsed.data, Mapping):
            problems = [*problems, Problem(display, "(file)", "must map article slugs to views")]
            self._views_problems = [*problems, keep] if self._views else problems
            return
        views: dict[str, int] = {}
        for slug, count in parsed.data.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                line = parsed.lines.get(str(slug))
                problems.append(
                    Problem(display, str(slug), f"views must be >= 0, got {shown(count)}", line)
                )
                continue
            views[str(slug).lower()] = count
        self._views, self._views_problems = views, problems

    def _set_entry(self, name: str, entry: _FileEntry | None) -> None:
        """Replace (or, with ``None``, forget) a file's entry, keeping problems in step."""
        old = self._files.pop(name, None) if entry is None else self._files.get(name)
        if entry is not None:
            self._files[name] = entry
        self._problems.replace(
            old.problems if old is not None else _NO_PROBLEMS,
            entry.problems if entry is not None else _NO_PROBLEMS,
        )

    def _refresh_articles(
        self, ready: Mapping[str, Signature | None], trusted: set[str], verify: bool
    ) -> None:
        """Apply changed article files."""
        changed = sorted(key for key in ready if key not in (SITE_KEY, VIEWS_KEY))
        for name in changed:
            if ready[name] is None:
                self._set_entry(name, None)  # deleted: its article goes
        to_read = [name for name in changed if ready[name] is not None]
        if not to_read:
            return
        loaded = load_article_files(
            self._articles_path, self._articles_display, to_read, LINT_FIELDS
        )
        self.files_read += len(to_read)
        vouched = [name for name in to_read if name in trusted]
        rewritten = self.events.touched(vouched) if vouched and self.events else set()
        for name, result in zip(to_read, loaded, strict=True):
            signature = ready[name]
            assert signature is not None
            if name in trusted:
                if name in rewritten:
                    continue  # written again while we read it: its new events follow
                recorded = signature
            else:
                if verify and self._stat(os.path.join(self._articles_path, name)) != signature:
                    continue  # written to while we read it: try again next poll
                recorded = self._recorded(signature)
            article, problems, lines = result
            entry = self._files.get(name)
            if article is None and entry is not None and entry.article is not None:
                problems = [*problems, self._still_serving(self._article_display(name))]
                self._set_entry(name, _FileEntry(recorded, entry.article, problems, entry.lines))
                continue
            self._set_entry(
                name,
                _FileEntry(recorded, article, problems or _NO_PROBLEMS, _shared_lint_lines(lines)),
            )

    # -- slugs: one article per slug --------------------------------------------

    def _slug_files(self, slug: str) -> list[str]:
        names = self._slugs.get(slug)
        if names is None:
            return []
        return [names] if isinstance(names, str) else names

    def _served_name(self, slug: str) -> str | None:
        names = self._slugs.get(slug)
        return names if names is None or isinstance(names, str) else names[0]

    def _served_article(self, slug: str) -> Article | None:
        name = self._served_name(slug)
        return self._files[name].article if name is not None else None

    def _served_articles(self) -> Iterator[Article]:
        """Every served article (one per slug), drafts and future ones included."""
        files = self._files
        for names in self._slugs.values():
            article = files[names if isinstance(names, str) else names[0]].article
            if article is not None:
                yield article

    def _line_of(self, article: Article, field: str) -> int | None:
        """The line of ``field`` in the file serving ``article`` (for lint messages)."""
        name = self._served_name(article.slug)
        lines = self._files[name].lines if name is not None else ()
        index = LINT_FIELDS.index(field)
        return lines[index] if index < len(lines) else None

    def _resolve_slug(self, slug: str, names: list[str]) -> None:
        """Choose the file serving ``slug`` among its files (``names``: maybe changed).

        Case-colliding file names are all reported; the one served before
        stays served, else a lower-case name, else the first by name.
        """
        files = self._files
        if len(names) == 1 and slug not in self._collisions:  # the usual case, 100k times at start
            (name,) = names
            entry = files.get(name)
            if entry is None or entry.article is None:
                self._slugs.pop(slug, None)
            else:  # keyed by the article's own slug string, not a copy of it
                self._slugs[slug if slug in self._slugs else entry.article.slug] = name
            return
        previous = self._served_name(slug)
        claims = sorted(
            {n for n in names if (entry := files.get(n)) is not None and entry.article is not None},
            key=lambda n: (n != previous, _stem(n) != _stem(n).lower(), n),
        )
        if not claims:
            self._slugs.pop(slug, None)
        elif slug in self._slugs:
            self._slugs[slug] = claims[0] if len(claims) == 1 else claims
        else:  # keyed by the article's own slug string, not a copy of it
            article = files[claims[0]].article
            assert article is not None and article.slug == slug
            self._slugs[article.slug] = claims[0] if len(claims) == 1 else claims
        problems: list[Problem] = []
        if len(claims) > 1:
            shown_names = ", ".join(self._article_display(n) for n in sorted(claims))
            serving = self._article_display(claims[0])
            problems = [
                Problem(
                    self._article_display(n),
                    "(file name)",
                    f"slug {slug!r} is used by several files ({shown_names}); serving {serving}",
                )
                for n in claims
            ]
        self._problems.replace(self._collisions.pop(slug, _NO_PROBLEMS), problems)
        if problems:
            self._collisions[slug] = problems

    # -- loading -----------------------------------------------------------------

    def load(self, now: datetime | None = None) -> Snapshot:
        """Apply every settled change and build a new snapshot.

        The first load reads everything at once. Raises :class:`ContentError`
        only when there has never been a usable ``site.yaml``; every other
        problem is carried in the snapshot (and so in ``/healthz``).
        """
        now = now or datetime.now(UTC)
        ready, trusted = self._ready if self._ready is not None else self._collect()
        self._ready = None
        stale, self._stale = self._stale, True  # until this load has finished
        if stale:  # a load failed half-way: rebuild what is patched from the files
            self._builder = None
            self._lint = lint.CrossArticleIndex(self._served_articles, self._line_of)
            self._problems = _ProblemSet()
            for entry in self._files.values():
                self._problems.add(entry.problems)
            for problems in self._collisions.values():
                self._problems.add(problems)
            self._misc_problems = []
        verify = self.settle > 0 and self._loaded
        if not self._loaded or SITE_KEY in ready:
            self._load_site(ready.get(SITE_KEY), verify, SITE_KEY in trusted)
        views_changed = VIEWS_KEY in ready
        if views_changed:
            self._load_views(ready[VIEWS_KEY], verify, VIEWS_KEY in trusted)

        # Articles: remember what each touched slug served, apply the files,
        # choose again, and pass on only the articles that changed.
        names = [key for key in ready if key not in (SITE_KEY, VIEWS_KEY)]
        by_slug: dict[str, list[str]] = {}
        for name in names:
            by_slug.setdefault(_slug_of(name), []).append(name)
        before = {slug: self._served_article(slug) for slug in by_slug}
        self._refresh_articles(ready, trusted, verify)
        for key in ready:
            self._pending.pop(key, None)
        changes: list[tuple[Article | None, Article | None]] = []
        for slug, changed_names in by_slug.items():
            self._resolve_slug(slug, [*self._slug_files(slug), *changed_names])
            after = self._served_article(slug)
            if after is not before[slug]:
                changes.append((before[slug], after))

        assert self._site is not None
        builder = self._builder
        if builder is None or len(changes) > max(REBUILD_MIN, len(builder) // REBUILD_SHARE):
            served = list(self._served_articles())
            builder = self._builder = builder or SnapshotBuilder(self._site, self._views)
            builder.set_site(self._site)
            builder.set_views_override(self._views)
            builder.reset(served)
            self._lint.reset(served)
        else:
            builder.set_site(self._site)
            if views_changed:
                builder.set_views_override(self._views)
            for old, new in changes:
                if old is not None:
                    builder.remove(old)
                if new is not None:
                    builder.add(new)
                self._lint.replace(old, new)
        self._loaded = True

        gone, new_lint = self._lint.changes()
        self._problems.remove(gone)
        self._problems.add(new_lint)
        misc = [*self._site_problems, *self._views_problems]
        if not self.articles_dir.is_dir():
            misc.append(
                Problem(self._display(self.articles_dir), "(dir)", "is missing", None, "warning")
            )
        future = builder.future(now)
        if future:
            misc += lint.future_problems(future, now, self._line_of)
        self._problems.replace(self._misc_problems, misc)
        self._misc_problems = misc
        self.new_problems = self._problems.take_born()
        snapshot = builder.build(now, self._problems.snapshot())
        self._stale = False
        return snapshot

    def all_articles(self) -> list[Article]:
        """Every currently loaded article, drafts and future ones included."""
        return [entry.article for entry in self._files.values() if entry.article is not None]


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]
