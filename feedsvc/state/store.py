"""One SQLite file of state (``state.db`` in ``FEEDSVC_STATE_DIR``), opened so it never stops us.

Why SQLite from the standard library: atomic writes, a file an operator can
copy or inspect with ``sqlite3``, and no new dependency. Why WAL mode: a
request thread writing a ledger row never blocks a reader, and commits cost
no fsync (``synchronous=NORMAL``). One lock serialises every use of the one
connection (it is shared across threads: ``check_same_thread=False``).

Losing the state must never stop the service, so :func:`open_state` never
raises: a file that is not a database, corrupt, truncated, or a folder in
its place is moved aside (``state.db.corrupt-<stamp>``) and a fresh one
started; a folder that cannot be written, or a file another process keeps
locked, means state in memory for this run. Each case is logged once and
:attr:`StateStore.status` says it (``/healthz`` shows it).

The check (``PRAGMA quick_check``) reads every page: ~0.1-0.2 s of a restart
at 100k articles (the parse cache makes the file ~600 MB). A clean close
leaves ``state.db.clean`` beside it, naming the file's device, inode, size,
mtime and ctime once its write-ahead log is folded in; the next open removes
it first and skips the check only when the file is still exactly that one
and has no log. Since then it was changed by nobody (any write, truncation,
copy or replacement moves ctime, which no program can set back), and it
passed the check at the open before that close, so it is checked after every
crash, every outside change and every close that left a log behind.

Tables are owned by the module that uses them, named ``<owner>_<name>``,
created with ``CREATE TABLE IF NOT EXISTS`` through :meth:`StateStore.schema`,
which also records a version per owner so a later change can migrate.
Owners write with :meth:`StateStore.attempt` (a failure is logged, never
raised: the service goes on without durability) or, when they must know,
:meth:`StateStore.transaction`; they read with :meth:`StateStore.reading`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

log = logging.getLogger("feedsvc.state")

STATE_FILE = "state.db"
CLEAN_SUFFIX = ".clean"  # beside state.db after a clean close: the file as it was left
BUSY_TIMEOUT_MS = 1500  # waiting longer for another process's lock than this: run in memory
MEMORY = ":memory:"
MMAP_BYTES = 1 << 30
T = TypeVar("T")


class StateStore:
    """The open state: a connection, the lock every use takes, and a status line.

    ``durable`` is False when the state lives in memory (configured, or a
    fallback); ``degraded`` is True while state that should be kept is not
    (a fallback to memory, or writes failing): ``/healthz`` reports it.
    """

    def __init__(
        self, connection: sqlite3.Connection, path: Path | None, status: str, degraded: bool
    ) -> None:
        self.connection = connection
        self.path = path
        self.status = status
        self.degraded = degraded
        self.checked = True  # False: opened without the check, as a clean close left it
        self.lock = threading.RLock()
        self._failures: set[str] = set()

    @property
    def durable(self) -> bool:
        """Whether what is written here outlives this process."""
        return self.path is not None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error)."""
        with self.lock:
            connection = self.connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection with the lock held, for reads (``SELECT``) outside a transaction."""
        with self.lock:
            yield self.connection

    def attempt(self, what: str, work: Callable[[sqlite3.Connection], T]) -> T | None:
        """``work`` in a transaction; a failure is logged once per ``what`` and gives ``None``.

        Owners write through this, so a disk that fills up or a file that
        breaks under a running service costs durability, never a request.
        """
        try:
            with self.transaction() as connection:
                return work(connection)
        except sqlite3.Error as exc:
            if what not in self._failures:
                self._failures.add(what)
                log.error("state: %s failed (%s); continuing without it", what, exc)
            self.degraded = True
            self.status = f"degraded: {what} failed ({exc}); state may not survive a restart"
            return None

    def schema(self, owner: str, version: int, statements: Sequence[str]) -> int:
        """Create ``owner``'s tables; returns the version found before (0: new).

        The caller migrates when the version found is older than ``version``.
        """

        def create(connection: sqlite3.Connection) -> int:
            row = connection.execute(
                "SELECT version FROM state_schema WHERE owner = ?", (owner,)
            ).fetchone()
            for statement in statements:
                connection.execute(statement)
            connection.execute(
                "INSERT OR REPLACE INTO state_schema (owner, version) VALUES (?, ?)",
                (owner, version),
            )
            return int(row[0]) if row else 0

        found = self.attempt(f"creating the {owner} tables", create)
        return 0 if found is None else found

    def another_connection(self) -> sqlite3.Connection | None:
        """A connection of its own to the same file (``None`` for a state in memory).

        For an owner whose traffic must not queue behind :attr:`lock`: in WAL
        mode its reads never wait for a writer, and its writes (and their
        checkpoints) never hold up the other owners' reads. Not checked
        again (:func:`open_state` did); the caller closes it, before
        :meth:`close`. Raises :class:`sqlite3.Error`.
        """
        return None if self.path is None else connect_file(str(self.path))

    def close(self) -> None:
        """Close the connection (checkpointing the WAL into ``state.db``)."""
        with self.lock:
            try:
                self.connection.close()
            except sqlite3.Error as exc:  # closing must not fail a shutdown
                log.warning("state: closing %s failed: %s", self.path, exc)
                return
            if self.path is not None:
                _mark_clean(self.path)


@contextmanager
def mapped(connection: sqlite3.Connection) -> Iterator[None]:
    """Read the file through a memory map for a while (quick_check, the parse cache).

    4x faster than page by page for a big file, but every page read stays in
    the process's resident set while mapped: unmapped again afterwards.
    """
    connection.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    try:
        yield
    finally:
        connection.execute("PRAGMA mmap_size = 0")


def connect_file(target: str, busy_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A connection as every user of a state file makes it: autocommit (owners say
    ``BEGIN`` themselves), shared across threads, waiting ``busy_ms`` for another
    writer, commits without fsync (``synchronous=NORMAL``: WAL keeps them atomic)."""
    connection = sqlite3.connect(
        target, check_same_thread=False, isolation_level=None, timeout=busy_ms / 1000
    )
    connection.execute(f"PRAGMA busy_timeout = {busy_ms}")
    if target != MEMORY:
        connection.execute("PRAGMA synchronous = NORMAL")
    return connection


def _identity(path: Path) -> str | None:
    """The state file as a clean close leaves it named (``None``: no such file)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"


def _mark_clean(path: Path) -> None:
    """After a clean close: name the file as left, unless a log is still beside it
    (another connection open), or it cannot be named (best effort, never raises)."""
    identity = _identity(path)
    if identity is None or path.with_name(path.name + "-wal").exists():
        return
    marker = path.with_name(path.name + CLEAN_SUFFIX)
    temporary = marker.with_name(marker.name + ".tmp")
    try:
        temporary.write_text(identity)
        os.replace(temporary, marker)
    except OSError:
        return


def _closed_cleanly(path: Path) -> bool:
    """Whether ``path`` is exactly as a clean close left it; the mark is removed
    either way (a crash of this run must not leave it behind)."""
    marker = path.with_name(path.name + CLEAN_SUFFIX)
    try:
        left = marker.read_text()
        marker.unlink()
    except (OSError, ValueError):
        return False
    wal = path.with_name(path.name + "-wal")
    return not wal.exists() and left == _identity(path)


def _connect(target: str, check: bool = True) -> sqlite3.Connection:
    """The store's own connection (:func:`connect_file`), in WAL mode, checked readable
    whole (unless ``check`` is False: see the module docstring)."""
    connection = connect_file(target)
    try:
        if target != MEMORY:
            connection.execute("PRAGMA journal_mode = WAL")
        if target != MEMORY and check:
            with mapped(connection):  # the parse cache makes the file hundreds of MB
                verdict = connection.execute("PRAGMA quick_check").fetchone()
            if verdict is None or verdict[0] != "ok":
                shown = "no answer" if verdict is None else " ".join(str(verdict[0]).split())
                raise sqlite3.DatabaseError(f"quick_check: {shown}")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS state_schema (owner TEXT PRIMARY KEY, version INTEGER)"
        )
    except BaseException:
        connection.close()
        raise
    return connection


def _is_locked(exc: sqlite3.Error) -> bool:
    """Whether SQLite gave up waiting for another process's lock (the file itself is fine)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc)


def memory_state(
    status: str = "memory: not kept across restarts", degraded: bool = False
) -> StateStore:
    """State for this process only (``FEEDSVC_STATE_DIR=none``, tests, or a fallback)."""
    return StateStore(_connect(MEMORY), None, status, degraded)


def _move_aside(path: Path) -> Path:
    """Rename a broken ``state.db`` (and its WAL files) out of the way; returns the new name."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while aside.exists():
        counter += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
    path.rename(aside)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(aside.with_name(aside.name + suffix))
    return aside


def open_state(directory: str | Path | None) -> StateStore:
    """The state in ``directory/state.db`` (created); ``None``: in memory. Never raises."""
    if directory is None:
        return memory_state()
    folder = Path(directory)
    path = folder / STATE_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if path.exists() and not path.is_file():
            raise sqlite3.DatabaseError(f"{path} is not a regular file")
        checked = not _closed_cleanly(path)
        store = StateStore(_connect(str(path), checked), path, "ok", False)
        store.checked = checked
        if not checked:
            log.info("state: %s as a clean close left it; not checked again", path.name)
        return store
    except OSError as exc:
        return _fall_back(f"cannot use {folder} ({exc})")
    except sqlite3.Error as exc:
        if _is_locked(exc):
            return _fall_back(f"{path} stayed locked by another process ({exc})")
        return _start_fresh(path, exc)


def _start_fresh(path: Path, exc: sqlite3.Error) -> StateStore:
    """Move an unusable ``state.db`` aside and start an empty one (else run in memory)."""
    try:
        aside = _move_aside(path)
        store = StateStore(_connect(str(path)), path, "ok", False)
    except (OSError, sqlite3.Error) as again:
        return _fall_back(f"{path} was unusable ({exc}) and could not be replaced ({again})")
    store.status = f"fresh: {path.name} was unreadable ({exc}); moved to {aside.name}"
    log.error("state: %s; started a fresh state (tags served, Last-Modified dates and pending "
              "WebSub pings from before are forgotten)", store.status)  # fmt: skip
    return store


def _fall_back(reason: str) -> StateStore:
    """State in memory for this run, because the folder cannot hold it."""
    status = f"memory: {reason}; state is not kept across restarts"
    log.error("state: %s", status)
    return memory_state(status, degraded=True)
