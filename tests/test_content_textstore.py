"""Article text off the heap: the spill file, forked writers, and a parallel first load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

from feedsvc.content.textstore import MemoryTextStore, TextStore


def test_texts_round_trip_whatever_they_contain(tmp_path: Path):
    store = TextStore(str(tmp_path))
    texts = [b"", b"plain", "북한 \x00 \U0001f600".encode(), os.urandom(5000)]
    refs = [store.put(t) for t in texts]
    assert [store.get(r) for r in refs] == texts
    memory = MemoryTextStore()
    assert [memory.get(memory.put(t)) for t in texts] == texts


def test_forked_writer_appends_where_the_parent_reads_and_seal_removes_the_name(tmp_path):
    store = TextStore(str(tmp_path))
    before = store.put(b"parent before")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child appends through its own descriptor and reports the reference
        try:
            os.write(write_end, str(store.put(b"written by the child")).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child_ref = int(os.read(read_end, 100))
    os.close(read_end)
    os.waitpid(pid, 0)
    after = store.put(b"parent after")
    assert store.get(child_ref) == b"written by the child"
    assert store.get(before) == b"parent before" and store.get(after) == b"parent after"
    assert store.forkable and any(tmp_path.iterdir())
    store.seal()
    assert not store.forkable and not any(tmp_path.iterdir())  # nothing left on disk by name
    assert store.get(child_ref) == b"written by the child"  # still readable here


LOAD = """
import json, resource, sys
sys.path.insert(0, {repo!r})
import feedsvc.content.parallel as parallel
import feedsvc.content.loader as loader
from feedsvc.feeds.spec import all_feeds
from feedsvc.feeds.render import render_feed
from feedsvc.content.textstore import ensure_store
if {sequential}:
    parallel.PARALLEL_MIN_FILES = 10**9
snapshot = loader.ContentLoader({content!r}).load()
specs = all_feeds(snapshot)[:30]
print(json.dumps({{
    "version": snapshot.version,
    "articles": len(snapshot.articles),
    "tags": sorted(snapshot.tags),
    "bodies": {{s.key: render_feed(snapshot, s).bodies["atom"].decode() for s in specs}},
    "children_cpu": resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime,
    "sealed": ensure_store().path is None,
}}))
"""


@pytest.mark.slow
def test_parallel_first_load_equals_a_sequential_one(tmp_path: Path):
    sys.path.insert(0, str(REPO))
    from bench.generate import write_content

    content = write_content(tmp_path / "content", 2500, 60, seed=3)
    results = []
    for sequential in (False, True):
        code = LOAD.format(repo=str(REPO), content=str(content), sequential=sequential)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, check=True)  # fmt: skip
        results.append(json.loads(done.stdout))
    parallel, sequential = results
    assert parallel["children_cpu"] > 0  # the workers really parsed
    assert sequential["children_cpu"] == 0
    assert parallel["sealed"] and sequential["sealed"]
    for key in ("version", "articles", "tags", "bodies"):
        assert parallel[key] == sequential[key], key
    assert parallel["articles"] > 2400


def test_compaction_keeps_old_references_readable_while_something_holds_them(tmp_path: Path):
    import gc

    store = TextStore(str(tmp_path))
    store.seal()
    keep = [store.put(f"live {i}".encode()) for i in range(3)]
    dead = [store.put(b"x" * 1000) for _ in range(3)]

    class Holder:  # stands for a snapshot built before the compaction
        pass

    holder = Holder()
    store.pin(holder, [0])
    moved = store.compact(keep)
    assert store.size() == sum(len(f"live {i}") for i in range(3))
    assert set(moved.values()).isdisjoint(keep + dead)  # references are never reused
    assert [store.get(moved[r]) for r in keep] == [store.get(r) for r in keep]
    assert store.get(dead[0]) == b"x" * 1000 and store.generations == 2  # still pinned
    del holder
    gc.collect()
    assert store.generations == 1  # the old file is closed with its last holder
    assert [store.get(moved[r]) for r in keep] == [f"live {i}".encode() for i in range(3)]


@pytest.mark.slow
def test_rewriting_a_big_article_keeps_the_spill_file_bounded(tmp_path: Path):
    """100 rewrites of a ~300 KB article through the real loader: the spill file is
    compacted, every snapshot (old ones included) reads the right text."""
    from datetime import UTC, datetime

    from support import SITE, write_yaml

    from feedsvc.content.loader import ContentLoader
    from feedsvc.content.textstore import COMPACT_MIN_DEAD, ensure_store

    root = tmp_path / "content"
    write_yaml(root / "site.yaml", SITE)
    big = root / "articles" / "big.yaml"
    big.parent.mkdir()

    def write(i: int) -> None:
        line = "  " + "word " * 18 + f"{i}\n"
        text = f"title: Big {i}\npublished: 2025-01-01T00:00:00Z\nsummary: s{i}\nbody: |\n"
        big.write_text(text + line * 3000)
        os.utime(big, ns=(i * 10**9, i * 10**9))

    write(0)
    loader = ContentLoader(root)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    # What earlier tests of this process left in the shared file is not this
    # loader's to compact (it counts only what it wrote): the bound starts there.
    already = ensure_store().size()
    first = loader.load(now)
    other_root = tmp_path / "other"  # a second loader sharing the process's store
    write_yaml(other_root / "site.yaml", SITE)
    small_article = {"title": "S", "published": "2025-01-01", "summary": "other", "body": "kept"}
    write_yaml(other_root / "articles" / "small.yaml", small_article)
    other = ContentLoader(other_root)
    other.load(now)
    sizes = []
    kept = []  # a few old snapshots kept alive across compactions
    for i in range(1, 101):
        write(i)
        snapshot = loader.load(now)
        (article,) = snapshot.articles
        assert article.title == f"Big {i}" and article.body.endswith(f" {i}\n")
        sizes.append(ensure_store().size())
        if i % 25 == 0:
            kept.append((i, snapshot))
    live = big.stat().st_size
    bound = already + 2 * live + COMPACT_MIN_DEAD + 2 * live
    assert max(sizes) < bound  # bounded, not 100 x live
    assert sizes[-1] < COMPACT_MIN_DEAD + 3 * live
    (article,) = first.articles
    assert article.summary == "s0" and article.body.endswith(" 0\n")  # the oldest still reads
    for i, snapshot in kept:
        assert snapshot.articles[0].summary == f"s{i}"
    del first, kept, snapshot, article
    import gc

    gc.collect()  # the old snapshots go, and the files only they held
    (small,) = other.load(now).articles  # the other loader's texts were not compacted away
    assert (small.summary, small.body) == ("other", "kept")
