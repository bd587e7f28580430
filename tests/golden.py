"""Golden record of every URL the demo content serves, to prove a refactor changed nothing.

``python tests/golden.py --write`` records, for the bundled ``content/`` under a
fixed public URL and a fixed clock, the status, headers and body of each request
in :func:`requests_for` (every feed in every format and encoding, conditional
requests, browser views, pages, embeds, OPML, redirects, refusals, CORS
preflights, and a paged variant of the site) into ``tests/data/golden-demo.json``.
``tests/test_golden.py`` replays the same requests and compares byte for byte.

A change that is *meant* to alter a response (a bug fix) re-records the file in
the same commit, and that commit says which responses changed and why.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "data" / "golden-demo.json"
PUBLIC_URL = "https://feeds.example.org/news"
FIXED_NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
# Variants of the demo site: name -> extra environment for its site settings.
SITES: dict[str, dict[str, str]] = {"demo": {}, "paged": {"FEEDSVC_ITEMS_PER_FEED": "3"}}
# Fields of /healthz that say when or how often, not what: never compared (nor is Date).
VOLATILE_HEALTH = ("loaded_at", "last_reload_at", "renders", "http", "files_read", "reloads")
GZIP = {"Accept-Encoding": "gzip"}
NAVIGATION = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
FORMAT_FILES = ("rss.xml", "atom.xml", "feed.json")


@contextmanager
def demo_client(env: dict[str, str]) -> Iterator[Any]:
    """A Flask test client on a private copy of the bundled content."""
    from feedsvc import create_app
    from feedsvc.service.core import FeedService
    from feedsvc.settings import ServiceSettings

    with tempfile.TemporaryDirectory() as tmp:
        content = Path(tmp) / "content"
        shutil.copytree(REPO / "content", content)
        settings = ServiceSettings(content_dir=content, reload_interval=0, public_url=PUBLIC_URL)
        service = FeedService(settings, clock=lambda: FIXED_NOW, env=env)
        try:
            app = create_app(settings, service=service, watch=False)
            app.testing = True
            yield app.test_client()
        finally:
            service.stop()


def _tag_slugs(client: Any) -> list[str]:
    """Tag slugs (percent-encoded as in URLs) read from the OPML listing."""
    opml = client.get("/feeds.opml").get_data(as_text=True)
    prefix = PUBLIC_URL + "/tags/"
    slugs = []
    for part in opml.split('xmlUrl="')[1:]:
        url = part.split('"', 1)[0]
        if url.startswith(prefix):
            slugs.append(url[len(prefix) :].rsplit("/", 1)[0])
    return slugs


def requests_for(site: str, slugs: list[str]) -> list[dict[str, Any]]:
    """Every request recorded for one site variant: method, path, request headers."""
    feeds = ["", "/popular", *(f"/tags/{slug}" for slug in slugs)]
    out: list[dict[str, Any]] = []

    def add(path: str, method: str = "GET", **headers: str) -> None:
        out.append({"method": method, "path": path, "headers": headers})

    for feed in feeds:
        for name in FORMAT_FILES:
            add(f"{feed}/{name}")
            add(f"{feed}/{name}", **GZIP)
            add(f"{feed}/{name}", "HEAD")
        add(f"{feed}/rss.xml", **NAVIGATION)
        add(f"{feed}/feed.json?raw", **NAVIGATION)
    for page in ("/", "/tags/", *(f"/tags/{slug}/" for slug in slugs), "/feeds.opml"):
        add(page)
        add(page, "HEAD")
    add("/", **GZIP)
    add("/?utm_source=x")  # ignored: the cached / (bytes and validators)
    add("/tags/?q=korea")  # the tag search
    add("/tags/page/2/")  # past the last page of the tag list: 404
    for embed in ("/embed/", "/embed/popular/", "/embed/?theme=dark&limit=3"):
        add(embed)
    add(f"/embed/tags/{slugs[0]}/?theme=light&limit=2")
    add("/healthz")
    if len(slugs) >= 2:
        add(f"/tags/{slugs[1]}+{slugs[0]}/rss.xml")  # another order: a redirect
        add(f"/tags/{'+'.join(sorted(slugs[:2]))}/atom.xml")
    add("/tags/a+b+c+d+e/rss.xml")  # over the combination limit: 400
    for alias in (
        "/RSS.XML",
        "/tags/North Korea/rss.xml",
        "/tags/NorthKorea/",
        "/tags/northkorea",
        "/popular",
        "/Feeds.OPML",
        "/healthz/",
        "/tags",
        "/embed/tags/Health",
        "/embed/tags/health?theme=dark",
        "//rss.xml",
        "/page/1/rss.xml",
    ):
        add(alias)
    for missing in ("/nope", "/tags/unknown/rss.xml", "/tags/unknown/", "/page/99/rss.xml",
                    "/page/0/rss.xml", "/embed/tags/unknown/", "/embed/?limit=99",
                    "/embed/?theme=neon", "/static/feedsvc.css"):  # fmt: skip
        add(missing)
    for method, path in (("POST", "/rss.xml"), ("POST", "/"), ("PUT", "/feeds.opml"),
                         ("DELETE", "/tags/health/atom.xml")):  # fmt: skip
        add(path, method)
    for path in ("/rss.xml", "/", "/tags/health/", "/nope"):
        add(path, "OPTIONS", **{"Access-Control-Request-Method": "GET"})
    if site == "paged":
        for page in (2, 3):
            for name in FORMAT_FILES:
                add(f"/page/{page}/{name}")
        add(f"/tags/{slugs[0]}/page/2/rss.xml")
        add("/page/4/rss.xml")
        add("/popular/page/2/rss.xml")
    return out


def _body_record(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    record: dict[str, Any] = {"sha256": hashlib.sha256(body).hexdigest(), "length": len(body)}
    if headers.get("Content-Encoding") != "gzip":
        with suppress(UnicodeDecodeError):
            record["text"] = body.decode("utf-8")
    return record


def perform(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    """One request through the full WSGI app; the response as a JSON-ready record."""
    response = client.open(request["path"], method=request["method"], headers=request["headers"])
    headers = {name: value for name, value in response.headers.items() if name != "Date"}
    body = response.get_data()
    if request["path"] == "/healthz":
        data = json.loads(body)
        for key in VOLATILE_HEALTH:
            data.pop(key, None)
        body = json.dumps(data, sort_keys=True).encode()
        headers.pop("Content-Length", None)
    return {"status": response.status_code, "headers": headers, "body": _body_record(headers, body)}


def conditional(client: Any, request: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
    """The same request again with the validators it was given (If-None-Match, then -Since)."""
    headers = dict(request["headers"])
    if "ETag" in first["headers"]:
        headers["If-None-Match"] = first["headers"]["ETag"]
    elif "Last-Modified" in first["headers"]:
        headers["If-Modified-Since"] = first["headers"]["Last-Modified"]
    return {"method": request["method"], "path": request["path"], "headers": headers}


def record_all() -> dict[str, Any]:
    """Every site variant's requests and responses, conditional repeats included."""
    sites: dict[str, Any] = {}
    for site, env in SITES.items():
        with demo_client(env) as client:
            slugs = _tag_slugs(client)
            entries = []
            for request in requests_for(site, slugs):
                response = perform(client, request)
                entries.append({"request": request, "response": response})
                if request["method"] == "GET" and response["status"] == 200:
                    again = conditional(client, request, response)
                    if again["headers"] != request["headers"]:
                        entries.append({"request": again, "response": perform(client, again)})
            sites[site] = {"env": env, "tags": slugs, "entries": entries}
    return {"public_url": PUBLIC_URL, "now": FIXED_NOW.isoformat(), "sites": sites}


def replay(site: str) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(request, recorded response, response now) for every recorded entry of ``site``."""
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))["sites"][site]
    with demo_client(recorded["env"]) as client:
        return [
            (entry["request"], entry["response"], perform(client, entry["request"]))
            for entry in recorded["entries"]
        ]


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/golden.py --write   (re-records tests/data/golden-demo.json)")
    sys.path.insert(0, str(REPO))
    GOLDEN.parent.mkdir(exist_ok=True)
    data = record_all()
    GOLDEN.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    count = sum(len(site["entries"]) for site in data["sites"].values())
    print(f"recorded {count} responses in {GOLDEN.relative_to(REPO)}")
