"""``/healthz`` names files as the content folder names them, never by absolute path."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def test_healthz_names_files_relative_to_the_content_folder(
    make_app: Callable[..., Any], small_content: Path, tmp_path: Path
):
    assert small_content.is_absolute()
    secret = tmp_path / "outside.yaml"
    secret.write_text("title: Secret\npublished: 2025-01-01T00:00:00Z\n")
    os.symlink(secret, small_content / "articles" / "linked.yaml")
    (small_content / "articles" / "broken.yaml").write_text("title: [\n")
    (small_content / "popularity.yaml").write_text("alpha: many\n")
    health = make_app(small_content).test_client().get("/healthz").get_json()
    paths = {p["path"] for p in health["errors"] + health["warnings"]}
    assert paths == {
        "content/articles/linked.yaml",
        "content/articles/broken.yaml",
        "content/popularity.yaml",
        "content/articles/beta.yaml",  # a tag spelling warning of the fixture
    }
    text = str(health)
    assert str(tmp_path) not in text and "outside.yaml" not in text
