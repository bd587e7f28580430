"""Shared fixtures: real content directories on disk, the app, a clock.

Tests copy the bundled ``content/`` (or write their own files) into a temp
directory and build the real app on it; nothing is mocked.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings
from feedsvc.web.app import create_app

REPO = Path(__file__).resolve().parent.parent
BUNDLED_CONTENT = REPO / "content"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

SITE = {
    "title": "Test Times",
    "description": "A test site.",
    "site_url": "https://news.test",
    "language": "en",
    "author": "Test Desk",
    "id_authority": "news.test,2025",
    "items_per_feed": 20,
    "popular": {"items": 5, "window_days": 0},
    "cache_max_age": 120,
}


class Clock:
    """A settable clock handed to the service (drafts/future articles)."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def write_yaml(path: Path, data: Any) -> Path:
    """Write ``data`` as YAML (UTF-8), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def article(title: str, published: str, **fields: Any) -> dict[str, Any]:
    """An article mapping with sensible defaults for the other fields."""
    return {
        "title": title,
        "published": published,
        "summary": fields.pop("summary", f"Summary of {title}."),
        "body": fields.pop("body", f"Body of **{title}**."),
        **fields,
    }


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
