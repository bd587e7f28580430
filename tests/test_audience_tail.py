"""Incremental ingest across log rotation: nothing lost, nothing counted twice.

Each line comes from a distinct reader, so the count of readers is the
count of lines read exactly once. Files are real files in tmp_path, rotated
the two ways logrotate does it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from audiencekit import combined, direct_readers, ingest, reader_lines, state

from feedsvc.audience import tail
from feedsvc.audience.tail import LogTail, Position


def test_each_run_reads_only_new_whole_lines(tmp_path: Path):
    log, conn = tmp_path / "access.log", state(tmp_path / "state")
    log.write_text(reader_lines(10))
    assert ingest(conn, log).lines == 10
    assert ingest(conn, log).lines == 0
    whole = reader_lines(5, start=10)
    partial = reader_lines(1, start=15)
    with log.open("a") as out:
        out.write(whole + partial[:20])  # nginx is mid-write
    assert ingest(conn, log).lines == 5
    with log.open("a") as out:
        out.write(partial[20:])
    assert ingest(conn, log).lines == 1
    assert direct_readers(conn) == 16


def test_rename_and_create_finishes_the_rotated_file_first(tmp_path: Path):
    log, conn = tmp_path / "access.log", state(tmp_path / "state")
    log.write_text(reader_lines(10))
    ingest(conn, log)
    with log.open("a") as out:
        out.write(reader_lines(5, start=10))  # written after the last run, before rotation
    log.rename(tmp_path / "access.log.1")
    log.write_text(reader_lines(7, start=15))  # nginx reopened (USR1) and went on
    result = ingest(conn, log)
    assert (result.lines, result.lost) == (12, False)
    assert direct_readers(conn) == 22
    assert ingest(conn, log).lines == 0


def test_a_rotated_file_under_a_dated_name_is_found_by_inode(tmp_path: Path):
    log, conn = tmp_path / "access.log", state(tmp_path / "state")
    log.write_text(reader_lines(4))
    ingest(conn, log)
    with log.open("a") as out:
        out.write(reader_lines(3, start=4))
    log.rename(tmp_path / "access.log-20260310")
    log.write_text(reader_lines(2, start=7))
    assert ingest(conn, log).lines == 5
    assert direct_readers(conn) == 9


def test_copytruncate_finishes_the_copy_then_reads_from_the_start(tmp_path: Path):
    log, conn = tmp_path / "access.log", state(tmp_path / "state")
    log.write_text(reader_lines(10))
    ingest(conn, log)
    with log.open("a") as out:
        out.write(reader_lines(5, start=10))
    shutil.copyfile(log, tmp_path / "access.log.1")  # logrotate copytruncate: copy...
    with log.open("r+") as out:
        out.truncate(0)  # ... then truncate in place (same inode)
    with log.open("a") as out:
        out.write(reader_lines(3, start=15))
    result = ingest(conn, log)
    assert (result.lines, result.lost) == (8, False)
    assert direct_readers(conn) == 18


def test_copytruncate_that_grew_past_the_old_offset_is_still_seen(tmp_path: Path):
    """Same inode, bigger than before, but another first line: truncated and refilled."""
    log, conn = tmp_path / "access.log", state(tmp_path / "state")
    log.write_text(reader_lines(3))
    ingest(conn, log)
    shutil.copyfile(log, tmp_path / "access.log.1")
    with log.open("r+") as out:
        out.truncate(0)
    with log.open("a") as out:
        out.write(reader_lines(20, start=3))
    assert ingest(conn, log).lines == 20
    assert direct_readers(conn) == 23


def test_a_vanished_rotated_file_is_reported_as_lost(tmp_path: Path):
    log, conn = tmp_path / "access.log", state(tmp_path / "state")
    log.write_text(reader_lines(4))
    ingest(conn, log)
    log.unlink()
    log.write_text(reader_lines(2, start=4))
    result = ingest(conn, log)
    assert (result.lines, result.lost) == (2, True)


def test_a_run_stopped_inside_the_rotated_file_resumes_there(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(tail, "CHUNK_BYTES", 300)  # several batches per file
    log = tmp_path / "access.log"
    log.write_text(reader_lines(2))
    first = list(LogTail(log, None).batches())[-1][1]
    with log.open("a") as out:
        out.write(reader_lines(10, start=2))
    os.rename(log, tmp_path / "access.log.1")
    log.write_text(reader_lines(3, start=12))
    batches = LogTail(log, first).batches()
    lines, stopped = next(batches)  # the run is killed after its first committed batch
    batches.close()
    rest = [line for batch, _ in LogTail(log, stopped).batches() for line in batch]
    assert len(lines) + len(rest) == 13
    assert not set(lines) & set(rest)


def test_positions_name_the_file_by_inode_and_first_line(tmp_path: Path):
    log = tmp_path / "access.log"
    log.write_text(combined("10.0.0.1", "/rss.xml", "x"))
    [(lines, position)] = list(LogTail(log, None).batches())
    assert position == Position(log.stat().st_ino, log.stat().st_size, tail.head_hash(log))
    assert len(lines) == 1


def test_an_overlong_line_is_skipped_without_being_held_whole(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(tail, "CHUNK_BYTES", 4096)
    log, conn = tmp_path / "access.log", state(tmp_path / "state")
    log.write_bytes(b"\x00" * 300_000 + b"\n" + reader_lines(2).encode() + b"x" * 200_000)
    result = ingest(conn, log)
    assert direct_readers(conn) == 2
    assert result.junk == 0  # the overlong line never became a line
    with log.open("a") as out:
        out.write("\n" + reader_lines(1, start=2))
    ingest(conn, log)
    assert direct_readers(conn) == 3


def test_a_second_ingest_while_one_runs_reads_nothing(tmp_path: Path):
    """Overlapping cron runs: the second one refuses (it would count the same lines)."""
    from feedsvc.audience.commands import ingest as ingest_command
    from feedsvc.audience.commands import ingest_lock

    log = tmp_path / "access.log"
    log.write_text(reader_lines(3))
    with ingest_lock(str(tmp_path / "state")) as mine:
        assert mine
        assert ingest_command(str(tmp_path / "state"), log, "combined", None) == 2
    assert ingest_command(str(tmp_path / "state"), log, "combined", None) == 0
    assert direct_readers(state(tmp_path / "state")) == 3
