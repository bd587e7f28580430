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
