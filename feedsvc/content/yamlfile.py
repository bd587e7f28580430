"""Reading one YAML content file: bytes to a mapping plus the line of each key.

YAML is read with YAML 1.2 scalars: ``yes``/``no``/``on``/``off`` stay text
(a tag called "No" must not become ``False``), ``1:20`` is not sexagesimal,
``007`` is not octal, and dates stay text so that ``published`` is checked by
the loader, with the file's line number, instead of failing the whole file.

Speed matters here because a big site's start-up is almost entirely this
module (100k files). libyaml (PyYAML's C parser) does all the parsing. The
common article shape (a mapping of scalars, lists of scalars and flat
mappings such as ``image:``, lists of those such as ``attachments:``; no
tags, anchors or deeper nesting) is then assembled straight from libyaml's
events (:mod:`feedsvc.content.yamlschema`, with the YAML 1.2 scalars),
which costs a third less than PyYAML's node graph and generic constructor;
anything else (or any error) goes through the full constructor, so the
result and every error message are exactly the full loader's.
"""

from __future__ import annotations

import os
import re
import reprlib
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    StreamEndEvent,
)

from feedsvc.content.budgets import (
    ARTICLE,
    MAX_SHOWN_CHARS,
    Budget,
    OverBudget,
    check_digits,
    over_budget,
)
from feedsvc.content.reading import Refused, read_content_file
from feedsvc.content.yamlflat import parse_flat
from feedsvc.content.yamlschema import (
    INT_TAG,
    ContentYamlLoader,
    NotSimple,
    scalar_value,
    simple_value,
)
from feedsvc.problems import Problem

_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Characters YAML refuses in a stream; they are removed (with a warning)
# instead of rejecting the whole file over an invisible character.
_STREAM_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_ASCII_STREAM_OK = bytes(range(0x20, 0x7F)) + b"\t\n\r"
# Bytes of a file that decodes as it is, has nothing to remove and nothing
# yamlflat distrusts (its ASCII check): nearly every article, checked once.
_ASCII_FLAT = bytes(range(0x20, 0x7F)) + b"\n"

_short = reprlib.Repr()
_short.maxlevel, _short.maxstring, _short.maxother = 2, MAX_SHOWN_CHARS, MAX_SHOWN_CHARS
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 4


def shown(value: Any) -> str:
    """A bounded ``repr`` for messages (a YAML alias bomb must not print for ever)."""
    return _short.repr(value)


def shown_key(key: Any) -> str:
    """A mapping key as messages name it: as written, cut short when long."""
    text = key if isinstance(key, str) else shown(key)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."


@dataclass(slots=True)
class ParsedYaml:
    """A parsed YAML document plus the line of each top-level key.

    ``escapes`` is False when the text has no backslash: then no value can
    hold a character that was not in the (already cleaned) text, so callers
    may skip cleaning each value again.
    """

    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    duplicate_keys: list[tuple[str, int]] = field(default_factory=list)
    escapes: bool = True

    def field_at(self, line: int) -> str:
        """The top-level key whose value spans ``line`` (for messages)."""
        best, best_line = "(file)", 0
        for key, key_line in self.lines.items():
            if best_line < key_line <= line:
                best, best_line = key, key_line
        return best


def decode_bytes(raw: bytes, path: str) -> tuple[str | None, list[Problem]]:
    """Decode a content file: UTF-8 (BOM allowed), or UTF-16/32 with a BOM."""
    try:
        if raw.startswith(_UTF32_BOMS):
            return raw.decode("utf-32"), []
        if raw.startswith(_UTF16_BOMS):
            return raw.decode("utf-16"), []
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [
            Problem(
                path,
                "(file)",
                f"is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                "save it as UTF-8",
                line,
            )
        ]


def _parse_simple(text: str, max_nodes: int = ARTICLE.max_nodes) -> ParsedYaml | None:
    """The document as a mapping of plain values (see :func:`simple_value`), straight
    from libyaml's events; or ``None`` when it is anything else, does not parse or
    has more than ``max_nodes`` values (the full loader then decides, and words the error)."""
    loader = ContentYamlLoader(text)
    next_event = loader.get_event
    nodes = 1
    try:
        next_event()  # stream start
        if type(next_event()) is not DocumentStartEvent:
            return None
        event = next_event()
        if type(event) is not MappingStartEvent or event.tag is not None or event.anchor:
            return None
        parsed = ParsedYaml({})
        data, lines = parsed.data, parsed.lines
        while type(event := next_event()) is not MappingEndEvent:
            if type(event) is not ScalarEvent:
                return None
            key = scalar_value(event)
            if type(key) is not str:
                return None
            mark = event.start_mark
            assert mark is not None  # the parser marks every event it emits
            line = mark.line + 1
            value, count = simple_value(next_event(), next_event)
            nodes += 1 + count
            if nodes > max_nodes:
                return None
            if key in lines:
                parsed.duplicate_keys.append((key, line))
            lines[key] = line
            data[key] = value
        if type(next_event()) is not DocumentEndEvent or type(next_event()) is not StreamEndEvent:
            return None  # several documents: the full loader says so
        return parsed
    except (NotSimple, yaml.YAMLError):
        return None
    finally:
        loader.dispose()


def parse_yaml(
    text: str, path: str, budget: Budget = ARTICLE, *, flat_safe: bool = False
) -> tuple[ParsedYaml | None, list[Problem]]:
    """Parse one YAML document within ``budget``, keeping key line numbers for messages.

    Three tiers, cheapest first, each answering only what it is sure of: the
    flat article shape read line by line (:mod:`.yamlflat`), plain values from
    libyaml's events, then PyYAML's full loader (which words every error).
    ``flat_safe``: the caller saw that ``text`` is printable ASCII and line
    breaks (see :func:`~.yamlflat.parse_flat`).
    """
    flat = parse_flat(text, budget.max_nodes, flat_safe=flat_safe)
    if flat is not None:
        return ParsedYaml(flat[0], flat[1], flat[2], "\\" in text), []
    simple = _parse_simple(text, budget.max_nodes)
    if simple is not None:
        simple.escapes = "\\" in text
        return simple, []
    return _parse_full(text, path, budget)


def _construct_int(loader: ContentYamlLoader, node: yaml.ScalarNode) -> Any:
    check_digits(str(node.value), node.start_mark)
    return loader.construct_yaml_int(node)


ContentYamlLoader.add_constructor(INT_TAG, _construct_int)


def _parse_full(
    text: str, path: str, budget: Budget = ARTICLE
) -> tuple[ParsedYaml | None, list[Problem]]:
    """Any document, through PyYAML's composer and constructor (errors worded here)."""
    loader = ContentYamlLoader(text)
    parsed = ParsedYaml(None, escapes="\\" in text)
    try:
        node = loader.get_single_node()
        if isinstance(node, yaml.MappingNode):
            _key_lines(node, parsed)
        over = over_budget(node, budget) if node is not None else None
        if over is not None:
            raise over
        parsed.data = loader.construct_document(node) if node is not None else None
    except OverBudget as exc:
        field_name = parsed.field_at(exc.line) if exc.line else "(yaml)"
        return None, [Problem(path, field_name, exc.message, exc.line)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [Problem(path, "(yaml)", f"YAML syntax error: {reason}", line=line)]
    except RecursionError:
        return None, [Problem(path, "(yaml)", "is nested too deeply to read")]
    except Exception as exc:  # a constructor on a hostile value (!!timestamp junk, ...)
        reason = shown(str(exc)) if isinstance(exc, ValueError | OverflowError) else "malformed"
        return None, [Problem(path, "(yaml)", f"unreadable value: {reason}")]
    finally:
        loader.dispose()
    return parsed, []


def _key_lines(node: yaml.MappingNode, parsed: ParsedYaml) -> None:
    """The line of each top-level key (plain keys only: a key may be an alias bomb)."""
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        if key in parsed.lines:
            parsed.duplicate_keys.append((key, line))
        parsed.lines[key] = line


def _stream_control(text: str) -> re.Match[str] | None:
    """The first character YAML refuses in ``text``, if any. ASCII text (nearly every
    article) is checked by a byte translation first: the regex costs ~20 us a file."""
    if text.isascii() and not text.encode("ascii").translate(None, _ASCII_STREAM_OK):
        return None
    return _STREAM_CONTROLS.search(text)


# What reading a file gives: the document (None: unreadable), its bytes, its problems.
YamlRead = tuple[ParsedYaml | None, bytes, list[Problem]]


def read_yaml_file(
    path: str | os.PathLike[str],
    display: str,
    budget: Budget = ARTICLE,
    roots: tuple[str, ...] | None = None,
) -> YamlRead:
    """Read, decode and parse a YAML file within ``budget``; problems name ``display``.

    Symlinks are followed only into ``roots`` (default: the file's folder);
    see :mod:`feedsvc.content.reading`. An empty file is "not parseable yet"
    (an editor or a copy is still writing it): the caller keeps the file's
    last good version.
    """
    path = os.fspath(path)
    try:
        raw = read_content_file(path, roots or (os.path.dirname(path) or ".",), budget.max_bytes)
    except Refused as exc:
        return None, b"", [Problem(display, "(file)", str(exc))]
    except OSError as exc:
        return None, b"", [Problem(display, "(file)", f"cannot be read: {exc.strerror}")]
    if not raw.strip():
        return None, raw, [Problem(display, "(file)", "is empty (not parseable yet)")]
    first = None
    if not raw.translate(None, _ASCII_FLAT):  # nothing to decode, remove or distrust
        parsed, problems = parse_yaml(raw.decode("ascii"), display, budget, flat_safe=True)
    else:
        text, problems = decode_bytes(raw, display)
        if text is None:
            return None, raw, problems
        first = _stream_control(text)
        if first is not None:
            removed = len(_STREAM_CONTROLS.findall(text))
            first_line = text.count("\n", 0, first.start()) + 1
            text = _STREAM_CONTROLS.sub("", text)
        parsed, problems = parse_yaml(text, display, budget)
    if first is not None:
        where = parsed.field_at(first_line) if parsed is not None else "(file)"
        problems.append(
            Problem(
                display,
                where,
                f"{removed} control character(s) removed (feeds cannot carry them)",
                first_line,
                "warning",
            )
        )
    return parsed, raw, problems
