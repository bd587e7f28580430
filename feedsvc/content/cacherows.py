"""The parse cache's rows read ahead, in a thread, while a first load stats every file.

A restart at 100k articles spends ~0.5 s stat-ing every file (the scan) and
then, in the parse cache, ~0.7 s moving 240 MB of article texts: reading the
rows from ``state.db``, checking their CRC-32 and writing the texts to the
text store. Those three run almost entirely without the GIL (SQLite's step,
``zlib.crc32`` on big buffers and ``os.write`` release it), so a thread does
them on the other core while the scan runs, and hands each row over with
its texts already stored; only unpickling the articles is left for the
first load, once the scan has said which files are unchanged.

What the thread cannot know yet is which rows will be used, so it stores
the texts of every row of this folder, code version and settings: rows with
no file left are dropped by that first load, as before, and their texts are
dead bytes in the text store (never referenced). The rows and the checks
are the same as without it: :mod:`feedsvc.content.parsecache` decides what
is trusted.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from itertools import repeat
from typing import cast

from feedsvc.content.textstore import put_chunk
from feedsvc.state.store import connect_file, mapped

# (row id, its files JSON, where its texts were stored and its pickled results;
# None when the row does not match its checksum)
Row = tuple[int, str, tuple[int, bytes] | None]
Checksum = Callable[[str, str, str, str, bytes, bytes], int]
# A row's files, in chunk order, and the identity each was cached under (0: none).
FileList = tuple[list[str], list[int]]

SELECT = (
    "SELECT id, folder, code, context, files, texts, results, checksum FROM parsecache_chunks "
    "WHERE folder = ? AND code = ? AND context = ? ORDER BY id DESC"
)
_DONE = object()


def stored_rows(
    db: sqlite3.Connection, key: tuple[str, str, str], checksum: Checksum
) -> Iterator[Row]:
    """The rows of ``key`` (folder, code, context), newest first, each checked
    against its CRC and, when intact, with its texts stored."""
    with mapped(db):
        for row_id, folder, code, context, files, texts, packed, crc in db.execute(SELECT, key):
            if checksum(folder, code, context, files, texts, packed) != crc:
                yield row_id, files, None
                continue
            yield row_id, files, (put_chunk(texts) if texts else 0, packed)


class RowPrefetch:
    """:func:`stored_rows` of the state file at ``path``, read by a thread over its
    own connection (WAL: beside the service's), started at once."""

    def __init__(self, path: str, key: tuple[str, str, str], checksum: Checksum) -> None:
        self._rows: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._read, args=(path, key, checksum), name="parse-cache-rows", daemon=True
        )
        self._thread.start()

    def _read(self, path: str, key: tuple[str, str, str], checksum: Checksum) -> None:
        try:
            db = connect_file(path)
            try:
                for row in stored_rows(db, key, checksum):
                    self._rows.put(row)
                    if self._stop.is_set():
                        break
            finally:
                db.close()
        except (sqlite3.Error, ValueError, OSError) as exc:
            self._rows.put(exc)
        finally:
            self._rows.put(_DONE)

    def rows(self) -> Iterator[Row]:
        """The rows as the thread reads them; raises what stopped it (a SQLite error).
        The thread has ended when this is exhausted (the load may fork then)."""
        try:
            while (item := self._rows.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise item
                yield cast(Row, item)
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Stop after the row being read, and wait for the thread to end."""
        self._stop.set()
        self._thread.join()


def file_list(files: str) -> FileList | None:
    """A row's files and identities (``None``: not a list this code wrote; the
    checksum would fail too, so the row is not worth reading)."""
    try:
        joined, identities = json.loads(files)
        names = joined.split("/")  # no file name holds a slash
        ids = list(map(int, identities.split(" "), repeat(16)))
    except (ValueError, TypeError, AttributeError):
        return None
    return (names, ids) if len(names) == len(ids) else None


def row_uses(
    names: list[str], identities: list[int], wanted: Mapping[str, int], taken: set[str]
) -> list[int] | None:
    """Positions in a row's file list to take (not taken from a newer row); ``None``
    when the row has nothing any file needs now (dropped)."""
    if list(map(wanted.get, names)) == identities and taken.isdisjoint(names):
        taken.update(names)  # every file of the row (a restart): compared in C
        return list(range(len(names)))
    uses: list[int] = []
    live = False
    for position, (name, identity) in enumerate(zip(names, identities, strict=True)):
        if identity and wanted.get(name) == identity:
            live = True
            if name not in taken:
                taken.add(name)
                uses.append(position)
    return uses if live else None
