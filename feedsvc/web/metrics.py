"""Prometheus metrics: request counts, cache behaviour, reloads, content health.

Exposed at ``/metrics`` in the Prometheus text format (version 0.0.4), so any
Prometheus-compatible scraper can graph the 304 ratio (how well readers and
proxies revalidate), render counts (should stay flat between reloads) and
content errors (should be zero).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feedsvc.audience.estimate import Estimate
    from feedsvc.service.core import FeedService

AudienceSource = Callable[[], "list[Estimate]"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RequestCounter:
    """Thread-safe counts of responses by label tuple."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, ...]] = Counter()
        self._lock = threading.Lock()

    def add(self, labels: tuple[str, ...]) -> None:
        """Count one response with these label values."""
        with self._lock:
            self._counts[labels] += 1

    def items(self) -> list[tuple[tuple[str, ...], int]]:
        """A consistent copy of the counts."""
        with self._lock:
            return sorted(self._counts.items())


def feed_answers(feeds: RequestCounter) -> tuple[int, int]:
    """Feed GET/HEAD answers (200 or 304; HTML pages for browsers excluded) and the 304s."""
    counts = [(labels, n) for labels, n in feeds.items() if labels[1] != "html"]
    answered = sum(n for labels, n in counts if labels[2] in ("200", "304"))
    not_modified = sum(n for labels, n in counts if labels[2] == "304")
    return answered, not_modified


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Iterable[str], values: Iterable[str]) -> str:
    pairs = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}" if pairs else ""


class Exposition:
    """Builds the text format one metric family at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[tuple[str, ...], float]] | float,
        label_names: tuple[str, ...] = (),
    ) -> None:
        """One metric with its HELP and TYPE lines."""
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        if isinstance(samples, int | float):
            samples = [((), samples)]
        for values, number in samples:
            self.lines.append(f"{name}{_labels(label_names, values)} {_number(number)}")

    def text(self) -> str:
        """The whole exposition, newline-terminated."""
        return "\n".join(self.lines) + "\n"


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def collect(
    service: FeedService,
    feeds: RequestCounter,
    pages: RequestCounter,
    audience: AudienceSource | None = None,
) -> str:
    """The full ``/metrics`` body for one service (audience gauges when a source is given)."""
    out = Exposition()
    _requests(out, feeds, pages)
    _cache(out, service)
    _content(out, service)
    if audience is not None:
        _audience(out, audience())
    return out.text()


def _audience(out: Exposition, estimates: list[Estimate]) -> None:
    """Each feed's subscriber estimate on the last day it was counted."""
    out.family(
        "feedsvc_audience_subscribers", "gauge",
        "Estimated subscribers per feed (aggregator reports + direct readers), last day counted.",
        [((e.feed,), e.total) for e in estimates], ("feed",),
    )  # fmt: skip
    out.family(
        "feedsvc_audience_aggregator_subscribers", "gauge",
        "Subscribers reported by aggregators in their User-Agent, last day counted.",
        [((e.feed,), e.aggregated) for e in estimates], ("feed",),
    )  # fmt: skip
    out.family(
        "feedsvc_audience_direct_readers", "gauge",
        "Distinct direct feed readers (address and client), last day counted.",
        [((e.feed,), e.readers) for e in estimates], ("feed",),
    )  # fmt: skip


def _requests(out: Exposition, feeds: RequestCounter, pages: RequestCounter) -> None:
    """Responses by feed and route, and how well clients revalidate."""
    out.family(
        "feedsvc_feed_requests_total", "counter",
        "Feed responses by feed kind, format and status.",
        feeds.items(), ("kind", "format", "status"),
    )  # fmt: skip
    out.family(
        "feedsvc_http_requests_total", "counter",
        "Other responses (pages, OPML, health, redirects, errors) by route and status.",
        pages.items(), ("route", "status"),
    )  # fmt: skip
    answered, not_modified = feed_answers(feeds)
    out.family(
        "feedsvc_not_modified_ratio", "gauge",
        "Share of feed GET/HEAD answers that were 304 Not Modified.",
        not_modified / answered if answered else 0.0,
    )  # fmt: skip


def _cache(out: Exposition, service: FeedService) -> None:
    """The rendered-feed caches: lookups, size, evictions and renders."""
    cache = service.cache
    out.family(
        "feedsvc_cache_lookups_total", "counter",
        "Rendered-feed cache lookups by cache level and result.",
        [
            (("template", "hit"), cache.templates.hits),
            (("template", "miss"), cache.templates.misses),
            (("variant", "hit"), cache.variants.hits),
            (("variant", "miss"), cache.variants.misses),
        ],
        ("cache", "result"),
    )  # fmt: skip
    out.family(
        "feedsvc_cache_bytes", "gauge", "Bytes held by the rendered-feed caches.",
        [(("template",), cache.templates.size_bytes), (("variant",), cache.variants.size_bytes)],
        ("cache",),
    )  # fmt: skip
    out.family(
        "feedsvc_cache_evictions_total", "counter", "Entries evicted to stay within the bound.",
        [(("template",), cache.templates.evictions), (("variant",), cache.variants.evictions)],
        ("cache",),
    )  # fmt: skip
    out.family("feedsvc_renders_total", "counter", "Feeds rendered (feedgen runs).", cache.renders)


def _content(out: Exposition, service: FeedService) -> None:
    """Reloads, how content changes are found, and the content's health."""
    catalog = service.catalog
    snapshot = catalog.snapshot
    out.family("feedsvc_reloads_total", "counter", "Content reloads that changed content.",
               service.reloads)  # fmt: skip
    out.family("feedsvc_reload_errors_total", "counter", "Reloads that failed unexpectedly.",
               service.reload_errors)  # fmt: skip
    loader = service.loader
    out.family("feedsvc_content_files_read_total", "counter",
               "Content files read (parsed) since start.", loader.files_read)  # fmt: skip
    out.family("feedsvc_content_full_scans_total", "counter",
               "Comparisons of every content file's signature (polls, safety scans).",
               loader.full_scans)  # fmt: skip
    out.family(
        "feedsvc_content_watch", "gauge",
        "How content changes are found (1 for the mode in use).",
        [((mode,), int(service.watch_mode == mode)) for mode in ("inotify", "poll", "off")],
        ("mode",),
    )  # fmt: skip
    last = service.last_reload_at or catalog.loaded_at
    out.family(
        "feedsvc_last_reload_timestamp_seconds", "gauge",
        "When content was last checked and reloaded (Unix time).", last.timestamp(),
    )  # fmt: skip
    out.family(
        "feedsvc_content_problems", "gauge", "Current content problems by severity.",
        [(("error",), len(snapshot.errors)),
         (("warning",), len(snapshot.problems) - len(snapshot.errors))],
        ("severity",),
    )  # fmt: skip
    out.family("feedsvc_articles", "gauge", "Articles in feeds now.", len(snapshot.articles))
    with_articles = (catalog.loaded or snapshot).tags  # the served snapshot adds empty tags
    out.family("feedsvc_tags", "gauge", "Tags with at least one article.", len(with_articles))
