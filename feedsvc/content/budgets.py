"""Every limit a content file is read within, in one place.

Content is edited by people and written by tools; either may produce a file
that a naive reader would take minutes or gigabytes over (a YAML alias
bomb, a 5,000-digit number, a FIFO where a file was). Each content file is
read within a :class:`Budget`; going over it is a problem naming the file
(``path:line: field: message``), never an exception, a hang or a crash.

========================  =================  ==================================
limit                     value              why
========================  =================  ==================================
article file size         1 MiB              ``$FEEDSVC_MAX_ARTICLE_KB``; the
                                             longest demo article is 4.5 KB, a
                                             very long read ~100 KB of YAML
``site.yaml`` size        256 KiB            a dozen settings and their notes
``popularity.yaml`` size  64 MiB             ~30 bytes per slug: 2M articles
nodes (aliases expanded)  20,000 / 2,000 /   an article is ~10 fields and a
                          4,000,000          few dozen tags; popularity.yaml
                                             is two nodes per article
nesting depth             16                 articles nest two levels
digits of a number        30                 views fit in 20; Python refuses
                                             more than 4,300 (uncaught: crash)
a value shown in a        60 characters      a message names the value, it
message                                      does not print it
a message                 400 characters     the last resort (``Problem``)
========================  =================  ==================================

Only regular files are read (never a FIFO, a device or a folder), and a
symlink only when its target resolves inside the content folder: see
:mod:`feedsvc.content.yamlfile`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

KIB = 1024
MIB = 1024 * KIB

MAX_NUMBER_DIGITS = 30  # digits (and sign) of a YAML integer
MAX_DEPTH = 16  # nesting of mappings and sequences, the document itself being 1
MAX_SHOWN_CHARS = 60  # of a value repeated in a message (see yamlfile.shown)


@dataclass(frozen=True, slots=True)
class Budget:
    """What reading one kind of content file may cost."""

    kind: str  # for messages: "article", "site.yaml", "popularity.yaml"
    max_bytes: int  # the file's size, checked before it is read
    max_nodes: int  # scalars, sequences and mappings, every alias expanded
    max_depth: int = MAX_DEPTH

    def with_max_bytes(self, max_bytes: int) -> Budget:
        """This budget with another size limit (a deployment's setting)."""
        return Budget(self.kind, max_bytes, self.max_nodes, self.max_depth)


ARTICLE = Budget("article", 1 * MIB, 20_000)
SITE = Budget("site.yaml", 256 * KIB, 2_000)
POPULARITY = Budget("popularity.yaml", 64 * MIB, 4_000_000, 4)


def article_budget(max_kib: int | None) -> Budget:
    """The article budget with a deployment's size limit (``None``: the default)."""
    return ARTICLE if max_kib is None else ARTICLE.with_max_bytes(max_kib * KIB)


class OverBudget(Exception):
    """A document over its :class:`~feedsvc.content.budgets.Budget` (message, line)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


def check_digits(value: str, mark: Any) -> None:
    """A number too long to convert safely (Python refuses > 4,300 digits) is refused."""
    if len(value) > MAX_NUMBER_DIGITS:
        line = mark.line + 1 if mark is not None else None
        raise OverBudget(f"a number of {len(value)} characters (limit {MAX_NUMBER_DIGITS})", line)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def over_budget(root: yaml.Node, budget: Budget) -> OverBudget | None:
    """What in the node graph goes over ``budget``, counting every alias expanded.

    Iterative, and each distinct node is visited once (its expanded size
    remembered), so an alias bomb costs its size on disk, not its expansion.
    """
    sizes: dict[int, tuple[int, int]] = {}  # id -> (expanded values, depth)
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key, line = id(node), node.start_mark.line + 1
        if children_done:
            open_nodes.discard(key)
            below = [sizes[id(child)] for child in _children(node)]
            size = 1 + sum(s for s, _ in below)
            depth = 1 + max((d for _, d in below), default=0)
            if size > budget.max_nodes:
                return OverBudget(
                    f"holds more than {budget.max_nodes} values once aliases are expanded "
                    f"(limit for {budget.kind})",
                    line,
                )
            if depth > budget.max_depth:
                return OverBudget(f"is nested deeper than {budget.max_depth} levels", line)
            sizes[key] = (size, depth)
        elif key in open_nodes:
            return OverBudget("an alias refers to the value that contains it", line)
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return None
