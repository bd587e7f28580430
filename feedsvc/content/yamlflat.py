"""The commonest article shape read line by line, without a YAML parser.

A cold start at 100k articles is parse-bound (~0.13 ms a file, 40 % of it
libyaml's events turned into Python objects). Nearly every article is the
same flat shape: ``key: value`` lines at column 0 with plain, double- or
single-quoted one-line scalars, one-line flow lists of such scalars
(``tags: [a, "b"]``) and literal blocks (``body: |``). This module reads
exactly that shape with string operations, several times faster, and
answers ``None`` for *anything* else (a tab, a carriage return, a comment
after a value, an escape, a folded or indented-indicator block, a nested
mapping, an anchor, a float, ...): the caller then parses the document with
libyaml as before (:mod:`feedsvc.content.yamlfile`), so every message and
every unusual document is still the YAML loader's.

What it does build must be what the loader builds (values, key lines,
duplicate keys): plain scalars are resolved by the same function
(:func:`~feedsvc.content.yamlschema.scalar_value`'s ``plain_scalar``), and
``tests/test_content_yamlfile.py`` holds the two equal on generated
documents full of YAML's traps and on every generated article.
"""

from __future__ import annotations

import re
from typing import Any

from feedsvc.content.yamlschema import NotSimple, plain_scalar

# Characters after which this reader does not trust itself: YAML gives them
# meaning (tabs, line breaks other than \n, a BOM) or refuses them (controls).
_AWKWARD = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
_ASCII_TRUSTED = bytes(range(0x20, 0x7F)) + b"\n"
# A top-level key: a plain word (it resolves to a string, checked below).
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_-]{0,63}):(?: +|$)")
# The words _KEY matches that YAML 1.2 does not resolve to a string (null and
# bool: int, float and merge keys cannot start with a letter or "_"), so that
# a key is checked without resolving it (tests hold this equal to plain_scalar).
_NOT_STRING_KEYS = frozenset(
    {"null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"}
)
# First characters of a plain scalar with a meaning in YAML (indicators).
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
# A plain item of a flow list: no indicator first, nothing flow-special inside.
_FLOW_PLAIN = re.compile(r"[^\s\-?:,\[\]{}#&*!|>'\"%@`][^,\[\]{}#:'\"]*")

Flat = tuple[dict[str, Any], dict[str, int], list[tuple[str, int]]]


class _Other(Exception):
    """Not the flat shape: the YAML loader decides."""


def parse_flat(text: str, max_nodes: int, *, flat_safe: bool = False) -> Flat | None:
    """The document's mapping, the line of each key and the keys written twice;
    ``None`` when it is not the flat shape (see the module docstring) or has more
    than ``max_nodes`` values. ``flat_safe``: the caller has seen that ``text`` is
    printable ASCII and ``\\n`` only (nothing :func:`_awkward` looks for)."""
    if not flat_safe and _awkward(text):
        return None
    lines = text.split("\n")
    data: dict[str, Any] = {}
    key_lines: dict[str, int] = {}
    duplicates: list[tuple[str, int]] = []
    nodes, index, count = 1, 0, len(lines)
    try:
        while index < count:
            line = lines[index]
            first = line[:1]
            if first == " " and line.strip(" "):
                return None  # an indented line outside a block
            if first in ("", " ", "#"):
                index += 1  # a blank line or a comment line
                continue
            match = _KEY.match(line)
            if match is None:
                return None
            key, number = match.group(1), index + 1
            if key in _NOT_STRING_KEYS:
                return None  # true:, null: ... are not string keys
            text_after = line[match.end() :].rstrip(" ")
            value, used, index = _value(text_after, lines, index, max_nodes - nodes)
            nodes += 1 + used
            if nodes > max_nodes:
                return None
            if key in key_lines:
                duplicates.append((key, number))
            key_lines[key] = number
            data[key] = value
    except (_Other, NotSimple):
        return None
    return (data, key_lines, duplicates) if data else None


def _awkward(text: str) -> bool:
    """Whether ``text`` holds a character of :data:`_AWKWARD` (ASCII text, nearly
    every article, is checked by a byte translation: ~10x cheaper than the regex)."""
    if text.isascii():
        return bool(text.encode("ascii").translate(None, _ASCII_TRUSTED))
    return _AWKWARD.search(text) is not None


def _value(text: str, lines: list[str], index: int, max_items: int) -> tuple[Any, int, int]:
    """The value written after a key on ``lines[index]``, how many nodes it has
    (a list of more than ``max_items`` is left to the loader's budget), and the
    index of the line after it."""
    first = text[:1]
    if first in ("|", ">"):
        return _block(text, lines, index)
    if index + 1 < len(lines) and lines[index + 1][:1] == " ":
        _no_continuation(lines, index + 1)  # only indented lines can continue it
    if first == "[":
        items = _flow_list(text, max_items)
        return items, 1 + len(items), index + 1
    return _scalar(text, block=True), 1, index + 1


def _no_continuation(lines: list[str], index: int) -> None:
    """A one-line value must not go on over indented lines (a plain scalar would).

    Looks at the blank lines after it, by index (each line is looked at by at
    most one value: linear even for 4 million ``slug: views`` lines)."""
    for position in range(index, len(lines)):
        line = lines[position]
        if line[:1] != " ":
            return
        if line.strip(" "):
            raise _Other


def _scalar(text: str, *, block: bool) -> Any:
    """A quoted or plain one-line scalar (``block``: a top-level value, else a flow item)."""
    first = text[:1]
    if first == '"':
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != '"' or '"' in inner or "\\" in inner:
            raise _Other
        return inner
    if first == "'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != "'" or "'" in inner.replace("''", ""):
            raise _Other
        return inner.replace("''", "'")
    if not text or first in _INDICATORS:
        raise _Other
    if block:
        if " #" in text or ": " in text or text[-1] == ":":
            raise _Other
    elif _FLOW_PLAIN.fullmatch(text) is None:
        raise _Other
    return plain_scalar(text)


def _flow_list(text: str, max_items: int) -> list[Any]:
    """``[a, "b", 'c']`` on one line: its items (none empty, nothing nested; at most
    ``max_items``). Read by index, never by copying the rest of the line."""
    if text[-1] != "]":
        raise _Other
    inner = text[1:-1]
    if not inner.strip(" "):
        return []
    items: list[Any] = []
    position, end = 0, len(inner)
    while position <= end:
        if len(items) >= max_items:
            raise _Other
        start = position
        while start < end and inner[start] == " ":
            start += 1
        quote = inner[start : start + 1]
        if quote in ('"', "'"):
            close = _closing_quote(inner, start, quote)
            item_text = inner[start : close + 1]
            after = inner.find(",", close + 1)
            between = inner[close + 1 : end if after < 0 else after]
            if between.strip(" "):
                raise _Other
        else:
            after = inner.find(",", start)
            item_text = inner[start : end if after < 0 else after].rstrip(" ")
        items.append(_scalar(item_text, block=False))
        if after < 0:
            break
        position = after + 1
    return items


def _closing_quote(text: str, start: int, quote: str) -> int:
    """Where the quoted item opened at ``start`` closes (``''`` inside single quotes is a quote)."""
    position = start + 1
    while True:
        close = text.find(quote, position)
        if close < 0:
            raise _Other
        if quote == "'" and text[close + 1 : close + 2] == "'":
            position = close + 2
            continue
        return close


def _block(header: str, lines: list[str], index: int) -> tuple[str, int, int]:
    """A block scalar under ``lines[index]``: literal (``|`` keeps one final line break,
    ``|-`` none), or folded (``>``, ``>-``) when every line is text at one indentation
    (then its lines are joined by spaces; blank or deeper lines fold otherwise)."""
    if header not in ("|", "|-", ">", ">-"):
        raise _Other
    body: list[str] = []
    indent, pad = 0, ""
    position = index + 1
    count = len(lines)
    while position < count:  # each line looked at once, copied once (bodies are long)
        line = lines[position]
        if not line:
            if not indent:
                raise _Other  # leading blank lines: rare
            body.append("")
        elif line[0] != " ":
            break  # the next key (or a comment) at column 0
        elif not indent:
            text = line.lstrip(" ")
            if not text:
                raise _Other  # a leading blank line of spaces
            indent, pad = len(line) - len(text), line[: len(line) - len(text)]
            body.append(text)
        elif line.startswith(pad):
            text = line[indent:]
            if text[:1] == " " and not text.strip(" "):
                raise _Other  # a blank line with spaces that are content: rare
            body.append(text)
        elif line.strip(" "):
            raise _Other  # less indented than the block, not at column 0
        else:
            body.append("")  # a blank line of fewer spaces than the block's
        position += 1
    while body and not body[-1]:
        body.pop()
    if not body:
        raise _Other
    last = index + len(body)  # the index of the block's last line with text
    broken = len(header) == 1 and last + 1 < count  # clipped, and that line ends with a break
    end = "\n" if broken else ""
    if header[0] == "|":
        return "\n".join(body) + end, 1, position
    if any(not line or line[0] == " " or line[-1] == " " for line in body):
        raise _Other  # folding keeps breaks around blank and deeper lines: the loader's job
    return " ".join(body) + end, 1, position
