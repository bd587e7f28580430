"""feedsvc: RSS 2.0, Atom 1.0 and JSON Feed for a news site kept as YAML files."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "create_app"]


def __getattr__(name: str):
    """Import the Flask app factory lazily: the store and CLI must not need Flask."""
    if name == "create_app":
        from .web import create_app

        return create_app
    raise AttributeError(name)
