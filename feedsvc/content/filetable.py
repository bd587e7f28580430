"""What the loader remembers of each article file, in a compact table.

At 100k files an object per file (its entry, its name, its signature as an
int of ~260 bits, a dict slot) was ~25 MB (bench/README.md, "Memory at
100k"). Here a file is a *row*: a position in a few parallel arrays, found
by one dict lookup. Nearly every file is named after its article's slug
(``slug.yaml``): such a row is keyed by the article's own slug string, which
exists anyway, so its name is not kept at all and is made again when asked
for. Every other file (an odd name such as ``Big.yaml`` or ``x.yml``, or a
file with no article yet) is keyed by its name in a second, small dict.

Signatures are kept as fixed-width bytes in one ``bytearray``; problems
only for the rows that have some; the lint lines as the shared tuples they
already are. :class:`FileEntry` is the view of one row that callers read
(made when asked for; never stored).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass

from feedsvc.content.model import DEFAULT_SUFFIX, Article
from feedsvc.content.signatures import Signature
from feedsvc.problems import Problem

# Bytes a signature takes in the table: it is below 2**264 (four 64-bit
# fields shifted left by one, see :func:`~.signatures.signature_of`).
SIGNATURE_BYTES = 33
_CUT = -len(DEFAULT_SUFFIX)


@dataclass(slots=True)
class FileEntry:
    """What the loader remembers about one article file between reloads."""

    signature: Signature
    article: Article | None  # last good version, kept while the file is broken
    problems: tuple[Problem, ...]
    # Lines of LINT_FIELDS in the served version: a small tuple, not the
    # parser's dict (100k dicts are ~100 MB).
    lines: tuple[int | None, ...] = ()


def named_after(name: str, article: Article | None) -> bool:
    """Whether ``name`` is ``slug.yaml`` for its article (a row keyed by the slug)."""
    return article is not None and name.endswith(DEFAULT_SUFFIX) and name[:_CUT] == article.slug


class FileTable:
    """Every known article file's row, found by file name (see the module docstring).

    Not thread-safe (the loader's lock).
    """

    def __init__(self) -> None:
        self._by_slug: dict[str, int] = {}  # rows of files named slug.yaml, by the article's slug
        self._by_name: dict[str, int] = {}  # every other row, by file name
        self._names: dict[int, str] = {}  # the file name of each row in _by_name
        self._articles: list[Article | None] = []
        self._lines: list[tuple[int | None, ...]] = []
        self._problems: dict[int, tuple[Problem, ...]] = {}  # rows with problems only
        self._signatures = bytearray()
        self._free: list[int] = []  # rows of forgotten files, reused first
        self.signature = self._signature_lookup()

    def __len__(self) -> int:
        return len(self._by_slug) + len(self._by_name)

    def __iter__(self) -> Iterator[str]:
        """Every known file's name."""
        yield from (slug + DEFAULT_SUFFIX for slug in self._by_slug)
        yield from self._by_name

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.row(name) is not None

    def row(self, name: str) -> int | None:
        """The row of file ``name``, if known."""
        if name.endswith(DEFAULT_SUFFIX):
            row = self._by_slug.get(name[:_CUT])
            if row is not None:
                return row
        return self._by_name.get(name)

    def _signature_lookup(self) -> Callable[[str], Signature | None]:
        """:attr:`signature`: the one lookup a poll makes for every file (100k
        times at 100k articles), as a closure over the table's containers
        (which are never replaced), with no method call inside."""
        by_slug, by_name, signatures = self._by_slug.get, self._by_name.get, self._signatures
        from_bytes, width, suffix, cut = int.from_bytes, SIGNATURE_BYTES, DEFAULT_SUFFIX, _CUT

        def signature(name: str) -> Signature | None:
            """The signature file ``name`` was applied with (``None``: not known)."""
            row = by_slug(name[:cut]) if name.endswith(suffix) else None
            if row is None:
                row = by_name(name)
                if row is None:
                    return None
            start = row * width
            return from_bytes(signatures[start : start + width], "little")

        return signature

    def get(self, name: str) -> FileEntry | None:
        """File ``name``'s entry (a view made now), if known."""
        row = self.row(name)
        return None if row is None else self.entry_at(row)

    def entry_at(self, row: int) -> FileEntry:
        """The entry of a row (a view made now)."""
        start = row * SIGNATURE_BYTES
        signature = int.from_bytes(self._signatures[start : start + SIGNATURE_BYTES], "little")
        return FileEntry(
            signature, self._articles[row], self._problems.get(row, ()), self._lines[row]
        )

    def article_at(self, row: int) -> Article | None:
        """The article a row keeps (without making its entry)."""
        return self._articles[row]

    def problems_at(self, row: int) -> tuple[Problem, ...]:
        """The problems a row keeps."""
        return self._problems.get(row, ())

    def named_after_slugs(self, skip: Container[str] = ()) -> list[Article]:
        """The article of every file named after its slug, but for the slugs in ``skip``
        (a list made in one pass: the loader's rebuilds take every article)."""
        articles = self._articles
        if not skip:
            return [articles[row] for row in self._by_slug.values()]  # type: ignore[misc]
        return [articles[row] for slug, row in self._by_slug.items() if slug not in skip]  # type: ignore[misc]

    def lines_at(self, row: int) -> tuple[int | None, ...]:
        """The lint lines a row keeps."""
        return self._lines[row]

    def name_at(self, row: int) -> str:
        """The file name of a row."""
        name = self._names.get(row)
        if name is not None:
            return name
        article = self._articles[row]
        assert article is not None  # a row without a name is keyed by its article's slug
        return article.slug + DEFAULT_SUFFIX

    def articles(self) -> Iterator[Article]:
        """Every row's article (drafts, future and colliding ones included)."""
        return (article for article in self._articles if article is not None)

    def problems(self) -> Iterator[tuple[Problem, ...]]:
        """Every row's problems (rows without any left out)."""
        return iter(self._problems.values())

    def put(self, name: str, entry: FileEntry) -> None:
        """Remember ``entry`` for file ``name`` (replacing what was kept)."""
        row = self.row(name)
        if row is None:
            row = self._new_row()
        elif named_after(name, self._articles[row]) != named_after(name, entry.article):
            self._unkey(name, row)  # keyed again below, the other way
        else:
            self._fill(row, entry)
            return
        self._fill(row, entry)
        if named_after(name, entry.article):
            assert entry.article is not None
            self._by_slug[entry.article.slug] = row  # the article's own string
        else:
            self._by_name[name] = row
            self._names[row] = name

    def add_new(
        self,
        name: str,
        signature: Signature,
        article: Article | None,
        problems: tuple[Problem, ...],
        lines: tuple[int | None, ...],
    ) -> None:
        """:meth:`put` for a file not known yet (a first load, 100k times): no
        lookup, no entry object. The caller knows ``name`` is new."""
        if self._free:  # rows to reuse: not the case this is made for
            self.put(name, FileEntry(signature, article, problems, lines))
            return
        row = len(self._articles)
        self._articles.append(article)
        self._lines.append(lines)
        if problems:
            self._problems[row] = problems
        self._signatures += signature.to_bytes(SIGNATURE_BYTES, "little")
        if article is not None and name.endswith(DEFAULT_SUFFIX) and name[:_CUT] == article.slug:
            self._by_slug[article.slug] = row
        else:
            self._by_name[name] = row
            self._names[row] = name

    def remove(self, name: str) -> None:
        """Forget file ``name`` (deleted)."""
        row = self.row(name)
        if row is None:
            return
        self._unkey(name, row)
        self._articles[row] = None
        self._lines[row] = ()
        self._problems.pop(row, None)
        self._free.append(row)

    def replace_articles(self, moved: dict[int, Article]) -> None:
        """Give rows new article objects with the same slug (``moved``: row -> article)."""
        for row, article in moved.items():
            self._articles[row] = article

    def rows_with_articles(self) -> Iterator[tuple[int, Article]]:
        """Every row that keeps an article, with it."""
        return ((row, a) for row, a in enumerate(self._articles) if a is not None)

    def _unkey(self, name: str, row: int) -> None:
        article = self._articles[row]
        if named_after(name, article):
            assert article is not None
            del self._by_slug[article.slug]
        else:
            del self._by_name[name]
            del self._names[row]

    def _new_row(self) -> int:
        if self._free:
            return self._free.pop()
        row = len(self._articles)
        self._articles.append(None)
        self._lines.append(())
        self._signatures.extend(bytes(SIGNATURE_BYTES))
        return row

    def _fill(self, row: int, entry: FileEntry) -> None:
        self._articles[row] = entry.article
        self._lines[row] = entry.lines
        if entry.problems:
            self._problems[row] = entry.problems
        else:
            self._problems.pop(row, None)
        start = row * SIGNATURE_BYTES
        self._signatures[start : start + SIGNATURE_BYTES] = entry.signature.to_bytes(
            SIGNATURE_BYTES, "little"
        )
