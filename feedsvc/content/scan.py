"""Finding what changed in the content folder, and when a change may be applied.

Changes are found by comparing every file's stat signature with the one
applied (polling), or, when :attr:`ChangeScanner.events` is set (the
service's inotify watcher, :mod:`feedsvc.content.events`), by looking only
at the files the kernel named; a file it reports closed after writing, or
renamed into place, is whole and read at once, without settling.

A change must *settle* before it is applied: a file whose last write, copy
or rename is more recent than ``settle`` seconds is left for a later look,
and so is a deletion while its folder changed that recently. A save that
truncates and rewrites a file, a copy in progress, or an editor that
deletes and recreates a file are then seen whole, and both halves of a
rename are applied together.

What is found is *returned* (:class:`Findings`) and handed by the caller to
the loader; the scanner keeps only what outlives one reload: the changes
still settling.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from feedsvc.content.changes import ARTICLE_SUFFIXES, MOVED_AWAY, SITE_KEY, VIEWS_KEY, WRITTEN
from feedsvc.content.events import ContentEvents
from feedsvc.content.signatures import (
    Signature,
    changed_at,
    recorded,
    signature_of,
    stat_signature,
)
from feedsvc.state.foreground import FOREGROUND

# The watcher's full comparisons wait for renders to end every this many files
# (~3 ms of work at 100k) ...
PACE_CHUNK = 2048
# ... for this long in all, at most: a burst of cold feeds (~0.1 s) is let
# through, and an edit saved while a comparison runs (the watcher's thread
# is busy with it) waits a quarter of a second more, not a second: with 1 s,
# one edit in a benchmark run right after a sweep of cold feeds took 0.66 s.
PACE_LONGEST_S = 0.25


@dataclass(frozen=True, slots=True)
class Findings:
    """The changes that may be applied now, as :meth:`ChangeScanner.find` found them.

    False when there is nothing to apply. Hand it to
    :meth:`~feedsvc.content.loader.ContentLoader.load`; with inotify the
    events it was made from are taken, so findings dropped on the floor are
    only found again by the next full comparison.
    """

    # key (an article file's name, SITE_KEY or VIEWS_KEY) -> its signature now (None: gone)
    ready: Mapping[str, Signature | None] = field(default_factory=dict)
    # keys an inotify event vouches for (closed after writing): read whole, no stat after
    trusted: frozenset[str] = frozenset()
    # stat a file again after reading it (settling is on): a change meanwhile defers it
    verify: bool = False

    def __bool__(self) -> bool:
        return bool(self.ready)

    def article_names(self) -> list[str]:
        """The changed article files (every key but the two special files)."""
        return [key for key in self.ready if key not in (SITE_KEY, VIEWS_KEY)]


class KnownFiles(Protocol):
    """The article files as applied, by name (the loader's :class:`~.filetable.FileTable`)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[str]: ...

    def signature(self, name: str) -> Signature | None:
        """The signature file ``name`` was applied with (``None``: not known)."""


@dataclass(slots=True)
class _Pending:
    """A change seen but not applied yet, because it has not settled."""

    signature: Signature | None  # None: the file is gone
    changed_at: float
    first_seen: float


class ChangeScanner:
    """Finds the settled changes of one content folder (see the module docstring).

    ``applied(key)`` gives the signature applied for a key and ``known`` the
    applied article files by name; both belong to the loader, which the
    scanner reads and never writes. Not thread-safe (the loader's lock).
    """

    def __init__(
        self,
        content_dir: Path,
        articles_dir: Path,
        *,
        settle: float = 0.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.content_dir = content_dir
        self.articles_dir = articles_dir
        self.site_path = str(content_dir / "site.yaml")
        self.views_path = str(content_dir / "popularity.yaml")
        self.settle = settle
        self.wall_clock = wall_clock
        self.events: ContentEvents | None = None  # inotify changes, set by the watcher
        self.full_scans = 0
        self._articles_path = str(articles_dir)
        self._pending: dict[str, _Pending] = {}

    def path_of(self, key: str) -> str:
        """The file a change key names."""
        if key == SITE_KEY:
            return self.site_path
        if key == VIEWS_KEY:
            return self.views_path
        return os.path.join(self._articles_path, key)

    # -- finding changes -------------------------------------------------------

    def find(
        self,
        applied: Callable[[str], Signature | None],
        known: KnownFiles,
        *,
        loaded: bool,
    ) -> Findings:
        """The changes ready to apply. Before the first load (``loaded`` false)
        everything is compared and nothing waits to settle."""
        settle = self.settle if loaded else 0.0
        verify = self.settle > 0 and loaded
        changes = self.events.take() if self.events is not None and loaded else None
        if changes is None:
            return Findings(self._settled(self._scan(applied, known), {}, settle), verify=verify)
        states = changes.states
        if changes.full:  # compare everything; what events vouch for still counts
            changed = self._scan(applied, known, paced=True)
            written = [k for k, state in states.items() if state == WRITTEN and k not in changed]
            changed.update(self._look(written, states, applied))
        else:
            changed = self._look(states.keys() | self._pending.keys(), states, applied)
        ready = self._settled(changed, states, settle)
        trusted = {k for k, sig in ready.items() if sig is not None and states.get(k) == WRITTEN}
        return Findings(ready, frozenset(trusted), verify)

    def _scan(
        self,
        applied: Callable[[str], Signature | None],
        known: KnownFiles,
        *,
        paced: bool = False,
    ) -> dict[str, Signature | None]:
        """Every file whose signature differs from the one applied (``None``: gone).

        One pass over the folder comparing as it goes: no list of entries, no
        table of every file's signature (at 100k files those were ~100 MB
        for the length of a poll). Files that were known and not seen are
        found with a second, name-only listing, only when some are missing.
        ``paced``: the watcher's own full comparisons (its first look, the
        minute's safety net) step aside for renders (:func:`_paced`).
        """
        self.full_scans += 1
        changed: dict[str, Signature | None] = {}
        for key in (SITE_KEY, VIEWS_KEY):
            sig = stat_signature(self.path_of(key))
            if sig != applied(key):
                changed[key] = sig
        if not known:  # a first load: every file is new, nothing to compare with
            changed.update(self._listed())
            return changed
        find = known.signature  # a local: this loop runs over every file
        seen = 0
        entries = self._signed_entries()
        for name, sig in _paced(entries) if paced else entries:
            applied_sig = find(name)
            if applied_sig is None:
                if sig is not None:
                    changed[name] = sig
                continue
            seen += 1
            if applied_sig != sig:
                changed[name] = sig
        if seen < len(known):  # some known files were not listed: gone
            changed.update(self._gone(known))
        return changed

    def _listed(self) -> dict[str, Signature]:
        """Every article file's signature (:meth:`_scan` with nothing known: a first
        load or a restart over 100k files, nothing to compare)."""
        return {name: sig for name, sig in self._signed_entries() if sig is not None}

    def _signed_entries(self) -> Iterator[tuple[str, Signature | None]]:
        """Each article file the folder lists, with its signature (``None``: not a
        regular file, or gone meanwhile). One pass, nothing kept: at 100k files a
        list of entries held ~100 MB for the length of a poll."""
        sign = signature_of  # a local: this loop runs over every file
        try:
            with os.scandir(self._articles_path) as entries:
                for entry in entries:
                    name = entry.name
                    if name[0] == "." or not name.endswith(ARTICLE_SUFFIXES):  # is_article_name
                        continue
                    try:
                        sig = sign(entry.stat()) if entry.is_file() else None
                    except OSError:
                        sig = None
                    yield name, sig
        except OSError:
            return

    def _gone(self, known: Iterable[str]) -> dict[str, Signature | None]:
        try:
            present = set(os.listdir(self._articles_path))
        except OSError:
            present = set()
        return {name: None for name in known if name not in present}

    def _look(
        self,
        keys: Iterable[str],
        states: Mapping[str, int],
        applied: Callable[[str], Signature | None],
    ) -> dict[str, Signature | None]:
        """:meth:`_scan` for the named files only (inotify said which)."""
        changed: dict[str, Signature | None] = {}
        for key in keys:
            sig = stat_signature(self.path_of(key))
            # Closed after a write: read it even if its signature looks the same
            # (a second save within one clock tick, of the same size).
            if sig != applied(key) or (sig is not None and states.get(key) == WRITTEN):
                changed[key] = sig
        return changed

    def _folder_changed_at(self, key: str) -> float:
        folder = self.content_dir if key in (SITE_KEY, VIEWS_KEY) else self.articles_dir
        try:
            return changed_at(signature_of(folder.stat()))
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
        if settle <= 0 and not self._pending:  # a first load: all of it, at once
            return dict(changed)
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
            when = changed_at(new) if new is not None else self._folder_changed_at(key)
            pending = self._pending.get(key)
            if pending is None or pending.signature != new:
                pending = self._pending[key] = _Pending(new, when, now)
            if now - when >= settle or now - pending.first_seen >= settle:
                ready[key] = new
        for key in [key for key in self._pending if key not in changed]:
            del self._pending[key]  # changed back, or gone again, before it settled
        return ready

    def next_settle_at(self) -> float | None:
        """Wall-clock time when a pending change may be ready (for the watcher)."""
        if not self._pending:
            return None
        return min(min(p.changed_at, p.first_seen) for p in self._pending.values()) + self.settle

    def forget_pending(self, keys: Iterable[str]) -> None:
        """These changes were applied (or tried): they no longer wait to settle."""
        for key in keys:
            self._pending.pop(key, None)

    # -- trusting what was read ------------------------------------------------

    def rewritten(self, found: Findings, keys: list[str]) -> set[str]:
        """Which of ``keys`` read on an event's word were written again while being read.

        The kernel queues an event before the write that caused it returns,
        so a file read after its close event and not named here was read whole.
        """
        vouched = [key for key in keys if key in found.trusted]
        return self.events.touched(vouched) if vouched and self.events else set()

    def signature_to_keep(self, found: Findings, key: str, rewritten: set[str]) -> Signature | None:
        """The signature to remember for a file just read; ``None`` if it changed
        while being read (it is read again later, its new change found as any other)."""
        sig = found.ready[key]
        assert sig is not None  # only files that exist are read
        if key in found.trusted:
            return None if key in rewritten else sig
        if found.verify and stat_signature(self.path_of(key)) != sig:
            return None
        return recorded(sig, self.wall_clock())


Entries = Iterator[tuple[str, Signature | None]]


def _paced(entries: Entries) -> Entries:
    """``entries``, waiting for renders to end every :data:`PACE_CHUNK` files.

    Why: at 100k files a full comparison is ~130 ms of Python, and a cold
    feed rendered meanwhile shares the GIL with it and took twice as long
    (issue 14). The waits add up to :data:`PACE_LONGEST_S` at most, so a
    stream of renders delays a safety scan (and an edit found after it)
    by that much, never more.
    """
    budget = PACE_LONGEST_S
    for count, entry in enumerate(entries):
        if count % PACE_CHUNK == 0 and budget > 0:
            began = time.monotonic()
            FOREGROUND.wait_quiet(budget)
            budget -= time.monotonic() - began
        yield entry
