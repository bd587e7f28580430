"""The vocabulary of content changes, shared by whoever finds them and the loader.

A change is keyed by the file it concerns: an article file's name in
``articles/``, or :data:`SITE_KEY` / :data:`VIEWS_KEY` for the two special
files. The inotify watcher (:mod:`feedsvc.content.events`) says what it knows
of each (:data:`UNSETTLED`, :data:`WRITTEN`, :data:`MOVED_AWAY`) in a
:class:`Changes`, which it returns to the scanner (:mod:`feedsvc.content.scan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ARTICLE_SUFFIXES = (".yaml", ".yml")

# Keys of the two special files in change sets; article files are keyed by
# their name, which never contains a slash.
SITE_KEY = "/site.yaml"
VIEWS_KEY = "/popularity.yaml"

# What an inotify event says of a changed file (see feedsvc.content.events).
UNSETTLED = 0  # changed, may still be changing: settle first
WRITTEN = 1  # closed after writing, or renamed into place: whole, if it exists
MOVED_AWAY = 2  # renamed onto another article file: gone, as half of a whole rename


def is_article_name(name: str) -> bool:
    """Whether a file name in ``articles/`` is an article (not hidden, ``.yaml``/``.yml``)."""
    return not name.startswith(".") and name.endswith(ARTICLE_SUFFIXES)


@dataclass(slots=True)
class Changes:
    """What changed since the last :meth:`ContentEvents.take`.

    ``states`` maps loader keys (an article's file name, or the loader's key
    for ``site.yaml``/``popularity.yaml``) to :data:`UNSETTLED`,
    :data:`WRITTEN` or :data:`MOVED_AWAY`. ``full``: compare everything.
    """

    full: bool
    states: dict[str, int] = field(default_factory=dict)
