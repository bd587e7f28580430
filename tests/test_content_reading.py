"""The file-system policy (feedsvc.content.reading), with real links, FIFOs and devices.

Symlinks are followed only to targets inside the content folder; only
regular files are opened, never blocking; files over the size limit are
refused by their size before they are read.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from support import NOW, article, write_yaml

from feedsvc.content.budgets import ARTICLE, MIB
from feedsvc.content.loader import ContentLoader
from feedsvc.content.model import Snapshot
from feedsvc.content.reading import Refused, read_content_file
from feedsvc.content.yamlfile import read_yaml_file

GOOD = "title: Linked\npublished: 2025-12-05T00:00:00Z\nsummary: s\nbody: b\n"


def load(root: Path, **env: str) -> Snapshot:
    return ContentLoader(root, env).load(NOW)


def slugs(snapshot: Snapshot) -> set[str]:
    return {a.slug for a in snapshot.articles}


def messages(snapshot: Snapshot, name: str) -> list[str]:
    return [f"{p.field}: {p.message}" for p in snapshot.errors if p.path.endswith(name)]


def in_thread(function: object, *args: object) -> object:
    """Run ``function(*args)`` in a thread; fail (instead of hanging) if it blocks."""
    result: list[object] = []

    def run() -> None:
        try:
            result.append(function(*args))  # type: ignore[operator]
        except Exception as exc:  # raised again in the test's thread
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "reading blocked"
    if isinstance(result[0], Exception):
        raise result[0]
    return result[0]


def test_a_symlink_inside_the_content_folder_is_followed(small_content: Path) -> None:
    shared = small_content / "shared"
    shared.mkdir()
    (shared / "real.yaml").write_text(GOOD)
    os.symlink("../shared/real.yaml", small_content / "articles" / "linked.yaml")
    snapshot = load(small_content)
    assert "linked" in slugs(snapshot) and not messages(snapshot, "linked.yaml")


def test_an_articles_folder_that_is_a_link_elsewhere_is_read(tmp_path: Path) -> None:
    root = tmp_path / "content"
    write_yaml(root / "site.yaml", {"title": "T", "site_url": "https://t.test"})
    elsewhere = tmp_path / "data" / "articles"
    write_yaml(elsewhere / "one.yaml", article("One", "2025-01-01"))
    os.symlink(elsewhere, root / "articles")
    os.symlink(elsewhere / "one.yaml", elsewhere / "two.yaml")
    assert slugs(load(root)) == {"one", "two"}


@pytest.mark.parametrize("target", ["outside", "/etc/passwd"])
def test_a_symlink_out_of_the_content_folder_is_not_read(
    small_content: Path, tmp_path: Path, target: str
) -> None:
    if target == "outside":
        target = str(tmp_path / "outside.yaml")
        Path(target).write_text(GOOD)
    os.symlink(target, small_content / "articles" / "linked.yaml")
    snapshot = load(small_content)
    assert "linked" not in slugs(snapshot)
    assert messages(snapshot, "linked.yaml") == [
        "(file): is a symlink to a file outside the content folder; not read"
    ]


def test_dangling_links_and_loops_are_refused_not_raised(small_content: Path) -> None:
    articles = small_content / "articles"
    os.symlink("nowhere.yaml", articles / "dangling.yaml")
    os.symlink("loop-b.yaml", articles / "loop-a.yaml")
    os.symlink("loop-a.yaml", articles / "loop-b.yaml")
    snapshot = load(small_content)  # the scanner sees no regular file: none is an article
    assert slugs(snapshot) == {"alpha", "beta", "gamma"}
    roots = (str(small_content),)
    with pytest.raises(Refused, match="dangling"):
        read_content_file(str(articles / "dangling.yaml"), roots, MIB)
    with pytest.raises(Refused, match="loop"):
        read_content_file(str(articles / "loop-a.yaml"), roots, MIB)


def test_a_fifo_is_refused_without_blocking(small_content: Path) -> None:
    fifo = small_content / "articles" / "pipe.yaml"
    os.mkfifo(fifo)
    parsed, _, problems = in_thread(read_yaml_file, fifo, "pipe.yaml")  # type: ignore[misc]
    assert parsed is None
    (problem,) = problems
    assert str(problem) == "pipe.yaml: (file): is a FIFO, not a regular file; not read"
    snapshot = in_thread(load, small_content)
    assert slugs(snapshot) == {"alpha", "beta", "gamma"}  # type: ignore[attr-defined]


def test_a_link_swapped_between_a_file_and_a_fifo_never_blocks_a_reload(
    small_content: Path,
) -> None:
    """The race of the issue: stat sees a regular file, open meets a FIFO."""
    articles = small_content / "articles"
    (small_content / "real.yaml").write_text(GOOD)
    os.mkfifo(small_content / "pipe")
    loader = ContentLoader(small_content)
    loader.load(NOW)
    stop = threading.Event()

    def flip() -> None:
        for i in range(100_000):
            if stop.is_set():
                return
            target = "../pipe" if i % 2 else "../real.yaml"
            os.symlink(target, articles / ".tmp-link")
            os.replace(articles / ".tmp-link", articles / "flip.yaml")

    flipper = threading.Thread(target=flip, daemon=True)
    flipper.start()
    try:
        for _ in range(50):
            in_thread(loader.load, NOW)
    finally:
        stop.set()
        flipper.join(timeout=10)
    assert not flipper.is_alive()


def test_a_device_is_refused() -> None:
    with pytest.raises(Refused, match="is a device, not a regular file"):
        in_thread(read_content_file, "/dev/zero", ("/dev",), MIB)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(small_content: Path) -> None:
    big = small_content / "articles" / "big.yaml"
    big.write_text(GOOD + "notes: " + "x" * ARTICLE.max_bytes + "\n")
    size = big.stat().st_size
    snapshot = load(small_content)
    assert "big" not in slugs(snapshot)
    assert messages(snapshot, "big.yaml") == [
        f"(file): too large ({size} bytes, limit {ARTICLE.max_bytes})"
    ]
    assert "big" in slugs(load(small_content, FEEDSVC_MAX_ARTICLE_KB="2048"))
    small = load(small_content, FEEDSVC_MAX_ARTICLE_KB="1")
    assert slugs(small) == {"alpha", "beta", "gamma"}  # each well under 1 KiB
    assert messages(small, "big.yaml") == [f"(file): too large ({size} bytes, limit 1024)"]


def test_the_largest_demo_article_is_far_under_the_limit() -> None:
    articles = Path(__file__).resolve().parent.parent / "content" / "articles"
    assert max(p.stat().st_size for p in articles.iterdir()) * 50 < ARTICLE.max_bytes
