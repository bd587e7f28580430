"""Helpers shared by the edge tests (compression, proxies, embedding, hostile clients).

Module-scoped apps: the edge tests make hundreds of requests against the
same content, and building the app (load + render every feed) once per
module instead of once per test keeps the suite fast.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from support import BUNDLED_CONTENT, Clock

from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings
from feedsvc.web.app import create_app


def copy_bundled_content(target: Path) -> Path:
    """A private copy of the bundled demo content at ``target``."""
    shutil.copytree(BUNDLED_CONTENT, target)
    return target


@contextmanager
def feedsvc_app(content_dir: Path, **settings: Any) -> Iterator[Any]:
    """The real app on ``content_dir`` (fixed clock, no reload thread); stopped after."""
    config = ServiceSettings(content_dir=content_dir, reload_interval=0, **settings)
    service = FeedService(config, clock=Clock())
    app = create_app(config, service=service, watch=False)
    app.testing = True
    try:
        yield app
    finally:
        service.stop()
