"""Export round-trips: write, read back, compare; awkward IDs included; atomic writes."""

from __future__ import annotations

import csv
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import app.teaching.export
from app.core import SimpleTask, TaskState
from app.core.task import Task
from app.teaching.export import FIELDS, export, rows_as_text, write_atomically

AWKWARD = ["plain", "com,ma", 'quo"te', "new\nline", "ünïcødé-任务-🚀", "tab\there", " spaced "]


def finished_tasks() -> list[Task]:
    tasks: list[Task] = []
    for n, task_id in enumerate(AWKWARD):
        task = SimpleTask(task_id, 0.5)
        task.state = TaskState.FAILED if n % 2 else TaskState.DONE
        task.attempts = 1
        task.worker_pid = 4242
        task.submitted_at, task.started_at, task.finished_at = 100.0, 100.5, 101.25
        if task.state is TaskState.FAILED:
            task.error = f'ValueError: bad "{task_id}", really'
            task.traceback = f'Traceback (most recent call last):\n  File "x.py"\n{task.error}\n'
        else:
            task.result = {"id": task_id, "bytes": 3}
        tasks.append(task)
    return tasks


def test_json_round_trip(tmp_path: Path) -> None:
    tasks = finished_tasks()
    path = tmp_path / "tasks.json"
    export(tasks, path)
    records = json.loads(path.read_text(encoding="utf-8"))
    assert [r["ID"] for r in records] == AWKWARD
    for record, task in zip(records, tasks, strict=True):
        assert set(record) == set(FIELDS)
        assert record["state"] == task.state.name
        assert record["error"] == task.error and record["traceback"] == task.traceback
        assert record["result"] == task.result
        assert record["duration"] == 0.75


def test_csv_round_trip(tmp_path: Path) -> None:
    tasks = finished_tasks()
    path = tmp_path / "tasks.csv"
    export(tasks, path)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["ID"] for r in rows] == AWKWARD
    for row, task in zip(rows, tasks, strict=True):
        assert list(row) == list(FIELDS)
        assert row["state"] == task.state.name
        assert row["error"] == (task.error or "")
        assert row["traceback"] == (task.traceback or "")
        assert row["worker_pid"] == "4242"


def test_rows_as_text_keeps_one_line_per_task() -> None:
    text = rows_as_text(finished_tasks())
    lines = text.split("\n")
    assert len(lines) == len(AWKWARD)
    assert lines[3].startswith("new line\tFAILED\t4242\t")


def test_a_failed_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tasks.json"
    path.write_text("old", encoding="utf-8")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(app.teaching.export.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_atomically(path, "new" * 1000)
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.json"]  # no temp file left


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.csv or \.json"):
        export(finished_tasks(), tmp_path / "tasks.txt")


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    """``os.umask`` for one test: the process's own umask is put back after it."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077, 0o027], ids=oct)
def test_a_new_file_gets_the_mode_open_would_give(
    tmp_path: Path, umask: Callable[[int], int], mask: int
) -> None:
    umask(mask)
    plain = tmp_path / "plain.csv"
    with open(plain, "w"):
        pass
    path = tmp_path / "tasks.csv"
    export(finished_tasks(), path)
    assert mode_of(path) == 0o666 & ~mask == mode_of(plain)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o755, 0o400], ids=oct)
def test_a_replaced_file_keeps_its_mode(
    tmp_path: Path, umask: Callable[[int], int], mode: int
) -> None:
    umask(0o077)  # would give 0o600 to a new file: the old file's mode must win
    path = tmp_path / "tasks.json"
    path.write_text("old", encoding="utf-8")
    path.chmod(mode)
    export(finished_tasks(), path)
    assert mode_of(path) == mode
    assert json.loads(path.read_text(encoding="utf-8"))[0]["ID"] == "plain"
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.json"]


def test_a_missing_folder_is_named_in_the_error(tmp_path: Path) -> None:
    folder = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError) as caught:
        export(finished_tasks(), folder / "tasks.csv")
    assert caught.value.filename == str(folder)
    assert str(folder) in str(caught.value)
    assert ".tasks.csv." not in str(caught.value)  # not the temporary file


def test_a_file_in_place_of_the_folder_is_named_in_the_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("", encoding="utf-8")
    with pytest.raises(NotADirectoryError) as caught:
        export(finished_tasks(), not_a_folder / "tasks.csv")
    assert caught.value.filename == str(not_a_folder)
    assert ".tasks.csv." not in str(caught.value)


def test_a_folder_in_place_of_the_file_is_named_in_the_error(tmp_path: Path) -> None:
    target = tmp_path / "tasks.csv"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as caught:
        export(finished_tasks(), target)
    assert caught.value.filename == str(target)
    assert ".tasks.csv." not in str(caught.value)
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.csv"]  # no temp file left


def test_write_atomically_never_replaces_a_fifo_or_a_folder(tmp_path: Path) -> None:
    """Moving the new file over a device, FIFO or folder would destroy it (/dev/null, as
    root): such a path is refused and left as it was."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    for path in (fifo, folder):
        with pytest.raises(OSError, match="not a regular file"):
            write_atomically(path, "text")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and folder.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "folder"]
