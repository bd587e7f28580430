"""An article's body as feeds and pages carry it: sanitised HTML, absolute URLs.

The Markdown is rendered and sanitised once per edit (cached by the text
reference), then shared by every feed the article is in and every format.
The article's image, made absolute, leads the body as a figure.
"""

from __future__ import annotations

import functools
from html import escape
from urllib.parse import urljoin

from feedsvc.content.model import Article
from feedsvc.content.textstore import get_text
from feedsvc.text import is_absolute_http_url, render_body


@functools.lru_cache(maxsize=4096)
def _body_html(text_ref: int, url: str) -> str:
    return render_body(get_text(text_ref)[1], url)


def article_html(article: Article, url: str) -> str:
    """An article's body as sanitised HTML, absolute against its ``url``.

    Cached because feeds overlap: one article appears in the main feed, its
    tag feeds and the popular feed, in three formats each. Keyed by the text
    reference (a new one for every edit), so a cache hit reads nothing from
    the text store and the cache holds rendered HTML only, not the Markdown.
    """
    return _body_html(article.text_ref, url)


def article_image(article: Article, url: str) -> str | None:
    """The article's image as an absolute http(s) URL (relative to ``url``), or ``None``."""
    image = article.image
    if image and not is_absolute_http_url(image):
        image = urljoin(url, image)
        image = image if is_absolute_http_url(image) else None
    return image or None


def item_html(article: Article, url: str, image: str | None) -> str:
    """The HTML a feed item carries: the image as a leading figure, then the body."""
    content = article_html(article, url)
    if image:
        content = f'<figure><img src="{escape(image)}" alt=""></figure>{content}'
    return content
