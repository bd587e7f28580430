"""Platform profiles: where content falls short of a platform's published feed rules.

``feedsvc check --profile flipboard`` (or ``google-news``) adds these as
warnings, in the usual ``path:line: field: message`` form: the feeds stay
valid either way, but the platform may show the articles badly or not take
the feed. The rules are data (:data:`PROFILES`), each value citing where the
platform says it. The check lives at the feeds level because two rules are
about rendered bytes (a feed's size, an article's size).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

from feedsvc.content.model import Article, Snapshot
from feedsvc.content.yamlfile import read_yaml_file
from feedsvc.feeds.body import article_html
from feedsvc.feeds.document import MAX_ITEM_HTML
from feedsvc.feeds.render import render_feed
from feedsvc.feeds.spec import feed_items, main_feed, popular_feed
from feedsvc.problems import Problem

LineOf = Callable[[str, str], int | None]  # (file, field) -> line


@dataclass(frozen=True, slots=True)
class Profile:
    """One platform's rules; 0 or ``None`` means the platform states none."""

    name: str
    title: str
    min_image_side: int  # px on the smallest side of the declared image size
    min_items: int  # items the main feed should carry
    max_new_items: int | None  # new articles the platform reads per fetch
    min_summary_chars: int  # the excerpt shown beside the headline
    max_feed_bytes: int | None
    max_article_bytes: int | None
    wants_author: bool  # a byline per article (dc:creator / author)
    wants_websub: bool  # updates pushed to a hub


PROFILES: dict[str, Profile] = {
    "flipboard": Profile(
        name="flipboard",
        title="Flipboard",
        # about.flipboard.com/rss-spec: "At least one image per article, no less
        # than 400px in the smallest dimension", included with Media RSS.
        min_image_side=400,
        # about.flipboard.com/rss-spec: "At least 30 items."
        min_items=30,
        max_new_items=None,
        # about.flipboard.com/rss-spec: <description> "should contain at least
        # 300 characters" (the excerpt in layout view).
        min_summary_chars=300,
        max_feed_bytes=None,
        max_article_bytes=None,
        # about.flipboard.com/rss-spec: <dc:creator> "highly recommended".
        wants_author=True,
        # about.flipboard.com/rss-spec: "Updates pushed via PubSubHubbub".
        wants_websub=True,
    ),
    "google-news": Profile(
        name="google-news",
        title="Google News",
        # support.google.com/news/producer/answer/4304250 ("Large images"): "The
        # shortest side of an image should be 800px"; Media RSS recommended.
        min_image_side=800,
        min_items=0,
        # support.google.com/news/publisher-center/answer/9545420: "Up to 60 new
        # articles per fetch".
        max_new_items=60,
        min_summary_chars=0,
        # support.google.com/news/publisher-center/answer/9545420: "Size limit:
        # 1 MB per article and 2 MB per feed."
        max_feed_bytes=2 * 1000 * 1000,
        max_article_bytes=1 * 1000 * 1000,
        # support.google.com/news/publisher-center/answer/9545420: "provide full
        # articles"; bylines are part of Google News' transparency guidance.
        wants_author=True,
        wants_websub=False,
    ),
}


def yaml_lines(path: str, field: str) -> int | None:
    """The line of a top-level ``field`` in the YAML file at ``path`` (read once)."""
    return _lines_of(path).get(field)


@functools.lru_cache(maxsize=1024)
def _lines_of(path: str) -> dict[str, int]:
    parsed = read_yaml_file(path, path)[0]
    return dict(parsed.lines) if parsed is not None else {}


def profile_problems(
    snapshot: Snapshot, profile: Profile, site_path: str, line_of: LineOf = yaml_lines
) -> list[Problem]:
    """Every way the served content falls short of ``profile``, as warnings."""
    problems = [
        Problem(source, field, f"{profile.title}: {message}", line_of(source, field), "warning")
        for source, field, message in _shortfalls(snapshot, profile, site_path)
    ]
    return problems


Shortfall = tuple[str, str, str]  # file, field, message


def _shortfalls(snapshot: Snapshot, profile: Profile, site_path: str) -> Iterator[Shortfall]:
    yield from _feed_shortfalls(snapshot, profile, site_path)
    for article in snapshot.articles:
        yield from _article_shortfalls(snapshot, article, profile)


def _feed_shortfalls(snapshot: Snapshot, profile: Profile, site: str) -> Iterator[Shortfall]:
    """Item counts, WebSub and the rendered size of the main and popular feeds."""
    main = main_feed(snapshot)
    count = len(feed_items(snapshot, main))
    if count < profile.min_items:
        yield (
            site,
            "items_per_feed",
            (f"the main feed carries {count} items; at least {profile.min_items} are asked for"),
        )
    per_feed = snapshot.site.items_per_feed
    if profile.max_new_items and per_feed > profile.max_new_items:
        yield (
            site,
            "items_per_feed",
            (
                f"{per_feed} items per feed; at most {profile.max_new_items} new articles are read "
                "per fetch"
            ),
        )
    if profile.wants_websub and not snapshot.site.websub_hub:
        yield site, "websub_hub", "not set; updates are asked to be pushed to a WebSub hub"
    if profile.max_feed_bytes:
        for spec in (main, popular_feed(snapshot)):
            for fmt, body in render_feed(snapshot, spec).bodies.items():
                if len(body) > profile.max_feed_bytes:
                    yield (
                        site,
                        spec.url_path(fmt),
                        (f"{len(body):,} bytes; a feed may be at most {profile.max_feed_bytes:,}"),
                    )


def _article_shortfalls(
    snapshot: Snapshot, article: Article, profile: Profile
) -> Iterator[Shortfall]:
    """Image, byline, excerpt and full content of one article."""
    source = article.source
    if profile.min_image_side:
        yield from _image_shortfalls(article, profile)
    if profile.wants_author and not article.author:
        yield source, "author", f"no byline; items go out as by {snapshot.site.author!r}"
    summary = len(article.summary)
    if summary < profile.min_summary_chars:
        yield (
            source,
            "summary",
            (
                f"{summary} characters; an excerpt of at least "
                f"{profile.min_summary_chars} is asked for"
            ),
        )
    if not article.body.strip():
        yield source, "body", "empty; the full article is asked for, not a summary"
        return
    url = snapshot.site.article_url(quote(article.slug, safe="-"))  # as feed items: one cache
    size = len(article_html(article, url).encode("utf-8"))
    if profile.max_article_bytes and size > profile.max_article_bytes:
        yield (
            source,
            "body",
            (f"{size:,} bytes of HTML; an article may be at most {profile.max_article_bytes:,}"),
        )
    elif size > MAX_ITEM_HTML:
        yield (
            source,
            "body",
            (
                f"{size:,} bytes of HTML, over the {MAX_ITEM_HTML:,} an item carries in full: "
                "feeds send a summary and a link, and the full article is asked for"
            ),
        )


def _image_shortfalls(article: Article, profile: Profile) -> Iterator[Shortfall]:
    wanted = profile.min_image_side
    image = article.image
    if image is None:
        yield article.source, "image", f"no image; one of at least {wanted} px is asked for"
    elif image.width is None or image.height is None:
        yield (
            article.source,
            "image",
            (
                "size not declared; give width and height "
                f"(at least {wanted} px on the smallest side)"
            ),
        )
    elif min(image.width, image.height) < wanted:
        yield (
            article.source,
            "image",
            (
                f"{image.width}x{image.height} px; at least {wanted} px on the smallest side "
                "is asked for"
            ),
        )


def site_file(content_dir: str) -> str:
    """How problems name ``site.yaml`` (as ``feedsvc check`` names its folder)."""
    return os.path.normpath(os.path.join(content_dir, "site.yaml"))
