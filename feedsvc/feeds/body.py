"""An article's body as feeds and pages carry it: sanitised HTML, absolute URLs.

The Markdown is rendered and sanitised once per edit (cached by the text
reference), then shared by every feed the article is in and every format.
With a durable state, rendered bodies are kept there too
(:mod:`feedsvc.feeds.rendered`), so a restart renders no body again.
The article's image, made absolute, leads the body as a figure (with its alt
text and caption); its attachments are made absolute here too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from html import escape
from urllib.parse import quote, urljoin

from feedsvc.content.model import Article, Attachment, Image, Snapshot
from feedsvc.content.textstore import get_text
from feedsvc.feeds.markdown import render_body
from feedsvc.feeds.rendered import RenderedBodies
from feedsvc.text import is_absolute_http_url

_kept: RenderedBodies | None = None


def keep_rendered_bodies(bodies: RenderedBodies | None) -> None:
    """Look rendered bodies up in ``bodies`` (and keep new ones there); ``None``: render only.

    Process-wide, like the LRU in front of it: a body's key says everything
    it depends on, so whichever service set it, a hit is the right HTML.
    """
    global _kept
    _kept = bodies


# Rendered bodies kept in memory, most recently used, bounded by their size:
# this LRU is outside FEEDSVC_CACHE_MB, so a count bound (4,096 bodies, ~10 MB
# at 100k articles, far more with big articles) did not bound memory. Hot feeds
# re-render from it after a reload; anything else is one store query a feed.
BODY_CACHE_BYTES = 2 * 1024 * 1024
ENTRY_OVERHEAD = 200  # a key tuple, its URL's share, the str header, the dict slot


class _Bodies:
    """The LRU in front of the rendered-body store, keyed by (text reference, URL).

    Not ``functools.lru_cache``: :func:`prefetch_bodies` fills it for a whole
    feed at once (one query to the store instead of one per article); and it
    is bounded by bytes, not entries. A body bigger than the whole bound is
    not kept at all.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self._found: OrderedDict[tuple[int, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, str]) -> str | None:
        with self._lock:
            html = self._found.get(key)
            if html is not None:
                self._found.move_to_end(key)
            return html

    def put(self, key: tuple[int, str], html: str) -> None:
        cost = len(html) + ENTRY_OVERHEAD
        if cost > self.max_bytes:
            return
        with self._lock:
            previous = self._found.pop(key, None)
            if previous is not None:
                self.used -= len(previous) + ENTRY_OVERHEAD
            self._found[key] = html
            self.used += cost
            while self.used > self.max_bytes:
                _, dropped = self._found.popitem(last=False)
                self.used -= len(dropped) + ENTRY_OVERHEAD


_bodies = _Bodies(BODY_CACHE_BYTES)


def _body_html(text_ref: int, url: str) -> str:
    html = _bodies.get((text_ref, url))
    if html is None:
        source = get_text(text_ref)[1]
        kept = _kept
        html = render_body(source, url) if kept is None else kept.html(url, source)
        _bodies.put((text_ref, url), html)
    return html


def prefetch_bodies(wanted: Sequence[tuple[Article, str]]) -> None:
    """Have the bodies of (article, URL) pairs in memory: one store query for those missing.

    Before a feed's items are built: a cold tag feed's bodies are seldom in
    memory, and looking them up one at a time cost ~75 us each at 100k.
    """
    kept = _kept
    todo = [(a.text_ref, url) for a, url in wanted if _bodies.get((a.text_ref, url)) is None]
    if kept is None or len(todo) < 2:
        return
    sources = [(url, get_text(ref)[1]) for ref, url in todo]
    for key, html in zip(todo, kept.many(sources), strict=True):
        _bodies.put(key, html)


def body_url(snapshot: Snapshot, article: Article) -> str:
    """The URL an article's body is made absolute against (its page on the news site)."""
    return snapshot.site.article_url(quote(article.slug, safe="-"))


def article_html(article: Article, url: str) -> str:
    """An article's body as sanitised HTML, absolute against its ``url``.

    Cached because feeds overlap: one article appears in the main feed, its
    tag feeds and the popular feed, in three formats each. Keyed by the text
    reference (a new one for every edit), so a cache hit reads nothing from
    the text store and the cache holds rendered HTML only, not the Markdown.
    """
    return _body_html(article.text_ref, url)


def absolute_url(value: str, base: str) -> str | None:
    """``value`` as an absolute http(s) URL (relative to ``base``), or ``None``."""
    if not is_absolute_http_url(value):
        value = urljoin(base, value)
    return value if is_absolute_http_url(value) else None


def article_image(article: Article, url: str) -> Image | None:
    """The article's image with an absolute http(s) URL (relative to ``url``), or ``None``."""
    image = article.image
    absolute = absolute_url(image.url, url) if image else None
    return replace(image, url=absolute) if image and absolute else None


def article_attachments(article: Article, url: str) -> tuple[Attachment, ...]:
    """The article's attachments with absolute URLs; one that has none is left out."""
    found = ((a, absolute_url(a.url, url)) for a in article.attachments)
    return tuple(replace(a, url=absolute) for a, absolute in found if absolute)


def figure_html(image: Image) -> str:
    """The image as the figure leading an item: alt text, and the caption if any."""
    caption = f"<figcaption>{escape(image.caption, quote=False)}</figcaption>"
    return (
        f'<figure><img src="{escape(image.url)}" alt="{escape(image.alt)}">'
        f"{caption if image.caption else ''}</figure>"
    )


def item_html(article: Article, url: str, image: Image | None) -> str:
    """The HTML a feed item carries: the image as a leading figure, then the body."""
    content = article_html(article, url)
    return figure_html(image) + content if image else content
