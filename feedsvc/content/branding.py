"""``site.yaml``'s ``icon`` (square) and ``logo`` (wide): the publication's marks.

Readers show a feed's icon beside every headline, so a wrong one is dropped
with a warning (the feeds then carry none) rather than refusing the site.
Each is a URL, or a mapping with ``url`` and the optional ``width`` and
``height`` in pixels. A relative URL is resolved against ``site_url``, as
article images are: the marks live on the news site, not on the feed service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from feedsvc.content.yamlfile import shown, shown_key
from feedsvc.problems import Problem
from feedsvc.text import clean_text, is_absolute_http_url, normalise_url

BRAND_KEYS = ("icon", "logo")
MAX_PIXELS = 20_000  # catches typos, as for article images


@dataclass(frozen=True, slots=True)
class Brand:
    """An icon or logo: an absolute URL and, when the editor said, its size."""

    url: str
    width: int | None = None
    height: int | None = None


def brands(
    data: Mapping[Any, Any], site_url: str, path: str, problems: list[Problem]
) -> dict[str, Brand]:
    """The ``icon`` and ``logo`` that ``data`` (site.yaml) gives, by key."""
    found: dict[str, Brand] = {}
    for key in BRAND_KEYS:
        if data.get(key) is not None:
            brand = _brand(data[key], key, site_url, path, problems)
            if brand is not None:
                found[key] = brand
    return found


def _brand(raw: Any, key: str, site_url: str, path: str, problems: list[Problem]) -> Brand | None:
    def warn(field: str, message: str) -> None:
        problems.append(Problem(path, field, message, severity="warning"))

    mapping = raw if isinstance(raw, Mapping) else {"url": raw}
    for sub in mapping:
        if str(sub) not in ("url", "width", "height"):
            warn(f"{key}.{shown_key(sub)}", "unknown setting; ignored")
    url = mapping.get("url")
    field = f"{key}.url" if isinstance(raw, Mapping) else key
    if not isinstance(url, str) or not url.strip():
        warn(field, f"must be a URL, got {shown(url)}; no {key} is sent")
        return None
    absolute = urljoin(site_url + "/", normalise_url(clean_text(url)))
    if not is_absolute_http_url(absolute):
        warn(field, f"is not an http(s) URL: {shown(url)}; no {key} is sent")
        return None
    sizes = [_pixels(mapping.get(side), f"{key}.{side}", warn) for side in ("width", "height")]
    return Brand(absolute, *sizes)


def _pixels(value: Any, field: str, warn: Callable[[str, str], None]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PIXELS:
        warn(field, f"must be a whole number of pixels (1-{MAX_PIXELS}), got {shown(value)}; "
             "ignored")  # fmt: skip
        return None
    return value
