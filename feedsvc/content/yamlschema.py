"""YAML 1.2 core-schema scalars, and the fast path's assembly of plain values.

:class:`ContentYamlLoader` reads scalars as YAML 1.2 does (see
:mod:`feedsvc.content.yamlfile`). The functions below build the common
article shapes straight from libyaml's events: plain scalars, flat mappings
(``image:``) and lists of scalars or flat mappings (``tags:``,
``attachments:``). Anything else raises :class:`NotSimple`, and the full
loader decides, so results and messages are always the full loader's.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import yaml
from yaml.events import (
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from feedsvc.content.budgets import MAX_NUMBER_DIGITS

if TYPE_CHECKING:
    _YamlBase = yaml.CSafeLoader
else:  # libyaml is ~10x faster; PyYAML may be built without it
    _YamlBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ContentYamlLoader(_YamlBase):
    """Safe YAML loader with YAML 1.2 core-schema scalars (see module docstring)."""


_NULL, _BOOL, INT_TAG = "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int"
ContentYamlLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    (_NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (INT_TAG, r"^[-+]?(?:0|[1-9][0-9]*)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
):
    ContentYamlLoader.add_implicit_resolver(_tag, re.compile(_pattern), _first)
_RESOLVERS: dict[str, list[tuple[str, re.Pattern[str]]]] = ContentYamlLoader.yaml_implicit_resolvers


class NotSimple(Exception):
    """The document is not of the simple shapes above: use the full loader."""


def plain_scalar(value: str) -> Any:
    """An untagged plain scalar, resolved as :class:`ContentYamlLoader` would.

    Only null, bool, int and str are built here (their constructors are
    exact one-liners); floats and merge keys go to the full loader.
    """
    for tag, pattern in _RESOLVERS.get(value[:1], ()):
        if pattern.match(value):
            if tag == _NULL:
                return None
            if tag == _BOOL:
                return value.lower() == "true"
            if tag == INT_TAG:
                if len(value) > MAX_NUMBER_DIGITS:
                    raise NotSimple  # the full loader words it, with its line
                return int(value)
            raise NotSimple
    return value


def scalar_value(event: ScalarEvent) -> Any:
    """An untagged, unanchored scalar's value, as the full loader would build it."""
    if event.tag is not None or event.anchor is not None:
        raise NotSimple
    # Quoted and block scalars without a tag are always strings.
    return plain_scalar(event.value) if event.implicit[0] else event.value


def _flat_mapping(next_event: Any) -> tuple[dict[str, Any], int]:
    """The rest of a mapping of plain values (an ``image:``), with its node count."""
    mapping: dict[str, Any] = {}
    while type(event := next_event()) is ScalarEvent:
        key, value = scalar_value(event), next_event()
        if type(key) is not str or key in mapping or type(value) is not ScalarEvent:
            raise NotSimple  # the full loader decides (and words duplicates)
        mapping[key] = scalar_value(value)
    if type(event) is not MappingEndEvent:
        raise NotSimple
    return mapping, 1 + 2 * len(mapping)


def simple_value(event: Any, next_event: Any) -> tuple[Any, int]:
    """A scalar, a flat mapping or a list of scalars and flat mappings (``attachments:``),
    with its node count; anything else is not simple."""
    kind = type(event)
    if kind is ScalarEvent:
        return scalar_value(event), 1
    if kind not in (MappingStartEvent, SequenceStartEvent) or event.tag or event.anchor:
        raise NotSimple
    if kind is MappingStartEvent:
        return _flat_mapping(next_event)
    items: list[Any] = []
    nodes = 1
    while type(event := next_event()) is not SequenceEndEvent:
        if type(event) is MappingStartEvent and not (event.tag or event.anchor):
            item, count = _flat_mapping(next_event)
        elif type(event) is ScalarEvent:
            item, count = scalar_value(event), 1
        else:
            raise NotSimple
        items.append(item)
        nodes += count
    return items, nodes
