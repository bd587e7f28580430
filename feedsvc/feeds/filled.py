"""A feed's template and the bytes served from it, kept once.

Why: the feed cache held every feed it served twice: as its *template*
(:data:`~feedsvc.feeds.document.BASE_TOKEN` wherever the base URL goes,
kept so that another base URL or a reload costs no render) and as the
*variant* served (the template with the request's base URL filled in).
Nearly every feed is served under one base URL only, so the two were the
same bytes but for the URL: at 100k articles, after 1,800 cold feeds, ~28
of the cache's ~56 MB (bench/README.md, "memory4"). A template now keeps the
bytes of the first base URL it was filled for (:class:`Filled`) and where
each token stood; that base URL's variant serves that very ``bytes`` object,
and the template bytes or another base URL's bytes are spliced back from it
(byte for byte what :meth:`bytes.replace` on the template gives).
"""

from __future__ import annotations

import hashlib
import json
from array import array
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape as xml_escape

from feedsvc.feeds.document import BASE_TOKEN

TOKEN = BASE_TOKEN.encode()


def template_digest(template: bytes) -> str:
    """The template's hash as the Last-Modified ledger keys it (the token bytes)."""
    return hashlib.blake2b(template, digest_size=12).hexdigest()


def base_replacement(fmt: str, base_url: str) -> bytes:
    """What stands for the token in ``fmt``: the base URL escaped for JSON or XML."""
    if fmt == "json":
        return json.dumps(base_url, ensure_ascii=False)[1:-1].encode("utf-8")
    return xml_escape(base_url, {'"': "&quot;"}).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Filled:
    """A template filled for one base URL, remembering where its tokens were."""

    body: bytes  # the template with ``replacement`` at every token
    replacement: bytes
    offsets: array[int]  # where each token started in the template's bytes
    template_hash: str  # template_digest of the template's bytes

    def under(self, replacement: bytes) -> bytes:
        """The template filled with ``replacement``: :attr:`body` itself when it is
        the one kept (no copy), else spliced from it."""
        if replacement == self.replacement:
            return self.body
        view, kept, shift = memoryview(self.body), len(self.replacement), 0
        pieces: list[bytes | memoryview] = []
        start = 0
        for offset in self.offsets:
            at = offset + shift  # the token's place in body, after the earlier ones
            pieces += (view[start:at], replacement)
            start = at + kept
            shift += kept - len(TOKEN)
        pieces.append(view[start:])
        return b"".join(pieces)

    @property
    def template(self) -> bytes:
        """The template's bytes, as rendered."""
        return self.under(TOKEN)


def fill_at_tokens(template: bytes, replacement: bytes) -> Filled:
    """``template`` with ``replacement`` at every token (as ``bytes.replace`` does:
    left to right, never overlapping), and the tokens' offsets."""
    offsets: array[int] = array("q")
    at = template.find(TOKEN)
    while at >= 0:
        offsets.append(at)
        at = template.find(TOKEN, at + len(TOKEN))
    body = template.replace(TOKEN, replacement)
    return Filled(body, replacement, offsets, template_digest(template))


Stored = bytes | Filled  # bytes: rendered, not served yet; Filled: served for one base URL


@dataclass(frozen=True, slots=True)
class Template:
    """One feed in the formats rendered so far, as the feed cache keeps it.

    Immutable: a format added or filled makes a new entry (:meth:`with_format`),
    swapped in where the old one stood.
    """

    stored: dict[str, Stored]  # format name -> its template, rendered or filled
    updated: datetime  # the content date the feed was built from

    @property
    def bodies(self) -> dict[str, bytes]:
        """Format name -> template bytes (with the token); spliced back, so not for hot paths."""
        return {
            fmt: kept.template if isinstance(kept, Filled) else kept
            for fmt, kept in self.stored.items()
        }

    def template_hash(self, fmt: str) -> str:
        """:func:`template_digest` of ``fmt``'s template: kept once filled, else computed."""
        kept = self.stored[fmt]
        return kept.template_hash if isinstance(kept, Filled) else template_digest(kept)

    @property
    def size(self) -> int:
        """Approximate memory held (a filled body is counted here and by its variant)."""
        total = 512
        for kept in self.stored.values():
            total += (
                len(kept.body) + len(kept.offsets) * 8 if isinstance(kept, Filled) else len(kept)
            )
        return total

    def with_format(self, fmt: str, kept: Stored) -> Template:
        """This entry with ``fmt`` stored as ``kept``."""
        return Template({**self.stored, fmt: kept}, self.updated)
