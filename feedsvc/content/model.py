"""The article store: articles and the immutable snapshot built from them.

A :class:`Snapshot` is everything the feeds need at one content version:
visible articles newest first, the tag index and the popularity ranking. It
is built whole, off to the side, and swapped in with one reference, so a
request never sees half a reload. This module knows nothing of HTTP or XML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from feedsvc.content.site import SiteSettings
from feedsvc.content.textstore import get_text
from feedsvc.problems import Problem


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag as written by an editor, with its URL slug."""

    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class Image:
    """An article's picture: what feeds need to show it well (see :mod:`.media`).

    Width, height and type are ``None`` when the editor did not say: feeds
    then leave them out rather than guess sizes readers would lay out by.
    """

    url: str
    alt: str = ""
    width: int | None = None
    height: int | None = None
    type: str | None = None
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """An audio or video file that goes with an article (a podcast-style enclosure)."""

    url: str
    type: str
    length: int | None = None  # bytes
    duration: int | None = None  # seconds
    title: str = ""


DEFAULT_SUFFIX = ".yaml"
_FOLDERS: dict[str, str] = {}  # one string per folder shown, shared by its articles


def source_parts(source: str, slug: str) -> tuple[str, str | None]:
    """``(folder, file_name)`` of an :class:`Article` read from ``source``.

    The folder is the process's one copy of that string; the name is
    ``None`` when it is ``slug + ".yaml"``. :attr:`Article.source` joins
    them back to ``source`` exactly, whatever it is.
    """
    cut = max(source.rfind("/"), source.rfind("\\")) + 1
    folder, name = source[:cut], source[cut:]
    folder = _FOLDERS.setdefault(folder, folder)
    return folder, (None if name == slug + DEFAULT_SUFFIX else name)


def pack_revision(revision: str) -> bytes | str:
    """A revision as an :class:`Article` keeps it: lower-case hex (a file's hash,
    24 digits) as its bytes, 45 bytes where the string is 73 (3 MB at 100k
    articles); anything else as it is. :attr:`Article.revision` gives it back."""
    try:
        packed = bytes.fromhex(revision)
    except ValueError:
        return revision
    return packed if packed.hex() == revision else revision


def pack_title(title: str) -> bytes | str:
    """A title as an :class:`Article` keeps it: ASCII as bytes, 16 bytes smaller
    than the string (one allocation size class; 1.6 MB at 100k articles);
    anything else as it is. :attr:`Article.title` gives it back."""
    return title.encode("ascii") if title.isascii() else title


@dataclass(frozen=True, slots=True)
class Extras:
    """What few articles have (an author, pictures, attachments, a draft flag, a
    file name that is not ``slug.yaml``) and the folder every article came from.

    One object and one slot of :class:`Article` for all of them: every
    article without any shares its folder's one instance (:func:`extras_of`),
    where six slots of its own were 48 bytes an article (3.2 MB at 100k;
    bench/README.md, "Memory at 100k").
    """

    folder: str = ""  # the source's folder as shown, with its separator (see source_parts)
    file_name: str | None = None  # None: the slug plus ".yaml", as nearly every file is named
    author: str | None = None
    image: Image | None = None
    attachments: tuple[Attachment, ...] = ()
    draft: bool = False

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # Unpickled (the parse cache) through extras_of: plain ones shared again.
        return extras_of, (self.folder, self.file_name, self.author, self.image,
                           self.attachments, self.draft)  # fmt: skip


_PLAIN: dict[str, Extras] = {}  # the shared Extras of a folder's plain articles


def extras_of(
    folder: str = "",
    file_name: str | None = None,
    author: str | None = None,
    image: Image | None = None,
    attachments: tuple[Attachment, ...] = (),
    draft: bool = False,
) -> Extras:
    """An article's :class:`Extras`; for a plain article, its folder's shared one."""
    if file_name is None and author is None and image is None and not attachments and not draft:
        plain = _PLAIN.get(folder)
        if plain is None:  # bounded like _FOLDERS: one per folder shown
            plain = _PLAIN[folder] = Extras(_FOLDERS.setdefault(folder, folder))
        return plain
    return Extras(folder, file_name, author, image, attachments, draft)


PLAIN = extras_of()


@dataclass(frozen=True, slots=True)
class Article:
    """One validated article file.

    The summary and the Markdown body are not held here but in the process's
    text store (:mod:`feedsvc.content.textstore`; ``text_ref`` from
    :func:`~feedsvc.content.textstore.put_text`) and read through :attr:`summary` and
    :attr:`body`: they are most of an archive's memory, and only the few
    articles a feed renders ever need them.

    The file it came from (:attr:`source`, as messages name it) is kept in
    two parts made by :func:`source_parts`: its folder, one string shared by
    the articles read together, and its name only when that is not the slug
    plus ``.yaml``. A path string of its own per article was ~80 bytes, 8 MB
    at 100k articles (bench/README.md, "Memory at 100k"). Its revision is
    kept as bytes for the same reason (:func:`pack_revision`), so is an
    ASCII title (:func:`pack_title`), and the fields few articles have are
    in one shared :class:`Extras`.
    """

    slug: str
    packed_title: bytes | str  # see pack_title
    published: datetime
    text_ref: int
    tags: tuple[Tag, ...] = ()
    updated: datetime | None = None
    views: int = 0
    packed_revision: bytes | str = ""  # see pack_revision
    extras: Extras = PLAIN

    @property
    def title(self) -> str:
        """The headline as written."""
        title = self.packed_title
        return title if isinstance(title, str) else title.decode("ascii")

    @property
    def folder(self) -> str:
        """The source's folder as shown, with its separator (see :func:`source_parts`)."""
        return self.extras.folder

    @property
    def file_name(self) -> str | None:
        """The source's file name; ``None``: the slug plus ``.yaml``."""
        return self.extras.file_name

    @property
    def author(self) -> str | None:
        """The byline, if the article has one (feeds fall back to the site's)."""
        return self.extras.author

    @property
    def image(self) -> Image | None:
        """The article's picture, if any."""
        return self.extras.image

    @property
    def attachments(self) -> tuple[Attachment, ...]:
        """Audio or video files that go with the article."""
        return self.extras.attachments

    @property
    def draft(self) -> bool:
        """Drafts are in no feed."""
        return self.extras.draft

    @property
    def revision(self) -> str:
        """A hash of the file's bytes as text: equal revisions, same article."""
        packed = self.packed_revision
        return packed.hex() if isinstance(packed, bytes) else packed

    @property
    def source(self) -> str:
        """The file this article was read from, as messages name it."""
        extras = self.extras
        name = extras.file_name
        return extras.folder + (self.slug + DEFAULT_SUFFIX if name is None else name)

    @property
    def summary(self) -> str:
        """The plain-text summary (read from the text store on each access)."""
        return get_text(self.text_ref)[0]

    @property
    def body(self) -> str:
        """The Markdown body (read from the text store; renderers cache their HTML)."""
        return get_text(self.text_ref)[1]

    @property
    def modified(self) -> datetime:
        """When the article last changed: ``updated`` if given, else ``published``."""
        if self.updated is not None and self.updated > self.published:
            return self.updated
        return self.published


@dataclass(frozen=True, slots=True)
class TagEntry:
    """A tag's display name and its visible articles, newest first."""

    slug: str
    name: str
    articles: tuple[Article, ...]


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Snapshot:
    """Immutable view of the content at one version.

    Weakly referable: it pins the text store's file its articles read from
    (:meth:`~feedsvc.content.textstore.TextStore.pin`) for as long as it lives.
    """

    site: SiteSettings
    articles: tuple[Article, ...]
    tags: Mapping[str, TagEntry]
    popular: tuple[Article, ...]
    problems: tuple[Problem, ...]
    version: str
    built_at: datetime
    next_change_at: datetime | None

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Problems of severity ``error`` (warnings excluded)."""
        return tuple(p for p in self.problems if p.severity == "error")
