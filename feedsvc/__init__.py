"""feedsvc: RSS 2.0, Atom 1.0 and JSON Feed for a news site kept as YAML files.

The public API is the app factory (:func:`create_app`, for WSGI servers) and
the version; everything else is reached through its layer (see the README's
"How it works"): ``content`` reads files into snapshots, ``feeds`` decides and
renders, ``service`` runs the current content, ``web`` answers HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from feedsvc.version import __version__

if TYPE_CHECKING:
    from feedsvc.web.app import create_app

__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> Any:
    """Import the Flask app factory lazily: the store and CLI must not need Flask."""
    if name == "create_app":
        from feedsvc.web.app import create_app

        return create_app
    raise AttributeError(name)
