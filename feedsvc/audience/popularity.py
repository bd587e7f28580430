"""``feedsvc popularity``: article page views from the site's access log, as ``popularity.yaml``.

The "most popular" feed is only as real as its view counts. This counts
the news site's own article pages (``site_url`` + ``article_path`` from
``site.yaml``) in its access log, over a window (24h, 7d, 30d) that ends at
the newest request in the log (for a live log: now), and writes
``content/popularity.yaml``, which the running service reloads like any edit.

A page view is a GET answered 200 or 304 to a client that is not a crawler,
an HTTP tool or an empty User-Agent (the rules of
:mod:`~feedsvc.audience.agents`); slugs are matched case-insensitively and
only articles that exist are written. The file is replaced atomically (a
temporary file in the same folder, then ``os.replace``): the watcher never
reads half a file.
"""

from __future__ import annotations

import gzip
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

from feedsvc.audience.accesslog import Hit, LogFormat, parse_line
from feedsvc.audience.tally import COUNTED_STATUSES, classify_cached
from feedsvc.content.site import SiteSettings

NOT_VIEWS = frozenset({"bot", "tool", "spoofer", "none", "aggregator"})
_WINDOW = re.compile(r"(\d{1,4})([hd])")
POPULARITY_FILE = "popularity.yaml"


def parse_window(text: str) -> timedelta:
    """``24h``, ``7d``, ``30d`` (any whole number of hours or days) as a duration."""
    match = _WINDOW.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"window must be a number of hours or days (24h, 7d, 30d), got {text!r}")
    number = int(match.group(1))
    return timedelta(hours=number) if match.group(2) == "h" else timedelta(days=number)


def article_pattern(site: SiteSettings) -> re.Pattern[str]:
    """The request paths of article pages: the path of ``article_url`` with any slug."""
    marker = "\x00slug\x00"
    path = urlsplit(site.site_url + site.article_path.replace("{slug}", marker)).path
    before, _, after = path.partition(marker)
    return re.compile(re.escape(before) + r"([^/?#]+)" + re.escape(after) + "/?")


def read_hits(paths: Iterable[Path], fmt: LogFormat) -> Iterator[Hit]:
    """Every request in ``paths`` (plain or ``.gz``); junk lines are skipped."""
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            for raw in handle:
                hit = parse_line(raw, fmt)
                if hit is not None:
                    yield hit


def count_views(
    hits: Iterable[Hit], site: SiteSettings, slugs: set[str], window: timedelta
) -> tuple[Counter[str], datetime | None]:
    """Views per slug within ``window`` before the newest request seen, and that time."""
    pattern = article_pattern(site)
    seen: list[tuple[datetime, str]] = []
    newest: datetime | None = None
    for hit in hits:
        newest = hit.time if newest is None or hit.time > newest else newest
        if hit.method != "GET" or hit.status not in COUNTED_STATUSES:
            continue
        match = pattern.fullmatch(unquote(urlsplit(hit.target).path, errors="replace"))
        if match is None or match.group(1).lower() not in slugs:
            continue
        if classify_cached(hit.agent).kind in NOT_VIEWS:
            continue
        seen.append((hit.time, match.group(1).lower()))
    if newest is None:
        return Counter(), None
    start = newest - window
    return Counter(slug for when, slug in seen if when > start), newest


def popularity_yaml(views: Counter[str], slugs: set[str], window: str, until: datetime) -> str:
    """The file's text: ``slug: views`` for every article, most viewed first.

    Articles nobody read in the window are written with 0, so their
    ``views`` typed in the article no longer count: the popular feed means
    "most read in the window", not a mix of logs and guesses.
    """
    lines = [
        "# Written by `feedsvc popularity`: article page views in the site's access log",
        f"# over {window} up to {until.isoformat()}. Rewritten on each run.",
    ]
    every = {slug: views.get(slug, 0) for slug in slugs}
    ranked = dict(sorted(every.items(), key=lambda item: (-item[1], item[0])))
    body = yaml.safe_dump(ranked, sort_keys=False, allow_unicode=True, width=1000)
    return "\n".join(lines) + "\n" + body


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (temporary file in the same folder)."""
    handle, temporary = tempfile.mkstemp(prefix=".popularity-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
