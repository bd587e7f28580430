"""Reading the content directory into a :class:`~feedsvc.store.Snapshot`.

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

Reading and checking one file is :mod:`feedsvc.yamlfile` (YAML) and
:mod:`feedsvc.articles` (an article's fields); this module decides which
files to read and when.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG

from . import lint
from .articles import load_article_files
from .config import SiteSettings, parse_site_settings
from .problems import ContentError, Problem
from .store import Article, Snapshot, build_snapshot
from .yamlfile import ParsedYaml, read_yaml_file, shown

ARTICLE_SUFFIXES = (".yaml", ".yml")
RACY_SECONDS = 0.05  # well above file-time granularity (1-10 ms) on local file systems

Signature = tuple[int, int, int, int]  # (mtime_ns, ctime_ns, size, inode)


# -- the incremental loader ------------------------------------------------


def _signature(stat: os.stat_result) -> Signature:
    # ctime too: `cp -p` or a checkout can rewrite a file keeping mtime and size.
    return (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino)


def _changed_at(signature: Signature) -> float:
    """Wall-clock time of a file's last change (write, rename, copy)."""
    return max(signature[0], signature[1]) / 1e9


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


def _lint_lines(lines: Mapping[str, int]) -> tuple[int | None, ...]:
    return tuple(lines.get(key) for key in LINT_FIELDS)


class _LineIndex(Mapping[str, Mapping[str, int]]):
    """``source -> field -> line`` for lint, built per file only when asked."""

    def __init__(self, entries: Mapping[str, tuple[int | None, ...]]) -> None:
        self._entries = entries

    def __getitem__(self, source: str) -> Mapping[str, int]:
        packed = self._entries[source]
        return {k: v for k, v in zip(LINT_FIELDS, packed, strict=False) if v is not None}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class _Pending:
    """A change seen but not applied yet, because it has not settled."""

    signature: Signature | None  # None: the file is gone
    changed_at: float
    first_seen: float


@dataclass(slots=True)
class Scan:
    """One look at the content directory: every file's signature, and when
    each folder last had an entry added, removed or renamed."""

    signatures: dict[str, Signature]
    folder_changed_at: dict[str, float]


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
        self._loaded = False
        self._files: dict[str, _FileEntry] = {}
        self._pending: dict[str, _Pending] = {}
        self._site: SiteSettings | None = None
        self._site_sig: Signature | None = None
        self._site_problems: list[Problem] = []
        self._views: dict[str, int] = {}
        self._views_sig: Signature | None = None
        self._views_problems: list[Problem] = []
        self._served_paths: dict[str, str] = {}
        self.files_read = 0
        self._articles_prefix = os.path.join(self.articles_dir, "")
        self._last_scan: Scan | None = None

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

    @staticmethod
    def _stat(path: Path) -> Signature | None:
        """A regular file's signature, or ``None`` (missing, a folder, unreadable)."""
        try:
            stat = path.stat()
        except OSError:
            return None
        return _signature(stat) if S_ISREG(stat.st_mode) else None

    def scan(self) -> Scan:
        """Signatures of every file the content consists of, keyed by path."""
        found: dict[str, Signature] = {}
        for special in (self.site_path, self.views_path):
            sig = self._stat(Path(special))
            if sig is not None:
                found[special] = sig
        try:
            entries = list(os.scandir(self.articles_dir))
        except OSError:
            entries = []
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.endswith(ARTICLE_SUFFIXES):
                continue
            try:
                if entry.is_file():
                    found[entry.path] = _signature(entry.stat())
            except OSError:
                continue
        folders: dict[str, float] = {}
        for folder in (self.content_dir, self.articles_dir):
            sig = self._folder_signature(folder)
            if sig is not None:
                folders[str(folder)] = _changed_at(sig)
        return Scan(found, folders)

    @staticmethod
    def _folder_signature(folder: Path) -> Signature | None:
        try:
            return _signature(folder.stat())
        except OSError:
            return None

    # -- which changes are ready -------------------------------------------

    def _accepted(self) -> dict[str, Signature]:
        """Signature of every file as last applied."""
        accepted = {path: entry.signature for path, entry in self._files.items()}
        if self._site_sig is not None:
            accepted[self.site_path] = self._site_sig
        if self._views_sig is not None:
            accepted[self.views_path] = self._views_sig
        return accepted

    def _ready_changes(self, scan: Scan, *, settle: float) -> dict[str, Signature | None]:
        """Changed paths whose change has settled: new signature, or ``None`` if gone.

        Unsettled ones are remembered in ``self._pending`` for :meth:`next_settle_at`.
        """
        accepted = self._accepted()
        current = scan.signatures
        now = self.wall_clock()
        ready: dict[str, Signature | None] = {}
        seen_pending: set[str] = set()
        for path in set(accepted) | set(current):
            new = current.get(path)
            if accepted.get(path) == new:
                continue
            if settle <= 0:
                ready[path] = new
                continue
            if new is not None:
                changed_at = _changed_at(new)
            else:  # a deletion is dated by its folder's last change
                changed_at = scan.folder_changed_at.get(str(Path(path).parent), 0.0)
            pending = self._pending.get(path)
            if pending is None or pending.signature != new:
                pending = self._pending[path] = _Pending(new, changed_at, now)
            seen_pending.add(path)
            # Settled by the file's own clock, or (clock skew, e.g. a network
            # file system) after being seen unchanged for ``settle`` seconds.
            if now - changed_at >= settle or now - pending.first_seen >= settle:
                ready[path] = new
        for path in set(self._pending) - seen_pending:
            del self._pending[path]
        return ready

    def next_settle_at(self) -> float | None:
        """Wall-clock time when a pending change may be ready (for the watcher)."""
        if not self._pending:
            return None
        return min(min(p.changed_at, p.first_seen) for p in self._pending.values()) + self.settle

    def has_changes(self) -> bool:
        """Cheap check (stat only) whether any settled change awaits a :meth:`load`.

        A positive answer keeps its scan for the :meth:`load` that follows, so
        a reload stats every file once, not twice.
        """
        scan = self.scan()
        changed = bool(self._ready_changes(scan, settle=self.settle))
        self._last_scan = scan if changed else None
        return changed

    # -- applying changes ----------------------------------------------------

    def _recorded(self, signature: Signature) -> Signature:
        """The signature to remember for a file just read.

        File times are coarse (a clock tick, milliseconds): a second write of
        the same size within one tick of the first leaves the signature as it
        was, and would never be read. A file read within :data:`RACY_SECONDS`
        of its last change is therefore remembered with an impossible size,
        so the next poll reads it once more ("racy clean", as git calls it).
        With settling on, reads happen later than that and this never fires.
        """
        if self.wall_clock() - _changed_at(signature) < RACY_SECONDS:
            return (signature[0], signature[1], -1, signature[3])
        return signature

    def _read_settled(
        self, path: Path, signature: Signature, verify: bool
    ) -> tuple[ParsedYaml | None, bytes, list[Problem]] | None:
        """Read a changed file; ``None`` if it changed while being read (try later)."""
        self.files_read += 1
        result = read_yaml_file(path, self._display(path))
        if verify and self._stat(path) != signature:
            return None
        return result

    def _load_site(self, signature: Signature | None, verify: bool) -> None:
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
        result = self._read_settled(path, signature, verify)
        if result is None:
            return
        self._site_sig = self._recorded(signature)
        parsed, _, problems = result
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

    def _load_views(self, signature: Signature | None, verify: bool) -> None:
        path = Path(self.views_path)
        if signature is None:
            self._views, self._views_sig, self._views_problems = {}, None, []
            return
        result = self._read_settled(path, signature, verify)
        if result is None:
            return
        self._views_sig = self._recorded(signature)
        display = self._display(path)
        parsed, _, problems = result
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

    def _is_article(self, path_text: str) -> bool:
        # A prefix test, not Path(p).parent: this runs over every file on every poll.
        prefix = self._articles_prefix
        return path_text.startswith(prefix) and os.sep not in path_text[len(prefix) :]

    def _refresh_articles(self, ready: Mapping[str, Signature | None], verify: bool) -> None:
        changed = sorted(p for p in ready if self._is_article(p))
        for path_text in [p for p in changed if ready[p] is None]:
            self._files.pop(path_text, None)  # deleted: its article goes
        to_read = [p for p in changed if ready[p] is not None]
        displays = [self._display(Path(p)) for p in to_read]
        loaded = load_article_files(list(zip(to_read, displays, strict=True)))
        self.files_read += len(to_read)
        for path_text, display, result in zip(to_read, displays, loaded, strict=True):
            signature = ready[path_text]
            assert signature is not None
            path = Path(path_text)
            article, problems, lines = result
            if verify and self._stat(path) != signature:
                continue  # written to while we read it: try again next poll
            entry = self._files.get(path_text)
            if article is None and entry is not None and entry.article is not None:
                problems = [*problems, self._still_serving(display)]
                self._files[path_text] = _FileEntry(
                    self._recorded(signature), entry.article, problems, entry.lines
                )
                continue
            self._files[path_text] = _FileEntry(
                self._recorded(signature), article, problems or _NO_PROBLEMS, _lint_lines(lines)
            )

    def _resolve_slugs(self) -> tuple[list[_FileEntry], list[Problem]]:
        """One article per slug; case-colliding file names are all reported."""
        by_slug: dict[str, list[str]] = {}
        for path_text, entry in self._files.items():
            if entry.article is not None:
                by_slug.setdefault(entry.article.slug, []).append(path_text)
        chosen: list[_FileEntry] = []
        problems: list[Problem] = []
        served: dict[str, str] = {}
        for slug, paths in by_slug.items():
            if len(paths) > 1:
                previous = self._served_paths.get(slug)

                def preference(p: str, previous: str | None = previous) -> tuple[bool, bool, str]:
                    return (p != previous, Path(p).stem != Path(p).stem.lower(), p)

                paths.sort(key=preference)
                names = ", ".join(self._display(Path(p)) for p in sorted(paths))
                for p in paths:
                    problems.append(
                        Problem(
                            self._display(Path(p)),
                            "(file name)",
                            f"slug {slug!r} is used by several files ({names}); "
                            f"serving {self._display(Path(paths[0]))}",
                        )
                    )
            served[slug] = paths[0]
            chosen.append(self._files[paths[0]])
        self._served_paths = served
        return chosen, problems

    def load(self, now: datetime | None = None) -> Snapshot:
        """Apply every settled change and build a new snapshot.

        The first load reads everything at once. Raises :class:`ContentError`
        only when there has never been a usable ``site.yaml``; every other
        problem is carried in the snapshot (and so in ``/healthz``).
        """
        now = now or datetime.now(UTC)
        scan, self._last_scan = self._last_scan or self.scan(), None
        settle = self.settle if self._loaded else 0.0
        ready = self._ready_changes(scan, settle=settle)
        verify = settle > 0
        if not self._loaded or self.site_path in ready:
            self._load_site(scan.signatures.get(self.site_path), verify)
        if self.views_path in ready:
            self._load_views(ready[self.views_path], verify)
        self._refresh_articles(ready, verify)
        for path in ready:
            self._pending.pop(path, None)
        self._loaded = True
        served, collision_problems = self._resolve_slugs()
        articles = [entry.article for entry in served if entry.article is not None]
        problems = [*self._site_problems, *self._views_problems, *collision_problems]
        if not self.articles_dir.is_dir():
            problems.append(
                Problem(self._display(self.articles_dir), "(dir)", "is missing", None, "warning")
            )
        for entry in self._files.values():
            problems.extend(entry.problems)
        lines = _LineIndex({e.article.source: e.lines for e in served if e.article})
        problems.extend(lint.cross_article_problems(articles, lines))
        problems.extend(lint.future_problems(articles, now, lines))
        assert self._site is not None
        return build_snapshot(
            self._site, articles, now=now, views_override=self._views, problems=problems
        )

    def all_articles(self) -> list[Article]:
        """Every currently loaded article, drafts and future ones included."""
        return [entry.article for entry in self._files.values() if entry.article is not None]
