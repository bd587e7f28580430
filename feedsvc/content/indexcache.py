"""The snapshot and lint indexes kept with the parse cache, for a restart.

A restart at 100k articles takes every article from the parse cache, then
spent ~0.7 s indexing them as if new: sorting by date and by views, a 128-bit
hash per article for the snapshot version (:meth:`~.index.SnapshotBuilder.reset`),
every title's key and the tag spellings (:meth:`~.lint.CrossArticleIndex.reset`).
Those depend only on the articles and ``popularity.yaml``'s counts, so they are
kept in the state store (table ``indexcache_rows``, one row per articles
folder), as positions into the served articles, and restored in ~0.15 s. A
reset keeps them; :mod:`.keeper` keeps them again after edits and new counts.

What is trusted, and why:

* **The articles.** The row's *key* is a BLAKE2b digest of the served
  articles' slugs and revisions (the hash of each file's bytes), in the
  order a first load lists them. An article is made from its file's bytes
  and name alone, under one code version and set of load settings, so the
  key of the articles served now equals the row's only when every article
  (dates, tags, views, draft or not) is the one indexed.
* **The counts**, keyed apart: only the views order and the token sum
  depend on them; under other counts those two are computed again.
* **The code and settings**: the parse cache's code version and settings
  hash (:mod:`.parsecache`), compared as they are.
* **The bytes**: a BLAKE2b checksum over the row. A row that fails it, or
  does not unpickle into the expected shape, is ignored (logged).

Anything not trusted is recomputed as before and kept, replacing the row.
Pickles are fine for data this service wrote itself in its own state folder,
behind the checksum and the code version.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import sqlite3
import threading
from array import array
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from operator import attrgetter
from typing import Any, TypeVar

from feedsvc.content.index import Orders, SnapshotBuilder, ranked_by_views
from feedsvc.content.lint import CrossArticleIndex, LintState
from feedsvc.content.model import Article
from feedsvc.content.parsecache import ParseCache
from feedsvc.state.store import StateStore

log = logging.getLogger("feedsvc")

OWNER = "indexcache"
SCHEMA_VERSION = 1
TABLE = """CREATE TABLE IF NOT EXISTS indexcache_rows (
    folder TEXT PRIMARY KEY,  -- device:real path of the articles folder
    code TEXT NOT NULL,       -- code version that wrote it
    context TEXT NOT NULL,    -- load settings the articles were read with
    body BLOB NOT NULL,       -- pickled (see IndexCache._body)
    checksum BLOB NOT NULL    -- BLAKE2b of all of the above
)"""
FORMAT = 4  # the body's shape
_SLUG = attrgetter("slug")
_REVISION = attrgetter("packed_revision")
K = TypeVar("K", bound=Hashable)


def articles_key(articles: Sequence[Article]) -> bytes:
    """A digest of ``articles``: their slugs and revisions, in order.

    Joined in C (~30 ms at 100k articles), each part after its length; the
    revisions as one string of bytes when they all have one size (file hashes
    do), else pickled."""
    revisions = list(map(_REVISION, articles))
    try:
        packed = b"".join(revisions) if len(set(map(len, revisions))) < 2 else None
    except TypeError:  # some are strings (not hexadecimal)
        packed = None
    parts = (
        "\0".join(map(_SLUG, articles)).encode("utf-8", "surrogatepass"),
        b"\1" + packed if packed is not None else b"\2" + pickle.dumps(revisions, protocol=5),
    )
    digest = hashlib.blake2b(digest_size=32)
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def views_key(views: Mapping[str, int]) -> bytes:
    """A digest of ``popularity.yaml``'s counts (only the views order and the
    version's token sum depend on them: kept under this key of their own)."""
    return hashlib.blake2b(pickle.dumps(sorted(views.items()), protocol=5), digest_size=32).digest()


def _file_order(article: Article) -> str:
    return article.slug + ".yaml"  # the name of the file serving it, nearly always


def _positions(items: Iterable[Article], position: Mapping[int, int]) -> array[int]:
    return array("I", map(position.__getitem__, map(id, items)))


def _picked(articles: list[Article], positions: array[int]) -> list[Article]:
    return list(map(articles.__getitem__, positions))


# Lists of articles by key, as positions: the keys, where each list ends, all positions.
Grouped = tuple[list[Hashable], bytes, bytes]


def _grouped(groups: Mapping[K, list[Article]], position: Mapping[int, int]) -> Grouped:
    ends = array("I", accumulate(map(len, groups.values())))
    every = _positions(chain.from_iterable(groups.values()), position)
    return list(groups), ends.tobytes(), every.tobytes()


def _regrouped(grouped: Grouped, articles: list[Article]) -> dict[Any, list[Article]]:
    keys, raw_ends, raw_every = grouped
    ends, every = array("I"), array("I")
    ends.frombytes(raw_ends)
    every.frombytes(raw_every)
    if len(ends) != len(keys) or (ends and ends[-1] != len(every)):
        raise ValueError("groups do not add up")
    spans = zip(keys, chain((0,), ends), ends, strict=False)  # one start more than ends
    return {key: _picked(articles, every[start:end]) for key, start, end in spans}


@dataclass(frozen=True, slots=True)
class Captured:
    """The indexes of ``served`` as they were at one moment, copied (a reload patches
    the originals in place), to be kept by :meth:`IndexCache.keep` in another thread."""

    served: list[Article]
    orders: Orders
    lint: LintState
    views: dict[str, int]
    generation: int


def _copied_orders(orders: Orders) -> Orders:
    ordered, by_tag, by_views, by_update, token_sum = orders
    tags = {slug: list(items) for slug, items in by_tag.items()}
    return list(ordered), tags, list(by_views), list(by_update), token_sum


def _copied_lint(kept: LintState) -> LintState:
    hashes, groups, spellings, users = kept
    return (
        hashes[:], {key: list(items) for key, items in groups.items()},
        {slug: dict(counts) for slug, counts in spellings.items()},
        {slug: {name: list(items) for name, items in by_name.items()}
         for slug, by_name in users.items()},
    )  # fmt: skip


class IndexCache:
    """The kept indexes of one articles folder (see the module docstring).

    :meth:`reset` is used by the loader under its lock; :meth:`capture` too,
    and :meth:`keep` then writes what it copied from any thread.
    """

    def __init__(self, state: StateStore, folder: str, code: str, context: str) -> None:
        self._state = state
        self._where = (folder, code, context)
        self.restored = self.saved = 0  # for tests and logs
        # The keys of the row kept (articles, views), once restored or written here.
        self._kept: tuple[bytes, bytes] | None = None
        self.behind = False  # True once the indexes may differ from the row kept
        self._generation = 0  # bumped by each reset and capture: an older capture is not kept
        self._writing = threading.Lock()
        state.schema(OWNER, SCHEMA_VERSION, [TABLE])

    @classmethod
    def beside(cls, cache: ParseCache | None) -> IndexCache | None:
        """The index cache that goes with a parse cache (``None`` without one)."""
        return None if cache is None else cls(cache.state, cache.folder, cache.code, cache.context)

    def _checksum(self, body: bytes) -> bytes:
        digest = hashlib.blake2b(digest_size=16)
        digest.update("\0".join(self._where).encode("utf-8", "surrogatepass") + b"\0")
        digest.update(body)
        return digest.digest()

    def reset(
        self,
        builder: SnapshotBuilder,
        lint: CrossArticleIndex,
        served: list[Article],
        views: Mapping[str, int],
    ) -> None:
        """Index ``served`` from scratch: restored when the kept row is theirs, else
        computed (``builder.reset`` and ``lint.reset``) and kept."""
        with self._writing:
            self._generation += 1
        if self._restore(builder, lint, served, views):
            self.restored += 1
            log.info("index cache: the indexes of %d articles restored", len(served))
            return
        builder.reset(served)
        lint.reset(served)
        self.keep(Captured(served, builder.orders, lint.kept(), dict(views), self._generation))

    # -- keeping -----------------------------------------------------------------

    def capture(
        self,
        builder: SnapshotBuilder,
        lint: CrossArticleIndex,
        served: list[Article],
        views: Mapping[str, int],
    ) -> Captured:
        """A copy of the indexes as they are now (30-50 ms at 100k articles), for
        :meth:`keep`; under the loader's lock, like the reloads that patch them."""
        with self._writing:
            self._generation += 1
            self.behind = False
            generation = self._generation
        return Captured(served, _copied_orders(builder.orders), _copied_lint(lint.kept()),
                        dict(views), generation)  # fmt: skip

    def keep(self, captured: Captured) -> bool:
        """Write ``captured`` as the row, unless the row kept already holds those
        articles and counts, or a later reset or capture was made meanwhile."""
        # In the order a first load lists them (by file name; a reload appends new
        # files): else the next start's key would differ. Odd file names may still.
        served = sorted(captured.served, key=_file_order)
        keys = (articles_key(served), views_key(captured.views))
        if keys == self._kept:
            return False
        position = {id(a): i for i, a in enumerate(served)}
        if len(position) != len(served):  # the same article twice: nothing to key by
            return False
        ordered, by_tag, by_views, by_update, token_sum = captured.orders
        hashes, groups, spellings, users = captured.lint
        spelled = {(slug, name): items for slug, by_name in users.items()
                   for name, items in by_name.items()}  # fmt: skip
        body = pickle.dumps(
            (
                FORMAT, *keys, len(served), _positions(ordered, position).tobytes(),
                _positions(by_update, position).tobytes(), _grouped(by_tag, position),
                hashes.tobytes(), _grouped(groups, position), spellings,
                _grouped(spelled, position), _positions(by_views, position).tobytes(), token_sum,
            ),
            protocol=5,
        )  # fmt: skip
        row = (*self._where, body, self._checksum(body))
        with self._writing:
            if captured.generation != self._generation:
                return False
            done = self._state.attempt("keeping the content indexes", lambda db: db.execute(
                "INSERT OR REPLACE INTO indexcache_rows (folder, code, context, body, checksum) "
                "VALUES (?, ?, ?, ?, ?)", row,
            ))  # fmt: skip
            if done is not None:
                self.saved += 1
                self._kept = keys
        return done is not None

    # -- restoring ---------------------------------------------------------------

    def _row(self) -> bytes | None:
        """The body kept for this folder, code and settings, if intact."""
        folder, code, context = self._where
        try:
            with self._state.reading() as db:
                found = db.execute(
                    "SELECT code, context, body, checksum FROM indexcache_rows WHERE folder = ?",
                    (folder,),
                ).fetchone()
        except sqlite3.Error as exc:
            log.error("index cache: unreadable (%s); indexing the articles", exc)
            return None
        if found is None:
            return None
        if (found[0], found[1]) != (code, context):
            log.info("index cache: kept by another code version or settings; ignored")
            return None
        body, checksum = found[2], found[3]
        if not isinstance(body, bytes) or self._checksum(body) != checksum:
            log.warning("index cache: the row does not match its checksum; ignored")
            return None
        return body

    def _restore(
        self,
        builder: SnapshotBuilder,
        lint: CrossArticleIndex,
        served: list[Article],
        views: Mapping[str, int],
    ) -> bool:
        """Restore the indexes of ``served`` if the row kept is theirs (see the module
        docstring); False, with nothing changed, otherwise. Under other counts, only
        the views order and the token sum are computed again."""
        body = self._row()
        if body is None:
            return False
        try:
            (form, key, counted, count, ordered, by_update, by_tag, hashes, groups, spellings,
             spelled, by_views, token_sum) = pickle.loads(body)  # fmt: skip
            if form != FORMAT:
                return False
            if count != len(served) or articles_key(served) != key:
                log.info("index cache: the articles changed since it was kept; indexing them")
                return False
            orders = [_picked(served, _array("I", raw)) for raw in (ordered, by_update)]
            if counted == views_key(views):
                ranked, tokens = _picked(served, _array("I", by_views)), token_sum
            else:  # other counts: the rest is theirs still
                ranked, tokens = ranked_by_views(orders[0], views)
                log.info("index cache: other view counts; the popularity order sorted again")
            if len(orders[0]) != len(ranked):
                return False
            users: dict[str, dict[str, list[Article]]] = {}
            for (slug, name), items in _regrouped(spelled, served).items():
                users.setdefault(slug, {})[name] = items
            kept: LintState = (_array("q", hashes), _regrouped(groups, served), spellings, users)
            tags = _regrouped(by_tag, served)
        except (pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError,
                EOFError, AttributeError) as exc:  # fmt: skip
            log.warning("index cache: the row is not what this code keeps (%s); ignored", exc)
            return False
        builder.restore((orders[0], tags, ranked, orders[1], tokens))
        lint.restore(kept)
        self._kept = (key, counted)
        self.behind = counted != views_key(views)
        return True


def _array(typecode: str, raw: bytes) -> array[int]:
    items = array(typecode)
    items.frombytes(raw)
    return items


def reset_indexes(
    cache: IndexCache | None,
    builder: SnapshotBuilder,
    lint: CrossArticleIndex,
    served: list[Article],
    views: Mapping[str, int],
) -> None:
    """Index ``served`` from scratch, through ``cache`` when there is one."""
    if cache is not None:
        cache.reset(builder, lint, served, views)
        return
    builder.reset(served)
    lint.reset(served)
