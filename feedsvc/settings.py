"""Settings: ``FEEDSVC_*`` environment variables over ``content/site.yaml``.

Two kinds of settings live here, kept apart on purpose:

* :class:`SiteSettings` describe the publication (title, site URL, feed sizes).
  They are *content*: editors change them in ``site.yaml`` and a reload picks
  them up. Environment variables may override them for one deployment.
* :class:`ServiceSettings` describe this process (content directory, public
  URL, proxy hops, reload interval, cache bound). They come from the
  environment and the command line only.

Nothing here imports Flask: the loader and the CLI use these too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from feedsvc.problems import Problem
from feedsvc.text import is_absolute_http_url, plain_text

ENV_PREFIX = "FEEDSVC_"


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """The publication, as described by ``site.yaml``."""

    title: str
    site_url: str
    description: str = ""
    language: str = "en"
    author: str = "Newsroom"
    id_authority: str = ""
    article_path: str = "/articles/{slug}"
    items_per_feed: int = 20
    popular_items: int = 10
    popular_window_days: int = 0
    cache_max_age: int = 300
    tag_combine_limit: int = 4
    websub_hub: str = ""
    notes: str = ""

    @property
    def tag_authority(self) -> str:
        """``authority,date`` part of the RFC 4151 ``tag:`` URIs used as ids.

        Defaults to the site's host and the year 2025, so that ids survive a
        move from http to https or to another mount point.
        """
        if self.id_authority:
            return self.id_authority
        host = urlsplit(self.site_url).hostname or "localhost"
        return f"{host},2025"

    def article_url(self, slug: str) -> str:
        """Absolute URL of an article on the news site."""
        return self.site_url + self.article_path.format(slug=slug)


# site.yaml key -> (attribute, type, environment variable or None)
_SITE_FIELDS: dict[str, tuple[str, type, str | None]] = {
    "title": ("title", str, "TITLE"),
    "description": ("description", str, None),
    "site_url": ("site_url", str, "SITE_URL"),
    "language": ("language", str, None),
    "author": ("author", str, None),
    "id_authority": ("id_authority", str, "ID_AUTHORITY"),
    "article_path": ("article_path", str, None),
    "items_per_feed": ("items_per_feed", int, "ITEMS_PER_FEED"),
    "cache_max_age": ("cache_max_age", int, "CACHE_MAX_AGE"),
    "tag_combine_limit": ("tag_combine_limit", int, None),
    "websub_hub": ("websub_hub", str, "WEBSUB_HUB"),
    "notes": ("notes", str, None),
}
_POPULAR_FIELDS: dict[str, tuple[str, str | None]] = {
    "items": ("popular_items", "POPULAR_ITEMS"),
    "window_days": ("popular_window_days", "POPULAR_WINDOW_DAYS"),
}


def _check_int(value: Any, path: str, name: str, problems: list[Problem]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(Problem(path, name, f"must be a whole number >= 0, got {value!r}"))
        return None
    return value


def parse_site_settings(
    data: Any, path: str, env: Mapping[str, str] | None = None
) -> tuple[SiteSettings | None, list[Problem]]:
    """Validate a parsed ``site.yaml`` mapping; environment overrides win.

    Returns the settings (or ``None`` when they are unusable) and every
    problem found, each naming the file and the field.
    """
    env = os.environ if env is None else env
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        return None, [Problem(path, "(file)", "must be a mapping of settings")]
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key == "popular":
            if not isinstance(raw, Mapping):
                problems.append(Problem(path, "popular", "must be a mapping (items, window_days)"))
                continue
            for sub, sub_raw in raw.items():
                if sub not in _POPULAR_FIELDS:
                    problems.append(
                        Problem(path, f"popular.{sub}", "unknown setting", severity="warning")
                    )
                    continue
                checked = _check_int(sub_raw, path, f"popular.{sub}", problems)
                if checked is not None:
                    values[_POPULAR_FIELDS[sub][0]] = checked
            continue
        if key not in _SITE_FIELDS:
            problems.append(Problem(path, str(key), "unknown setting", severity="warning"))
            continue
        attribute, kind, _ = _SITE_FIELDS[key]
        if kind is int:
            checked = _check_int(raw, path, key, problems)
            if checked is not None:
                values[attribute] = checked
        elif isinstance(raw, str | int | float) and not isinstance(raw, bool):
            values[attribute] = str(raw) if key == "notes" else plain_text(str(raw))
        elif raw is not None:
            problems.append(Problem(path, key, f"must be text, got {type(raw).__name__}"))

    for key, (attribute, kind, env_name) in _SITE_FIELDS.items():
        if env_name and (ENV_PREFIX + env_name) in env:
            raw_env = env[ENV_PREFIX + env_name]
            if kind is int:
                try:
                    values[attribute] = int(raw_env)
                except ValueError:
                    problems.append(Problem("$" + ENV_PREFIX + env_name, key, "must be a number"))
            else:
                values[attribute] = raw_env
    for sub, (attribute, env_name) in _POPULAR_FIELDS.items():
        if env_name and (ENV_PREFIX + env_name) in env:
            try:
                values[attribute] = int(env[ENV_PREFIX + env_name])
            except ValueError:
                problems.append(Problem("$" + ENV_PREFIX + env_name, sub, "must be a number"))

    for required in ("title", "site_url"):
        if not values.get(required):
            problems.append(Problem(path, required, "is required"))
    site_url = values.get("site_url", "")
    if site_url and not is_absolute_http_url(site_url):
        problems.append(Problem(path, "site_url", f"must be an absolute http(s) URL: {site_url!r}"))
    hub = values.get("websub_hub")
    if hub and not is_absolute_http_url(hub):
        problems.append(Problem(path, "websub_hub", f"must be an absolute http(s) URL: {hub!r}"))
    if values.get("items_per_feed") == 0:
        problems.append(Problem(path, "items_per_feed", "must be at least 1"))
    if "article_path" in values and "{slug}" not in values["article_path"]:
        problems.append(Problem(path, "article_path", "must contain {slug}"))
    if any(p.severity == "error" for p in problems):
        return None, problems
    values["site_url"] = site_url.rstrip("/")
    return SiteSettings(**values), problems


def _env_number(env: Mapping[str, str], name: str, default: float, kind: type = int) -> Any:
    """``$FEEDSVC_<name>`` as ``kind`` (int or float); unset or blank means ``default``."""
    raw = env.get(ENV_PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"${ENV_PREFIX}{name} must be {what}, got {raw!r}") from exc


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """How this process runs; environment and command line only."""

    content_dir: Path = field(default_factory=lambda: Path("content"))
    public_url: str | None = None
    proxy_hops: int = 0
    reload_interval: float = 2.0
    cache_bytes: int = 64 * 1024 * 1024
    max_base_urls: int = 8
    watch: str = "auto"  # "auto": inotify where available, else polling; "poll": always poll

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ServiceSettings:
        """Read ``FEEDSVC_*`` variables; keyword overrides (CLI flags) win."""
        env = os.environ if env is None else env
        public_url = env.get(ENV_PREFIX + "PUBLIC_URL") or None
        settings = cls(
            content_dir=Path(env.get(ENV_PREFIX + "CONTENT_DIR") or "content"),
            public_url=normalise_public_url(public_url) if public_url else None,
            proxy_hops=_env_number(env, "PROXY_HOPS", 0),
            reload_interval=_env_number(env, "RELOAD", 2.0, float),
            cache_bytes=_env_number(env, "CACHE_MB", 64) * 1024 * 1024,
            max_base_urls=_env_number(env, "MAX_BASE_URLS", 8),
            watch=_env_choice(env, "WATCH", ("auto", "poll")),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        if "content_dir" in clean:
            clean["content_dir"] = Path(clean["content_dir"])
        if clean.get("public_url"):
            clean["public_url"] = normalise_public_url(clean["public_url"])
        return replace(settings, **clean)


def _env_choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """``FEEDSVC_<name>``: one of ``choices`` (the first is the default)."""
    raw = env.get(ENV_PREFIX + name, "").strip().lower()
    if not raw:
        return choices[0]
    if raw not in choices:
        raise ValueError(f"${ENV_PREFIX}{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def normalise_public_url(url: str) -> str:
    """Validate ``FEEDSVC_PUBLIC_URL`` and drop its trailing slash."""
    if not is_absolute_http_url(url):
        raise ValueError(f"public URL must be an absolute http(s) URL, got {url!r}")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"public URL must not have a query or fragment, got {url!r}")
    return url.rstrip("/")
