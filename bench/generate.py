"""Synthetic content for benchmarks: realistic sizes, deterministic, fast to write.

``python bench/generate.py --articles 10000 --tags 1000 --out /tmp/c10k`` writes a
content directory (``site.yaml`` + ``articles/*.yaml``) that feedsvc serves
as is. Shape, chosen to look like a real newsroom archive rather than a toy:

* Markdown bodies of 1–3 KB (paragraphs, emphasis, a relative link, sometimes
  a heading or a list), a one-sentence summary, 1–6 tags per article;
* tag popularity is Zipf-like (weight ``1/rank``): a few tags are on
  thousands of articles, most on a handful, as on real sites;
* dates spread over three years with mixed UTC offsets, all in the past;
  view counts heavy-tailed (Pareto), 1 % drafts.

The same ``--seed`` always writes the same bytes, so runs are comparable.
YAML is written by hand (JSON strings are valid YAML scalars): PyYAML's
emitter would take minutes for 100k files.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

_WORD_TEXT = (
    "the of and to in a is that for on with as was at by an be this from are have "
    "has its their which government minister said officials talks summit border "
    "security economy trade market policy leaders region report analysis week "
    "year new first after before during against between under over while since "
    "president parliament election vote court ruling agency sources statement "
    "military defence missile launch sanctions diplomacy meeting agreement "
    "health hospital patients care doctors study research data energy climate "
    "city residents local national international foreign domestic public "
    "private company industry workers prices inflation growth exports imports "
    "shipping port rail road bridge water power grid network digital online "
    "school students teachers families children community village farmers "
    "harvest weather storm flood drought season festival culture museum film "
    "music sport team match league record crowd visit delegation envoy embassy"
)
WORDS = _WORD_TEXT.split()
OFFSETS = [timezone(timedelta(hours=h)) for h in (0, 9, 8, -5, 1, 5.5)]
ANCHOR = datetime(2025, 12, 31, 12, 0, tzinfo=UTC)  # all content is in the past

SITE_YAML = """\
title: {title}
description: Synthetic content for feedsvc benchmarks.
site_url: https://bench.example.com
language: en
author: Bench Desk
id_authority: bench.example.com,2025
items_per_feed: {items}
popular:
  items: {popular}
cache_max_age: 300
"""


def sentence(rng: random.Random, low: int = 8, high: int = 22) -> str:
    """A capitalised sentence of random words."""
    words = rng.choices(WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize() + "."


def tag_names(count: int, rng: random.Random) -> list[str]:
    """Distinct, human-looking tag names ("Harvest Summit 12"), most popular first."""
    names: list[str] = []
    seen: set[str] = set()
    for index in itertools.count():
        if len(names) == count:
            break
        first, second = rng.choice(WORDS), rng.choice(WORDS)
        name = f"{first.capitalize()} {second.capitalize()}"
        if index >= count // 2:
            name += f" {index}"
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


def markdown_body(rng: random.Random, size: int, slugs: list[str]) -> str:
    """Markdown of about ``size`` bytes: paragraphs, emphasis, a link, sometimes a list."""
    parts: list[str] = []
    length = 0
    while length < size:
        roll = rng.random()
        if roll < 0.08 and parts:
            block = "## " + sentence(rng, 3, 7).rstrip(".")
        elif roll < 0.16:
            block = "\n".join(f"- {sentence(rng, 4, 10)}" for _ in range(rng.randint(2, 4)))
        else:
            sentences = [sentence(rng) for _ in range(rng.randint(2, 5))]
            if rng.random() < 0.5:
                i = rng.randrange(len(sentences))
                sentences[i] = f"**{sentences[i]}**"
            if slugs and rng.random() < 0.4:
                sentences.append(f"See [related coverage](/articles/{rng.choice(slugs)}).")
            block = " ".join(sentences)
        parts.append(block)
        length += len(block) + 2
    return "\n\n".join(parts)


def article_yaml(
    rng: random.Random,
    index: int,
    tags: list[str],
    cum_weights: list[float],
    body_size: int,
    drafts: bool = True,
) -> str:
    """One article file's text."""
    published = ANCHOR - timedelta(minutes=rng.randrange(3 * 365 * 24 * 60))
    published = published.astimezone(rng.choice(OFFSETS)).replace(microsecond=0)
    wanted = rng.randint(1, 6)
    chosen: list[str] = []
    while len(chosen) < min(wanted, len(tags)):
        tag = rng.choices(tags, cum_weights=cum_weights)[0]
        if tag not in chosen:
            chosen.append(tag)
    body = markdown_body(rng, body_size, [f"a{rng.randrange(max(index, 1)):06d}"])
    lines = [
        f"title: {json.dumps(sentence(rng, 5, 11).rstrip('.'))}",
        f"published: {published.isoformat()}",
    ]
    if rng.random() < 0.2:
        lines.append(f"updated: {(published + timedelta(hours=rng.randint(1, 48))).isoformat()}")
    lines += [
        f"tags: {json.dumps(chosen)}",
        f"summary: {json.dumps(sentence(rng, 15, 30))}",
        f"views: {int(rng.paretovariate(1.2) * 100)}",
    ]
    if rng.random() < 0.01 and drafts:
        lines.append("draft: true")
    lines.append("body: |")
    lines.extend(("  " + line) if line else "" for line in body.split("\n"))
    return "\n".join(lines) + "\n"


def write_content(
    root: Path,
    articles: int,
    tags: int,
    *,
    seed: int = 1,
    body_bytes: tuple[int, int] = (1000, 3000),
    items_per_feed: int = 20,
    popular_items: int = 10,
    title: str = "Bench Times",
    drafts: bool = True,
) -> Path:
    """Write a content directory at ``root`` (created; existing articles are replaced)."""
    rng = random.Random(seed)
    names = tag_names(tags, rng)
    cum_weights = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(names))))
    articles_dir = root / "articles"
    articles_dir.mkdir(parents=True, exist_ok=True)
    for old in articles_dir.glob("*.yaml"):
        old.unlink()
    (root / "site.yaml").write_text(
        SITE_YAML.format(title=title, items=items_per_feed, popular=popular_items),
        encoding="utf-8",
    )
    for index in range(articles):
        # One generator per article: its text depends on (seed, index) only, and
        # a larger body size only appends, so sizes can be fitted smoothly.
        article_rng = random.Random(seed * 1_000_003 + index)
        size = round(body_bytes[0] + article_rng.random() * (body_bytes[1] - body_bytes[0]))
        text = article_yaml(article_rng, index, names, cum_weights, size, drafts)
        (articles_dir / f"a{index:06d}.yaml").write_text(text, encoding="utf-8")
    return root


def main(argv: list[str] | None = None) -> int:
    """Command line: write a synthetic content directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--items-per-feed", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    write_content(
        args.out, args.articles, args.tags, seed=args.seed, items_per_feed=args.items_per_feed
    )
    print(
        f"wrote {args.articles} articles with {args.tags} tags to {args.out} "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
