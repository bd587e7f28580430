"""``site.yaml`` ``tag_redirects`` and ``retired_tags``: what a tag's old URLs answer.

Public URLs are forever, so a tag's feeds outlive its articles (see
:mod:`feedsvc.feeds.served_tags`). A newsroom that renames or merges a tag
moves its subscribers with ``tag_redirects: {old: new}`` (every URL of the
old tag answers 308 to the same URL of the new one), and one that drops a
tag on purpose says so with ``retired_tags: [old]`` (410 Gone, which feed
readers take as "unsubscribe").

Tags are named by any spelling (matched by slug). A bad rule is reported as
an error (``feedsvc check`` fails) and ignored; the other rules and every
other setting still apply, so a typo here never stops the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from feedsvc.content.yamlfile import shown, shown_key
from feedsvc.problems import Problem
from feedsvc.text import tag_slug

REDIRECTS = "tag_redirects"
RETIRED = "retired_tags"
KEYS = (REDIRECTS, RETIRED)


def _slug_of(value: Any) -> str:
    """The slug a rule names, or ``""`` when it names no tag."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return tag_slug(str(value))


def _retired(raw: Any, path: str, problems: list[Problem]) -> list[str]:
    """Slugs of ``retired_tags`` (a list of tag names)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(Problem(path, RETIRED, "must be a list of tag names"))
        return []
    slugs: list[str] = []
    for index, name in enumerate(raw):
        slug = _slug_of(name)
        if not slug:
            problems.append(Problem(path, f"{RETIRED}[{index}]", f"names no tag: {shown(name)}"))
        elif slug not in slugs:
            slugs.append(slug)
    return slugs


def _redirects(raw: Any, path: str, problems: list[Problem]) -> dict[str, str]:
    """Slug -> slug of ``tag_redirects`` (a mapping of old name to new name)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(Problem(path, REDIRECTS, "must be a mapping of old tag: new tag"))
        return {}
    moves: dict[str, str] = {}
    for old, new in raw.items():
        field = f"{REDIRECTS}.{shown_key(old)}"
        source, target = _slug_of(old), _slug_of(new)
        if not source:
            problems.append(Problem(path, field, "names no tag"))
        elif not target:
            problems.append(Problem(path, field, f"must name the new tag, got {shown(new)}"))
        elif source == target:
            problems.append(Problem(path, field, f"redirects the tag to itself ({target})"))
        elif source in moves:
            problems.append(Problem(path, field, f"is redirected twice (as {source})"))
        else:
            moves[source] = target
    return moves


def _drop_bad_moves(
    moves: dict[str, str], retired: list[str], path: str, problems: list[Problem]
) -> dict[str, str]:
    """Moves that land on a tag that is served: no chains, no cycles, no retired ends."""
    kept: dict[str, str] = {}
    for source, target in moves.items():
        field = f"{REDIRECTS}.{source}"
        if source in retired:
            problems.append(Problem(path, field, "is also in retired_tags: choose one"))
        elif target in retired:
            problems.append(Problem(path, field, f"points to {target}, which is retired"))
        elif target in moves:
            end = moves[target]
            what = "a cycle" if end == source else f"a chain; point it at {end} directly"
            problems.append(
                Problem(path, field, f"points to {target}, which is itself redirected: {what}")
            )
        else:
            kept[source] = target
    return kept


def tag_rule_values(data: Mapping[Any, Any], path: str) -> tuple[dict[str, Any], list[Problem]]:
    """The :class:`~feedsvc.content.site.SiteSettings` values of the tag rules, and problems.

    ``tag_redirects`` becomes sorted ``(old slug, new slug)`` pairs and
    ``retired_tags`` sorted slugs (tuples: the settings are frozen and hashed).
    """
    problems: list[Problem] = []
    retired = _retired(data.get(RETIRED), path, problems)
    moves = _drop_bad_moves(_redirects(data.get(REDIRECTS), path, problems), retired, path,
                            problems)  # fmt: skip
    values = {"tag_redirects": tuple(sorted(moves.items())), "retired_tags": tuple(sorted(retired))}
    return values, problems
