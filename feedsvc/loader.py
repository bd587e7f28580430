"""Reading the content directory into a :class:`~feedsvc.store.Snapshot`.

The loader is incremental and forgiving on purpose:

* Each file is re-read only when its (mtime, size, inode) signature changes,
  so a reload of 100k articles after one edit parses one file.
* A file that stops parsing or validating keeps its *last good* article; the
  problem is reported (once, when the file changes) instead. Only deleting the
  file removes its article.
* At start, a bad article is skipped with the same message; a bad or missing
  ``site.yaml`` is a :class:`~feedsvc.problems.ContentError` because there is
  nothing sensible to serve without it.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timezone
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

import yaml

from .config import SiteSettings, parse_site_settings
from .problems import ContentError, Problem
from .store import Article, Snapshot, Tag, build_snapshot
from .text import clean_text, is_absolute_http_url, plain_text, tag_slug
from .textstore import ensure_store, put_text

try:  # libyaml is ~10x faster; fall back to pure Python where it is missing.
    _YamlLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _YamlLoader = yaml.SafeLoader

ARTICLE_SUFFIXES = (".yaml", ".yml")
KNOWN_FIELDS = frozenset(
    {"title", "published", "updated", "author", "tags", "summary", "body", "views", "image",
     "draft"}
)  # fmt: skip
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

Signature = tuple[int, int, int]
# Below this many files to read, worker processes cost more than they save.
PARALLEL_MIN_FILES = 2000
LOAD_CHUNK = 500  # files per task sent to a worker
_NO_PROBLEMS: tuple[Problem, ...] = ()


@dataclass(slots=True)
class ParsedYaml:
    """A parsed YAML document plus the line of each top-level key."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    duplicate_keys: list[tuple[str, int]] = field(default_factory=list)


def decode_bytes(raw: bytes, path: str) -> tuple[str | None, list[Problem]]:
    """Decode a content file: UTF-8 (BOM allowed) or UTF-16 with a BOM."""
    try:
        if raw.startswith(_UTF16_BOMS):
            return raw.decode("utf-16"), []
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        where = f"byte {exc.start}"
        return None, [Problem(path, "(file)", f"is not valid UTF-8 ({where}); save it as UTF-8")]


def parse_yaml(text: str, path: str) -> tuple[ParsedYaml | None, list[Problem]]:
    """Parse one YAML document, keeping key line numbers for messages."""
    loader = _YamlLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [Problem(path, "(yaml)", f"YAML syntax error: {reason}", line=line)]
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. timestamp out of range
        return None, [Problem(path, "(yaml)", f"unreadable value: {exc}")]
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
    """Read, decode and parse a YAML file; problems name ``display``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, b"", [Problem(display, "(file)", f"cannot be read: {exc.strerror}")]
    if not raw.strip():
        return None, raw, [Problem(display, "(file)", "is empty (not parseable yet)")]
    text, problems = decode_bytes(raw, display)
    if text is None:
        return None, raw, problems
    parsed, problems = parse_yaml(text, display)
    return parsed, raw, problems


_SHARED: dict[Any, Any] = {}


def _shared(value: Any) -> Any:
    """One instance per distinct tag or time zone across all articles.

    Without it every article holds its own copies: at 100k articles that is
    ~350k Tag objects and ~200k timezone objects (tens of MB) for a few
    thousand distinct values. Bounded by the distinct values in the content.
    """
    return _SHARED.setdefault(value, value)


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
        if _DATE_ONLY.match(text):
            try:
                day = date.fromisoformat(text)
            except ValueError:
                return f"is not a valid date: {value!r}"
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        try:
            parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
        except ValueError:
            return f"is not an ISO 8601 date-time: {value!r} (e.g. 2025-09-04T18:00:00+08:00)"
    else:
        return f"must be a date-time, got {type(value).__name__}"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return "needs a timezone offset, e.g. 2025-09-04T18:00:00+08:00 or ...Z"
    if not 1900 <= parsed.year <= 9998:
        return f"year {parsed.year} is out of range"
    shared_zone = _shared(parsed.tzinfo)
    return parsed if shared_zone is parsed.tzinfo else parsed.replace(tzinfo=shared_zone)


def _text_field(
    data: Mapping[str, Any], key: str, problem: Any, *, required: bool = False
) -> str | None:
    """A text field; numbers are accepted as text (YAML reads ``1984`` as int)."""
    value = data.get(key)
    if value is None:
        if required:
            problem(key, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        problem(key, f"must be text, got {type(value).__name__}")
        return None
    return clean_text(str(value))


def validate_article(
    parsed: ParsedYaml, slug: str, display: str, revision: str
) -> tuple[Article | None, list[Problem]]:
    """Turn a parsed article mapping into an :class:`Article`, or say why not."""
    problems: list[Problem] = []
    data = parsed.data

    def problem(key: str, message: str, severity: str = "error") -> None:
        problems.append(Problem(display, key, message, parsed.lines.get(key), severity))  # type: ignore[arg-type]

    if not isinstance(data, Mapping):
        kind = "empty" if data is None else type(data).__name__
        return None, [Problem(display, "(file)", f"must be a mapping of fields, got {kind}")]
    for key, line in parsed.duplicate_keys:
        problems.append(Problem(display, key, "appears twice; the last one wins", line, "warning"))
    for key in data:
        if str(key) not in KNOWN_FIELDS:
            problem(str(key), "unknown field (typo?)", "warning")

    title = _text_field(data, "title", problem, required=True)
    if title is not None:
        title = plain_text(title)
        if not title:
            problem("title", "must not be empty")

    published = parse_datetime(data["published"]) if "published" in data else None
    if published is None:
        problem("published", "is required")
    elif isinstance(published, str):
        problem("published", published)
        published = None

    updated = None
    if data.get("updated") is not None:
        parsed_updated = parse_datetime(data["updated"])
        if isinstance(parsed_updated, str):
            problem("updated", parsed_updated)
        else:
            updated = parsed_updated
            if published is not None and updated < published:
                problem("updated", "is earlier than published; ignored", "warning")

    author = _text_field(data, "author", problem)
    author = plain_text(author) if author else None

    tags: list[Tag] = []
    raw_tags = data.get("tags")
    if isinstance(raw_tags, str):
        raw_tags = [raw_tags]
    if raw_tags is not None and not isinstance(raw_tags, list):
        problem("tags", "must be a list of tag names")
        raw_tags = []
    seen: set[str] = set()
    for raw_tag in raw_tags or []:
        if isinstance(raw_tag, bool) or not isinstance(raw_tag, str | int | float):
            problem("tags", f"each tag must be text, got {type(raw_tag).__name__}")
            continue
        name = plain_text(str(raw_tag))
        slug_of_tag = tag_slug(name)
        if not slug_of_tag:
            problem("tags", f"tag {name!r} has no letters or digits")
            continue
        if slug_of_tag in seen:
            continue
        seen.add(slug_of_tag)
        tags.append(_shared(Tag(name=name, slug=slug_of_tag)))

    summary = _text_field(data, "summary", problem)
    summary = plain_text(summary) if summary else ""
    body = _text_field(data, "body", problem) or ""
    if not summary:
        problem("summary", "is empty; a summary is derived from the body", "warning")

    views = data.get("views", 0)
    if views is None:
        views = 0
    if isinstance(views, bool) or not isinstance(views, int) or views < 0:
        problem("views", f"must be a whole number >= 0, got {views!r}")
        views = 0

    image = _text_field(data, "image", problem)
    if image is not None:
        image = image.strip()
        if not is_absolute_http_url(image):
            problem("image", f"is not an absolute http(s) URL: {image!r}", "warning")

    draft = data.get("draft", False)
    if not isinstance(draft, bool):
        problem("draft", f"must be true or false, got {draft!r}")
        draft = False

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


def load_article_file(path: Path, display: str) -> tuple[Article | None, list[Problem]]:
    """Load and validate one article file (slug from the lower-cased file name)."""
    parsed, raw, problems = read_yaml_file(path, display)
    if parsed is None:
        return None, problems
    revision = hashlib.blake2b(raw, digest_size=12).hexdigest()
    article, more = validate_article(parsed, path.stem.lower(), display, revision)
    return article, problems + more


def _load_batch(
    items: list[tuple[str, str]],
) -> list[tuple[Article | None, list[Problem]]]:
    """Worker side of :func:`load_article_files`: one chunk, in order.

    An empty problem list comes back as the empty tuple (a singleton even
    after pickling): 100k little lists would fragment the parent's heap.
    """
    results: list[tuple[Article | None, list[Problem]]] = []
    for path, display in items:
        article, problems = load_article_file(Path(path), display)
        results.append((article, problems or _NO_PROBLEMS))  # type: ignore[arg-type]
    return results


def _shared_tag(name: str, slug: str) -> Tag:
    return _shared(Tag(name=name, slug=slug))


def _shared_zone(*args: Any) -> timezone:
    return _shared(timezone(*args))


def _reduce_tag(tag: Tag) -> tuple[Any, tuple[str, str]]:
    return _shared_tag, (tag.name, tag.slug)


def _reduce_zone(zone: timezone) -> tuple[Any, tuple[Any, ...]]:
    return _shared_zone, zone.__getinitargs__()  # type: ignore[attr-defined]


def load_article_files(
    items: list[tuple[str, str]],
) -> list[tuple[Article | None, list[Problem]]]:
    """:func:`load_article_file` for many ``(path, display)`` pairs, in order.

    Reading 100k articles is YAML parsing bound (libyaml plus PyYAML's
    Python constructor, ~0.1 ms a file), so a first load of many files is
    spread over one forked worker per CPU; the articles come back pickled,
    which costs a fraction of parsing them. Forking is only safe while the
    process has a single thread, i.e. at start-up: later (the watcher and
    the server threads run) and for small batches, files are read here.
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
        return _load_in_workers(items, workers)
    finally:
        store.seal()  # no more forks: the file's name goes, the kernel frees it at exit


def _load_in_workers(
    items: list[tuple[str, str]], workers: int
) -> list[tuple[Article | None, list[Problem]]]:
    """The forked half of :func:`load_article_files`."""
    # Tags and time zones come back as the parent's shared instances, not as one
    # copy per chunk (200k duplicate objects at 100k articles otherwise).
    ForkingPickler.register(Tag, _reduce_tag)
    ForkingPickler.register(timezone, _reduce_zone)
    # Small chunks: results are unpickled (and their temporaries freed) a little
    # at a time, which keeps the parent's heap from fragmenting, and the
    # workers' pace evens out.
    chunks = [items[i : i + LOAD_CHUNK] for i in range(0, len(items), LOAD_CHUNK)]
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_load_batch, chunks, chunksize=1)
    except OSError:  # no processes to be had (limits, sandbox): read them here
        return _load_batch(items)
    return [result for part in parts for result in part]


def _signature(stat: os.stat_result) -> Signature:
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


@dataclass(slots=True)
class _FileEntry:
    """What the loader remembers about one article file between reloads."""

    signature: Signature
    article: Article | None  # last good version, kept while the file is broken
    problems: list[Problem] | tuple[Problem, ...]


class ContentLoader:
    """Incremental loader of one content directory.

    Not thread-safe by itself: the service calls :meth:`load` from one
    thread at a time (guarded by ``self.lock``).
    """

    def __init__(self, content_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.content_dir = Path(content_dir)
        self.articles_dir = self.content_dir / "articles"
        self.env = env
        self.lock = threading.Lock()
        self._files: dict[str, _FileEntry] = {}
        self._site: SiteSettings | None = None
        self._site_sig: Signature | None = None
        self._site_problems: list[Problem] = []
        self._views: dict[str, int] = {}
        self._views_sig: Signature | None = None
        self._views_problems: list[Problem] = []
        self._served_paths: dict[str, str] = {}
        self.files_read = 0
        # The scan has_changes() just made, reused by the load() that follows it,
        # so a reload stats every file once, not twice.
        self._last_scan: dict[str, Signature] | None = None

    def _display(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.content_dir.parent))
        except ValueError:
            return str(path)

    def _stat(self, path: Path) -> Signature | None:
        try:
            return _signature(path.stat())
        except OSError:
            return None

    def scan(self) -> dict[str, Signature]:
        """Signatures of every file the content consists of, keyed by path."""
        found: dict[str, Signature] = {}
        for special in ("site.yaml", "popularity.yaml"):
            sig = self._stat(self.content_dir / special)
            if sig is not None:
                found[str(self.content_dir / special)] = sig
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
        return found

    def _load_site(self, signature: Signature | None) -> None:
        path = self.content_dir / "site.yaml"
        display = self._display(path)
        if signature is None:
            problem = Problem(display, "(file)", "is missing; it names the site and its URL")
            if self._site is None:
                raise ContentError([problem])
            self._site_problems = [problem]
            self._site_sig = None
            return
        if signature == self._site_sig:
            return
        self._site_sig = signature
        self.files_read += 1
        parsed, _, problems = read_yaml_file(path, display)
        site = None
        if parsed is not None:
            site, problems = parse_site_settings(parsed.data, display, self.env)
            problems = [
                Problem(p.path, p.field, p.message, parsed.lines.get(p.field), p.severity)
                for p in problems
            ]
        if site is None and self._site is None:
            raise ContentError(problems)
        if site is not None:
            self._site = site
        self._site_problems = problems

    def _load_views(self, signature: Signature | None) -> None:
        path = self.content_dir / "popularity.yaml"
        if signature is None:
            self._views, self._views_sig, self._views_problems = {}, None, []
            return
        if signature == self._views_sig:
            return
        self._views_sig = signature
        self.files_read += 1
        display = self._display(path)
        parsed, _, problems = read_yaml_file(path, display)
        if parsed is None:
            self._views_problems = problems
            return
        if parsed.data is None:
            parsed.data = {}
        if not isinstance(parsed.data, Mapping):
            self._views_problems = [Problem(display, "(file)", "must map article slugs to views")]
            return
        views: dict[str, int] = {}
        problems = []
        for slug, count in parsed.data.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                line = parsed.lines.get(str(slug))
                problems.append(
                    Problem(display, str(slug), f"views must be >= 0, got {count!r}", line)
                )
                continue
            views[str(slug).lower()] = count
        self._views, self._views_problems = views, problems

    def _article_paths(self, signatures: Mapping[str, Signature]) -> set[str]:
        # A prefix test, not Path(p).parent: this runs over every file on every poll.
        prefix = os.path.join(self.articles_dir, "")
        return {p for p in signatures if p.startswith(prefix) and os.sep not in p[len(prefix) :]}

    def _refresh_articles(self, signatures: Mapping[str, Signature]) -> None:
        article_paths = self._article_paths(signatures)
        for gone in set(self._files) - article_paths:
            del self._files[gone]
        changed = [
            p
            for p in sorted(article_paths)
            if (entry := self._files.get(p)) is None or entry.signature != signatures[p]
        ]
        # Display names by string slicing: three Path objects per file were a tenth
        # of a 100k-article start.
        parent = os.path.join(self.content_dir.parent, "")
        displays = {p: p[len(parent) :] if p.startswith(parent) else p for p in changed}
        loaded = load_article_files([(p, displays[p]) for p in changed])
        self.files_read += len(changed)
        for path_text, (article, problems) in zip(changed, loaded, strict=True):
            signature = signatures[path_text]
            entry = self._files.get(path_text)
            if article is None and entry is not None and entry.article is not None:
                problems = [
                    *problems,
                    Problem(displays[path_text], "(file)", "still serving its last good version"),
                ]
                article = entry.article
            # The common case, no problem, shares one empty tuple (100k lists are 7 MB).
            self._files[path_text] = _FileEntry(signature, article, problems or _NO_PROBLEMS)

    def _resolve_slugs(self) -> tuple[list[Article], list[Problem]]:
        """One article per slug; case-colliding file names are all reported."""
        by_slug: dict[str, list[str]] = {}
        for path_text, entry in self._files.items():
            if entry.article is not None:
                by_slug.setdefault(entry.article.slug, []).append(path_text)
        chosen: list[Article] = []
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
            chosen.append(self._files[paths[0]].article)  # type: ignore[arg-type]
        self._served_paths = served
        return chosen, problems

    def load(self, now: datetime | None = None) -> Snapshot:
        """Re-read what changed and build a new snapshot.

        Raises :class:`ContentError` only when there has never been a usable
        ``site.yaml``; every other problem is carried in the snapshot.
        """
        now = now or datetime.now(UTC)
        signatures, self._last_scan = self._last_scan or self.scan(), None
        self._load_site(signatures.get(str(self.content_dir / "site.yaml")))
        self._load_views(signatures.get(str(self.content_dir / "popularity.yaml")))
        self._refresh_articles(signatures)
        articles, collision_problems = self._resolve_slugs()
        problems = [*self._site_problems, *self._views_problems, *collision_problems]
        for entry in self._files.values():
            problems.extend(entry.problems)
        assert self._site is not None
        return build_snapshot(
            self._site, articles, now=now, views_override=self._views, problems=problems
        )

    def all_articles(self) -> list[Article]:
        """Every currently loaded article, drafts and future ones included."""
        return [entry.article for entry in self._files.values() if entry.article is not None]

    def has_changes(self) -> bool:
        """Cheap check (stat only) whether any content file changed since load."""
        signatures = self.scan()
        article_paths = self._article_paths(signatures)
        changed = (
            article_paths != set(self._files)
            or signatures.get(str(self.content_dir / "site.yaml")) != self._site_sig
            or signatures.get(str(self.content_dir / "popularity.yaml")) != self._views_sig
            or any(self._files[p].signature != signatures[p] for p in article_paths)
        )
        self._last_scan = signatures if changed else None
        return changed
