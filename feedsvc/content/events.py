"""Which content files changed, as the kernel tells it (inotify), between two reloads.

Polling finds a change by stat-ing every file: 40 ms at 10k articles, half
a second of CPU at 100k, every poll, forever. With inotify the kernel names
the changed files instead, and a reload looks at those only.

An event also says whether the writer is done with the file:

* ``IN_CLOSE_WRITE`` (a save closed it) and ``IN_MOVED_TO`` (an editor's
  atomic save renamed a finished temporary file onto it) mean it is whole:
  it is read at once, without the settle delay polling needs;
* ``IN_MODIFY``/``IN_CREATE`` without a close yet, deletions, and renames
  away are *unsettled*: the loader waits for them to settle as it does for
  what polling sees (a delete may be the first half of a delete-and-rewrite
  save, a file may still be growing);
* a rename of one article file onto another is one event pair (same
  cookie): both halves are whole, so both are applied in one reload.

Whatever inotify cannot vouch for is found by a full comparison instead
(:attr:`Changes.full`): the first look after the watches exist (a file
may have changed before), a queue overflow (events were lost), a watched
folder deleted, moved or replaced (found by :meth:`ContentEvents.check_identity`,
e.g. a deploy that swaps a symlink), and a watch that cannot be placed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from feedsvc.content import inotify
from feedsvc.content.changes import (
    MOVED_AWAY,
    SITE_KEY,
    UNSETTLED,
    VIEWS_KEY,
    WRITTEN,
    Changes,
    is_article_name,
)

_FILE_EVENTS = (
    inotify.IN_MODIFY
    | inotify.IN_ATTRIB
    | inotify.IN_CLOSE_WRITE
    | inotify.IN_MOVED_FROM
    | inotify.IN_MOVED_TO
    | inotify.IN_CREATE
    | inotify.IN_DELETE
)
WATCH_MASK = _FILE_EVENTS | inotify.IN_DELETE_SELF | inotify.IN_MOVE_SELF | inotify.IN_ONLYDIR
_LOST = inotify.IN_IGNORED | inotify.IN_DELETE_SELF | inotify.IN_MOVE_SELF | inotify.IN_UNMOUNT
_ENTRY_CHANGES = inotify.IN_CREATE | inotify.IN_DELETE | inotify.IN_MOVED_FROM | inotify.IN_MOVED_TO
MAX_RENAMES_AWAITED = 1024  # MOVED_FROM halves kept for their MOVED_TO (normally the next event)


class ContentEvents:
    """inotify watches on a content folder and its ``articles`` folder.

    Raises :class:`OSError` when inotify is unavailable or its limits are
    reached (the service then polls). Thread-safe: the watcher thread waits
    on :meth:`fileno`, reloads :meth:`take` the changes under their own lock.
    """

    def __init__(self, content_dir: Path, articles_dir: Path) -> None:
        self.content_dir = str(content_dir)
        self.articles_dir = str(articles_dir)
        self._special = {"site.yaml": SITE_KEY, "popularity.yaml": VIEWS_KEY}
        self._articles_name = articles_dir.name
        self._lock = threading.Lock()
        self._inotify = inotify.Inotify()
        self._roles: dict[int, str] = {}  # watch descriptor -> "content" or "articles"
        self._identity: dict[str, tuple[int, int]] = {}  # role -> (st_dev, st_ino) watched
        self._dirty: dict[str, int] = {}
        self._writing: set[str] = set()  # modified and not closed yet
        self._renamed: dict[int, str] = {}  # cookie -> key renamed away, awaiting its other half
        self._full = True  # nothing was watched before: the first look compares everything
        self._rewatch = False
        self._blind = False  # the content folder could not be watched: compare every time
        self.overflows = 0  # queue overflows seen (each one costs a full comparison)
        self.rewatches = 0
        try:
            self._watch(initial=True)
        except OSError:
            self._inotify.close()
            raise

    def fileno(self) -> int:
        """Readable when events are waiting (for ``select``)."""
        return self._inotify.fileno()

    def close(self) -> None:
        """Drop every watch and the descriptor."""
        with self._lock:
            self._inotify.close()

    # -- watches ---------------------------------------------------------------

    def _watch(self, *, initial: bool = False) -> None:
        """(Re)place both watches; an error on the first placement is raised."""
        for wd in list(self._roles):
            self._inotify.rm_watch(wd)
        self._roles.clear()
        self._identity.clear()
        self._blind = False
        for role, path in (("content", self.content_dir), ("articles", self.articles_dir)):
            try:
                wd = self._inotify.add_watch(path, WATCH_MASK)
                stat = os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                self._blind = self._blind or role == "content"
                continue
            except OSError:
                if initial:
                    raise
                self._blind = True  # e.g. the watch limit: compare every time instead
                continue
            self._roles[wd] = role
            self._identity[role] = (stat.st_dev, stat.st_ino)

    def check_identity(self) -> bool:
        """Re-place the watches if a folder was replaced (True then); two stats.

        A watch follows the folder it was placed on, not its path: a deploy
        that swaps a symlink or renames a new folder into place must be seen
        by comparing what the paths name now with what is watched.
        """
        with self._lock:
            for role, path in (("content", self.content_dir), ("articles", self.articles_dir)):
                try:
                    stat = os.stat(path)
                    now: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
                except OSError:
                    now = None
                if now != self._identity.get(role):
                    self._rewatch = True
            return self._rewatch or self._blind

    def request_full_scan(self) -> None:
        """Make the next :meth:`take` ask for a full comparison (the safety net)."""
        with self._lock:
            self._full = True

    # -- events ----------------------------------------------------------------

    def _drain(self) -> None:
        """Read every queued event into ``_dirty`` (call with the lock held)."""
        if self._inotify.fd is None:
            return
        for event in self._inotify.read():
            mask = event.mask
            if mask & inotify.IN_Q_OVERFLOW:  # events were lost: compare everything
                self.overflows += 1
                self._distrust()
                continue
            role = self._roles.get(event.wd)
            if role is None:
                continue  # a watch since removed
            if mask & _LOST:
                self._rewatch = True
                continue
            if role == "content":
                if event.name == self._articles_name:
                    if mask & _ENTRY_CHANGES:  # the articles folder came, went or was replaced
                        self._rewatch = True
                    continue
                key = self._special.get(event.name)
                if key is None:
                    continue
            elif is_article_name(event.name):
                key = event.name
            else:
                continue
            self._note(key, event)

    def _distrust(self) -> None:
        """Events were lost (or the folders changed under the watches): compare
        everything, and take nothing seen so far as whole (a later write to a
        file closed before may be among the lost events)."""
        self._full = True
        self._writing.clear()
        self._renamed.clear()
        self._dirty = dict.fromkeys(self._dirty, UNSETTLED)

    def _note(self, key: str, event: inotify.Event) -> None:
        mask = event.mask
        if mask & (inotify.IN_CLOSE_WRITE | inotify.IN_MOVED_TO):
            self._writing.discard(key)
            self._dirty[key] = WRITTEN
            source = self._renamed.pop(event.cookie, None) if mask & inotify.IN_MOVED_TO else None
            if source is not None and source != key:
                self._dirty[source] = MOVED_AWAY
        elif mask & (inotify.IN_MODIFY | inotify.IN_CREATE):
            self._writing.add(key)
            self._dirty[key] = UNSETTLED
        elif mask & (inotify.IN_DELETE | inotify.IN_MOVED_FROM):
            self._writing.discard(key)
            self._dirty[key] = UNSETTLED
            if mask & inotify.IN_MOVED_FROM:
                if len(self._renamed) >= MAX_RENAMES_AWAITED:
                    self._renamed.pop(next(iter(self._renamed)))
                self._renamed[event.cookie] = key
        elif mask & inotify.IN_ATTRIB:  # chmod, touch: whole unless a write is under way
            self._dirty[key] = UNSETTLED if key in self._writing else WRITTEN

    def take(self) -> Changes:
        """The changes since the last call (and forget them)."""
        with self._lock:
            self._drain()
            if self._rewatch:
                self._rewatch = False
                self.rewatches += 1
                self._watch()
                self._distrust()
            changes = Changes(self._full or self._blind, self._dirty)
            self._dirty = {}
            self._full = False
            return changes

    def touched(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` changed again since :meth:`take` (just read: read again later).

        The kernel queues an event before the write that caused it returns,
        so a file read after its close event and not named here was read
        whole. After an overflow nothing can be vouched for.
        """
        with self._lock:
            self._drain()
            if self._full or self._rewatch:
                return set(keys)
            return {key for key in keys if key in self._dirty}
