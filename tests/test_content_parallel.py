"""Many article files read at once: worker processes give what one process gives.

Real files (``bench/generate.py`` content and a few broken ones) read three
ways: in this process, by forked workers (which store their chunks' texts in
the text store themselves) and by workers from a forkserver (which send the
texts to this process). Every way gives equal articles, problems, lines and
texts, and each text is stored once.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO

import feedsvc.content.parallel as parallel
import feedsvc.content.textstore as textstore
from feedsvc.content.budgets import ARTICLE
from feedsvc.content.chunks import LoadResult
from feedsvc.content.files import LINT_FIELDS
from feedsvc.content.textstore import TextStore, text_length

sys.path.insert(0, str(REPO))
from bench.generate import write_content


@pytest.fixture(scope="module")
def articles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_content(tmp_path_factory.mktemp("parallel") / "content", 90, 9, seed=3)
    folder = root / "articles"
    (folder / "broken.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    (folder / "no-date.yaml").write_text('title: "No date"\nbody: |\n  text\n', encoding="utf-8")
    (folder / "empty.yaml").write_bytes(b"")
    return folder


def read_all(
    folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, workers: bool
) -> tuple[list[tuple[object, ...]], int, int]:
    """Every file read into a text store of its own: the results (with their texts),
    how many files had an article, and whether the store grew by exactly their texts."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN_FILES", 10 if workers else 10**9)
    monkeypatch.setattr(parallel, "LOAD_CHUNK", 20)  # several chunks a worker
    store = TextStore(str(tmp_path))  # unsealed (a load seals the process's store)
    monkeypatch.setattr(textstore, "_store", store)
    names = sorted(path.name for path in folder.iterdir())
    results = parallel.load_article_files(
        str(folder), "content/articles", names, LINT_FIELDS, ARTICLE, (str(folder),)
    )
    held = sum(text_length(result[0]) for result in results)
    with_article = sum(1 for result in results if result[0] is not None)
    return list(comparable(results)), with_article, store.size() - held


def comparable(results: list[LoadResult]) -> Iterator[tuple[object, ...]]:
    """Each result with its article's texts instead of their (process-local) reference."""
    for article, problems, lines in results:
        if article is None:
            yield None, problems, lines
            continue
        texts = (article.summary, article.body)
        yield article.slug, article.title, article.published, article.tags, texts, problems, lines


@pytest.fixture
def another_thread() -> Iterator[None]:
    """A thread running beside the load, as the server's are: workers then come
    from a forkserver (forking could copy a lock that thread holds)."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=5)


def test_forked_workers_read_what_this_process_reads(
    articles: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    expected, count, _ = read_all(articles, monkeypatch, tmp_path, workers=False)
    assert count == 90
    assert threading.active_count() == 1  # so the workers are forked, and store the texts
    results, _, extra = read_all(articles, monkeypatch, tmp_path, workers=True)
    assert results == expected
    assert extra == 0  # each text stored once: the store holds what the articles refer to


def test_forkserver_workers_read_what_this_process_reads(
    articles: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, another_thread: None
):
    expected, _, _ = read_all(articles, monkeypatch, tmp_path, workers=False)
    results, _, extra = read_all(articles, monkeypatch, tmp_path, workers=True)
    assert results == expected and extra == 0
