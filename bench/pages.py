"""What the HTML pages cost: bytes and CPU per request, first, cached and 304.

``python -m bench.pages --content DIR`` loads a content directory (e.g. one
written by ``bench/generate.py``) into the real app and, through Flask's test
client, requests each page three times: the first request, the same request
again, and a conditional request with the ETag of the first. It prints bytes
and CPU milliseconds (``time.process_time``) of each, and a warm feed for
comparison. Not a load test: one thread, no sockets.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from feedsvc.service.core import FeedService
from feedsvc.settings import ServiceSettings
from feedsvc.web.app import create_app


def _timed(client: Any, path: str, headers: dict[str, str]) -> tuple[int, int, float]:
    started = time.process_time()
    response = client.get(path, headers=headers)
    body = response.get_data()
    return response.status_code, len(body), (time.process_time() - started) * 1000


def biggest_tag(service: FeedService) -> str:
    """The slug of the tag with the most articles."""
    tags = service.catalog.snapshot.tags
    return max(tags, key=lambda slug: len(tags[slug].articles))


def measure(content: Path, extra: list[str]) -> list[str]:
    """One line per path: bytes and CPU ms of first, cached and 304 requests."""
    settings = ServiceSettings(content_dir=content, reload_interval=0)
    service = FeedService(settings, prewarm=False)
    client = create_app(settings, service=service, watch=False).test_client()
    tag = biggest_tag(service)
    paths = ["/rss.xml", "/", "/tags/", f"/tags/{tag}/", "/feeds.opml", "/embed/", *extra]
    lines = [
        f"{'path':<28} {'status':>6} {'bytes':>9} {'first ms':>9} {'again ms':>9} {'304 ms':>7}"
    ]
    for path in paths:
        status, size, first = _timed(client, path, {})
        etag = client.get(path).headers.get("ETag", "")
        _, _, again = _timed(client, path, {})
        code, _, conditional = _timed(client, path, {"If-None-Match": etag})
        lines.append(
            f"{path[:28]:<28} {status:>6} {size:>9} {first:>9.1f} {again:>9.1f} "
            f"{conditional:>7.1f}{'' if code == 304 else f' ({code})'}"
        )
    service.stop()
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command line: print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, required=True)
    parser.add_argument("paths", nargs="*", help="more paths to measure")
    args = parser.parse_args(argv)
    print("\n".join(measure(args.content, args.paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
