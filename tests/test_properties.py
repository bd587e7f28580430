"""Property tests (hypothesis): any text, any sequence of edits.

1. Arbitrary Unicode (control characters, astral characters, markup, very
   long strings) in every article field is either rejected by the loader with
   a message naming the file and field, or gives feeds that are well-formed,
   parse without bozo and keep every item.
2. Any sequence of edits to a content directory (writes, breaks, truncations,
   deletions, renames, site.yaml and popularity.yaml changes), with reloads in
   between, ends in byte-identical feeds to a fresh load of the same folder,
   once the files left are valid; while some are broken, the reloaded feeds
   are the fresh ones plus the broken files' last good articles.

Example counts stay moderate so each property runs in a few seconds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from feedcheck import parse_feed
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import SITE, article, write_yaml

from feedsvc.content.loader import ContentLoader
from feedsvc.feeds.spec import all_feeds, feed_items
from feedsvc.feeds.urls import FORMATS
from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
BASE = "https://feeds.example.test/sub"
PROPERTY = settings(
    max_examples=int(os.environ.get("FEEDSVC_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Text an editor (or a hostile paste) might produce: any code point but
# surrogates, weighted towards the characters that break feeds.
HAZARDS = ["]]>", "&", "<", ">", "&amp;", "<script>alert(1)</script>", "<b>", "</p>", "\x00",
           "\x0b", "\x1b", "\x7f", "\x85", "\ufeff", "\ufffe", "\uffff", "\u2028", "😀",
           "\U0010fffd", "북한", "'", '"', "\\", "\n", "\r\n", "\t", "#", ": ", "- ", "---",
           "{{", "%", "javascript:", "<![CDATA[", "<!--", "&#0;", "&#xD800;"]  # fmt: skip
any_text = st.lists(
    st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(HAZARDS)), max_size=40
).map("".join)
long_text = st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=8), st.integers(500, 4000))
field_text = st.one_of(any_text, st.sampled_from(HAZARDS), long_text)


@contextmanager
def content_dir() -> Iterator[Path]:
    """A fresh content folder per example (pytest's tmp_path is per test)."""
    folder = Path(tempfile.mkdtemp(prefix="feedsvc-prop-"))
    try:
        root = folder / "content"
        write_yaml(root / "site.yaml", SITE)
        (root / "articles").mkdir()
        yield root
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def all_bodies(service: FeedService) -> dict[tuple[str, str], bytes]:
    """Every feed in every format, as served under :data:`BASE`."""
    view = service.catalog
    return {
        (spec.key, fmt.name): service.variant(view, BASE, spec, fmt).body
        for spec in view.feeds.values()
        for fmt in FORMATS.values()
    }


@pytest.mark.slow
@PROPERTY
@given(
    title=field_text,
    summary=field_text,
    author=field_text,
    body=field_text,
    tags=st.lists(field_text, max_size=4),
    image=st.one_of(field_text, st.just("https://img.test/a b<c>.jpg")),
    raw=st.booleans(),
)
def test_any_text_in_any_field_is_rejected_clearly_or_served_well_formed(
    title: str, summary: str, author: str, body: str, tags: list[str], image: str, raw: bool
):
    with content_dir() as root:
        path = root / "articles" / "story.yaml"
        fields: dict[str, Any] = {
            "title": title, "published": "2025-06-01T12:00:00Z", "summary": summary,
            "author": author, "body": body, "tags": tags, "image": image,
        }  # fmt: skip
        if raw:  # text pasted into the file as is, not escaped by a YAML writer
            path.write_bytes(
                "".join(f"{key}: {value}\n" for key, value in fields.items()).encode(
                    "utf-8", "surrogatepass"
                )
            )
        else:
            write_yaml(path, fields)
        service = FeedService(
            ServiceSettings(content_dir=root, reload_interval=0), clock=lambda: NOW
        )
        snapshot = service.catalog.snapshot
        event(f"raw={raw} {'served' if snapshot.articles else 'rejected'}")
        if not snapshot.articles:
            errors = [p for p in snapshot.errors if p.path.endswith("story.yaml")]
            assert errors, f"rejected without a message: {snapshot.problems}"
            for problem in errors:
                assert problem.field and problem.message
                event(f"rejected: {problem.field}: {problem.message[:40]}")
            return
        for spec in all_feeds(snapshot):
            expected = {f"articles/{a.slug}" for a in feed_items(snapshot, spec)}
            for fmt in FORMATS.values():
                feed_body = service.variant(service.catalog, BASE, spec, fmt).body
                parsed = parse_feed(feed_body, fmt.name)  # well-formed, no bozo, schema-valid
                got = {e.id.split(":", 2)[2] for e in parsed.entries}
                assert got == expected, (spec.key, fmt.name)


# -- any sequence of edits ----------------------------------------------------

SLUGS = ["a", "b", "c", "d"]
TAG_NAMES = ["North Korea", "north korea", "China", "Health", "북한"]


def article_data(seed: int) -> dict[str, Any]:
    """A valid article whose fields all depend on ``seed``."""
    return article(
        f"Story {seed} & <more> ]]>",
        f"2025-{seed % 12 + 1:02d}-{seed % 27 + 1:02d}T{seed % 24:02d}:00:00+09:00",
        tags=[TAG_NAMES[seed % 5], TAG_NAMES[(seed // 5) % 5]],
        views=seed * 7 % 100,
        draft=seed % 11 == 0,
        body=f"Body {seed} [link](/x/{seed}) ![i](img/{seed}.png)",
    )


operation = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(SLUGS), st.integers(0, 200)),
    st.tuples(st.just("break"), st.sampled_from(SLUGS), st.integers(0, 2)),
    st.tuples(st.just("delete"), st.sampled_from(SLUGS), st.just(0)),
    st.tuples(st.just("rename"), st.sampled_from(SLUGS), st.integers(0, len(SLUGS) - 1)),
    st.tuples(st.just("site"), st.just(""), st.integers(1, 4)),
    st.tuples(st.just("popularity"), st.just(""), st.integers(0, 3)),
    st.tuples(st.just("reload"), st.just(""), st.just(0)),
)
BROKEN = [b"", b'title: "unclosed\n', b"title: Cut\npublished: 2025-13-40T00:00:00Z\n"]


def apply(root: Path, op: tuple[str, str, int], broken: set[str]) -> None:
    kind, slug, value = op
    articles = root / "articles"
    path = articles / f"{slug}.yaml"
    if kind == "write":
        write_yaml(path, article_data(value))
        broken.discard(slug)
    elif kind == "break":
        path.write_bytes(BROKEN[value])
        broken.add(slug)
    elif kind == "delete":
        path.unlink(missing_ok=True)
        broken.discard(slug)
    elif kind == "rename":
        target = SLUGS[value]
        if path.exists() and target != slug:
            path.replace(articles / f"{target}.yaml")
            broken.discard(target)
            if slug in broken:
                broken.discard(slug)
                broken.add(target)
    elif kind == "site":
        write_yaml(root / "site.yaml", {**SITE, "items_per_feed": value, "title": f"Site {value}"})
    elif kind == "popularity":
        if value == 0:
            (root / "popularity.yaml").unlink(missing_ok=True)
        else:
            write_yaml(root / "popularity.yaml", {s: value * (i + 1) for i, s in enumerate(SLUGS)})


@pytest.mark.slow
@PROPERTY
@given(
    start=st.lists(st.tuples(st.sampled_from(SLUGS), st.integers(0, 200)), max_size=4),
    ops=st.lists(operation, min_size=1, max_size=12),
)
def test_any_edits_then_a_reload_equal_a_fresh_load(start, ops):
    with content_dir() as root:
        for slug, seed in start:
            write_yaml(root / "articles" / f"{slug}.yaml", article_data(seed))
        settings_ = ServiceSettings(content_dir=root, reload_interval=0)
        live = FeedService(settings_, clock=lambda: NOW)
        broken: set[str] = set()
        for op in ops:
            if op[0] == "reload":
                live.reload()
            else:
                apply(root, op, broken)
        live.reload()
        event(f"{len(live.catalog.snapshot.articles)} articles, {len(broken)} broken")
        # While files are broken, the live service serves their last good articles.
        kept = {a.slug for a in live.catalog.snapshot.articles} - {
            a.slug for a in ContentLoader(root).load(NOW).articles
        }
        assert kept <= broken
        # Fix what is broken: now a reload and a fresh load must agree byte for byte.
        for index, slug in enumerate(sorted(broken)):
            write_yaml(root / "articles" / f"{slug}.yaml", article_data(1000 + index))
        live.reload()
        # The tags ever served are served too (empty feeds): the fresh load
        # reads them from the live service's state, as a restart would.
        fresh = FeedService(settings_, clock=lambda: NOW, state=live.state)
        assert all_bodies(live) == all_bodies(fresh)
        assert live.catalog.snapshot.version == fresh.catalog.snapshot.version
        assert not [
            p for p in live.catalog.snapshot.problems if p not in fresh.catalog.snapshot.problems
        ]


def test_yaml_written_by_a_yaml_writer_round_trips_hazardous_text():
    """The raw=False branch above relies on this: PyYAML escapes what it must."""
    text = "".join(HAZARDS)
    assert yaml.safe_load(yaml.safe_dump({"t": text}, allow_unicode=True))["t"] == text
