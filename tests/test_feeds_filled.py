"""A feed held once for its template and its variant: the bytes must be exactly
what filling the template with ``bytes.replace`` gives, under any base URL."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from feedsvc.content.loader import ContentLoader
from feedsvc.feeds.cache import FeedCache, fill_base
from feedsvc.feeds.filled import TOKEN, Filled, fill_at_tokens
from feedsvc.feeds.render import render_feed
from feedsvc.feeds.spec import feed_fingerprint, main_feed

# Templates made of plain bytes, tokens, and near-misses of the token.
pieces = st.sampled_from([b"a", b"<link>", b"/x.xml", TOKEN, TOKEN[:-1], b"\xc3\xa9", b""])
templates = st.lists(pieces, max_size=30).map(b"".join)
replacements = st.sampled_from(
    [b"", b"https://example.test", b"https://a&amp;b", TOKEN, TOKEN + TOKEN, "é".encode()]
)


@given(templates, replacements, replacements)
def test_filled_bytes_are_the_template_replaced_under_every_base(
    template: bytes, first: bytes, other: bytes
) -> None:
    filled = fill_at_tokens(template, first)
    assert filled.body == template.replace(TOKEN, first)
    assert filled.under(first) is filled.body  # the kept base: no copy
    assert filled.under(other) == template.replace(TOKEN, other)
    assert filled.template == template


def test_a_served_feed_is_held_once_and_other_bases_get_their_own_bytes(small_content: Path):
    snapshot = ContentLoader(small_content).load()
    spec = main_feed(snapshot)
    cache = FeedCache(1 << 20)
    fingerprint = feed_fingerprint(snapshot, spec)
    render = partial(render_feed, snapshot, spec)
    rendered = render_feed(snapshot, spec, ("rss",)).bodies["rss"]

    first = cache.variant(("https://one.test", 1, spec.key, "rss"), fingerprint, "t", render)
    template = cache.templates.peek(fingerprint)
    assert template is not None
    kept = template.stored["rss"]
    assert isinstance(kept, Filled) and kept.body is first.body  # one object for both
    assert template.bodies["rss"] == rendered  # the template bytes, spliced back

    second = cache.variant(('https://two.test/a&b"', 1, spec.key, "rss"), fingerprint, "t", render)
    assert second.body == fill_base(rendered, "rss", 'https://two.test/a&b"')
    assert cache.renders == 1  # another base URL: no render
    assert first.last_modified == second.last_modified

    again = FeedCache(1 << 20)  # the validators do not depend on what was kept
    same = again.variant(("https://one.test", 1, spec.key, "rss"), fingerprint, "t", render)
    assert (same.body, same.etag, same.last_modified) == (
        first.body,
        first.etag,
        first.last_modified,
    )
