"""The tags ever served, remembered in the state, so a tag's feeds never break.

"Ever served" means: the tag was in the content (on at least one visible
article) at some published snapshot, on this instance or on one whose state
this one copied. That reading does not depend on which URL a reader happened
to request, so every instance with the same content and state publishes the
same feeds. A tag that loses its last article keeps its feeds (valid, with
no items), its page and its OPML line, across restarts, until ``site.yaml``
redirects (``tag_redirects``) or retires (``retired_tags``) it.

Table ``feeds_served_tags``: slug, the last display name served, when it
was first served and when that name was recorded (ISO 8601; for operators
reading the file).
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Mapping
from datetime import datetime

from feedsvc.content.model import Snapshot, TagEntry
from feedsvc.problems import Problem
from feedsvc.state.store import StateStore

OWNER = "feeds"
SCHEMA_VERSION = 1
TABLE = (
    "CREATE TABLE IF NOT EXISTS feeds_served_tags ("
    " slug TEXT PRIMARY KEY, name TEXT NOT NULL, first_served TEXT NOT NULL,"
    " last_served TEXT NOT NULL)"
)


class ServedTags:
    """Slug -> display name of every tag ever served, kept in the state store."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        store.schema(OWNER, SCHEMA_VERSION, [TABLE])
        with store.reading() as db:
            rows = db.execute("SELECT slug, name FROM feeds_served_tags ORDER BY slug").fetchall()
        self._names: dict[str, str] = {str(slug): str(name) for slug, name in rows}

    @property
    def names(self) -> Mapping[str, str]:
        """Every tag ever served: slug -> the display name it was last served under."""
        return self._names

    def remember(self, tags: Mapping[str, TagEntry], now: datetime) -> Mapping[str, str]:
        """Record the tags served at ``now``; returns every tag ever served.

        The mapping returned changes only in later calls (reloads are serialised).

        Writes only what changed (a new tag, a new spelling), so a reload
        that adds no tag costs no write.
        """
        stamp = now.isoformat()
        with self._lock:
            new = [
                (slug, entry.name, stamp, stamp)
                for slug, entry in tags.items()
                if self._names.get(slug) != entry.name
            ]
            if new:
                self.store.attempt("remembering served tags", lambda db: db.executemany(
                    "INSERT INTO feeds_served_tags (slug, name, first_served, last_served)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (slug) DO UPDATE SET"
                    " name = excluded.name, last_served = excluded.last_served", new,
                ))  # fmt: skip
                for slug, name, _, _ in new:
                    self._names[slug] = name
            return self._names


def vanished_tags(
    served: Mapping[str, str], snapshot: Snapshot, site_path: str, line: int | None = None
) -> list[Problem]:
    """A warning per tag served before that has no article now and no rule in ``site.yaml``.

    Its feeds keep answering, empty; the warning suggests moving its readers
    to the most similar tag that has articles (``difflib``), or retiring it.
    ``line``: where ``tag_redirects`` is (or would go) in ``site.yaml``.
    """
    site = snapshot.site
    handled = {*site.redirects, *site.retired_tags}
    problems = []
    for slug, name in sorted(served.items()):
        if slug in snapshot.tags or slug in handled:
            continue
        close = difflib.get_close_matches(slug, list(snapshot.tags), n=1, cutoff=0.5)
        if close:
            advice = f"to move its readers add to site.yaml: tag_redirects: {{{slug}: {close[0]}}}"
        else:
            advice = f"redirect it (tag_redirects) or retire it (retired_tags: [{slug}])"
        message = (
            f"tag {name!r} was served before and has no article now (its feeds answer empty); "
            + advice
        )
        problems.append(Problem(site_path, f"tags.{slug}", message, line, "warning"))
    return problems


def tag_rule_warnings(
    served: Mapping[str, str], snapshot: Snapshot, site_path: str, lines: Mapping[str, int]
) -> list[Problem]:
    """What ``tag_redirects`` and ``retired_tags`` do that an editor may not mean.

    A redirect to a tag no article has (and never served) sends readers to a
    404; a redirected or retired tag that articles still carry hides them
    from its readers. ``lines``: the line of each top-level key of ``site.yaml``.
    """
    site = snapshot.site
    problems = []
    for old, new in site.tag_redirects:
        field, line = f"tag_redirects.{old}", lines.get("tag_redirects")
        if new not in snapshot.tags and new not in served:
            message = f"points to {new!r}, which no article has: its URLs answer 404 until one does"
            problems.append(Problem(site_path, field, message, line, "warning"))
        if old in snapshot.tags:
            count = len(snapshot.tags[old].articles)
            message = f"{count} article(s) still carry this tag; its URLs redirect to {new!r}"
            problems.append(Problem(site_path, field, message, line, "warning"))
    for slug in site.retired_tags:
        if slug in snapshot.tags:
            count = len(snapshot.tags[slug].articles)
            message = f"{count} article(s) still carry this tag; its URLs answer 410 Gone"
            problems.append(
                Problem(site_path, f"retired_tags.{slug}", message, lines.get("retired_tags"),
                        "warning")
            )  # fmt: skip
    return problems
