"""The article files as last applied: each file's last good article, and one file per slug.

A file that stops parsing or validating keeps its *last good* article (the
problem is reported beside it); only deleting the file removes its article.

Two files whose names differ only in case claim one slug: all of them are
reported, and the one served before stays served, else a lower-case name,
else the first by name.

Problems are kept in step in the loader's :class:`ProblemSet` as entries
change, so that a reload's work is proportional to what changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

from feedsvc.content.filetable import FileEntry, FileTable, named_after
from feedsvc.content.model import DEFAULT_SUFFIX, Article
from feedsvc.content.parallel import LoadResult, is_unchanged
from feedsvc.content.problemset import NO_PROBLEMS, ProblemSet
from feedsvc.content.signatures import Signature
from feedsvc.content.textstore import ensure_store, generation_of, text_length
from feedsvc.problems import Problem, still_serving

# The fields whose lines a file's entry keeps, for the messages of checks that
# run after reading (cross-article lint, articles dated in the future).
LINT_FIELDS = ("title", "tags", "published")

# Slugs about to change: slug -> (its changed files, the article it serves before).
BeforeChange = dict[str, tuple[list[str], Article | None]]


_SHARED_LINES: dict[tuple[int | None, ...], tuple[int | None, ...]] = {}


def _shared_lint_lines(packed: tuple[int | None, ...]) -> tuple[int | None, ...]:
    # Files written by one tool put their fields on the same lines: one shared
    # tuple per layout instead of one per file (6 MB at 100k articles).
    if len(_SHARED_LINES) < 4096:
        return _SHARED_LINES.setdefault(packed, packed)
    return _SHARED_LINES.get(packed, packed)


def slug_of(name: str) -> str:
    """The slug an article file's name gives it (as ``load_article_file`` derives it)."""
    return name.rsplit(".", 1)[0].lower()


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


class ArticleFiles:
    """Every article file's entry, and which file serves each slug.

    The entries are rows of a :class:`~.filetable.FileTable`. A slug served
    by the one file named after it (``slug.yaml``, nearly every slug) is
    found through that table; ``_slugs`` lists only the others (a slug
    claimed by an odd name such as ``x.yml``, or by several files). A
    dict of every slug was ~4 MB at 100k articles. ``display_folder`` is
    how messages name the articles folder. Not thread-safe (the loader's lock).
    """

    def __init__(self, display_folder: str, problems: ProblemSet) -> None:
        self._display_folder = display_folder
        self._problems = problems
        self._table = FileTable()  # by file name in articles/
        self._slugs: dict[str, str | list[str]] = {}  # slug -> its file(s), served first; see above
        self._collisions: dict[str, list[Problem]] = {}
        self.text_bytes = 0  # bytes of text the entries' articles hold in the text store
        self._generations: dict[int, int] = {}  # text store generation -> articles using it

    @property
    def entries(self) -> FileTable:
        """Every known file's entry, by name (what the scanner compares with)."""
        return self._table

    def display(self, name: str) -> str:
        """How messages name an article file."""
        # A string join, not a Path per file: pathlib interns every name it
        # parses, and the interning table keeps its size (MBs at 100k files).
        return os.path.join(self._display_folder, name)

    def revisions(self, names: Iterable[str]) -> dict[str, str]:
        """The revision each of ``names`` was read with, for those serving the article
        their bytes made (not a last good one kept beside a problem): a file still
        holding those bytes needs no parse (see :func:`same_bytes_same_article`)."""
        revisions: dict[str, str] = {}
        table = self._table
        for name in names:
            row = table.row(name)
            article = None if row is None else table.article_at(row)
            if row is None or article is None:
                continue
            problems = table.problems_at(row)
            if problems and problems[-1] == still_serving(self.display(name)):
                continue  # kept while broken: its revision is not the file's bytes
            revisions[name] = article.revision
        return revisions

    def report_to(self, problems: ProblemSet) -> None:
        """Count every file's and collision's problems into a fresh set, and keep it
        up to date from now on (after a load that failed half-way)."""
        self._problems = problems
        for found in self._table.problems():
            problems.add(found)
        for collision in self._collisions.values():
            problems.add(collision)

    # -- files -----------------------------------------------------------------

    def _set(self, name: str, entry: FileEntry | None) -> None:
        """Replace (or, with ``None``, forget) a file's entry, keeping problems in step."""
        old = self._table.get(name)
        if entry is None:
            self._table.remove(name)
        else:
            self._table.put(name, entry)
        old_article = old.article if old is not None else None
        new_article = entry.article if entry is not None else None
        if old_article is not new_article:
            self.text_bytes += text_length(new_article) - text_length(old_article)
            self._count_generation(new_article, 1)
            self._count_generation(old_article, -1)
        self._problems.replace(
            old.problems if old is not None else NO_PROBLEMS,
            entry.problems if entry is not None else NO_PROBLEMS,
        )

    def forget(self, name: str) -> None:
        """The file was deleted: its article goes."""
        self._set(name, None)

    def store(self, name: str, signature: Signature, result: LoadResult) -> None:
        """The file was read whole: its new article, or its last good one kept."""
        article, problems, lines = result
        entry = self._table.get(name)
        if article is None and entry is not None and entry.article is not None:
            kept = (*problems, still_serving(self.display(name)))
            self._set(name, FileEntry(signature, entry.article, kept, entry.lines))
            return
        self._set(
            name, FileEntry(signature, article, problems or NO_PROBLEMS, _shared_lint_lines(lines))
        )

    def store_first(
        self, names: list[str], signatures: Iterable[Signature], results: Iterable[LoadResult]
    ) -> None:
        """Every file of a first load at once (no entry yet): :meth:`store` and slug
        resolution without the per-file bookkeeping of a change (~1 s at 100k files)."""
        table, problems = self._table, self._problems
        assert not table
        odd: dict[str, list[str]] = {}  # slugs claimed by files not named after them
        generations: dict[int, int] = {}
        for name, signature, (article, found, lines) in zip(
            names, signatures, results, strict=True
        ):
            table.add_new(name, signature, article, found or NO_PROBLEMS, _shared_lint_lines(lines))
            if found:
                problems.add(found)
            if article is None:
                continue
            self.text_bytes += text_length(article)
            generation = generation_of(article.text_ref)
            generations[generation] = generations.get(generation, 0) + 1
            if not named_after(name, article):
                odd.setdefault(article.slug, []).append(name)
        for generation, count in generations.items():
            self._generations[generation] = count
            ensure_store().hold((generation,))
        for slug, claimed in odd.items():  # chosen as at any start: nobody served it before
            self._resolve_slug(slug, [*self._slug_files(slug), *claimed], first=True)

    def _count_generation(self, article: Article | None, step: int) -> None:
        """Hold the text store generation of an article's text while any entry uses it."""
        if article is None:
            return
        generation = generation_of(article.text_ref)
        count = self._generations.get(generation, 0) + step
        if count:
            self._generations[generation] = count
        else:
            del self._generations[generation]
        if count == (1 if step > 0 else 0):
            store = ensure_store()
            (store.hold if step > 0 else store.release)((generation,))

    def generations(self) -> list[int]:
        """The text store generations the entries' articles read from."""
        return list(self._generations)

    def moved_texts(self, moved: Mapping[int, int]) -> None:
        """The text store was compacted: every article now reads its text from ``moved``.

        Each entry gets a copy of its article with the new reference (new
        objects: the loader's indexes must be rebuilt from the entries).
        """
        copies: dict[int, Article] = {}
        for row, old in self._table.rows_with_articles():
            copies[row] = new = replace(old, text_ref=moved[old.text_ref])
            self._count_generation(new, 1)
            self._count_generation(old, -1)
        self._table.replace_articles(copies)

    def text_refs(self) -> list[int]:
        """The text reference of every entry's article (what a compaction keeps)."""
        return [article.text_ref for article in self._table.articles()]

    def all_articles(self) -> list[Article]:
        """Every file's article, drafts and future ones included (colliding ones too)."""
        return list(self._table.articles())

    # -- slugs: one article per slug ---------------------------------------------

    def _slug_files(self, slug: str) -> list[str]:
        names = self._slugs.get(slug)
        if names is None:
            own = slug + DEFAULT_SUFFIX
            return [own] if self._table.row(own) is not None else []
        return [names] if isinstance(names, str) else names

    def _served_row(self, slug: str) -> int | None:
        names = self._slugs.get(slug)
        if names is None:  # served by slug.yaml if by any file
            row = self._table.row(slug + DEFAULT_SUFFIX)
            return row if row is not None and self._table.article_at(row) is not None else None
        return self._table.row(names if isinstance(names, str) else names[0])

    def _served_name(self, slug: str) -> str | None:
        row = self._served_row(slug)
        return None if row is None else self._table.name_at(row)

    def served_article(self, slug: str) -> Article | None:
        """The article served under ``slug``, if any."""
        row = self._served_row(slug)
        return None if row is None else self._table.article_at(row)

    def served_articles(self) -> Iterator[Article]:
        """Every served article (one per slug), drafts and future ones included."""
        odd = self._slugs
        yield from self._table.named_after_slugs(odd)
        for names in odd.values():
            served = self._article_of(names if isinstance(names, str) else names[0])
            if served is not None:
                yield served

    def line_of(self, article: Article, field: str) -> int | None:
        """The line of ``field`` (one of LINT_FIELDS) in the file serving ``article``."""
        row = self._served_row(article.slug)
        lines = self._table.lines_at(row) if row is not None else ()
        index = LINT_FIELDS.index(field)
        return lines[index] if index < len(lines) else None

    def before_change(self, names: list[str]) -> BeforeChange:
        """Before changed files are applied: the slugs they claim, each with its
        changed files and the article it serves now (see :meth:`after_change`)."""
        by_slug: dict[str, list[str]] = {}
        for name in names:
            by_slug.setdefault(slug_of(name), []).append(name)
        return {slug: (changed, self.served_article(slug)) for slug, changed in by_slug.items()}

    def after_change(self, before: BeforeChange) -> list[tuple[Article | None, Article | None]]:
        """After the files are applied: choose each slug's file again, and list the
        served articles that changed as (before, after) pairs (``None``: no article)."""
        changes: list[tuple[Article | None, Article | None]] = []
        for slug, (changed_names, served) in before.items():
            self._resolve_slug(slug, [*self._slug_files(slug), *changed_names])
            after = self.served_article(slug)
            if after is not served:
                changes.append((served, after))
        return changes

    def _resolve_slug(self, slug: str, names: list[str], *, first: bool = False) -> None:
        """Choose the file serving ``slug`` among its files (``names``: maybe changed;
        ``first``: at a first load, where nobody served it before).

        ``_slugs`` lists only a slug served otherwise than by its own
        ``slug.yaml`` alone, keyed by the article's own slug string."""
        previous = None if first else self._served_name(slug)
        claims = sorted(
            {n for n in names if self._article_of(n) is not None},
            key=lambda n: (n != previous, _stem(n) != _stem(n).lower(), n),
        )
        if not claims or claims == [slug + DEFAULT_SUFFIX]:
            self._slugs.pop(slug, None)
        elif slug in self._slugs:
            self._slugs[slug] = claims[0] if len(claims) == 1 else claims
        else:
            article = self._article_of(claims[0])
            assert article is not None and article.slug == slug
            self._slugs[article.slug] = claims[0] if len(claims) == 1 else claims
        problems = self._collision_problems(slug, claims) if len(claims) > 1 else []
        self._problems.replace(self._collisions.pop(slug, NO_PROBLEMS), problems)
        if problems:
            self._collisions[slug] = problems

    def _article_of(self, name: str) -> Article | None:
        row = self._table.row(name)
        return None if row is None else self._table.article_at(row)

    def _collision_problems(self, slug: str, claims: list[str]) -> list[Problem]:
        """One problem in each file claiming ``slug``; ``claims[0]`` is served."""
        shown_names = ", ".join(self.display(n) for n in sorted(claims))
        serving = self.display(claims[0])
        return [
            Problem(
                self.display(n),
                "(file name)",
                f"slug {slug!r} is used by several files ({shown_names}); serving {serving}",
            )
            for n in claims
        ]


def same_bytes_same_article(entry: FileEntry | None, result: LoadResult) -> LoadResult:
    """A file read again with the bytes it had (a checkout or ``touch`` giving it new
    times) keeps the very article object it had.

    An article is made from its file's bytes alone, and its revision is their
    hash; only its text reference would differ. Keeping the object means no
    change to index or render, the same snapshot version, and no second copy
    of every article held by feeds cut before (at 100k articles a full
    re-read otherwise rebuilt every index and tag feed). A result found
    :data:`~feedsvc.content.chunks.UNCHANGED` by its hash alone (not parsed)
    is the entry as it was.
    """
    article = result[0]
    old = entry.article if entry is not None else None
    if is_unchanged(result):
        assert entry is not None and old is not None  # only files with a revision are
        return (old, entry.problems, entry.lines)
    if article is None or old is None or article.revision != old.revision:
        return result
    if article.source != old.source:
        return result
    return (old, result[1], result[2])
