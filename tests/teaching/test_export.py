"""Export round-trips: write, read back, compare; awkward IDs included; atomic writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import app.export
from app.core import SimpleTask, TaskState
from app.core.task import Task
from app.export import FIELDS, export, rows_as_text, write_atomically

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

    monkeypatch.setattr(app.export.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_atomically(path, "new" * 1000)
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.json"]  # no temp file left


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.csv or \.json"):
        export(finished_tasks(), tmp_path / "tasks.txt")
