"""``site.yaml``: the publication's settings, checked.

Site settings are content: editors change them in ``site.yaml`` and a
reload picks them up. A deployment may override a few of them with
``FEEDSVC_*`` variables (read by :func:`feedsvc.settings.site_overrides`);
the override wins over the file and is checked the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from feedsvc.content import tagrules
from feedsvc.content.branding import BRAND_KEYS, Brand, brands
from feedsvc.content.yamlfile import shown, shown_key
from feedsvc.problems import Problem
from feedsvc.settings import Override, site_overrides
from feedsvc.text import is_absolute_http_url, plain_text


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
    popular_min_views: int = 1  # the popular feed lists only articles with at least these views
    cache_max_age: int = 300
    tag_combine_limit: int = 4
    websub_hub: str = ""
    notes: str = ""
    icon: Brand | None = None  # square (feed readers' avatar), see content/branding.py
    logo: Brand | None = None  # wide
    # What old tag URLs answer (feedsvc.content.tagrules): (old slug, new slug) pairs -> 308,
    # retired slugs -> 410.
    tag_redirects: tuple[tuple[str, str], ...] = ()
    retired_tags: tuple[str, ...] = ()

    @property
    def redirects(self) -> dict[str, str]:
        """``tag_redirects`` as a mapping: old slug -> new slug."""
        return dict(self.tag_redirects)

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


# site.yaml key -> (attribute, type)
SITE_FIELDS: dict[str, tuple[str, type]] = {
    "title": ("title", str),
    "description": ("description", str),
    "site_url": ("site_url", str),
    "language": ("language", str),
    "author": ("author", str),
    "id_authority": ("id_authority", str),
    "article_path": ("article_path", str),
    "items_per_feed": ("items_per_feed", int),
    "cache_max_age": ("cache_max_age", int),
    "tag_combine_limit": ("tag_combine_limit", int),
    "websub_hub": ("websub_hub", str),
    "notes": ("notes", str),
}
# keys of the ``popular:`` mapping -> attribute (all whole numbers)
POPULAR_FIELDS: dict[str, str] = {
    "items": "popular_items",
    "window_days": "popular_window_days",
    "min_views": "popular_min_views",
}
# The largest value of each number (attribute -> (as site.yaml names it, limit)):
# beyond these a feed is no longer a feed, and dates leave datetime's range.
INT_LIMITS: dict[str, tuple[str, int]] = {
    "items_per_feed": ("items_per_feed", 10_000),
    "popular_items": ("popular.items", 10_000),
    "popular_window_days": ("popular.window_days", 36_500),  # a century
    "popular_min_views": ("popular.min_views", 2**53),
    "cache_max_age": ("cache_max_age", 31_536_000),  # a year, as RFC 9111 advises
    "tag_combine_limit": ("tag_combine_limit", 64),
}


def parse_site_settings(
    data: Any, path: str, env: Mapping[str, str] | None = None
) -> tuple[SiteSettings | None, list[Problem]]:
    """Validate a parsed ``site.yaml`` mapping; environment overrides win.

    Returns the settings (or ``None`` when they are unusable) and every
    problem found, each naming the file and the field. ``env`` stands for
    the process environment (tests pass their own).
    """
    if not isinstance(data, Mapping):
        return None, [Problem(path, "(file)", "must be a mapping of settings")]
    problems: list[Problem] = []
    values = _file_values(data, path, problems)
    _apply_overrides(values, site_overrides(env), problems)
    _check_values(values, path, problems)
    rules, rule_problems = tagrules.tag_rule_values(data, path)  # bad rules: reported, ignored
    problems += rule_problems
    if any(p.severity == "error" for p in problems if p not in rule_problems):
        return None, problems
    values["site_url"] = values.get("site_url", "").rstrip("/")
    values.update(brands(data, values["site_url"], path, problems))
    return SiteSettings(**values, **rules), problems


def _check_int(value: Any, path: str, name: str, problems: list[Problem]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(Problem(path, name, f"must be a whole number >= 0, got {shown(value)}"))
        return None
    return value


def _file_values(data: Mapping[Any, Any], path: str, problems: list[Problem]) -> dict[str, Any]:
    """The attributes ``site.yaml`` sets; what is wrong with it goes to ``problems``."""
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key == "popular":
            _popular_values(raw, path, values, problems)
            continue
        if key in BRAND_KEYS:  # icon, logo: need site_url, read by parse_site_settings
            continue
        if key in tagrules.KEYS:
            continue  # parse_site_settings reads them
        if key not in SITE_FIELDS:
            problems.append(Problem(path, shown_key(key), "unknown setting", severity="warning"))
            continue
        attribute, kind = SITE_FIELDS[key]
        if kind is int:
            checked = _check_int(raw, path, key, problems)
            if checked is not None:
                values[attribute] = checked
        elif isinstance(raw, str | int | float) and not isinstance(raw, bool):
            values[attribute] = str(raw) if key == "notes" else plain_text(str(raw))
        elif raw is not None:
            problems.append(Problem(path, key, f"must be text, got {type(raw).__name__}"))
    return values


def _popular_values(raw: Any, path: str, values: dict[str, Any], problems: list[Problem]) -> None:
    """The ``popular:`` mapping (items, window_days) into ``values``."""
    if not isinstance(raw, Mapping):
        problems.append(
            Problem(path, "popular", "must be a mapping (items, window_days, min_views)")
        )
        return
    for sub, sub_raw in raw.items():
        if sub not in POPULAR_FIELDS:
            name = f"popular.{shown_key(sub)}"
            problems.append(Problem(path, name, "unknown setting", severity="warning"))
            continue
        checked = _check_int(sub_raw, path, f"popular.{sub}", problems)
        if checked is not None:
            values[POPULAR_FIELDS[sub]] = checked


def _apply_overrides(
    values: dict[str, Any], overrides: list[Override], problems: list[Problem]
) -> None:
    """Environment overrides over the file's values; a number that is not one is a problem."""
    for override in overrides:
        group, _, key = override.setting.rpartition(".")
        attribute, kind = (POPULAR_FIELDS[key], int) if group == "popular" else SITE_FIELDS[key]
        if kind is not int:
            values[attribute] = override.value
            continue
        try:
            values[attribute] = int(override.value)
        except ValueError:
            problems.append(Problem(override.variable, key, "must be a number"))


def _check_values(values: Mapping[str, Any], path: str, problems: list[Problem]) -> None:
    """What must hold of the settings together, whoever gave them (file or environment)."""
    for required in ("title", "site_url"):
        if not values.get(required):
            problems.append(Problem(path, required, "is required"))
    site_url = values.get("site_url", "")
    if site_url and not is_absolute_http_url(site_url):
        problems.append(
            Problem(path, "site_url", f"must be an absolute http(s) URL: {shown(site_url)}")
        )
    hub = values.get("websub_hub")
    if hub and not is_absolute_http_url(hub):
        problems.append(
            Problem(path, "websub_hub", f"must be an absolute http(s) URL: {shown(hub)}")
        )
    for attribute, (name, limit) in INT_LIMITS.items():
        value = values.get(attribute)
        if isinstance(value, int) and value > limit:
            problems.append(Problem(path, name, f"must be at most {limit}, got {shown(value)}"))
    if values.get("items_per_feed") == 0:
        problems.append(Problem(path, "items_per_feed", "must be at least 1"))
    article_path = values.get("article_path")
    if article_path is not None and "{slug}" not in article_path:
        problems.append(Problem(path, "article_path", "must contain {slug}"))
    elif article_path is not None and set("{}") & set(article_path.replace("{slug}", "")):
        # Anything else in braces is a str.format field: a crash ({0}) or worse ({slug:>9999999}).
        problems.append(Problem(path, "article_path", "may hold no braces but {slug}"))
