"""Shared fixtures: real content directories on disk, the app, a clock.

Tests copy the bundled ``content/`` (or write their own files) into a temp
directory and build the real app on it; nothing is mocked. Fixtures only:
the helpers they use, and that test files import, are in ``support.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import BUNDLED_CONTENT, SITE, Clock, WatchedApp, article, write_yaml

from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings
from feedsvc.state.store import StateStore, open_state
from feedsvc.web.app import create_app

# No test writes state into the repository: a process started by a test
# (``feedsvc check``, ``serve`` without the helpers) keeps it in memory
# unless the test names a folder; servers.feedsvc_server gives each its own.
os.environ["FEEDSVC_STATE_DIR"] = "none"
# Feeds are written in the test's own process unless a test asks for writer
# processes (tests/test_feeds_writers.py): the bytes are the same, and the
# suite does not start a helper process for every server it runs.
os.environ["FEEDSVC_WRITER_PROCESSES"] = "off"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bundled_content(tmp_path: Path) -> Path:
    """A private copy of the bundled demo content."""
    target = tmp_path / "content"
    shutil.copytree(BUNDLED_CONTENT, target)
    return target


@pytest.fixture
def small_content(tmp_path: Path) -> Path:
    """Three articles, two tags, written as real files."""
    root = tmp_path / "content"
    write_yaml(root / "site.yaml", SITE)
    articles = root / "articles"
    write_yaml(
        articles / "alpha.yaml",
        article("Alpha", "2025-12-01T10:00:00+09:00", tags=["North Korea", "China"], views=50),
    )
    write_yaml(
        articles / "beta.yaml",
        article("Beta", "2025-12-02T10:00:00Z", tags=["north korea"], views=500),
    )
    write_yaml(articles / "gamma.yaml", article("Gamma", "2025-12-03", tags=["Health"], views=5))
    return root


@pytest.fixture
def make_app(clock: Clock) -> Iterator[Callable[..., Any]]:
    """Build the real app on a content directory (reload thread off)."""
    services: list[FeedService] = []

    def build(content_dir: Path, **settings: Any) -> Any:
        config = ServiceSettings(content_dir=content_dir, reload_interval=0, **settings)
        service = FeedService(config, clock=clock)
        services.append(service)
        app = create_app(config, service=service, watch=False)
        app.testing = True
        return app

    yield build
    for service in services:
        service.stop()


@pytest.fixture
def demo_app(make_app: Callable[..., Any], bundled_content: Path) -> Any:
    return make_app(bundled_content)


@pytest.fixture
def client(demo_app: Any) -> Any:
    return demo_app.test_client()


@pytest.fixture
def live_interval() -> float:
    """Reload interval of the ``live`` app; a module overrides this fixture to change it."""
    return 0.1


@pytest.fixture
def live(small_content: Path, live_interval: float) -> Iterator[WatchedApp]:
    """The real app with its real watcher thread on ``small_content``."""
    app = WatchedApp(small_content, interval=live_interval)
    yield app
    app.close()


@pytest.fixture
def rows_state(tmp_path: Path) -> Iterator[StateStore]:
    """A state folder on disk with one test table, ``t_rows (n, what)``, as owner ``t``."""
    store = open_state(tmp_path / "state")
    store.schema("t", 1, ["CREATE TABLE IF NOT EXISTS t_rows (n INTEGER PRIMARY KEY, what TEXT)"])
    yield store
    store.close()
