"""The running service: one current catalog, reloads, prewarming, the watcher.

Sits on top of :mod:`feedsvc.content` and :mod:`feedsvc.feeds` and below the
web layer, which asks it for the current catalog and for cached bytes.
"""
