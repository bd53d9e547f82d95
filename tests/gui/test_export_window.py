"""Export and copy from the window: every task of the run, read back whole."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core import SimpleTask, TaskState
from app.gui import MainWindow


def test_export_and_copy_from_the_window(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    for task_id in ("a,1", 'b "2"', "ü-3"):
        assert window.facade.process_task(SimpleTask(task_id, 0.0))
    qtbot.waitUntil(
        lambda: (
            all(t.state is TaskState.DONE for t in window.facade.tasks) and window.model.settled()
        ),
        timeout=20_000,
    )
    path = tmp_path / "run.json"
    window.export_tasks(str(path))
    records = json.loads(path.read_text(encoding="utf-8"))
    assert [(r["ID"], r["state"]) for r in records] == [
        ("a,1", "DONE"),
        ('b "2"', "DONE"),
        ("ü-3", "DONE"),
    ]
    assert "exported 3" in window.controls.message.text()

    window.table.selectAll()
    window.copy_selected()
    copied = QApplication.clipboard().text().split("\n")
    assert [line.split("\t")[:2] for line in copied] == [
        ["a,1", "DONE"],
        ['b "2"', "DONE"],
        ["ü-3", "DONE"],
    ]
