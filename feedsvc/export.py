"""Static export: every feed, page and OPML as files any web server or CDN can serve.

``feedsvc build --out DIR --public-url URL`` writes, for one public URL:

* every feed in every format at its URL path (``rss.xml``, ``atom.xml``,
  ``feed.json``, ``popular/…``, ``tags/<slug>/…``), each with a ``.gz``
  sibling (the same deterministic gzip bytes the live service sends);
* ``index.html`` (the directory), ``tags/index.html`` and the further pages
  of the tag list (``tags/page/N/index.html``), ``feeds.opml`` and
  ``healthz.json``. The pages inline their stylesheet (allowed by hash in
  their Content-Security-Policy), so no stylesheet file is written.

The bytes are the live service's bytes, produced by the same code path
(:class:`~feedsvc.service.FeedService` and the Flask app with the same
public URL), so a test can compare them byte for byte.

Validators. A static server computes its own: nginx's ``ETag`` is
``"<mtime>-<size>"`` in hex and ``Last-Modified`` is the file's mtime. The
export sets each file's mtime to the feed's ``Last-Modified``, so:

* ``Last-Modified`` from the static server equals the live service's;
* the ETag is a pure function of the content (date and size), identical on
  every host serving the same export (several origins, a CDN), and it
  changes whenever the bytes do, because the date then moves forward;
* it is *not* the live service's ETag (a hash of the bytes): a reader moving
  between the live service and the static copy downloads each feed once,
  then revalidates as usual. Serving our hash instead would need the server
  to compare If-None-Match with a header it did not make itself, which
  nginx's static module does not do (``add_header ETag`` is sent but never
  matched, so every conditional request would become a full download).

Last-Modified never moves backwards across builds: ``DIR/.feedsvc-build.json``
remembers each feed's bytes hash and date, and the next build into the same
directory keeps the date of unchanged bytes and moves changed ones forward,
exactly like the live service's ledger. Files are replaced atomically
(write, then rename) and files of feeds that no longer exist are removed, so
a server can keep serving ``DIR`` while it is rebuilt.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask

from feedsvc.feeds.cache import gzip_bytes
from feedsvc.feeds.catalog import Catalog
from feedsvc.feeds.render import render_feed
from feedsvc.feeds.urls import EXPORTED_PAGES, FORMATS, export_file, tag_index_path
from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings, normalise_public_url
from feedsvc.web.app import create_app
from feedsvc.web.pages import tag_index_pages

MANIFEST = ".feedsvc-build.json"
HEALTH_FILE = "healthz.json"  # what deploy/nginx-static.conf answers /healthz with


@dataclass(slots=True)
class ExportResult:
    """What a build wrote."""

    out: Path
    public_url: str
    feeds: int = 0
    files: list[str] = field(default_factory=list)  # relative paths, .gz included
    removed: list[str] = field(default_factory=list)


def _write(out: Path, relative: str, data: bytes, mtime: datetime | None) -> None:
    """Write ``out/relative`` atomically, with ``mtime`` as its modification time."""
    target = out / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temp, 0o644)
        if mtime is not None:
            stamp = mtime.timestamp()
            os.utime(temp, (stamp, stamp))
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _read_manifest(out: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def build_site(
    content_dir: Path, out: Path, public_url: str, state_dir: str | None = None
) -> ExportResult:
    """Write the static export of ``content_dir`` for ``public_url`` into ``out``.

    ``state_dir``: the service's state folder (``None``: in memory). With it
    the export has every tag ever served (vanished ones as empty feeds, so
    a static copy never breaks a subscription) and their Last-Modified dates
    never go back; the tags of this build are added to it.
    """
    public_url = normalise_public_url(public_url)
    settings = ServiceSettings(
        content_dir=content_dir, public_url=public_url, reload_interval=0, state_dir=state_dir
    )
    service = FeedService(settings, prewarm=False)
    base = settings.public_url
    assert base is not None
    out.mkdir(parents=True, exist_ok=True)
    previous = _read_manifest(out)
    _seed_ledger(service, previous)
    result = ExportResult(out=out, public_url=base)
    feeds_manifest, newest = _write_feeds(service, base, result)
    app = create_app(settings, service=service, watch=False)
    _write_pages(app, service.catalog, newest, result)
    _write_health(service.catalog, result)
    _remove_stale(previous, result)
    manifest = {"public_url": base, "files": sorted(set(result.files)), "feeds": feeds_manifest}
    _write(out, MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False).encode(), None)
    service.close()
    return result


def _seed_ledger(service: FeedService, previous: dict[str, Any]) -> None:
    """Seed the Last-Modified ledger with the previous build: unchanged bytes keep their date."""
    ledger = service.cache.ledger
    for key, entry in previous.get("feeds", {}).items():
        feed_key, _, fmt = key.rpartition("|")
        try:
            ledger.observe(feed_key, fmt, 0, entry["hash"], datetime.fromisoformat(entry["date"]))
        except (KeyError, TypeError, ValueError):
            continue


def _write_feeds(
    service: FeedService, base: str, result: ExportResult
) -> tuple[dict[str, dict[str, str]], datetime | None]:
    """Every feed in every format (and its .gz); the manifest entries and the newest date."""
    catalog = service.catalog
    feeds_manifest: dict[str, dict[str, str]] = {}
    newest: datetime | None = None
    for spec in catalog.feeds.values():
        template = service.cache.template(
            catalog.fingerprint(spec), functools.partial(render_feed, catalog.snapshot, spec)
        )
        for fmt in FORMATS.values():
            variant = service.variant(catalog, base, spec, fmt)
            relative = export_file(spec.url_path(fmt))
            _write(result.out, relative, variant.body, variant.last_modified)
            _write(result.out, relative + ".gz", variant.gzip_body, variant.last_modified)
            result.files += [relative, relative + ".gz"]
            feeds_manifest[f"{spec.key}|{fmt.name}"] = {
                "hash": template.template_hash(fmt.name),
                "date": variant.last_modified.isoformat(),
            }
            if newest is None or variant.last_modified > newest:
                newest = variant.last_modified
        result.feeds += 1
    return feeds_manifest, newest


def _write_pages(
    app: Flask, catalog: Catalog, newest: datetime | None, result: ExportResult
) -> None:
    """The directory, every page of the tag list and the OPML as the live app answers them.

    Each with its ``.gz``. The tag search (``/tags/?q=``) needs the live
    service: a static server answers it with the first page of the list.
    """
    client = app.test_client()
    more = [tag_index_path(n) for n in range(2, tag_index_pages(catalog) + 1)]
    for path in [*EXPORTED_PAGES, *more]:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        body = response.get_data()
        relative = export_file(path)
        _write(result.out, relative, body, newest)
        _write(result.out, relative + ".gz", gzip_bytes(body), newest)
        result.files += [relative, relative + ".gz"]


def _write_health(catalog: Catalog, result: ExportResult) -> None:
    """``healthz.json``: what /healthz says, minus what only a running service knows."""
    health = {
        "status": "ok",
        "static": True,
        "version": catalog.snapshot.version,
        "articles": len(catalog.snapshot.articles),
        "tags": len(catalog.snapshot.tags),
        "feeds": len(catalog.feeds),
        "errors": [p.to_dict() for p in catalog.snapshot.errors],
    }
    _write(result.out, HEALTH_FILE, (json.dumps(health, indent=2) + "\n").encode(), None)
    result.files.append(HEALTH_FILE)


def _remove_stale(previous: dict[str, Any], result: ExportResult) -> None:
    """Delete files the previous build wrote and this one did not (and emptied folders)."""
    out, written = result.out, set(result.files)
    for stale in previous.get("files", []):
        if isinstance(stale, str) and stale not in written and ".." not in Path(stale).parts:
            target = out / stale
            if target.is_file():
                target.unlink()
                result.removed.append(stale)
                _prune_empty_dirs(target.parent, out)


def _prune_empty_dirs(folder: Path, root: Path) -> None:
    """Remove folders left empty by a deleted tag, up to (not including) ``root``."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
