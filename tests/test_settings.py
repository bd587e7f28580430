"""Every ``FEEDSVC_*`` variable is read in one place: feedsvc.settings.

These go through the real code paths (the CLI's parser, the text store,
``feedsvc check``) in a fresh process with the variable set, because the
text store and the parser defaults are read once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, SITE, article, write_yaml

from feedsvc.settings import (
    ListenSettings,
    ServiceSettings,
    content_dir_from_env,
    public_url_from_env,
    site_overrides,
    text_dir_from_env,
)


def run_python(code: str, env: dict[str, str], cwd: Path = REPO) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, cwd=cwd,
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


def test_only_the_settings_module_reads_the_environment():
    readers = [
        str(path.relative_to(REPO))
        for path in (REPO / "feedsvc").rglob("*.py")
        if "os.environ" in path.read_text() or "getenv" in path.read_text()
    ]
    assert readers == ["feedsvc/settings.py"]


TEXT_STORE = """
from feedsvc.content.textstore import ensure_store, get_text, put_text
reference = put_text("summary", "body")
print(ensure_store().path)
assert get_text(reference) == ("summary", "body")
"""


def test_text_dir_variable_places_the_spill_file(tmp_path: Path):
    spill = tmp_path / "spill"
    spill.mkdir()
    path = run_python(TEXT_STORE, {"FEEDSVC_TEXT_DIR": str(spill)}).strip()
    assert Path(path).parent.parent == spill
    unset = run_python(TEXT_STORE, {}).strip()
    assert not unset.startswith(str(spill))
    assert text_dir_from_env({"FEEDSVC_TEXT_DIR": ""}) is None  # blank: the default folder


PARSER = """
from feedsvc.cli import build_parser
args = build_parser().parse_args(["serve"])
print(repr((args.host, args.port, args.threads, args.content_dir)))
"""


def test_serve_defaults_come_from_the_environment():
    assert run_python(PARSER, {}).strip() == repr(("127.0.0.1", 8080, 8, "content"))
    env = {
        "FEEDSVC_HOST": "0.0.0.0",
        "FEEDSVC_PORT": "9090",
        "FEEDSVC_THREADS": "3",
        "FEEDSVC_CONTENT_DIR": "/srv/news",
    }
    assert run_python(PARSER, env).strip() == repr(("0.0.0.0", 9090, 3, "/srv/news"))


def test_listen_settings_as_before():
    assert ListenSettings.from_env({}) == ListenSettings("127.0.0.1", 8080, 8)
    assert ListenSettings.from_env({"FEEDSVC_HOST": ""}).host == ""  # set, even blank, is used
    with pytest.raises(ValueError, match="invalid literal for int"):
        ListenSettings.from_env({"FEEDSVC_PORT": "eighty"})


def test_check_reads_the_content_dir_variable(tmp_path: Path):
    root = tmp_path / "elsewhere"
    write_yaml(root / "site.yaml", SITE)
    write_yaml(root / "articles" / "one.yaml", article("One", "2025-10-01T00:00:00Z"))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    done = subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "check", "--format", "json"],
        env={**clean, "FEEDSVC_CONTENT_DIR": str(root)}, cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["content_dir"] == str(root)
    assert report["articles"] == 1


def test_content_dir_and_public_url_blank_or_unset():
    assert content_dir_from_env({}) == content_dir_from_env({"FEEDSVC_CONTENT_DIR": ""})
    assert content_dir_from_env({}) == "content"
    assert public_url_from_env({}) is None
    assert public_url_from_env({"FEEDSVC_PUBLIC_URL": "https://x.test/"}) == "https://x.test/"
    settings = ServiceSettings.from_env({"FEEDSVC_PUBLIC_URL": "https://x.test/"})
    assert settings.public_url == "https://x.test"  # the service normalises it


def test_site_overrides_name_the_variable_and_keep_the_value_as_written():
    env = {"FEEDSVC_TITLE": " Morning ", "FEEDSVC_POPULAR_ITEMS": "x", "FEEDSVC_RELOAD": "1"}
    found = [(o.setting, o.variable, o.value) for o in site_overrides(env)]
    assert found == [
        ("title", "$FEEDSVC_TITLE", " Morning "),
        ("popular.items", "$FEEDSVC_POPULAR_ITEMS", "x"),
    ]


def test_connection_settings_have_safe_defaults_and_read_the_environment():
    from feedsvc.settings import ConnectionSettings

    defaults = ConnectionSettings.from_env({})
    assert defaults.connection_limit >= 1000 and defaults.idle_timeout <= 30
    env = {
        "FEEDSVC_CONNECTION_LIMIT": "50",
        "FEEDSVC_IDLE_TIMEOUT": " ",
        "FEEDSVC_MAX_BODY_BYTES": "9",
    }
    read = ConnectionSettings.from_env(env, idle_timeout=7, max_body_bytes=None)
    assert (read.connection_limit, read.idle_timeout, read.max_body_bytes) == (50, 7, 9)
    with pytest.raises(ValueError, match="CONNECTION_LIMIT must be a whole number"):
        ConnectionSettings.from_env({"FEEDSVC_CONNECTION_LIMIT": "many"})
    with pytest.raises(ValueError, match="IDLE_TIMEOUT must be at least 1"):
        ConnectionSettings.from_env({"FEEDSVC_IDLE_TIMEOUT": "0"})
    # Threads per client address: 0 is a quarter of the threads; none behind trusted proxies.
    assert defaults.per_client_cap(8) == 2 and defaults.per_client_cap(2) == 1
    assert defaults.per_client_cap(8, proxy_hops=1) is None
    capped = ConnectionSettings.from_env({"FEEDSVC_PER_CLIENT_THREADS": "3"})
    assert capped.per_client_cap(8) == 3
    with pytest.raises(ValueError, match="PER_CLIENT_THREADS must be at least 0"):
        ConnectionSettings.from_env({"FEEDSVC_PER_CLIENT_THREADS": "-1"})


def test_max_article_kb_is_a_positive_whole_number():
    from feedsvc.settings import max_article_kb_from_env

    assert max_article_kb_from_env({}) is None
    assert max_article_kb_from_env({"FEEDSVC_MAX_ARTICLE_KB": " "}) is None
    assert max_article_kb_from_env({"FEEDSVC_MAX_ARTICLE_KB": "64"}) == 64
    for bad in ("-1", "0", "1.5", "big"):
        with pytest.raises(ValueError, match="FEEDSVC_MAX_ARTICLE_KB"):
            max_article_kb_from_env({"FEEDSVC_MAX_ARTICLE_KB": bad})
