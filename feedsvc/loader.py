"""Reading the content directory into a :class:`~feedsvc.store.Snapshot`.

The loader is incremental and forgiving on purpose:

* Each file is re-read only when its stat signature (mtime, ctime, size,
  inode) changes, so a reload of 100k articles after one edit parses one file.
* A file that stops parsing or validating keeps its *last good* article; the
  problem is reported instead. Only deleting the file removes its article.
* A change must *settle* before it is applied (see :class:`ContentLoader`):
  a file still being written, or a rename seen half-way, is not applied yet.
* At start, a bad article is skipped with the same message; a bad or missing
  ``site.yaml`` is a :class:`~feedsvc.problems.ContentError` because there is
  nothing sensible to serve without it.

YAML is read with YAML 1.2 scalars: ``yes``/``no``/``on``/``off`` stay text
(a tag called "No" must not become ``False``), ``1:20`` is not sexagesimal,
``007`` is not octal, and dates stay text so that ``published`` is checked
here, with the file's line number, instead of failing the whole file.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import reprlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timezone
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from stat import S_ISREG
from typing import Any

import yaml

from . import lint
from .config import SiteSettings, parse_site_settings
from .problems import ContentError, Problem, Severity
from .store import Article, Snapshot, Tag, build_snapshot
from .text import (
    clean_text,
    is_absolute_http_url,
    looks_like_html,
    markup_to_text,
    normalise_url,
    plain_text,
    tag_slug,
)
from .textstore import ensure_store, put_text

ARTICLE_SUFFIXES = (".yaml", ".yml")
KNOWN_FIELDS = frozenset(
    {"title", "published", "updated", "author", "tags", "summary", "body", "views", "image",
     "draft"}
)  # fmt: skip
RACY_SECONDS = 0.05  # well above file-time granularity (1-10 ms) on local file systems
MAX_FILE_BYTES = 4 * 1024 * 1024  # a news article is kilobytes; this is a mistake or an attack
_DATE_ONLY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SPACE_BEFORE_OFFSET = re.compile(r"\s+(?=(?:Z|[+-]\d{1,2}(?::?\d{2})?)$)")
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Characters YAML refuses in a stream; the loader removes them (with a
# warning) instead of rejecting the whole file over an invisible character.
_STREAM_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_SLUG_OK = re.compile(r"^[\w-]+$")

Signature = tuple[int, int, int, int]  # (mtime_ns, ctime_ns, size, inode)

_short = reprlib.Repr()
_short.maxlevel, _short.maxstring, _short.maxother = 2, 60, 60
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 4


def shown(value: Any) -> str:
    """A bounded ``repr`` for messages (a YAML alias bomb must not print for ever)."""
    return _short.repr(value)


# -- YAML ------------------------------------------------------------------

_YamlBase: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is ~10x faster


class ContentYamlLoader(_YamlBase):  # type: ignore[misc,valid-type]
    """Safe YAML loader with YAML 1.2 core-schema scalars (see module docstring)."""


ContentYamlLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
):
    ContentYamlLoader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


@dataclass(slots=True)
class ParsedYaml:
    """A parsed YAML document plus the line of each top-level key."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    duplicate_keys: list[tuple[str, int]] = field(default_factory=list)

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


def parse_yaml(text: str, path: str) -> tuple[ParsedYaml | None, list[Problem]]:
    """Parse one YAML document, keeping key line numbers for messages."""
    loader = ContentYamlLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [Problem(path, "(yaml)", f"YAML syntax error: {reason}", line=line)]
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. an explicit !!timestamp
        return None, [Problem(path, "(yaml)", f"unreadable value: {exc}")]
    except RecursionError:
        return None, [Problem(path, "(yaml)", "is nested too deeply to read")]
    finally:
        loader.dispose()
    parsed = ParsedYaml(data)
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in parsed.lines:
                parsed.duplicate_keys.append((key, line))
            parsed.lines[key] = line
    return parsed, []


def read_yaml_file(path: Path, display: str) -> tuple[ParsedYaml | None, bytes, list[Problem]]:
    """Read, decode and parse a YAML file; problems name ``display``.

    An empty file is "not parseable yet" (an editor or a copy is still
    writing it): the caller keeps the file's last good version.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return None, b"", [Problem(display, "(file)", f"cannot be read: {exc.strerror}")]
    if len(raw) > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        return None, raw, [Problem(display, "(file)", f"is larger than {limit} MiB")]
    if not raw.strip():
        return None, raw, [Problem(display, "(file)", "is empty (not parseable yet)")]
    text, problems = decode_bytes(raw, display)
    if text is None:
        return None, raw, problems
    removed = [m.start() for m in _STREAM_CONTROLS.finditer(text)]
    if removed:
        first_line = text.count("\n", 0, removed[0]) + 1
        text = _STREAM_CONTROLS.sub("", text)
    parsed, problems = parse_yaml(text, display)
    if removed:
        where = parsed.field_at(first_line) if parsed is not None else "(file)"
        problems.append(
            Problem(
                display,
                where,
                f"{len(removed)} control character(s) removed (feeds cannot carry them)",
                first_line,
                "warning",
            )
        )
    return parsed, raw, problems


# -- articles --------------------------------------------------------------


def parse_datetime(value: Any) -> datetime | str:
    """A timezone-aware datetime, or the reason why ``value`` is not one.

    Date-only values mean 00:00 UTC; a date-time without an offset is
    rejected because guessing the zone silently misorders feeds.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str):
        text = value.strip()
        day_only = _DATE_ONLY.match(text)
        if day_only:
            try:
                day = date(*(int(part) for part in day_only.groups()))
            except ValueError:
                return f"is not a valid date: {shown(value)}"
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        if len(text) > 10 and text[10] in " tT":
            text = text[:10] + "T" + text[11:]
        text = _SPACE_BEFORE_OFFSET.sub("", text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return f"is not an ISO 8601 date-time: {shown(value)} (e.g. 2025-09-04T18:00:00+08:00)"
    else:
        return f"must be a date-time, got {type(value).__name__}"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return "needs a timezone offset, e.g. 2025-09-04T18:00:00+08:00 or ...Z"
    if not 1900 <= parsed.year <= 9998:
        return f"year {parsed.year} is out of range"
    shared_zone = _shared(parsed.tzinfo)
    return parsed if shared_zone is parsed.tzinfo else parsed.replace(tzinfo=shared_zone)


_SHARED: dict[Any, Any] = {}


def _shared(value: Any) -> Any:
    """One instance per distinct tag or time zone across all articles.

    Without it every article holds its own copies: at 100k articles that is
    ~350k Tag objects and ~200k timezone objects (tens of MB) for a few
    thousand distinct values. Bounded by the distinct values in the content.
    """
    return _SHARED.setdefault(value, value)


class _Checker:
    """Collects the problems of one article, each with the key's line."""

    def __init__(self, parsed: ParsedYaml, display: str) -> None:
        self.lines = parsed.lines
        self.display = display
        self.problems: list[Problem] = []

    def __call__(self, key: str, message: str, severity: Severity = "error") -> None:
        self.problems.append(Problem(self.display, key, message, self.lines.get(key), severity))

    def text(self, data: Mapping[Any, Any], key: str, *, required: bool = False) -> str | None:
        """A text field; numbers are accepted as text. Controls removed, with a word."""
        value = data.get(key)
        if value is None:
            if required:
                self(key, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self(key, f"must be text, got {type(value).__name__}")
            return None
        raw = str(value)
        cleaned = clean_text(raw)
        if cleaned != raw:
            self(
                key,
                f"{len(raw) - len(cleaned)} control character(s) removed (feeds cannot carry them)",
                "warning",
            )
        return cleaned

    def plain(self, key: str, value: str) -> str:
        """Plain text of a one-line field; pasted HTML becomes its text (with a warning)."""
        if looks_like_html(value):
            self(key, "HTML markup removed; this field is plain text", "warning")
            return markup_to_text(value)
        return plain_text(value)


def _tags(data: Mapping[Any, Any], check: _Checker) -> list[Tag]:
    raw_tags = data.get("tags")
    if raw_tags is None:
        return []
    if isinstance(raw_tags, str):  # "tags: North Korea, China" reads as two tags
        raw_tags = [part for part in raw_tags.split(",") if part.strip()]
    if not isinstance(raw_tags, list):
        check("tags", f"must be a list of tag names, got {type(raw_tags).__name__}")
        return []
    tags: list[Tag] = []
    seen: dict[str, str] = {}
    for raw_tag in raw_tags:
        # A bad tag is dropped with a warning: it must not take the article out of every feed.
        if isinstance(raw_tag, bool) or not isinstance(raw_tag, str | int | float):
            check("tags", f"each tag must be text, got {shown(raw_tag)}; ignored", "warning")
            continue
        text = str(raw_tag)
        if clean_text(text) != text:
            check("tags", "control character(s) removed (feeds cannot carry them)", "warning")
        name = check.plain("tags", clean_text(text))
        slug = tag_slug(name)
        if not slug:
            check("tags", f"tag {shown(name)} has no letters or digits; ignored", "warning")
            continue
        if slug in seen:
            if seen[slug] != name:
                check(
                    "tags",
                    f"{shown(name)} and {shown(seen[slug])} are one tag ({slug}); "
                    "the first spelling is used",
                    "warning",
                )
            continue
        seen[slug] = name
        tags.append(_shared(Tag(name=name, slug=slug)))
    return tags


def validate_article(
    parsed: ParsedYaml, slug: str, display: str, revision: str
) -> tuple[Article | None, list[Problem]]:
    """Turn a parsed article mapping into an :class:`Article`, or say why not.

    Errors reject the article (required fields, dates, types that would
    change its meaning such as ``draft``); warnings describe what was
    repaired or ignored (unknown fields, pasted HTML, a bad tag).
    """
    data = parsed.data
    if not isinstance(data, Mapping):
        if data is None:
            return None, [Problem(display, "(file)", "is empty (not parseable yet)")]
        kind = type(data).__name__
        return None, [Problem(display, "(file)", f"must be a mapping of fields, got {kind}")]
    check = _Checker(parsed, display)
    for key, line in parsed.duplicate_keys:
        check.problems.append(
            Problem(display, key, "appears twice; the last one wins", line, "warning")
        )
    for key in data:
        if str(key) not in KNOWN_FIELDS:
            check(str(key), "unknown field (typo?)", "warning")
    if not _SLUG_OK.match(slug):
        check.problems.append(
            Problem(
                display,
                "(file name)",
                f"slug {shown(slug)} needs percent-encoding in URLs; "
                "prefer letters, digits and hyphens",
                severity="warning",
            )
        )

    title = check.text(data, "title", required=True)
    if title is not None:
        title = check.plain("title", title)
        if not title:
            check("title", "must not be empty")

    published = parse_datetime(data["published"]) if data.get("published") is not None else None
    if published is None:
        check("published", "is required")
    elif isinstance(published, str):
        check("published", published)
        published = None

    updated = None
    if data.get("updated") is not None:
        parsed_updated = parse_datetime(data["updated"])
        if isinstance(parsed_updated, str):
            check("updated", parsed_updated)
        else:
            updated = parsed_updated
            if published is not None and updated < published:
                check("updated", "is earlier than published; ignored", "warning")

    author = check.text(data, "author")
    author = check.plain("author", author) if author else None

    tags = _tags(data, check)

    summary = check.text(data, "summary")
    summary = check.plain("summary", summary) if summary else ""
    body = check.text(data, "body") or ""
    if not summary:
        check("summary", "is empty; a summary is derived from the body", "warning")

    views = data.get("views", 0)
    if views is None:
        views = 0
    if isinstance(views, bool) or not isinstance(views, int) or views < 0:
        check("views", f"must be a whole number >= 0, got {shown(views)}")
        views = 0

    image = check.text(data, "image")
    if image is not None:
        image = normalise_url(image)
        if not is_absolute_http_url(image):
            check("image", f"is not an absolute http(s) URL: {shown(image)}", "warning")

    draft = data.get("draft", False)
    if draft is None:
        draft = False
    if not isinstance(draft, bool):
        check("draft", f"must be true or false, got {shown(draft)}")
        draft = False

    problems = check.problems
    if any(p.severity == "error" for p in problems) or title is None or published is None:
        return None, problems
    article = Article(
        slug=slug,
        title=title,
        published=published,
        updated=updated,
        author=author,
        tags=tuple(tags),
        text_ref=put_text(summary, body),
        views=views,
        image=image or None,
        draft=draft,
        source=display,
        revision=revision,
    )
    return article, problems


def load_article_file(
    path: Path, display: str
) -> tuple[Article | None, list[Problem], Mapping[str, int]]:
    """Load and validate one article file (slug from the lower-cased file name).

    Returns the article (or ``None``), its problems and the line of each key.
    """
    parsed, raw, problems = read_yaml_file(path, display)
    if parsed is None:
        return None, problems, {}
    revision = hashlib.blake2b(raw, digest_size=12).hexdigest()
    article, more = validate_article(parsed, path.stem.lower(), display, revision)
    return article, problems + more, parsed.lines


# -- reading many files at once (first load) -------------------------------

# Below this many files to read, worker processes cost more than they save.
PARALLEL_MIN_FILES = 2000
LOAD_CHUNK = 500  # files per task sent to a worker
LoadResult = tuple[Article | None, list[Problem], Mapping[str, int]]


def _load_batch(items: list[tuple[str, str]]) -> list[LoadResult]:
    """Worker side of :func:`load_article_files`: one chunk, in order."""
    return [load_article_file(Path(path), display) for path, display in items]


def _shared_tag(name: str, slug: str) -> Tag:
    return _shared(Tag(name=name, slug=slug))


def _shared_zone(*args: Any) -> timezone:
    return _shared(timezone(*args))


def _reduce_tag(tag: Tag) -> tuple[Any, tuple[str, str]]:
    return _shared_tag, (tag.name, tag.slug)


def _reduce_zone(zone: timezone) -> tuple[Any, tuple[Any, ...]]:
    return _shared_zone, zone.__getinitargs__()  # type: ignore[attr-defined]


def load_article_files(items: list[tuple[str, str]]) -> list[LoadResult]:
    """:func:`load_article_file` for many ``(path, display)`` pairs, in order.

    Reading 100k articles is YAML parsing bound (~0.1 ms a file), so a first
    load of many files is spread over one forked worker per CPU; articles
    come back pickled, which costs a fraction of parsing them. Forking is
    only safe while the process has a single thread, i.e. at start-up: later
    (watcher and server threads running) and for small batches, files are
    read here.
    """
    store = ensure_store()  # created before any fork, so workers append to the same file
    workers = min(os.cpu_count() or 1, 8)
    try:
        if (
            len(items) < PARALLEL_MIN_FILES
            or workers < 2
            or not store.forkable
            or threading.active_count() > 1
            or "fork" not in multiprocessing.get_all_start_methods()
        ):
            return _load_batch(items)
        # Tags and time zones come back as the parent's shared instances.
        ForkingPickler.register(Tag, _reduce_tag)
        ForkingPickler.register(timezone, _reduce_zone)
        chunks = [items[i : i + LOAD_CHUNK] for i in range(0, len(items), LOAD_CHUNK)]
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                parts = pool.map(_load_batch, chunks, chunksize=1)
        except OSError:  # no processes to be had (limits, sandbox): read them here
            return _load_batch(items)
        return [result for part in parts for result in part]
    finally:
        store.seal()  # no more forks: the file's name goes, the kernel frees it at exit


# -- the incremental loader ------------------------------------------------


def _signature(stat: os.stat_result) -> Signature:
    # ctime too: `cp -p` or a checkout can rewrite a file keeping mtime and size.
    return (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino)


def _changed_at(signature: Signature) -> float:
    """Wall-clock time of a file's last change (write, rename, copy)."""
    return max(signature[0], signature[1]) / 1e9


@dataclass(slots=True)
class _FileEntry:
    """What the loader remembers about one article file between reloads."""

    signature: Signature
    article: Article | None  # last good version, kept while the file is broken
    problems: list[Problem] | tuple[Problem, ...]
    # Lines of the fields cross-article lint names (LINT_FIELDS), of the served
    # version: a small tuple, not the parser's dict (100k dicts are ~100 MB).
    lines: tuple[int | None, ...] = ()


LINT_FIELDS = ("title", "tags", "published")
_NO_PROBLEMS: tuple[Problem, ...] = ()  # shared by the (many) files without problems


def _lint_lines(lines: Mapping[str, int]) -> tuple[int | None, ...]:
    return tuple(lines.get(key) for key in LINT_FIELDS)


class _LineIndex(Mapping[str, Mapping[str, int]]):
    """``source -> field -> line`` for lint, built per file only when asked."""

    def __init__(self, entries: Mapping[str, tuple[int | None, ...]]) -> None:
        self._entries = entries

    def __getitem__(self, source: str) -> Mapping[str, int]:
        packed = self._entries[source]
        return {k: v for k, v in zip(LINT_FIELDS, packed, strict=False) if v is not None}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class _Pending:
    """A change seen but not applied yet, because it has not settled."""

    signature: Signature | None  # None: the file is gone
    changed_at: float
    first_seen: float


@dataclass(slots=True)
class Scan:
    """One look at the content directory: every file's signature, and when
    each folder last had an entry added, removed or renamed."""

    signatures: dict[str, Signature]
    folder_changed_at: dict[str, float]


class ContentLoader:
    """Incremental loader of one content directory.

    ``settle`` (seconds) guards against reading a change half-way: a file
    whose last write, copy or rename is more recent than ``settle`` is left
    for a later poll, and so is a deletion while its folder changed that
    recently. A save that truncates and rewrites a file, a copy in progress,
    or an editor that deletes and recreates a file are then seen whole, and
    both halves of a rename are applied together. After reading, the file is
    stat-ed again; if it changed meanwhile the result is discarded. A file
    that is still broken after settling keeps its last good article.
    ``settle=0`` (the default, and what ``feedsvc check`` uses) applies
    every change at once.

    Not thread-safe by itself: the service calls :meth:`load` from one
    thread at a time (guarded by ``self.lock``).
    """

    def __init__(
        self,
        content_dir: Path,
        env: Mapping[str, str] | None = None,
        *,
        settle: float = 0.0,
        wall_clock: Callable[[], float] = time.time,
        display_prefix: str | None = None,
    ) -> None:
        self.content_dir = Path(content_dir)
        self.articles_dir = self.content_dir / "articles"
        self.site_path = str(self.content_dir / "site.yaml")
        self.views_path = str(self.content_dir / "popularity.yaml")
        self.env = env
        self.settle = settle
        self.wall_clock = wall_clock
        self.display_prefix = display_prefix
        self.lock = threading.Lock()
        self._loaded = False
        self._files: dict[str, _FileEntry] = {}
        self._pending: dict[str, _Pending] = {}
        self._site: SiteSettings | None = None
        self._site_sig: Signature | None = None
        self._site_problems: list[Problem] = []
        self._views: dict[str, int] = {}
        self._views_sig: Signature | None = None
        self._views_problems: list[Problem] = []
        self._served_paths: dict[str, str] = {}
        self.files_read = 0
        self._articles_prefix = os.path.join(self.articles_dir, "")
        self._last_scan: Scan | None = None

    def _display(self, path: Path) -> str:
        """How a file is named in messages: as the user named the directory for
        ``check``, else relative to the content directory's parent."""
        if self.display_prefix is not None:
            try:
                relative = path.relative_to(self.content_dir)
            except ValueError:
                return str(path)
            return os.path.normpath(os.path.join(self.display_prefix, relative))
        try:
            return str(path.relative_to(self.content_dir.parent))
        except ValueError:
            return str(path)

    @staticmethod
    def _stat(path: Path) -> Signature | None:
        """A regular file's signature, or ``None`` (missing, a folder, unreadable)."""
        try:
            stat = path.stat()
        except OSError:
            return None
        return _signature(stat) if S_ISREG(stat.st_mode) else None

    def scan(self) -> Scan:
        """Signatures of every file the content consists of, keyed by path."""
        found: dict[str, Signature] = {}
        for special in (self.site_path, self.views_path):
            sig = self._stat(Path(special))
            if sig is not None:
                found[special] = sig
        try:
            entries = list(os.scandir(self.articles_dir))
        except OSError:
            entries = []
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.endswith(ARTICLE_SUFFIXES):
                continue
            try:
                if entry.is_file():
                    found[entry.path] = _signature(entry.stat())
            except OSError:
                continue
        folders: dict[str, float] = {}
        for folder in (self.content_dir, self.articles_dir):
            sig = self._folder_signature(folder)
            if sig is not None:
                folders[str(folder)] = _changed_at(sig)
        return Scan(found, folders)

    @staticmethod
    def _folder_signature(folder: Path) -> Signature | None:
        try:
            return _signature(folder.stat())
        except OSError:
            return None

    # -- which changes are ready -------------------------------------------

    def _accepted(self) -> dict[str, Signature]:
        """Signature of every file as last applied."""
        accepted = {path: entry.signature for path, entry in self._files.items()}
        if self._site_sig is not None:
            accepted[self.site_path] = self._site_sig
        if self._views_sig is not None:
            accepted[self.views_path] = self._views_sig
        return accepted

    def _ready_changes(self, scan: Scan, *, settle: float) -> dict[str, Signature | None]:
        """Changed paths whose change has settled: new signature, or ``None`` if gone.

        Unsettled ones are remembered in ``self._pending`` for :meth:`next_settle_at`.
        """
        accepted = self._accepted()
        current = scan.signatures
        now = self.wall_clock()
        ready: dict[str, Signature | None] = {}
        seen_pending: set[str] = set()
        for path in set(accepted) | set(current):
            new = current.get(path)
            if accepted.get(path) == new:
                continue
            if settle <= 0:
                ready[path] = new
                continue
            if new is not None:
                changed_at = _changed_at(new)
            else:  # a deletion is dated by its folder's last change
                changed_at = scan.folder_changed_at.get(str(Path(path).parent), 0.0)
            pending = self._pending.get(path)
            if pending is None or pending.signature != new:
                pending = self._pending[path] = _Pending(new, changed_at, now)
            seen_pending.add(path)
            # Settled by the file's own clock, or (clock skew, e.g. a network
            # file system) after being seen unchanged for ``settle`` seconds.
            if now - changed_at >= settle or now - pending.first_seen >= settle:
                ready[path] = new
        for path in set(self._pending) - seen_pending:
            del self._pending[path]
        return ready

    def next_settle_at(self) -> float | None:
        """Wall-clock time when a pending change may be ready (for the watcher)."""
        if not self._pending:
            return None
        return min(min(p.changed_at, p.first_seen) for p in self._pending.values()) + self.settle

    def has_changes(self) -> bool:
        """Cheap check (stat only) whether any settled change awaits a :meth:`load`.

        A positive answer keeps its scan for the :meth:`load` that follows, so
        a reload stats every file once, not twice.
        """
        scan = self.scan()
        changed = bool(self._ready_changes(scan, settle=self.settle))
        self._last_scan = scan if changed else None
        return changed

    # -- applying changes ----------------------------------------------------

    def _recorded(self, signature: Signature) -> Signature:
        """The signature to remember for a file just read.

        File times are coarse (a clock tick, milliseconds): a second write of
        the same size within one tick of the first leaves the signature as it
        was, and would never be read. A file read within :data:`RACY_SECONDS`
        of its last change is therefore remembered with an impossible size,
        so the next poll reads it once more ("racy clean", as git calls it).
        With settling on, reads happen later than that and this never fires.
        """
        if self.wall_clock() - _changed_at(signature) < RACY_SECONDS:
            return (signature[0], signature[1], -1, signature[3])
        return signature

    def _read_settled(
        self, path: Path, signature: Signature, verify: bool
    ) -> tuple[ParsedYaml | None, bytes, list[Problem]] | None:
        """Read a changed file; ``None`` if it changed while being read (try later)."""
        self.files_read += 1
        result = read_yaml_file(path, self._display(path))
        if verify and self._stat(path) != signature:
            return None
        return result

    def _load_site(self, signature: Signature | None, verify: bool) -> None:
        path = Path(self.site_path)
        display = self._display(path)
        if signature is None:
            missing = (
                "is missing; the content directory does not exist"
                if not self.content_dir.is_dir()
                else "is missing; it names the site and its URL"
            )
            problem = Problem(display, "(file)", missing)
            if self._site is None:
                raise ContentError([problem])
            self._site_problems = [problem, self._still_serving(display, "settings")]
            self._site_sig = None
            return
        result = self._read_settled(path, signature, verify)
        if result is None:
            return
        self._site_sig = self._recorded(signature)
        parsed, _, problems = result
        site = None
        if parsed is not None:
            site, more = parse_site_settings(parsed.data, display, self.env)
            problems = problems + [
                Problem(p.path, p.field, p.message, parsed.lines.get(p.field), p.severity)
                for p in more
            ]
        if site is None and self._site is None:
            raise ContentError(problems)
        if site is not None:
            self._site = site
        else:
            problems = [*problems, self._still_serving(display, "settings")]
        self._site_problems = problems

    @staticmethod
    def _still_serving(display: str, what: str = "version") -> Problem:
        return Problem(display, "(file)", f"still serving its last good {what}")

    def _load_views(self, signature: Signature | None, verify: bool) -> None:
        path = Path(self.views_path)
        if signature is None:
            self._views, self._views_sig, self._views_problems = {}, None, []
            return
        result = self._read_settled(path, signature, verify)
        if result is None:
            return
        self._views_sig = self._recorded(signature)
        display = self._display(path)
        parsed, _, problems = result
        keep = self._still_serving(display, "view counts")
        if parsed is None:
            self._views_problems = [*problems, keep] if self._views else problems
            return
        if parsed.data is None:
            parsed.data = {}
        if not isinstance(parsed.data, Mapping):
            problems = [*problems, Problem(display, "(file)", "must map article slugs to views")]
            self._views_problems = [*problems, keep] if self._views else problems
            return
        views: dict[str, int] = {}
        for slug, count in parsed.data.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                line = parsed.lines.get(str(slug))
                problems.append(
                    Problem(display, str(slug), f"views must be >= 0, got {shown(count)}", line)
                )
                continue
            views[str(slug).lower()] = count
        self._views, self._views_problems = views, problems

    def _is_article(self, path_text: str) -> bool:
        # A prefix test, not Path(p).parent: this runs over every file on every poll.
        prefix = self._articles_prefix
        return path_text.startswith(prefix) and os.sep not in path_text[len(prefix) :]

    def _refresh_articles(self, ready: Mapping[str, Signature | None], verify: bool) -> None:
        changed = sorted(p for p in ready if self._is_article(p))
        for path_text in [p for p in changed if ready[p] is None]:
            self._files.pop(path_text, None)  # deleted: its article goes
        to_read = [p for p in changed if ready[p] is not None]
        displays = [self._display(Path(p)) for p in to_read]
        loaded = load_article_files(list(zip(to_read, displays, strict=True)))
        self.files_read += len(to_read)
        for path_text, display, result in zip(to_read, displays, loaded, strict=True):
            signature = ready[path_text]
            assert signature is not None
            path = Path(path_text)
            article, problems, lines = result
            if verify and self._stat(path) != signature:
                continue  # written to while we read it: try again next poll
            entry = self._files.get(path_text)
            if article is None and entry is not None and entry.article is not None:
                problems = [*problems, self._still_serving(display)]
                self._files[path_text] = _FileEntry(
                    self._recorded(signature), entry.article, problems, entry.lines
                )
                continue
            self._files[path_text] = _FileEntry(
                self._recorded(signature), article, problems or _NO_PROBLEMS, _lint_lines(lines)
            )

    def _resolve_slugs(self) -> tuple[list[_FileEntry], list[Problem]]:
        """One article per slug; case-colliding file names are all reported."""
        by_slug: dict[str, list[str]] = {}
        for path_text, entry in self._files.items():
            if entry.article is not None:
                by_slug.setdefault(entry.article.slug, []).append(path_text)
        chosen: list[_FileEntry] = []
        problems: list[Problem] = []
        served: dict[str, str] = {}
        for slug, paths in by_slug.items():
            if len(paths) > 1:
                previous = self._served_paths.get(slug)

                def preference(p: str, previous: str | None = previous) -> tuple[bool, bool, str]:
                    return (p != previous, Path(p).stem != Path(p).stem.lower(), p)

                paths.sort(key=preference)
                names = ", ".join(self._display(Path(p)) for p in sorted(paths))
                for p in paths:
                    problems.append(
                        Problem(
                            self._display(Path(p)),
                            "(file name)",
                            f"slug {slug!r} is used by several files ({names}); "
                            f"serving {self._display(Path(paths[0]))}",
                        )
                    )
            served[slug] = paths[0]
            chosen.append(self._files[paths[0]])
        self._served_paths = served
        return chosen, problems

    def load(self, now: datetime | None = None) -> Snapshot:
        """Apply every settled change and build a new snapshot.

        The first load reads everything at once. Raises :class:`ContentError`
        only when there has never been a usable ``site.yaml``; every other
        problem is carried in the snapshot (and so in ``/healthz``).
        """
        now = now or datetime.now(UTC)
        scan, self._last_scan = self._last_scan or self.scan(), None
        settle = self.settle if self._loaded else 0.0
        ready = self._ready_changes(scan, settle=settle)
        verify = settle > 0
        if not self._loaded or self.site_path in ready:
            self._load_site(scan.signatures.get(self.site_path), verify)
        if self.views_path in ready:
            self._load_views(ready[self.views_path], verify)
        self._refresh_articles(ready, verify)
        for path in ready:
            self._pending.pop(path, None)
        self._loaded = True
        served, collision_problems = self._resolve_slugs()
        articles = [entry.article for entry in served if entry.article is not None]
        problems = [*self._site_problems, *self._views_problems, *collision_problems]
        if not self.articles_dir.is_dir():
            problems.append(
                Problem(self._display(self.articles_dir), "(dir)", "is missing", None, "warning")
            )
        for entry in self._files.values():
            problems.extend(entry.problems)
        lines = _LineIndex({e.article.source: e.lines for e in served if e.article})
        problems.extend(lint.cross_article_problems(articles, lines))
        problems.extend(lint.future_problems(articles, now, lines))
        assert self._site is not None
        return build_snapshot(
            self._site, articles, now=now, views_override=self._views, problems=problems
        )

    def all_articles(self) -> list[Article]:
        """Every currently loaded article, drafts and future ones included."""
        return [entry.article for entry in self._files.values() if entry.article is not None]
