"""Load results packed in chunks: how load workers send them and the parse cache keeps them.

A *chunk* is the results of reading a few hundred article files, in two
``bytes``: their texts (summaries and bodies, as the text store keeps them)
one after the other, and the results pickled, each article's text reference
pointing into that first blob (:func:`~feedsvc.content.textstore.chunk_reference`).

Why one format for both: a worker process cannot append to the parent's
text store once its name is gone (and a worker started from a forkserver
never had it), and the parse cache must keep the texts anyway. Unpacking a
chunk stores its texts with one write and turns the relative references into
real ones while unpickling, so no article is made twice; a cache hit and a
fresh read come out of the same function.

Tags and time zones are unpickled as the process's shared instances
(:func:`~feedsvc.content.fields.shared`), as everywhere else.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import threading
from datetime import timezone
from operator import attrgetter
from typing import Any

from feedsvc.content.fields import shared
from feedsvc.content.model import Article, Tag
from feedsvc.content.textstore import chunk_reference, encode_text, ensure_store, put_chunk
from feedsvc.problems import Problem

# (article or None, its problems, the lines of the requested fields)
LoadResult = tuple[Article | None, tuple[Problem, ...], tuple[int | None, ...]]
# (texts, pickled results): see the module docstring
Chunk = tuple[bytes, bytes]
# The result for a file read again with the very bytes its served article was
# made from (a checkout or ``touch``): not parsed; the caller keeps what it has.
# No real result looks like it: a file without an article has problems, and
# lines are never negative.
UNCHANGED: LoadResult = (None, (), (-1,))


def is_unchanged(result: LoadResult) -> bool:
    """Whether ``result`` is :data:`UNCHANGED` (also once pickled and back)."""
    return result[0] is None and result[2] == UNCHANGED[2]


_FIELDS = tuple(field.name for field in dataclasses.fields(Article))
_TEXT = _FIELDS.index("text_ref")
_VALUES = attrgetter(*_FIELDS)
_base = threading.local()  # the real reference of the chunk being unpacked, by thread


class TextCollector:
    """The texts of one chunk, collected as articles are made (``put`` of
    :func:`~feedsvc.content.article.load_article_file`)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0

    def put(self, summary: str, body: str) -> int:
        """Keep an article's texts; returns its reference within the chunk."""
        return self.add(encode_text(summary, body))

    def add(self, data: bytes) -> int:
        """Keep texts already encoded; returns their reference within the chunk."""
        reference = chunk_reference(self._size, len(data))
        self._parts.append(data)
        self._size += len(data)
        return reference

    def blob(self) -> bytes:
        """Every text kept, in order."""
        return b"".join(self._parts)


# The shared instances by their pickled arguments: a tuple of strings hashes in C,
# where a Tag (a dataclass) hashes and compares in Python (1.4 s of a 100k restart).
_TAGS: dict[tuple[str, str], Tag] = {}
_ZONES: dict[tuple[Any, ...], timezone] = {}


def _shared_tag(name: str, slug: str) -> Tag:
    tag = _TAGS.get((name, slug))
    if tag is None:  # bounded like shared(): by the distinct tags in the content
        tag = _TAGS[name, slug] = shared(Tag(name=name, slug=slug))
    return tag


def _shared_zone(*args: Any) -> timezone:
    zone = _ZONES.get(args)
    if zone is None:
        zone = _ZONES[args] = shared(timezone(*args))
    return zone


def _rebased_article(*values: Any) -> Article:
    """An article unpickled from a chunk: its text reference made real."""
    fields = list(values)
    fields[_TEXT] += _base.value
    return Article(*fields)


class _ChunkPickler(pickle.Pickler):
    """Pickles results for a chunk; with ``texts``, copies each article's texts
    from the text store into it (results read in this process)."""

    def __init__(self, file: io.BytesIO, texts: TextCollector | None) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._texts = texts

    def reducer_override(self, obj: Any) -> Any:  # called for every non-builtin object
        kind = type(obj)
        if kind is Tag:
            return _shared_tag, (obj.name, obj.slug)
        if kind is timezone:
            reduced = obj.__reduce__()  # as pickle rebuilds a zone: (type, its arguments)
            assert isinstance(reduced, tuple)
            return _shared_zone, reduced[1]
        if kind is Article:
            values = _VALUES(obj)  # every field in one C call (a worker pickles 100k of them)
            if self._texts is not None:
                fields = list(values)
                fields[_TEXT] = self._texts.add(ensure_store().get(obj.text_ref))
                values = tuple(fields)
            return _rebased_article, values
        return NotImplemented


def pack(results: list[LoadResult], texts: TextCollector | None = None) -> Chunk:
    """A chunk of ``results``: their texts from ``texts`` (a worker's collector, whose
    references the articles hold), or by default copied from the text store."""
    collector = TextCollector() if texts is None else texts
    buffer = io.BytesIO()
    _ChunkPickler(buffer, None if texts is not None else collector).dump(results)
    return collector.blob(), buffer.getvalue()


def unpack(chunk: Chunk) -> list[LoadResult]:
    """The results of a chunk, their texts stored (one write) and referred to."""
    texts, packed = chunk
    return unpack_at(put_chunk(texts) if texts else 0, packed)


def unpack_at(base: int, packed: bytes) -> list[LoadResult]:
    """The pickled results of a chunk whose texts :func:`put_chunk` stored at ``base``."""
    _base.value = base
    try:
        results: list[LoadResult] = pickle.loads(packed)
    finally:
        del _base.value
    return results
